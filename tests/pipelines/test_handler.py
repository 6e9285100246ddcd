"""The artifact handler called with the event shapes Step Functions sends, against real stores.

Each test runs on the local store and on S3 (moto); the handler opens its own stores from the URIs.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from clinops_async import (
    ArtifactChangedError,
    ArtifactNotFoundError,
    ConfigurationError,
    SerializationError,
    StepInputError,
)
from clinops_async._stores.local import AsyncLocalPipelineStore
from clinops_async.handler import artifact_handler, map_item_selector, step_parameters
from tests.support.store_envs import S3Env, StoreEnv

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class Place:
    """Where a test's artifacts live: a root URI, the options the handler's stores need, raw access."""

    env: StoreEnv
    root: str
    options: dict[str, Any]

    def store(self, prefix: str = "") -> Any:
        return self.env.make(prefix)


@pytest.fixture(params=["local", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    if request.param == "local":
        from tests.support.store_envs import LocalEnv

        root = tmp_path / "store"
        root.mkdir()
        return Place(LocalEnv(root), root.as_uri(), {})
    env = S3Env(request.getfixturevalue("moto").url)
    return Place(env, f"s3://{env.bucket}", {"endpoint_url": env.endpoint})


def vitals(patients: int = 3, hours: int = 4) -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": [f"P{p}" for p in range(patients) for _ in range(hours)],
        "hour": [h for _ in range(patients) for h in range(hours)],
        "heart_rate": [60.0 + p + h for p in range(patients) for h in range(hours)],
    })


async def seed(place: Place, name: str, frame: pd.DataFrame) -> str:
    async with place.store("raw") as store:
        uri: str = await store.upload(frame, name)
        return uri


async def read(uri: str, place: Place) -> pd.DataFrame:
    directory, _, leaf = uri.rpartition("/")
    from clinops_async import open_store

    async with open_store(directory, **place.options) as store:
        frame: pd.DataFrame = await store.download(leaf.rsplit(".", 1)[0])
        return frame


def context(state: str, item: int | None = None, execution: str = "run-1") -> dict[str, Any]:
    found: dict[str, Any] = {"execution": execution, "state": state}
    if item is not None:
        found["item"] = item
    return found


async def test_three_steps_pass_references_never_frames(place: Place) -> None:
    raw = await seed(place, "vitals", vitals())

    @artifact_handler(f"{place.root}/runs", store_options=place.options)
    def clean(frame: pd.DataFrame) -> pd.DataFrame:
        kept: pd.DataFrame = frame[frame["heart_rate"] < 64]
        return kept

    @artifact_handler(f"{place.root}/runs", store_options=place.options)
    def features(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.groupby("patient_id", as_index=False).agg(heart_rate=("heart_rate", "mean"))

    @artifact_handler(f"{place.root}/runs", name="report", store_options=place.options)
    def report(features: pd.DataFrame, raw: pd.DataFrame, params: dict[str, Any]) -> dict[str, pd.DataFrame]:
        summary = pd.DataFrame({"patients": [len(features)], "rows": [len(raw)], "site": [params["site"]]})
        return {"summary": summary, "features": features}

    first = await clean.run_async({"input": raw, "step_context": context("Clean")})
    assert first["uri"] == f"{place.root}/runs/run-1/Clean/clean.parquet"
    assert (first["rows"], first["columns"], first["format"]) == (9, 3, "parquet")
    assert isinstance(first["crc32c"], str) and first["size"] > 0
    second = await features.run_async({"input": first, "step_context": context("Features")})
    assert second["rows"] == 3
    third = await report.run_async({"input": {"artifacts": {"features": second, "raw": raw}, "site": "north"},
                                    "step_context": context("Report")})
    assert set(third["artifacts"]) == {"summary", "features"}
    summary = await read(third["artifacts"]["summary"]["uri"], place)
    assert summary.to_dict("records") == [{"patients": 3, "rows": 12, "site": "north"}]
    assert len(json.dumps(third)) < 1024  # references, not frames, travel in the state


async def test_a_retry_replaces_its_own_output(place: Place) -> None:
    raw = await seed(place, "vitals", vitals())

    @artifact_handler(f"{place.root}/runs", store_options=place.options)
    def clean(frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    event = {"input": raw, "step_context": context("Clean")}
    assert await clean.run_async(event) == await clean.run_async(event)
    runs = [k for k in place.env.keys() if "runs/" in k]
    assert runs == [k for k in runs if k.endswith("run-1/Clean/clean.parquet")] and len(runs) == 1


async def test_without_context_the_name_is_a_content_key(place: Place) -> None:
    raw = await seed(place, "vitals", vitals())

    @artifact_handler(f"{place.root}/out", store_options=place.options)
    def same(frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    one = await same.run_async(raw)
    assert one == await same.run_async(raw)
    assert "/out/by-input/" in one["uri"] and one["uri"].endswith("/same.parquet")
    other = await seed(place, "other", vitals(patients=1))
    assert (await same.run_async(other))["uri"] != one["uri"]


async def test_map_items_write_one_output_each(place: Place) -> None:
    uris = [await seed(place, f"day-{d}", vitals(patients=d + 1)) for d in range(3)]

    @artifact_handler(f"{place.root}/runs", name="daily", store_options=place.options)
    def per_day(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.head(1)

    selector = map_item_selector()
    assert selector["input.$"] == "$$.Map.Item.Value"
    outputs = [await per_day.run_async({"input": uri, "step_context": context("PerDay", item=i)})
               for i, uri in enumerate(uris)]
    assert [o["uri"].rsplit("/", 2)[-2] for o in outputs] == ["item-0", "item-1", "item-2"]


async def test_a_parallel_states_list_arrives_as_a_list(place: Place) -> None:
    refs = [await seed(place, f"part-{p}", vitals(patients=p + 1)) for p in range(2)]

    @artifact_handler(f"{place.root}/runs", name="joined", store_options=place.options)
    def join(frames: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(frames, ignore_index=True)

    out = await join.run_async({"input": refs, "step_context": context("Join")})
    assert out["rows"] == 4 + 8


async def test_a_lambda_invoke_payload_is_unwrapped(place: Place) -> None:
    raw = await seed(place, "vitals", vitals())

    @artifact_handler(f"{place.root}/runs", store_options=place.options)
    def count(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"rows": [len(frame)]})

    previous = {"ExecutedVersion": "$LATEST", "Payload": {"uri": raw}, "StatusCode": 200}
    out = await count.run_async({"input": previous, "step_context": context("Count")})
    assert (await read(out["uri"], place))["rows"].tolist() == [12]


async def test_a_distributed_map_batch_reads_its_items(place: Place) -> None:
    days = [await seed(place, f"2024-01/day-{d:02d}", vitals(patients=1, hours=d + 1)) for d in range(1, 4)]

    @artifact_handler(f"{place.root}/runs", name="batch", store_options=place.options)
    def batch(frames: list[pd.DataFrame], params: dict[str, Any]) -> pd.DataFrame:
        return pd.DataFrame({"rows": [len(f) for f in frames], "month": params["month"]})

    if place.env.scheme == "s3":  # ItemReader over an S3 prefix: listing entries, the bucket in BatchInput
        items: list[Any] = [{"Key": uri.split("/", 3)[3], "Size": 1} for uri in days]
        batch_input: dict[str, Any] = {"bucket": place.env.bucket}
    else:
        items = list(days)
        batch_input = {}
    event = {"Items": items, "BatchInput": {**batch_input, "month": "2024-01",
                                            "step_context": context("Month", item=0)}}
    out = await batch.run_async(event)
    assert (await read(out["uri"], place))["rows"].tolist() == [2, 3, 4]


async def test_missing_and_replaced_artifacts_fail_with_named_errors(place: Place) -> None:
    raw = await seed(place, "vitals", vitals())

    @artifact_handler(f"{place.root}/runs", store_options=place.options)
    def same(frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    first = await same.run_async({"input": raw, "step_context": context("Same")})
    with pytest.raises(ArtifactNotFoundError):
        await same.run_async(raw.replace("vitals", "nothing-here"))
    await seed(place, "vitals", vitals(patients=1))  # replaced after `first` was made from it
    stale = {"uri": raw, "crc32c": first["crc32c"]}
    with pytest.raises(ArtifactChangedError) as caught:
        await same.run_async({"input": stale, "step_context": context("Again")})
    assert type(caught.value).__name__ == "ArtifactChangedError"  # what Lambda reports as errorType


@pytest.mark.parametrize("event", [
    {}, [], {"artifacts": {}}, 42, {"input": {"uri": 3}, "step_context": context("X")},
    {"input": "x", "step_context": {"state": "X"}}, {"Items": [{"Key": "a.parquet"}]},
    "s3://bucket/no-extension", {"input": "x.parquet", "step_context": context("X", item=-1)},
])
def test_events_that_name_no_artifact_fail_before_any_io(event: Any, tmp_path: Path) -> None:
    @artifact_handler(tmp_path.as_uri())
    def same(frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    with same, pytest.raises(StepInputError):
        same(event)
    assert list(tmp_path.iterdir()) == []


def test_bad_handler_options_fail_when_decorating() -> None:
    with pytest.raises(ConfigurationError):
        artifact_handler("ftp://bucket/x")
    with pytest.raises(ConfigurationError):
        artifact_handler("s3://bucket/x", format="xlsx")
    with pytest.raises(ConfigurationError):
        artifact_handler("s3://bucket/x", result_type="numpy")
    with pytest.raises(ConfigurationError):
        artifact_handler("s3://bucket/x", name="../up")
    with pytest.raises(StepInputError):
        step_parameters("input")


def test_a_non_frame_result_is_a_serialization_error(tmp_path: Path) -> None:
    import anyio

    async def prepare() -> str:
        async with AsyncLocalPipelineStore(tmp_path) as store:
            return await store.upload(vitals(), "vitals")

    raw = anyio.run(prepare)

    @artifact_handler(tmp_path.as_uri())
    def broken(frame: pd.DataFrame) -> Any:
        return "not a frame"

    with broken, pytest.raises(SerializationError):
        broken(raw)


def test_a_container_task_reads_its_event_and_prints_the_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anyio

    async def prepare() -> str:
        async with AsyncLocalPipelineStore(tmp_path / "in") as store:
            return await store.upload(vitals(), "vitals")

    raw = anyio.run(prepare)

    @artifact_handler((tmp_path / "out").as_uri())
    def clean(frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    event = json.dumps({"input": raw, "step_context": context("Clean", execution=uuid.uuid4().hex)})
    for argv, env, stdin in (([event], None, ""), ([], event, ""), ([], None, event)):
        if env is None:
            monkeypatch.delenv("CLINOPS_STEP_INPUT", raising=False)
        else:
            monkeypatch.setenv("CLINOPS_STEP_INPUT", env)
        out, err = io.StringIO(), io.StringIO()
        assert clean.run_container(argv, stdin=io.StringIO(stdin), stdout=out, stderr=err) == 0, err.getvalue()
        assert json.loads(out.getvalue())["rows"] == 12
    monkeypatch.delenv("CLINOPS_STEP_INPUT", raising=False)
    out, err = io.StringIO(), io.StringIO()
    assert clean.run_container([json.dumps(raw.replace("vitals", "gone"))], stdout=out, stderr=err) == 1
    assert json.loads(err.getvalue())["errorType"] == "ArtifactNotFoundError"
    assert out.getvalue() == ""
    clean.close()


def test_a_warm_handler_reuses_its_stores_until_closed(place: Place) -> None:
    import anyio

    raw = anyio.run(seed, place, "vitals", vitals())

    @artifact_handler(f"{place.root}/runs", store_options=place.options)
    def same(frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    with same:
        first = same({"input": raw, "step_context": context("Same", execution="one")})
        opened = dict(same._warm._stores) if same._warm else {}
        second = same({"input": raw, "step_context": context("Same", execution="two")})
        assert same._warm is not None and same._warm._stores == opened and len(opened) == 2  # input, output
        assert first["uri"] != second["uri"] and first["crc32c"] == second["crc32c"]
    assert same._warm is None
    assert same(raw)["rows"] == 12  # opens them again
    same.close()


@pytest.mark.parametrize("place", ["s3"], indirect=True)  # a listing entry names an S3 object
async def test_a_distributed_map_item_over_a_prefix_names_its_bucket(place: Place) -> None:
    uri = await seed(place, "2024-01/day-01", vitals(patients=1))

    @artifact_handler(f"{place.root}/runs", name="day", store_options=place.options)
    def day(frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    selector = map_item_selector(bucket=place.env.bucket)
    assert selector["bucket"] == place.env.bucket and map_item_selector("$.bucket")["bucket.$"] == "$.bucket"
    entry = {"Key": uri.split("/", 3)[3], "Size": 10, "Etag": "x", "StorageClass": "STANDARD"}
    out = await day.run_async({"input": entry, "bucket": place.env.bucket,
                               "step_context": context("Month", item=4)})
    assert out["uri"].endswith("/run-1/Month/item-4/day.parquet") and out["rows"] == 4
