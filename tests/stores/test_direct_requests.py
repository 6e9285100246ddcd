"""Plain S3 copies and listing pages outside botocore's request pipeline (``_stores/s3/direct``):
signed so that a server which checks signatures takes them, with the store's headers, equal to
what botocore returns, and handed to botocore whenever they are not a clean success."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3  # type: ignore[import-untyped]
import pandas as pd
import pytest

from clinops_async import (
    AccessDeniedError,
    ArtifactExistsError,
    ArtifactNotFoundError,
    AsyncS3PipelineStore,
    BucketNotFoundError,
)
from clinops_async._stores.s3.direct import takes_direct_requests
from clinops_async._stores.s3.direct_copy import DirectCopier
from clinops_async._stores.s3.direct_list import DirectLister
from clinops_async.testing import start_seaweedfs
from tests.support.frames import icu_windows
from tests.support.tcp_proxy import TcpProxy

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.servers import Server

#: The only identity the signature-checking server takes (synthetic, for this server alone).
IDENTITY = ("clinops-direct-copy", "direct-copy-secret-for-tests")
#: Names whose keys botocore percent-encodes in the path and in x-amz-copy-source, where a signature
#: over the wrong encoding would be refused.
AWKWARD_NAMES = ["with space/a b", "plus+equals=amp&", "percent%20literal", "unicode/été-ß-日本", "tilde~(x)!'*"]


@pytest.fixture(scope="module")
def checking_seaweedfs() -> Iterator[Server]:
    """SeaweedFS checking every SigV4 signature against :data:`IDENTITY`."""
    server = start_seaweedfs(identity=IDENTITY)
    try:
        yield server
    finally:
        server.stop()


def checked_store(server: Server, **options: Any) -> AsyncS3PipelineStore:
    bucket = f"direct-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=IDENTITY[0],
                 aws_secret_access_key=IDENTITY[1]).create_bucket(Bucket=bucket)
    return AsyncS3PipelineStore(bucket, endpoint_url=server.url, aws_access_key_id=IDENTITY[0],
                                aws_secret_access_key=IDENTITY[1], **options)


def copier(store: AsyncS3PipelineStore) -> DirectCopier:
    direct = store._backend.direct_copier  # type: ignore[attr-defined]
    assert isinstance(direct, DirectCopier)
    return direct


async def test_direct_copies_are_signed_as_the_server_checks_them(checking_seaweedfs: Server) -> None:
    df = icu_windows(stays=2, hours=4)
    async with checked_store(checking_seaweedfs) as store:
        for name in AWKWARD_NAMES:
            await store.upload(df, f"src/{name}")
        await store.copy("src/plus+equals=amp&", "first")  # botocore's, where the endpoint is learnt
        assert copier(store).ready and copier(store).completed == 0
        result = await store.copy_prefix("src/", "dst/")
        assert result.ok, result
        # Every copy went the direct way: none was refused and sent again by botocore.
        assert copier(store).completed == len(AWKWARD_NAMES)
        for name in AWKWARD_NAMES:
            pd.testing.assert_frame_equal(await store.download(f"dst/{name}"), df)
            copied, source = await store.info(f"dst/{name}"), await store.info(f"src/{name}")
            assert copied.checksum == source.checksum and copied.rows == source.rows


async def test_a_refused_direct_copy_is_botocores_to_answer(checking_seaweedfs: Server) -> None:
    async with checked_store(checking_seaweedfs) as store:
        await store.upload(icu_windows(stays=1), "a")
        await store.upload(icu_windows(stays=2), "b")
        await store.copy("a", "learnt")
        assert copier(store).ready
        with pytest.raises(ArtifactNotFoundError):
            await store.copy("missing", "c")
        with pytest.raises(ArtifactExistsError):
            await store.copy("a", "b", overwrite=False)
        assert copier(store).completed == 0
        pd.testing.assert_frame_equal(await store.download("b"), icu_windows(stays=2))
    bucket = store.bucket
    wrong = AsyncS3PipelineStore(bucket, endpoint_url=checking_seaweedfs.url, aws_access_key_id=IDENTITY[0],
                                 aws_secret_access_key="not-the-secret")
    async with wrong:
        with pytest.raises(AccessDeniedError) as raised:
            await wrong.copy("a", "c")
    assert "not-the-secret" not in str(raised.value)


async def test_direct_copies_carry_encryption_and_requester_pays(moto: Server) -> None:
    bucket = f"direct-{uuid.uuid4().hex[:10]}"
    client = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    async with TcpProxy(moto.port, record=True) as proxy:
        store = AsyncS3PipelineStore(bucket, endpoint_url=proxy.url, server_side_encryption="AES256",
                                     requester_pays=True)
        async with store:
            await store.upload(icu_windows(stays=1), "a")
            await store.copy("a", "b")
            await store.copy("a", "c")
            assert copier(store).completed == 1
    copies = [c for c in b"".join(bytes(c) for c in proxy.connections).lower().split(b"\r\n\r\n")
              if b"x-amz-copy-source" in c]
    assert len(copies) == 2  # botocore's, then the direct one
    for head in copies:
        assert b"x-amz-server-side-encryption: aes256" in head and b"x-amz-request-payer: requester" in head
    for key in ("b.parquet", "c.parquet"):
        assert client.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"


class _Body:
    """The raw body of a canned answer, read as aiobotocore reads aiohttp's."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self) -> bytes:
        return self.data


def answer_copies_locally(store: AsyncS3PipelineStore, sent: list[str]) -> None:
    """Answer every CopyObject botocore is about to send with S3's success, without a network (a
    ``before-send`` handler's answer is used instead of sending, as botocore's stubs do)."""
    from aiobotocore.awsrequest import AioAWSResponse
    from botocore.awsrequest import HTTPHeaders

    def canned(request: Any, **_: Any) -> Any:
        sent.append(request.url)
        body = b'<?xml version="1.0"?><CopyObjectResult><ETag>"e"</ETag></CopyObjectResult>'
        headers = HTTPHeaders()
        headers["content-type"] = "application/xml"
        return AioAWSResponse(request.url, 200, headers, _Body(body))

    store._backend.client.meta.events.register("before-send.s3.CopyObject", canned)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "bucket", "base", "region"),
    [
        ({"region": "eu-west-1"}, "clinical-eu", "https://clinical-eu.s3.eu-west-1.amazonaws.com/", "eu-west-1"),
        ({"region": "eu-west-1", "addressing_style": "path"}, "clinical-eu",
         "https://s3.eu-west-1.amazonaws.com/clinical-eu/", "eu-west-1"),
        ({"region": "us-east-1", "endpoint_url": "http://127.0.0.1:9"}, "local-bucket",
         "http://127.0.0.1:9/local-bucket/", "us-east-1"),
    ],
)
async def test_the_endpoint_and_scope_are_those_of_botocores_first_copy(
    options: dict[str, Any], bucket: str, base: str, region: str
) -> None:
    sent: list[str] = []
    async with AsyncS3PipelineStore(bucket, aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="s",
                                    **options) as store:
        answer_copies_locally(store, sent)
        direct = store._backend.direct_copier  # type: ignore[attr-defined]
        assert direct is not None and not direct.ready
        await store.copy("folder/a b", "other/é+c")
        assert sent == [base + "other/%C3%A9%2Bc.parquet"]
        assert direct.ready
    assert (direct._scope.base_url, direct._scope.region, direct._scope.service) == (base, region, "s3")


async def test_buckets_that_sign_otherwise_go_through_botocore() -> None:
    # An open client (presigning and this check are local: no server needs to listen).
    async with AsyncS3PipelineStore("clinical-eu", region="eu-west-1", aws_access_key_id="AKIDEXAMPLE",
                                    aws_secret_access_key="s") as store:
        client = store._backend.client  # type: ignore[attr-defined]
        assert takes_direct_requests(client, "clinical-eu")
        for bucket in ("analytics--use1-az4--x-s3", "arn:aws:s3:us-east-1:123456789012:accesspoint/ap"):
            assert not takes_direct_requests(client, bucket)


async def test_a_source_bucket_gone_is_named_not_the_destination(moto: Server) -> None:
    client = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    source_bucket, target_bucket = f"gone-{uuid.uuid4().hex[:10]}", f"kept-{uuid.uuid4().hex[:10]}"
    for bucket in (source_bucket, target_bucket):
        client.create_bucket(Bucket=bucket)
    async with AsyncS3PipelineStore(source_bucket, endpoint_url=moto.url) as source, \
            AsyncS3PipelineStore(target_bucket, endpoint_url=moto.url) as target:
        await source.upload(icu_windows(stays=1), "a")
        await target.upload(icu_windows(stays=1), "b")
        assert await source.list_artifacts() == ["a"]  # the listing's endpoint is learnt
        client.delete_object(Bucket=source_bucket, Key="a.parquet")
        client.delete_bucket(Bucket=source_bucket)
        with pytest.raises(BucketNotFoundError) as raised:
            await source.copy("a", "a", to=target)
        assert repr(source_bucket) in str(raised.value)
        with pytest.raises(BucketNotFoundError):  # the direct page refused, botocore's answer raised
            await source.list_artifacts()
        assert await target.list_artifacts() == ["b"]


async def test_direct_copies_sign_with_credentials_refreshed_as_botocore_refreshes_them(moto: Server) -> None:
    asked: list[int] = []

    async def provider() -> dict[str, str]:
        asked.append(len(asked) + 1)
        # Expiring within botocore's mandatory refresh window: asked again before every request.
        expiry = datetime.now(UTC) + timedelta(minutes=5)
        return {"access_key": f"AKIDDIRECT{len(asked):06d}", "secret_key": "refreshed-secret",
                "token": "refreshed-session-token", "expiry_time": expiry.isoformat()}

    bucket = f"direct-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(Bucket=bucket)
    async with TcpProxy(moto.port, record=True) as proxy:
        async with AsyncS3PipelineStore(bucket, endpoint_url=proxy.url, credential_provider=provider) as store:
            await store.upload(icu_windows(stays=1), "a")
            await store.copy("a", "b")
            before = len(asked)
            await store.copy("a", "c")
            assert copier(store).completed == 1 and len(asked) > before
    heads = [c for c in b"".join(bytes(c) for c in proxy.connections).split(b"\r\n\r\n") if b"/c.parquet" in c]
    assert len(heads) == 1
    direct = heads[0].lower()
    assert f"credential=akiddirect{len(asked):06d}/".encode() in direct
    assert b"x-amz-security-token: refreshed-session-token" in direct


def lister(store: AsyncS3PipelineStore) -> DirectLister:
    direct = store._backend.direct_lister  # type: ignore[attr-defined]
    assert isinstance(direct, DirectLister)
    return direct


@pytest.mark.parametrize("server_name", ["checking_seaweedfs", "moto"])
async def test_direct_listing_pages_equal_botocores(server_name: str, request: pytest.FixtureRequest) -> None:
    server: Server = request.getfixturevalue(server_name)
    store = checked_store(server) if server_name == "checking_seaweedfs" else None
    if store is None:
        bucket = f"direct-{uuid.uuid4().hex[:10]}"
        boto3.client("s3", endpoint_url=server.url, region_name="us-east-1").create_bucket(Bucket=bucket)
        store = AsyncS3PipelineStore(bucket, endpoint_url=server.url)
    df = icu_windows(stays=1)
    async with store:
        for name in [*AWKWARD_NAMES, "plain/x", "plain/y"]:
            await store.upload(df, f"p/{name}")
        await store.upload(df, "other/z")
        store._backend.list_page_size = 2  # several pages, each with a token
        first = [(e.name, e.size, e.etag, e.last_modified) async for e in store.iter_artifacts("p/")]
        # The first page came through botocore; the other three directly, and so does every later one.
        assert lister(store).completed == 3
        again = [(e.name, e.size, e.etag, e.last_modified) async for e in store.iter_artifacts("p/")]
        assert lister(store).completed == 7
        assert await store.list_artifacts("p/with space/") == ["p/with space/a b"]
    client = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=IDENTITY[0],
                          aws_secret_access_key=IDENTITY[1])
    listed = client.list_objects_v2(Bucket=store.bucket, Prefix="p/")["Contents"]
    by_botocore = sorted((o["Key"].removesuffix(".parquet"), o["Size"], o["ETag"], o["LastModified"]) for o in listed)
    assert sorted(again) == sorted(first) == by_botocore
    assert len(by_botocore) == 7


@pytest.mark.parametrize("identity", [("only-a-key",), ("key", ""), ["key", "secret"], ("key", 7)])
def test_a_malformed_identity_is_refused_before_a_server_starts(identity: Any) -> None:
    with pytest.raises(ValueError, match="access key, secret"):
        start_seaweedfs(identity=identity)
