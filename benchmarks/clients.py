"""One benchmark measurement in this process: ``python clients.py '<json spec>'`` prints one JSON line.

Each client implements the same operations (bulk up/down, big up/down, column projection). The
runner starts a fresh process per client and run, so imports, connection pools and peak RSS are the
client's own. Encode and decode are part of every timing; generating the data is not.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import os
import resource
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

__all__ = ["CLIENTS", "GCS_CLIENTS", "main"]

KEY = "S3RVER"
CONCURRENCY = 16
MiB = 1024 * 1024


def _unsigned_payload() -> None:
    """Skip SigV4 payload hashing in botocore, as it does over HTTPS to real S3 (the proxy is plain HTTP)."""
    import botocore.auth

    botocore.auth.S3SigV4Auth._should_sha256_sign_payload = lambda self, request: False  # type: ignore[method-assign]
    try:  # with awscrt installed (botocore[crt], a clinops-async[aws] dependency) botocore signs with CRT
        import botocore.crt.auth
    except ImportError:
        return
    for name in ("CrtS3SigV4Auth", "CrtS3SigV4AsymAuth"):
        signer = getattr(botocore.crt.auth, name, None)
        if signer is not None:
            signer._should_sha256_sign_payload = lambda self, request: False


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    df.to_parquet(sink)
    return sink.getvalue()


def _read_parquet(body: bytes, columns: Sequence[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(body), columns=list(columns) if columns else None)


async def _limited(jobs: Sequence[Callable[[], Awaitable[Any]]], limit: int = CONCURRENCY) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with semaphore:
            return await job()

    return await asyncio.gather(*(one(j) for j in jobs))


class Client:
    """Async interface; blocking clients run their calls in a worker thread (see ``blocking``)."""

    blocking = False

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.endpoint: str = spec["endpoint"]
        self.bucket: str = spec["bucket"]

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def bulk_up(self, items: list[tuple[str, pd.DataFrame]]) -> None:
        raise NotImplementedError

    async def bulk_down(self, keys: list[str]) -> list[pd.DataFrame]:
        raise NotImplementedError

    async def big_up(self, key: str, df: pd.DataFrame) -> None:
        raise NotImplementedError

    async def big_down(self, key: str) -> pd.DataFrame:
        raise NotImplementedError

    async def project(self, key: str, columns: list[str]) -> pd.DataFrame:
        raise NotImplementedError


# -- clinops_async ------------------------------------------------------------------------------


class ClinopsClient(Client):
    """clinops_async with its default TransferConfig (artifact names are keys without ``.parquet``)."""

    async def open(self) -> None:
        _unsigned_payload()
        from clinops_async import AsyncS3PipelineStore, TransferConfig

        # The defaults, unless a sweep (benchmarks/sweep.py) passes other TransferConfig fields.
        transfer = TransferConfig(**self.spec.get("transfer", {}))
        self.store = AsyncS3PipelineStore(self.bucket, endpoint_url=self.endpoint, transfer=transfer)
        await self.store.__aenter__()

    async def close(self) -> None:
        await self.store.aclose()

    async def bulk_up(self, items: list[tuple[str, pd.DataFrame]]) -> None:
        result = await self.store.upload_many([(k.removesuffix(".parquet"), df) for k, df in items])
        result.raise_for_errors()

    async def bulk_down(self, keys: list[str]) -> list[pd.DataFrame]:
        result = await self.store.download_many([k.removesuffix(".parquet") for k in keys])
        result.raise_for_errors()
        return [o.value for o in result]

    async def big_up(self, key: str, df: pd.DataFrame) -> None:
        await self.store.upload(df, key.removesuffix(".parquet"))

    async def big_down(self, key: str) -> pd.DataFrame:
        return await self.store.download(key.removesuffix(".parquet"))

    async def project(self, key: str, columns: list[str]) -> pd.DataFrame:
        return await self.store.download(key.removesuffix(".parquet"), columns=columns)


# -- boto3 ----------------------------------------------------------------------------------------


class Boto3Loop(Client):
    """boto3 put_object / get_object, one after another."""

    blocking = True
    threads = 1

    async def open(self) -> None:
        _unsigned_payload()
        import boto3
        from botocore.config import Config

        self.s3 = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id=KEY,
            aws_secret_access_key=KEY,
            config=Config(max_pool_connections=CONCURRENCY, s3={"addressing_style": "path"}),
        )

    def _put(self, key: str, df: pd.DataFrame) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=_parquet_bytes(df))

    def _get(self, key: str) -> pd.DataFrame:
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return _read_parquet(body)

    async def bulk_up(self, items: list[tuple[str, pd.DataFrame]]) -> None:
        def run() -> None:
            if self.threads == 1:
                for key, df in items:
                    self._put(key, df)
            else:
                with ThreadPoolExecutor(self.threads) as pool:
                    list(pool.map(lambda kv: self._put(*kv), items))

        await asyncio.to_thread(run)

    async def bulk_down(self, keys: list[str]) -> list[pd.DataFrame]:
        def run() -> list[pd.DataFrame]:
            if self.threads == 1:
                return [self._get(k) for k in keys]
            with ThreadPoolExecutor(self.threads) as pool:
                return list(pool.map(self._get, keys))

        return await asyncio.to_thread(run)

    async def big_up(self, key: str, df: pd.DataFrame) -> None:
        await asyncio.to_thread(self._put, key, df)

    async def big_down(self, key: str) -> pd.DataFrame:
        return await asyncio.to_thread(self._get, key)


class Boto3Threads(Boto3Loop):
    """boto3 with 16 threads; big objects through s3transfer's TransferManager (upload/download_fileobj)."""

    threads = CONCURRENCY

    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(multipart_threshold=16 * MiB, multipart_chunksize=16 * MiB, max_concurrency=8)

    async def big_up(self, key: str, df: pd.DataFrame) -> None:
        def run() -> None:
            body = io.BytesIO(_parquet_bytes(df))
            self.s3.upload_fileobj(body, self.bucket, key, Config=self._transfer_config())

        await asyncio.to_thread(run)

    async def big_down(self, key: str) -> pd.DataFrame:
        def run() -> pd.DataFrame:
            sink = io.BytesIO()
            self.s3.download_fileobj(self.bucket, key, sink, Config=self._transfer_config())
            return _read_parquet(sink.getvalue())

        return await asyncio.to_thread(run)


# -- s3fs -------------------------------------------------------------------------------------------


def _s3fs_options(endpoint: str) -> dict[str, Any]:
    return {
        "key": KEY, "secret": KEY, "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        "config_kwargs": {"s3": {"addressing_style": "path"}, "max_pool_connections": CONCURRENCY},
    }


class _PandasUrls(Client):
    """pandas ``to_parquet`` / ``read_parquet`` with ``<scheme>://`` URLs, one artifact after another."""

    blocking = True
    scheme = ""
    options: dict[str, Any]

    def _url(self, key: str) -> str:
        return f"{self.scheme}://{self.bucket}/{key}"

    async def bulk_up(self, items: list[tuple[str, pd.DataFrame]]) -> None:
        def run() -> None:
            for key, df in items:
                df.to_parquet(self._url(key), storage_options=self.options)

        await asyncio.to_thread(run)

    async def bulk_down(self, keys: list[str]) -> list[pd.DataFrame]:
        return await asyncio.to_thread(
            lambda: [pd.read_parquet(self._url(k), storage_options=self.options) for k in keys]
        )

    async def big_up(self, key: str, df: pd.DataFrame) -> None:
        await asyncio.to_thread(lambda: df.to_parquet(self._url(key), storage_options=self.options))

    async def big_down(self, key: str) -> pd.DataFrame:
        return await asyncio.to_thread(lambda: pd.read_parquet(self._url(key), storage_options=self.options))

    async def project(self, key: str, columns: list[str]) -> pd.DataFrame:
        return await asyncio.to_thread(
            lambda: pd.read_parquet(self._url(key), columns=columns, storage_options=self.options)
        )


class PandasS3fs(_PandasUrls):
    """pandas ``to_parquet`` / ``read_parquet`` with ``s3://`` URLs (s3fs underneath)."""

    scheme = "s3"

    async def open(self) -> None:
        _unsigned_payload()
        self.options = _s3fs_options(self.endpoint)


class _FsspecAsync(Client):
    """An fsspec filesystem in asynchronous mode: ``_pipe_file`` / ``_cat_file`` with gather (16 in flight)."""

    fs: Any
    session: Any

    async def close(self) -> None:
        await self.session.close()

    def _path(self, key: str) -> str:
        return f"{self.bucket}/{key}"

    async def _put(self, key: str, df: pd.DataFrame) -> None:
        body = await asyncio.to_thread(_parquet_bytes, df)
        await self.fs._pipe_file(self._path(key), body)

    async def _get(self, key: str) -> pd.DataFrame:
        body = await self.fs._cat_file(self._path(key))
        return await asyncio.to_thread(_read_parquet, body)

    async def bulk_up(self, items: list[tuple[str, pd.DataFrame]]) -> None:
        await _limited([lambda k=k, df=df: self._put(k, df) for k, df in items])

    async def bulk_down(self, keys: list[str]) -> list[pd.DataFrame]:
        return await _limited([lambda k=k: self._get(k) for k in keys])

    async def big_up(self, key: str, df: pd.DataFrame) -> None:
        await self._put(key, df)

    async def big_down(self, key: str) -> pd.DataFrame:
        return await self._get(key)


class S3fsAsync(_FsspecAsync):
    """s3fs in asynchronous mode: ``_pipe_file`` / ``_cat_file`` with gather (16 in flight)."""

    async def open(self) -> None:
        _unsigned_payload()
        import s3fs

        self.fs = s3fs.S3FileSystem(asynchronous=True, **_s3fs_options(self.endpoint))
        self.session = await self.fs.set_session()


# -- obstore ------------------------------------------------------------------------------------------


class Obstore(Client):
    """obstore ``put_async`` / ``get_async`` with gather (16 in flight); its defaults for big objects."""

    async def open(self) -> None:
        from obstore.store import S3Store

        self.store = S3Store(
            self.bucket,
            config={
                "endpoint": self.endpoint, "access_key_id": KEY, "secret_access_key": KEY, "region": "us-east-1",
                "virtual_hosted_style_request": False, "unsigned_payload": True,
            },
            client_options={"allow_http": True},
        )

    async def _put(self, key: str, df: pd.DataFrame) -> None:
        import obstore

        body = await asyncio.to_thread(_parquet_bytes, df)
        await obstore.put_async(self.store, key, memoryview(body))  # a buffer: obstore takes it without a copy

    async def _get(self, key: str, columns: list[str] | None = None) -> pd.DataFrame:
        import obstore

        result = await obstore.get_async(self.store, key)
        body = await result.bytes_async()
        return await asyncio.to_thread(_read_parquet, memoryview(body), columns)  # type: ignore[arg-type]

    async def bulk_up(self, items: list[tuple[str, pd.DataFrame]]) -> None:
        await _limited([lambda k=k, df=df: self._put(k, df) for k, df in items])

    async def bulk_down(self, keys: list[str]) -> list[pd.DataFrame]:
        return await _limited([lambda k=k: self._get(k) for k in keys])

    async def big_up(self, key: str, df: pd.DataFrame) -> None:
        await self._put(key, df)

    async def big_down(self, key: str) -> pd.DataFrame:
        return await self._get(key)

    async def project(self, key: str, columns: list[str]) -> pd.DataFrame:
        return await self._get(key, columns)


# -- awswrangler ------------------------------------------------------------------------------------


class AwsWrangler(Client):
    """awswrangler ``s3.to_parquet`` / ``s3.read_parquet``, one artifact after another."""

    blocking = True

    async def open(self) -> None:
        _unsigned_payload()
        import awswrangler as wr
        import boto3

        wr.config.s3_endpoint_url = self.endpoint
        self.wr = wr
        self.session = boto3.Session(aws_access_key_id=KEY, aws_secret_access_key=KEY, region_name="us-east-1")

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _put(self, key: str, df: pd.DataFrame) -> None:
        self.wr.s3.to_parquet(df, self._url(key), boto3_session=self.session)

    def _get(self, key: str, columns: list[str] | None = None) -> pd.DataFrame:
        frame: pd.DataFrame = self.wr.s3.read_parquet(self._url(key), columns=columns, boto3_session=self.session)
        return frame

    async def bulk_up(self, items: list[tuple[str, pd.DataFrame]]) -> None:
        await asyncio.to_thread(lambda: [self._put(k, df) for k, df in items])

    async def bulk_down(self, keys: list[str]) -> list[pd.DataFrame]:
        return await asyncio.to_thread(lambda: [self._get(k) for k in keys])

    async def big_up(self, key: str, df: pd.DataFrame) -> None:
        await asyncio.to_thread(self._put, key, df)

    async def big_down(self, key: str) -> pd.DataFrame:
        return await asyncio.to_thread(self._get, key)

    async def project(self, key: str, columns: list[str]) -> pd.DataFrame:
        return await asyncio.to_thread(self._get, key, columns)


# -- raw aiobotocore, hand-tuned ----------------------------------------------------------------------


class _Ranges(io.RawIOBase):
    """A read-only file of ``size`` bytes of which only some ranges were fetched (enough for pyarrow)."""

    def __init__(self, size: int, ranges: dict[int, bytes]) -> None:
        self.size, self.ranges, self.pos = size, ranges, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.size + offset
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        n = min(len(view), self.size - self.pos)
        for start, chunk in self.ranges.items():
            if start <= self.pos and self.pos + n <= start + len(chunk):
                view[:n] = chunk[self.pos - start : self.pos - start + n]
                self.pos += n
                return n
        raise OSError(f"bytes {self.pos}-{self.pos + n} were not fetched")


class RawAiobotocore(Client):
    """aiobotocore by hand: gather (16 in flight), 16 MiB × 8 multipart and ranged GETs into one buffer,
    encode/decode in threads, and footer + column-chunk ranged GETs for a projection."""

    async def open(self) -> None:
        _unsigned_payload()
        from aiobotocore.session import get_session
        from botocore.config import Config

        config = Config(
            max_pool_connections=32, s3={"addressing_style": "path"}, retries={"mode": "standard"},
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        )
        self._cm = get_session().create_client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id=KEY,
            aws_secret_access_key=KEY, config=config,
        )
        self.s3 = await self._cm.__aenter__()

    async def close(self) -> None:
        await self._cm.__aexit__(None, None, None)

    async def _get_range(self, key: str, start: int, end: int) -> bytes:
        response = await self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")
        async with response["Body"] as body:
            return bytes(await body.read())

    async def _put(self, key: str, df: pd.DataFrame) -> None:
        body = await asyncio.to_thread(_parquet_bytes, df)
        await self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    async def _get(self, key: str) -> pd.DataFrame:
        response = await self.s3.get_object(Bucket=self.bucket, Key=key)
        async with response["Body"] as body:
            content = await body.read()
        return await asyncio.to_thread(_read_parquet, content)

    async def bulk_up(self, items: list[tuple[str, pd.DataFrame]]) -> None:
        await _limited([lambda k=k, df=df: self._put(k, df) for k, df in items])

    async def bulk_down(self, keys: list[str]) -> list[pd.DataFrame]:
        return await _limited([lambda k=k: self._get(k) for k in keys])

    async def big_up(self, key: str, df: pd.DataFrame) -> None:
        part = 16 * MiB

        def encode_parts() -> list[bytes]:  # encoded and cut in a worker thread: no 16 MiB copies on the loop
            body = memoryview(_parquet_bytes(df))
            return [bytes(body[start : start + part]) for start in range(0, len(body), part)]

        chunks = await asyncio.to_thread(encode_parts)
        upload = await self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)
        upload_id = upload["UploadId"]

        async def send(number: int, chunk: bytes) -> dict[str, Any]:
            response = await self.s3.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk,
            )
            return {"PartNumber": number, "ETag": response["ETag"]}

        jobs = [lambda n=n, c=c: send(n, c) for n, c in enumerate(chunks, start=1)]
        parts = await _limited(jobs, 8)
        await self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    async def big_down(self, key: str) -> pd.DataFrame:
        size = int((await self.s3.head_object(Bucket=self.bucket, Key=key))["ContentLength"])
        part = 16 * MiB
        buffer = bytearray(size)

        async def fetch(start: int) -> None:
            end = min(size, start + part)
            response = await self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")
            view, filled = memoryview(buffer)[start:end], 0
            async with response["Body"] as body:
                while filled < len(view):
                    n = await body.readinto(view[filled:])
                    if not n:
                        break
                    filled += n

        await _limited([lambda s=s: fetch(s) for s in range(0, size, part)], 8)
        return await asyncio.to_thread(_read_parquet, buffer)  # type: ignore[arg-type]

    async def project(self, key: str, columns: list[str]) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.parquet as pq

        size = int((await self.s3.head_object(Bucket=self.bucket, Key=key))["ContentLength"])
        guess = min(size, 1 * MiB)  # wide footers are large: one generous guess saves a round trip
        tail = await self._get_range(key, size - guess, size)
        footer_len = int.from_bytes(tail[-8:-4], "little")
        if footer_len + 8 > len(tail):
            tail = await self._get_range(key, size - footer_len - 8, size)
        ranges: dict[int, bytes] = {size - len(tail): tail}
        metadata = pq.ParquetFile(pa.PythonFile(_Ranges(size, dict(ranges)))).metadata
        wanted: list[tuple[int, int]] = []
        names = set(columns)
        for rg in range(metadata.num_row_groups):
            group = metadata.row_group(rg)
            for c in range(group.num_columns):
                chunk = group.column(c)
                if chunk.path_in_schema in names:
                    start = chunk.dictionary_page_offset or chunk.data_page_offset
                    wanted.append((start, start + chunk.total_compressed_size))
        bodies = await _limited([lambda s=s, e=e: self._get_range(key, s, e) for s, e in wanted])
        for (start, _), body in zip(wanted, bodies, strict=True):
            ranges[start] = body

        def decode() -> pd.DataFrame:
            table = pq.ParquetFile(pa.PythonFile(_Ranges(size, ranges))).read(columns=columns)
            return table.to_pandas()

        return await asyncio.to_thread(decode)


class PyarrowS3(Client):
    """pyarrow's own S3 filesystem (C++): ``pq.read_table(..., columns=, filesystem=)`` in a worker thread."""

    blocking = True

    async def open(self) -> None:
        from pyarrow import fs

        host = self.endpoint.removeprefix("http://")
        self.fs = fs.S3FileSystem(access_key=KEY, secret_key=KEY, endpoint_override=host, scheme="http",
                                  region="us-east-1")

    async def project(self, key: str, columns: list[str]) -> pd.DataFrame:
        import pyarrow.parquet as pq

        def read() -> pd.DataFrame:
            return pq.read_table(f"{self.bucket}/{key}", columns=columns, filesystem=self.fs).to_pandas()

        return await asyncio.to_thread(read)


CLIENTS: dict[str, type[Client]] = {
    "clinops_async": ClinopsClient,
    "boto3 loop": Boto3Loop,
    "boto3+threads": Boto3Threads,
    "pandas+s3fs": PandasS3fs,
    "s3fs async": S3fsAsync,
    "obstore": Obstore,
    "awswrangler": AwsWrangler,
    "raw aiobotocore": RawAiobotocore,
    "pyarrow S3FileSystem": PyarrowS3,
}


# -- measurements -----------------------------------------------------------------------------------------


class Heartbeat:
    """A task that sleeps 10 ms in a loop and records the longest extra delay: how long the loop stalled."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - start - 0.01)

    def start(self) -> None:
        self.worst = 0.0
        self._task = asyncio.get_running_loop().create_task(self._beat())

    async def stop(self) -> float:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        return self.worst * 1000


def proxy_stats(port: int, command: str = "STATS") -> dict[str, int]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    result: dict[str, int] = json.loads(reply)
    return result


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Start a new high-water mark (Linux: ``clear_refs`` 5 resets ``VmHWM``), so that the download's
    peak is measured on its own; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def current_rss_bytes() -> int:
    return (_status_kib("VmRSS") or 0) * 1024


def peak_rss_since_reset() -> int:
    """``VmHWM``: unlike ``ru_maxrss``, it starts again at :func:`reset_peak_rss`."""
    return (_status_kib("VmHWM") or 0) * 1024


async def _bulk(client: Client, spec: dict[str, Any]) -> dict[str, Any]:
    count = int(spec["count"])
    frames = [(f"bulk/a{i:04d}.parquet", data.bulk_frame(i)) for i in range(count)]
    keys = [k for k, _ in frames]
    beat = Heartbeat()
    beat.start()
    start = time.perf_counter()
    await client.bulk_up(frames)
    up = time.perf_counter() - start
    stall_up = await beat.stop()
    beat.start()
    start = time.perf_counter()
    got = await client.bulk_down(keys)
    down = time.perf_counter() - start
    stall_down = await beat.stop()
    ok = len(got) == count and all(data.frames_match(g, e) for g, (_, e) in zip(got, frames, strict=True))
    return {"up": up, "down": down, "total": up + down, "ok": ok, "stall_up_ms": stall_up,
            "stall_down_ms": stall_down}


async def _big(client: Client, spec: dict[str, Any]) -> dict[str, Any]:
    """Upload a frame, drop it, download it, and only then load the original again to compare: the
    peak RSS (taken before that) covers a process that holds one frame at a time, the frame included.
    The download's own peak is measured from a reset high-water mark, apart from the upload's."""

    base = current_rss_bytes()  # the interpreter, the libraries and the open client, before any frame
    frame = data.matrix_frame(data.load_matrix(Path(spec["matrix"])))
    frame_bytes = int(frame.memory_usage(index=False, deep=True).sum())
    # Loading the matrix and building the frame peak above the frame on their own (the benchmark's
    # doing, the same for every client): the upload's peak is counted from a mark reset after it.
    gc.collect()
    own_up_peak = reset_peak_rss()
    key = "big/frame.parquet"
    beat = Heartbeat()
    beat.start()
    start = time.perf_counter()
    await client.big_up(key, frame)
    up = time.perf_counter() - start
    stall_up = await beat.stop()
    rss_up = peak_rss_since_reset() if own_up_peak else peak_rss_bytes()
    del frame
    gc.collect()
    own_peak = reset_peak_rss()
    beat.start()
    start = time.perf_counter()
    got = await client.big_down(key)
    down = time.perf_counter() - start
    stall_down = await beat.stop()
    rss_down = peak_rss_since_reset() if own_peak else peak_rss_bytes()
    ok = data.frames_match(got, data.matrix_frame(data.load_matrix(Path(spec["matrix"]))))
    return {
        "up": up, "down": down, "total": up + down, "ok": ok, "stall_up_ms": stall_up,
        "stall_down_ms": stall_down, "rss_ratio": max(rss_up, rss_down) / frame_bytes,
        "rss_up_ratio": rss_up / frame_bytes,
        "rss_down_ratio": rss_down / frame_bytes, "rss_base_ratio": base / frame_bytes, "frame_bytes": frame_bytes,
    }


async def _projection(client: Client, spec: dict[str, Any]) -> dict[str, Any]:
    columns: list[str] = spec["columns"]
    before = proxy_stats(spec["control_port"])
    beat = Heartbeat()
    beat.start()
    start = time.perf_counter()
    got = await client.project(spec["key"], columns)
    seconds = time.perf_counter() - start
    stall = await beat.stop()
    after = proxy_stats(spec["control_port"])
    moved = (after["downstream_bytes"] - before["downstream_bytes"]) + (
        after["upstream_bytes"] - before["upstream_bytes"]
    )
    ok = list(got.columns) == columns and len(got) == int(spec["rows"])
    return {"total": seconds, "mb_moved": moved / 1e6, "ok": ok, "stall_ms": stall}


WORKLOADS: dict[str, Callable[[Client, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "bulk": _bulk,
    "big": _big,
    "projection": _projection,
}


# -- GCS (bulk only, against the GCS emulator through the proxy) ----------------------------------


class ClinopsGCS(ClinopsClient):
    """clinops_async's GCS store with its default TransferConfig."""

    async def open(self) -> None:
        from clinops_async import AsyncGCSPipelineStore

        self.store = AsyncGCSPipelineStore(self.bucket, emulator_host=self.endpoint)
        await self.store.__aenter__()

    async def bulk_up(self, items: list[tuple[str, pd.DataFrame]]) -> None:
        # With the no-overwrite precondition (ifGenerationMatch=0), as the fair peer sends it.
        result = await self.store.upload_many([(k.removesuffix(".parquet"), df) for k, df in items], overwrite=False)
        result.raise_for_errors()


class PandasGcsfs(_PandasUrls):
    """pandas ``to_parquet`` / ``read_parquet`` with ``gs://`` URLs (gcsfs underneath), one after another."""

    scheme = "gs"

    async def open(self) -> None:
        self.options = {"token": "anon", "endpoint_url": self.endpoint}


class GcsfsAsync(_FsspecAsync):
    """gcsfs in asynchronous mode: ``_pipe_file`` (one multipart POST) / ``_cat_file`` with gather (16 in flight)."""

    async def open(self) -> None:
        import gcsfs

        self.fs = gcsfs.GCSFileSystem(asynchronous=True, token="anon", endpoint_url=self.endpoint)
        self.session = await self.fs._set_session()


class RawGcloudAio(Client):
    """gcloud-aio-storage by hand: ``upload`` (a simple media POST, no metadata) / ``download``, gather with a
    semaphore of 16, and a 60 s deadline per request (gcloud-aio retries nothing and a stalled request would
    otherwise hang the run)."""

    timeout = 60

    async def open(self) -> None:
        import aiohttp
        from gcloud.aio.storage import Storage

        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY))
        self.storage = Storage(session=self.session, api_root=self.endpoint)

    async def close(self) -> None:
        await self.session.close()

    async def _put(self, key: str, df: pd.DataFrame) -> None:
        body = await asyncio.to_thread(_parquet_bytes, df)
        await self.storage.upload(self.bucket, key, body, content_type="application/octet-stream",
                                  timeout=self.timeout)

    async def _get(self, key: str) -> pd.DataFrame:
        body = await self.storage.download(self.bucket, key, timeout=self.timeout)
        return await asyncio.to_thread(_read_parquet, body)

    async def bulk_up(self, items: list[tuple[str, pd.DataFrame]]) -> None:
        await _limited([lambda k=k, df=df: self._put(k, df) for k, df in items])

    async def bulk_down(self, keys: list[str]) -> list[pd.DataFrame]:
        return await _limited([lambda k=k: self._get(k) for k in keys])


class RawGcloudAioMetadata(RawGcloudAio):
    """The same, given clinops_async's guarantees: each upload carries its CRC32C (which the server checks),
    the metadata clinops_async records, and the no-overwrite precondition (``ifGenerationMatch=0``), so
    gcloud-aio sends one multipart POST (``uploadType=multipart``) instead of a bare media POST; downloads
    are checked against the recorded CRC32C (in the decoding thread). The fair peer for clinops_async."""

    async def _put(self, key: str, df: pd.DataFrame) -> None:
        import base64

        import crc32c

        def encode() -> tuple[bytes, str]:
            body = _parquet_bytes(df)
            return body, base64.b64encode(crc32c.crc32c(body).to_bytes(4, "big")).decode()

        body, crc = await asyncio.to_thread(encode)
        self.recorded[key] = crc
        metadata = {"rows": str(len(df)), "columns": str(df.shape[1]), "format": "parquet", "crc32c": crc,
                    "write": os.urandom(16).hex()}
        await self.storage.upload(self.bucket, key, body, content_type="application/octet-stream",
                                  metadata={"crc32c": crc, "metadata": metadata},
                                  parameters={"ifGenerationMatch": "0"}, timeout=self.timeout)

    async def _get(self, key: str) -> pd.DataFrame:
        import base64

        import crc32c

        body = await self.storage.download(self.bucket, key, timeout=self.timeout)
        # Checked against the CRC32C taken at upload (clinops_async reads the recorded one from the response).
        expected = self.recorded.get(key)

        def check_and_decode() -> pd.DataFrame:
            actual = base64.b64encode(crc32c.crc32c(body).to_bytes(4, "big")).decode()
            if expected is not None and actual != expected:
                raise ValueError(f"{key}: CRC32C mismatch")
            return _read_parquet(body)

        return await asyncio.to_thread(check_and_decode)

    recorded: dict[str, str]

    async def open(self) -> None:
        await super().open()
        self.recorded = {}


GCS_CLIENTS: dict[str, type[Client]] = {
    "clinops_async": ClinopsGCS,
    "pandas+gcsfs": PandasGcsfs,
    "gcsfs async": GcsfsAsync,
    "raw gcloud-aio-storage": RawGcloudAio,
    "raw gcloud-aio-storage, same guarantees": RawGcloudAioMetadata,
}


async def _facade(spec: dict[str, Any]) -> dict[str, Any]:
    """Per-call cost of the blocking facade over a plain await, on a tiny local store: ``exists`` and a
    10-row upload. Batches of plain awaits (on this loop) and of facade calls (from a plain thread, as
    scripts call it) alternate, and the per-call difference is the median over the batches, so load
    drifting on a shared machine hits both sides alike."""
    import statistics
    import tempfile

    from clinops_async import AsyncLocalPipelineStore, LocalPipelineStore

    batch, rounds = 50, max(1, int(spec["calls"]) // 50)
    tiny = data.bulk_frame(0, rows=10)
    with tempfile.TemporaryDirectory() as root:
        async_store = AsyncLocalPipelineStore(root)
        store = LocalPipelineStore(root)
        await async_store.upload(tiny, "tiny")
        ops = {
            "exists": (lambda: async_store.exists("tiny"), lambda: store.exists("tiny")),
            "upload": (lambda: async_store.upload(tiny, "up"), lambda: store.upload(tiny, "up")),
        }
        result: dict[str, Any] = {"ok": True}
        for name, (awaited, blocking) in ops.items():

            def run_blocking(call: Callable[[], Any] = blocking) -> float:
                start = time.perf_counter()
                for _ in range(batch):
                    call()
                return (time.perf_counter() - start) / batch

            plain, facade = [], []
            for i in range(rounds + 1):
                start = time.perf_counter()
                for _ in range(batch):
                    await awaited()
                per_await = (time.perf_counter() - start) / batch
                per_facade = await asyncio.to_thread(run_blocking)
                if i:  # the first round warms both paths up
                    plain.append(per_await)
                    facade.append(per_facade)
            diffs = [f - a for f, a in zip(facade, plain, strict=True)]
            result[f"{name}_await_us"] = statistics.median(plain) * 1e6
            result[f"{name}_facade_us"] = statistics.median(facade) * 1e6
            result[f"{name}_overhead_us"] = statistics.median(diffs) * 1e6
        await asyncio.to_thread(store.close)
        await async_store.aclose()
    result["total"] = result["exists_overhead_us"]
    return result


async def _run(spec: dict[str, Any]) -> dict[str, Any]:
    if spec["workload"] == "facade":
        return await _facade(spec)
    clients = GCS_CLIENTS if spec.get("backend") == "gcs" else CLIENTS
    client = clients[spec["client"]](spec)
    await client.open()
    if spec.get("gc_freeze"):
        # What an application can do once after start-up (the gc module's advice for long-lived
        # objects): move everything alive now, botocore's service models included, out of the
        # collector's reach, so that full collections walk only what the run itself creates.
        gc.collect()
        gc.freeze()
    full = _FullCollections()
    try:
        result = await WORKLOADS[spec["workload"]](client, spec)
    finally:
        full.stop()
        await client.close()
    return {**result, "gc_full": full.count, "gc_full_max_ms": full.longest * 1000}


class _FullCollections:
    """How many full (generation 2) collections ran, and the longest of them."""

    def __init__(self) -> None:
        self.count = 0
        self.longest = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.longest = max(self.longest, time.perf_counter() - self._started)

    def stop(self) -> None:
        gc.callbacks.remove(self._callback)


def main() -> None:
    spec = json.loads(sys.argv[1])
    os.environ.setdefault("AWS_ACCESS_KEY_ID", KEY)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", KEY)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    # gcsfs otherwise probes every bucket for the zonal type over gRPC, which the emulator does not speak
    # (a 60 s wait per bucket and file system).
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    result = asyncio.run(_run(spec))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
