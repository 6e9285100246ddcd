"""Every cloud store under injected faults, through the HTTP fault proxy.

S3 runs against moto and SeaweedFS, GCS against gcp-storage-emulator and fake-gcs-server. Each test checks what is
stored with the servers' own APIs (bytes, CRC32C, keys, pending uploads), not only what the library
says. Everything the library emits in these runs (log records at DEBUG, exceptions, their reprs and
formatted tracebacks) is scanned for the synthetic credentials and patient values (see ``scan``).
"""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from clinops_async import (
    ArtifactExistsError,
    AsyncS3PipelineStore,
    IntegrityError,
    RetryConfig,
    StoreError,
    TransferConfig,
    TransientStoreError,
)
from clinops_async._stores.checksum import crc32c_b64
from clinops_async._stores.gcs.backend import AsyncGCSPipelineStore
from tests.support.fault_proxy import FaultProxy
from tests.support.frames import wide_frame
from tests.support.store_envs import GCSEnv, S3Env, StoreEnv

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aiohttp import web

    from clinops_async._stores.core import AsyncPipelineStore

MiB = 1 << 20
FAST_RETRY = RetryConfig(max_attempts=4, initial_backoff=0.01, max_backoff=0.05)
CLOUDS = ["s3", "seaweedfs", "gcs-emulator", "fake-gcs"]

#: Synthetic stand-ins that must never appear in anything the library emits.
SECRET_KEY = "SynthSecretKeyDoNotLeak0123456789EXAMPLE"
SESSION_TOKEN = "SynthSessionTokenDoNotLeak9876543210"
PATIENT = "SYNTH-PATIENT-Jane-Roe-MRN-000424242"


def patient_frame(rows: int = 400, cols: int = 6, seed: int = 0) -> pd.DataFrame:
    """Random floats plus a column of synthetic patient identifiers (what must never be logged)."""
    df = wide_frame(rows, cols, seed=seed)
    df["patient"] = [f"{PATIENT}-{i % 7}" for i in range(rows)]
    return df


def large_frame(seed: int = 0) -> pd.DataFrame:
    """About 11 MiB of incompressible Parquet: three 5 MiB S3 parts, eleven 1 MiB GCS chunks."""
    return patient_frame(140_000, 10, seed=seed)


class Emitted(logging.Handler):
    """Everything the library logs (formatted, tracebacks included) and every error it raised."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))

    def error(self, exc: BaseException) -> None:
        self.texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emitted]:
    """Synthetic credentials in the environment, and a DEBUG capture of the ``clinops_async`` logger.

    At teardown nothing captured may contain a credential or a patient value.
    """
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASYNTHETICEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    handler = Emitted()
    logger = logging.getLogger("clinops_async")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    scan(handler.texts)


def scan(texts: list[str]) -> None:
    text = "\n".join(texts)
    for secret in (SECRET_KEY, SESSION_TOKEN, PATIENT, "Jane-Roe"):
        assert secret not in text, f"{secret!r} appeared in the library's output"


class Faulty:
    """A fresh bucket on one cloud backend, and a fault proxy in front of its server."""

    def __init__(self, env: StoreEnv, proxy: FaultProxy) -> None:
        self.env = env
        self.proxy = proxy
        self.name = env.name

    def make(self, **options: Any) -> AsyncPipelineStore:
        options.setdefault("retry", FAST_RETRY)
        if isinstance(self.env, S3Env):
            return AsyncS3PipelineStore(self.env.bucket, endpoint_url=self.proxy.url, **options)
        if self.env.name == "gcs-emulator":
            options.setdefault("transfer", TransferConfig(multipart_threshold=MiB))
        return AsyncGCSPipelineStore(self.env.bucket, emulator_host=self.proxy.url, **options)

    def large(self, **options: Any) -> AsyncPipelineStore:
        """A store that sends ``large_frame()`` in parts (S3), chunks or components (GCS)."""
        if isinstance(self.env, S3Env):
            return self.make(transfer=TransferConfig(multipart_threshold=5 * MiB, part_size=5 * MiB), **options)
        transfer = TransferConfig(multipart_threshold=MiB, part_size=5 * MiB)
        return self.make(transfer=transfer, chunk_size=MiB, **options)

    def direct(self, **options: Any) -> AsyncPipelineStore:
        """A store on the same bucket that bypasses the proxy."""
        return self.env.make(**options)

    def stored_crc(self, key: str) -> str:
        return crc32c_b64(self.env.get_bytes(key))


@pytest.fixture(params=CLOUDS)
def faulty(request: pytest.FixtureRequest, emitted: Emitted) -> Iterator[Faulty]:
    env: StoreEnv
    if request.param == "s3":
        env, flavor = S3Env(request.getfixturevalue("moto").url), "s3"
    elif request.param == "seaweedfs":
        env, flavor = S3Env(request.getfixturevalue("seaweedfs").url, "seaweedfs"), "s3"
    else:
        server = request.getfixturevalue("gcs_emulator" if request.param == "gcs-emulator" else "fake_gcs")
        env, flavor = GCSEnv(request.param, server.url), "gcs"
    with FaultProxy(env.endpoint, flavor=flavor) as proxy:
        yield Faulty(env, proxy)


def is_write(r: web.Request) -> bool:
    return r.method in ("PUT", "POST")


def is_read(r: web.Request) -> bool:
    """A GET of object bytes (not a listing, not a GCS metadata read)."""
    if r.method != "GET":
        return False
    return r.query.get("alt") == "media" if "/storage/v1/" in r.path else "list-type" not in r.query


def is_final_write(r: web.Request) -> bool:
    """The request that makes a large upload visible: S3 completion, GCS last chunk or compose."""
    if r.method == "POST" and "uploadId" in r.query:
        return True
    if r.path.endswith("/compose"):
        return True
    content_range = r.headers.get("Content-Range", "")
    return r.method == "PUT" and "upload_id" in r.query and not content_range.endswith("/*")


async def assert_stored_once(faulty: Faulty, store: AsyncPipelineStore, name: str, df: pd.DataFrame) -> None:
    """One object, no pending upload, its bytes match the CRC32C recorded at upload, and it decodes to df."""
    key = store.key(name)
    assert faulty.env.keys() == [key]
    assert faulty.env.incomplete_uploads() == 0
    info = await store.info(name)
    assert faulty.stored_crc(key) == info.checksum
    async with faulty.direct() as direct:
        pd.testing.assert_frame_equal(await direct.download(name), df)


# -- transient faults ------------------------------------------------------------------------------

# 500 and 429 take the same retried path as 503, so the quick loop (make test-fast) runs 503 alone.
KINDS = [
    "503", pytest.param("500", marks=pytest.mark.slow), pytest.param("429", marks=pytest.mark.slow),
    "reset_before", "reset_during", "reset_after", "truncate",
]


def add_fault(proxy: FaultProxy, kind: str, match: Any, times: int = 1) -> None:
    if kind.isdigit():
        proxy.add("status", match, times=times, **proxy.error(int(kind)))
    else:
        proxy.add(kind, match, times=times)


@pytest.mark.parametrize("kind", KINDS)
async def test_transient_fault_on_upload_is_retried_and_lands_once(faulty: Faulty, kind: str) -> None:
    df = patient_frame()
    add_fault(faulty.proxy, kind, is_write, times=2)
    async with faulty.make() as store:
        await store.upload(df, "vitals", overwrite=False)  # a retried conditional write must find its own
    assert faulty.proxy.pending() == 0
    async with faulty.make() as store:
        await assert_stored_once(faulty, store, "vitals", df)


@pytest.mark.parametrize("kind", KINDS)
async def test_transient_fault_on_download_is_retried(faulty: Faulty, kind: str) -> None:
    df = patient_frame()
    async with faulty.make() as store:
        await store.upload(df, "vitals")
        add_fault(faulty.proxy, kind, is_read, times=2)
        pd.testing.assert_frame_equal(await store.download("vitals"), df)
    assert faulty.proxy.pending() == 0


@pytest.mark.slow
async def test_large_transfers_ride_out_random_faults(faulty: Faulty) -> None:
    """Parts, chunks or components, and ranged reads, with a third of the requests failing (seeded).

    On fake-gcs-server the upload goes as a composite: its resumable status query finalizes a
    truncated object, so a chunked upload there restarts after every fault (see test-backends.md).
    """
    df = large_frame()
    faulty.proxy.randomly(0.3, seed=6, match=lambda r: is_write(r) or is_read(r))
    options: dict[str, Any] = {"upload_mode": "composite"} if faulty.name == "fake-gcs" else {}
    retry = RetryConfig(max_attempts=8, initial_backoff=0.01, max_backoff=0.05)
    async with faulty.large(retry=retry, **options) as store:
        await store.upload(df, "big", overwrite=False)
        pd.testing.assert_frame_equal(await store.download("big"), df)
    faulty.proxy.randomly(0, seed=0)
    assert faulty.proxy.applied
    async with faulty.make() as store:
        await assert_stored_once(faulty, store, "big", df)


async def test_stalled_requests_time_out_and_are_retried(faulty: Faulty) -> None:
    df = patient_frame()
    transfer = TransferConfig(read_timeout=0.5, multipart_threshold=MiB)
    faulty.proxy.add("stall", is_write, delay=1.5)
    faulty.proxy.add("stall", is_read, delay=1.5)
    async with faulty.make(transfer=transfer) as store:
        await store.upload(df, "vitals", overwrite=False)
        pd.testing.assert_frame_equal(await store.download("vitals"), df)
    assert faulty.proxy.applied == ["stall", "stall"]
    async with faulty.make() as store:
        await assert_stored_once(faulty, store, "vitals", df)


@pytest.mark.slow  # every attempt waits out its read timeout
async def test_stall_on_every_attempt_ends_in_a_transient_error(faulty: Faulty, emitted: Emitted) -> None:
    transfer = TransferConfig(read_timeout=0.3)
    async with faulty.direct() as direct:
        await direct.upload(patient_frame(seed=1), "vitals")
    faulty.proxy.add("stall", is_read, times=FAST_RETRY.max_attempts, delay=1.0)
    async with faulty.make(transfer=transfer) as store:
        with pytest.raises(TransientStoreError) as caught:
            await store.download("vitals")
    emitted.error(caught.value)
    assert caught.value.attempts == FAST_RETRY.max_attempts


# -- corruption ------------------------------------------------------------------------------------


async def test_bytes_flipped_on_the_way_down_never_reach_the_caller(faulty: Faulty, emitted: Emitted) -> None:
    df = patient_frame()
    async with faulty.make() as store:
        await store.upload(df, "vitals")
        faulty.proxy.add("flip_response", is_read)
        with pytest.raises(IntegrityError) as caught:
            await store.download("vitals")
        emitted.error(caught.value)
        pd.testing.assert_frame_equal(await store.download("vitals"), df)


async def test_bytes_flipped_on_the_way_down_in_a_range_never_reach_the_caller(faulty: Faulty) -> None:
    df = large_frame()
    async with faulty.large() as store:
        await store.upload(df, "big")
        later_range = lambda r: is_read(r) and not r.headers.get("Range", "").startswith("bytes=0-")  # noqa: E731
        faulty.proxy.add("flip_response", later_range)
        with pytest.raises(IntegrityError):
            await store.download("big")
        pd.testing.assert_frame_equal(await store.download("big"), df)


#: What each local server does with a body damaged on the way up (real S3 and GCS refuse it: see
#: ``test_server_rejecting_the_sent_checksum_is_an_integrity_error``).
#: "refused": the server validates the CRC32C sent with the body; the previous version stays.
#: "removed": the server stores it and reports the CRC32C of what it got; the library sees the mismatch,
#:   deletes that generation and raises IntegrityError (the previous version was already replaced).
#: "resent": the server refuses the damaged chunk, the library resends it, and the artifact lands whole.
#: "accepted": the server neither validates nor computes a CRC32C; the next download raises IntegrityError.
UPLOAD_DAMAGE = {
    ("s3", "small"): "accepted", ("s3", "large"): "accepted",
    ("seaweedfs", "small"): "refused", ("seaweedfs", "large"): "refused",
    ("gcs-emulator", "small"): "refused", ("gcs-emulator", "large"): "refused",
    ("fake-gcs", "small"): "removed", ("fake-gcs", "large"): "removed",
}


@pytest.mark.parametrize("size", ["small", "large"])
async def test_bytes_flipped_on_the_way_up_never_become_a_readable_artifact(
    faulty: Faulty, emitted: Emitted, size: str
) -> None:
    df = patient_frame() if size == "small" else large_frame()
    previous = patient_frame(seed=9)
    async with faulty.direct() as direct:
        await direct.upload(previous, "vitals")
    carries_data = lambda r: r.method == "PUT" or r.query.get("uploadType") == "multipart"  # noqa: E731
    faulty.proxy.add("flip_request", carries_data)
    store = faulty.make() if size == "small" else faulty.large()
    expected = UPLOAD_DAMAGE[faulty.name, size]
    async with store:
        if expected in ("accepted", "resent"):
            await store.upload(df, "vitals")
        else:
            with pytest.raises(IntegrityError) as caught:
                await store.upload(df, "vitals")
            emitted.error(caught.value)
    assert faulty.proxy.applied == ["flip_request"]
    assert faulty.env.incomplete_uploads() == 0
    async with faulty.direct() as direct:
        if expected == "refused":
            pd.testing.assert_frame_equal(await direct.download("vitals"), previous)
        elif expected == "removed":
            assert faulty.env.keys() == []
        elif expected == "resent":
            await assert_stored_once(faulty, direct, "vitals", df)
        else:
            with pytest.raises(IntegrityError) as caught:
                await direct.download("vitals")
            emitted.error(caught.value)


async def test_server_rejecting_the_sent_checksum_is_an_integrity_error(faulty: Faulty, emitted: Emitted) -> None:
    """What real S3 and GCS answer when the body does not match the CRC32C sent with it."""
    if faulty.env.scheme == "s3":
        from tests.support.fault_proxy import s3_error

        faulty.proxy.add("status", is_write, **s3_error("BadDigest", 400))
    else:
        import json

        body = {"error": {"code": 400, "message": "Provided CRC32C \"AAAAAA==\" doesn't match calculated CRC32C "
                          "\"BBBBBB==\"."}}
        faulty.proxy.add("status", is_write, status=400, body=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
    async with faulty.make() as store:
        with pytest.raises(IntegrityError) as caught:
            await store.upload(patient_frame(), "vitals")
    emitted.error(caught.value)
    assert faulty.env.keys() == []


# -- permanent failures ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["small", "large"])
async def test_permanent_failure_keeps_the_previous_version_and_leaves_nothing_pending(
    faulty: Faulty, emitted: Emitted, size: str
) -> None:
    previous = patient_frame(seed=3)
    async with faulty.direct() as direct:
        await direct.upload(previous, "vitals")
    key = faulty.env.keys()[0]
    before = faulty.env.get_bytes(key)
    match = is_write if size == "small" else is_final_write
    faulty.proxy.add("status", match, times=50, **faulty.proxy.error(503))
    store = faulty.make() if size == "small" else faulty.large()
    async with store:
        with pytest.raises(TransientStoreError) as caught:
            await store.upload(patient_frame() if size == "small" else large_frame(), "vitals")
    emitted.error(caught.value)
    assert faulty.env.keys() == [key]
    assert faulty.env.get_bytes(key) == before
    assert faulty.env.incomplete_uploads() == 0
    async with faulty.direct() as direct:
        pd.testing.assert_frame_equal(await direct.download("vitals"), previous)


# Composite uploads are GCS only; gcp-storage-emulator's compose is covered in test_gcs.py.
@pytest.mark.parametrize("faulty", ["fake-gcs"], indirect=True)
async def test_permanent_compose_failure_removes_every_component(faulty: Faulty, emitted: Emitted) -> None:
    faulty.proxy.add("status", lambda r: r.path.endswith("/compose"), times=50, **faulty.proxy.error(503))
    async with faulty.large(upload_mode="composite") as store:
        with pytest.raises(TransientStoreError) as caught:
            await store.upload(large_frame(), "vitals")
    emitted.error(caught.value)
    assert faulty.env.keys() == []


# Not on gcp-storage-emulator, which ignores ifGenerationMatch=0 (its gap is marked in the shared suite).
@pytest.mark.parametrize("faulty", [c for c in CLOUDS if c != "gcs-emulator"], indirect=True)
async def test_overwrite_false_under_faults_never_replaces(faulty: Faulty, emitted: Emitted) -> None:
    first = patient_frame(seed=4)
    async with faulty.direct() as direct:
        await direct.upload(first, "vitals")
    add_fault(faulty.proxy, "reset_after", is_write)
    async with faulty.make() as store:
        with pytest.raises(ArtifactExistsError) as caught:
            await store.upload(patient_frame(seed=5), "vitals", overwrite=False)
    emitted.error(caught.value)
    async with faulty.direct() as direct:
        pd.testing.assert_frame_equal(await direct.download("vitals"), first)


async def test_errors_name_the_artifact_and_are_store_errors(faulty: Faulty, emitted: Emitted) -> None:
    faulty.proxy.add("status", is_read, times=50, **faulty.proxy.error(500))
    async with faulty.direct() as direct:
        await direct.upload(patient_frame(), "vitals")
    async with faulty.make() as store:
        with pytest.raises(StoreError) as caught:
            await store.download("vitals")
    emitted.error(caught.value)
    assert caught.value.uri is not None and caught.value.uri.endswith("vitals.parquet")
