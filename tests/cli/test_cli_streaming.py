"""``ls -l`` from the listing's own metadata, and ``head`` reading only the row groups it shows."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clinops_async._stores.metadata import META_FORMAT
from clinops_async.orchestrate import S3PipelineStore
from tests.support.cli import invoke
from tests.support.fault_proxy import FaultProxy
from tests.support.store_envs import S3Env

if TYPE_CHECKING:
    from tests.support.servers import Server


@pytest.fixture
def s3(moto: Server) -> S3Env:
    return S3Env(moto.url)






def test_ls_long_shows_size_time_and_etag_from_the_listing(s3: S3Env, env: dict[str, str]) -> None:
    with S3PipelineStore(s3.bucket, "study", endpoint_url=s3.endpoint) as store:
        store.upload(pd.DataFrame({"x": [1, 2]}), "features/a")
        store.upload(pd.DataFrame({"x": [3]}), "features/b")
    with S3PipelineStore(s3.bucket, "study", "csv", endpoint_url=s3.endpoint) as store:
        store.upload(pd.DataFrame({"x": [4]}), "features/c")
    records = json.loads(invoke(env, "ls", "-l", "--json", f"s3://{s3.bucket}/study/").stdout)
    assert [r["name"] for r in records] == ["features/a.parquet", "features/b.parquet", "features/c.csv"]
    for record in records:
        head = s3.client.head_object(Bucket=s3.bucket, Key=f"study/{record['name']}")
        assert record["etag"] == head["ETag"] and record["size"] == head["ContentLength"]
        assert record["last_modified"] and set(record) == {"name", "uri", "format", "size", "last_modified", "etag"}
    text = invoke(env, "ls", "-l", f"s3://{s3.bucket}/study/features/a").stdout
    (line,) = text.splitlines()  # no header in a pipe
    *size, day, time, etag, name = line.split()
    assert (etag, name) == (records[0]["etag"].strip('"'), "a.parquet")  # relative, as plain ls
    assert f"{day}T{time}" == records[0]["last_modified"][:19] and size[-1].endswith("B")


def test_head_reads_only_the_first_row_groups(s3: S3Env, env: dict[str, str]) -> None:
    rng = np.random.default_rng(0)
    table = pa.table({"x": np.arange(500_000), "y": rng.random(500_000)})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=25_000, write_page_checksum=True)  # 20 row groups
    data = sink.getvalue()
    s3.put_bytes("vitals.parquet", data, {META_FORMAT: "parquet"})
    with FaultProxy(s3.endpoint) as proxy:
        shown = invoke(env, "--endpoint-url", proxy.url, "head", "-n", "3", "--json",
                       f"s3://{s3.bucket}/vitals.parquet")
        moved = proxy.response_bytes
    assert [record["x"] for record in json.loads(shown.stdout)] == [0, 1, 2]
    assert moved < len(data) / 4, f"head moved {moved} of {len(data)} bytes"
