"""One rule for URIs: the URI that ``upload`` returns and ``ls`` prints names exactly that artifact.

Checked by hypothesis over names full of characters that mean something in URLs (``%2F``, ``?``,
``#``, spaces, ``+``, non-ASCII): each name is uploaded through the library beside decoys whose names
are what a careless parser would make of it (percent-decoded, cut at ``?`` or ``#``); then ``info``,
``cat`` and ``rm`` run through the command line by the returned URI, and must act on that artifact
and no other. On the local store and on moto S3.
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from typing import TYPE_CHECKING
from urllib.parse import unquote

import anyio
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinops_async import ConfigurationError, open_store
from clinops_async._cli.app import cli
from clinops_async._stores.local import AsyncLocalPipelineStore
from clinops_async._stores.names import validate_name
from clinops_async._stores.uri import parse_artifact_uri
from tests.support.store_envs import S3Env

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from clinops_async._stores.core import AsyncPipelineStore
    from tests.support.servers import Server

_URL_MEANINGFUL = ["%2F", "%20", "%25", "%", "?", "#", " ", "+", "&", "=", ";", "@", ":", "~", "é", "日本", "%C3%A9"]
_segment = st.lists(
    st.one_of(st.sampled_from(_URL_MEANINGFUL), st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                                                          blacklist_characters="/\\"), max_size=3)),
    min_size=1, max_size=4,
).map("".join).filter(lambda s: s not in ("", ".", ".."))
tricky_names = st.lists(_segment, min_size=1, max_size=3).map("/".join)

_counter = itertools.count()


def _decoys(name: str) -> list[str]:
    """What a parser that decodes or splits the URI would name instead of ``name``."""
    candidates = {unquote(name), name.split("?")[0], name.split("#")[0], unquote(unquote(name))}
    out = []
    for candidate in sorted(candidates - {name}):
        try:
            validate_name(candidate)
        except ConfigurationError:
            continue
        out.append(candidate)
    return out


def _invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def _frame(marker: int) -> pd.DataFrame:
    return pd.DataFrame({"marker": [marker]})


class _Place:
    """Where one backend's artifacts go, and the CLI environment that reaches them."""

    def __init__(self, make: Callable[[str], AsyncPipelineStore], env: dict[str, str], scratch: Path) -> None:
        self.make = make
        self.env = env
        self.scratch = scratch


@pytest.fixture(params=["local", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Place]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    if request.param == "local":
        root = tmp_path / "store root"  # a space in the root too
        yield _Place(lambda prefix: AsyncLocalPipelineStore(root, prefix), env, tmp_path / "copies")
        return
    server: Server = request.getfixturevalue("moto")
    s3 = S3Env(server.url)
    env.update(AWS_ENDPOINT_URL=server.url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION="us-east-1")
    yield _Place(lambda prefix: s3.make(prefix), env, tmp_path / "copies")


async def _upload_all(store: AsyncPipelineStore, frames: dict[str, pd.DataFrame]) -> dict[str, str]:
    async with store:
        return {name: await store.upload(df, name) for name, df in frames.items()}


async def _stored(store: AsyncPipelineStore) -> list[str]:
    async with store:
        return await store.list_artifacts()


@pytest.mark.slow  # a property run: every example drives five CLI commands against a server
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=tricky_names)
def test_the_returned_uri_names_exactly_that_artifact_in_every_command(place: _Place, name: str) -> None:
    prefix = f"p{next(_counter)}-{uuid.uuid4().hex[:6]}"
    names = [name, *_decoys(name)]
    frames = {n: _frame(i) for i, n in enumerate(names)}
    uris = anyio.run(_upload_all, place.make(prefix), frames)
    uri = uris[name]
    assert len(set(uris.values())) == len(uris)  # every artifact has its own URI

    artifact = parse_artifact_uri(uri)
    assert artifact.uri == uri and artifact.name.endswith(name.rsplit("/", 1)[-1])
    listing = _invoke(place.env, "ls", "--json", uri.rsplit("/", 1)[0] + "/")
    assert listing.exit_code == 0, listing.output
    assert uri in [row["uri"] for row in json.loads(listing.stdout)]

    info = _invoke(place.env, "info", "--json", uri)
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["uri"] == uri
    shown = _invoke(place.env, "cat", "--json", uri)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == [{"marker": 0}]

    copy = place.scratch / uuid.uuid4().hex  # cp -r builds each destination URI from a listed name
    copied = _invoke(place.env, "cp", "-r", uri.rsplit("/", len(name.split("/")))[0] + "/", f"{copy}/")
    assert copied.exit_code == 0, copied.output
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()) == sorted(
        f"{n}.parquet" for n in names)

    removed = _invoke(place.env, "rm", uri)
    assert removed.exit_code == 0, removed.output
    assert sorted(anyio.run(_stored, place.make(prefix))) == sorted(names[1:])


def test_open_store_reads_uris_by_the_same_rule(tmp_path: Path) -> None:
    root = tmp_path / "ré%2Fx #?"
    reopened = open_store(root.as_uri())  # what the local store's URIs are made of
    assert isinstance(reopened, AsyncLocalPipelineStore) and reopened.root == root
    for scheme in ("s3", "gs"):  # keys are written into cloud URIs as they are
        assert open_store(f"{scheme}://bucket/a%20b?x#y").prefix == "a%20b?x#y"
