"""The work behind ``cp``, ``ls`` and ``rm``: stores shared per command, listings, bounded transfers."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from .._exceptions import ConfigurationError
from .._stores.codecs import StorageFormat
from .._stores.uri import ArtifactURI, LocationURI, is_directory_like, parse_artifact_uri, parse_location_uri
from .common import CliState, ExitCode, exit_code_for, message_for

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    import pandas as pd

    from .._stores.core import ArtifactInfo, AsyncPipelineStore, ByteProgress
    from ..progress import ProgressBar

__all__ = ["Listed", "StorePool", "Transfer", "TransferResult", "list_location", "plan_copies", "run_copies",
           "worst_code"]

T = TypeVar("T")

#: Metadata requests in flight while ``ls`` gathers sizes and counts.
LIST_INFO_CONCURRENCY = 16


class StorePool:
    """One store per (root, format, mode) for the length of a command; all closed together."""

    def __init__(self, state: CliState) -> None:
        self.state = state
        self._stores: dict[tuple[str, StorageFormat, bool], AsyncPipelineStore] = {}

    def get(self, scheme: str, root: str, fmt: StorageFormat, *, reading: bool) -> AsyncPipelineStore:
        key = (root, fmt, reading)
        if key not in self._stores:
            from .._stores.open import open_store

            options = self.state.store_options(scheme, reading=reading)
            self._stores[key] = open_store(root, format=fmt, **options)
        return self._stores[key]

    def for_artifact(self, artifact: ArtifactURI, *, reading: bool) -> AsyncPipelineStore:
        return self.get(artifact.scheme, artifact.root, artifact.format, reading=reading)

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            for store in self._stores.values():
                await store.aclose()

    async def __aenter__(self) -> StorePool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@dataclass(frozen=True)
class Listed:
    """One artifact found under a location: its path relative to the location, and where it is."""

    relative: str
    artifact: ArtifactURI


async def list_location(pool: StorePool, location: LocationURI) -> list[Listed]:
    """Every Parquet and CSV artifact under ``location`` (sorted by relative path)."""
    found: list[Listed] = []
    for fmt in StorageFormat:
        store = pool.get(location.scheme, location.root, fmt, reading=True)
        listed_prefix = "/".join(p for p in (location.prefix, location.partial) if p)
        if location.prefix and not location.partial:
            listed_prefix += "/"
        for name in await store.list_artifacts(listed_prefix):
            relative = name[len(location.prefix) + 1:] if location.prefix else name
            uri = store.uri(name)
            found.append(Listed(f"{relative}.{fmt.value}",
                                ArtifactURI(location.scheme, location.root, name, fmt, uri)))
    return sorted(found, key=lambda item: item.relative)


async def gather_limited(limit: int, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T | BaseException]:
    """Run ``jobs`` at most ``limit`` at a time; each result is its value or the exception it raised."""
    results: list[T | BaseException] = [ConfigurationError("not run")] * len(jobs)
    limiter = anyio.CapacityLimiter(max(1, limit))

    async def one(index: int) -> None:
        async with limiter:
            try:
                results[index] = await jobs[index]()
            except Exception as exc:
                results[index] = exc

    async with anyio.create_task_group() as tg:
        for index in range(len(jobs)):
            tg.start_soon(one, index)
    return results


async def infos(pool: StorePool, items: Sequence[Listed]) -> list[ArtifactInfo | BaseException]:
    def job(item: Listed) -> Callable[[], Awaitable[ArtifactInfo]]:
        async def run() -> ArtifactInfo:
            store = pool.for_artifact(item.artifact, reading=True)
            return await store.info(item.artifact.name)

        return run

    return await gather_limited(LIST_INFO_CONCURRENCY, [job(item) for item in items])


# -- cp ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    source: ArtifactURI
    destination: ArtifactURI


@dataclass
class TransferResult:
    transfer: Transfer
    bytes: int | None = None
    error: BaseException | None = None
    #: How it went: "server" (a server-side copy), "bytes" (the stored bytes, read and written),
    #: "convert" (decoded and encoded in the other format), "unchanged" (``sync``: already there).
    method: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.transfer.source.uri,
            "destination": self.transfer.destination.uri,
            "ok": self.ok,
            "bytes": self.bytes,
            "method": self.method,
            "error": None if self.error is None else message_for(self.error),
            "exit_code": int(ExitCode.OK if self.error is None else exit_code_for(self.error)),
        }


async def plan_copies(pool: StorePool, sources: Sequence[str], destination: str, *, recursive: bool) -> list[Transfer]:
    """What ``cp SOURCES... DESTINATION`` copies where.

    One artifact to an artifact URI copies (and converts by extension). Otherwise the destination is
    a place (``s3://bucket/prefix/`` or a local directory) and each artifact keeps its file name;
    with ``--recursive`` a source place copies everything under it, keeping relative paths.
    """
    into_place = len(sources) > 1 or is_directory_like(destination)
    if not into_place:
        if is_directory_like(sources[0]):
            raise ConfigurationError(
                f"{sources[0]!r} is a directory or prefix: end the destination with '/' and add --recursive"
            )
        try:
            target = parse_artifact_uri(destination)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{exc}; to copy into a directory or prefix, end it with '/'") from None
        return [Transfer(parse_artifact_uri(sources[0]), target)]
    if not is_directory_like(destination):
        raise ConfigurationError(
            f"copying several artifacts needs a destination directory or prefix ending in '/'; got {destination!r}"
        )
    place = parse_location_uri(destination)
    if place.partial:
        raise ConfigurationError(f"the destination {destination!r} must end with '/'")
    transfers: list[Transfer] = []
    for source in sources:
        if is_directory_like(source):
            if not recursive:
                raise ConfigurationError(f"{source!r} is a directory or prefix: add --recursive to copy what it holds")
            listed = await list_location(pool, parse_location_uri(source))
            transfers.extend(Transfer(i.artifact, parse_artifact_uri(place.child(i.relative))) for i in listed)
        else:
            artifact = parse_artifact_uri(source)
            transfers.append(Transfer(artifact, parse_artifact_uri(place.child(artifact.basename))))
    targets = [t.destination.uri for t in transfers]
    if len(set(targets)) != len(targets):
        duplicate = next(t for t in targets if targets.count(t) > 1)
        raise ConfigurationError(f"two sources would be copied to the same destination {duplicate}")
    for transfer in transfers:
        if transfer.source.uri == transfer.destination.uri:
            raise ConfigurationError(f"{transfer.source.uri} would be copied onto itself")
    return transfers


async def run_copies(
    pool: StorePool,
    transfers: Sequence[Transfer],
    *,
    concurrency: int,
    overwrite: bool,
    bar: ProgressBar,
    on_done: Callable[[TransferResult], None],
    move: bool = False,
) -> list[TransferResult]:
    """Copy (or move) each artifact, at most ``concurrency`` at once: on the server when both ends are
    in one service and format, else by its bytes, else (another format) decoded and encoded again."""

    def job(transfer: Transfer) -> Callable[[], Awaitable[TransferResult]]:
        async def run() -> TransferResult:
            result = TransferResult(transfer)
            try:
                result.bytes, result.method = await _copy_one(pool, transfer, overwrite=overwrite, bar=bar, move=move)
            except Exception as exc:
                result.error = exc
            bar.advance(ok=result.ok)
            on_done(result)
            return result

        return run

    results = await gather_limited(concurrency, [job(t) for t in transfers])
    return [r for r in results if isinstance(r, TransferResult)]


async def _copy_one(
    pool: StorePool, transfer: Transfer, *, overwrite: bool, bar: ProgressBar, move: bool
) -> tuple[int, str]:
    from .._stores.bytecopy import copy_bytes
    from .._stores.copying import server_side_possible

    source, destination = transfer.source, transfer.destination
    reader = pool.for_artifact(source, reading=True)
    writer = pool.for_artifact(destination, reading=False)
    written = _Size()
    if server_side_possible(reader, writer):
        act = reader.move if move else reader.copy
        await act(source.name, destination.name, to=writer, overwrite=overwrite,
                  progress=written.wrap(bar.track(_label(destination, "copy"))))
        return written.total, "server"
    if source.format is destination.format:  # another cloud: the stored bytes, never a frame
        size = await copy_bytes(reader, source.name, writer, destination.name, overwrite=overwrite,
                                read_progress=bar.track(_label(source, "read")),
                                write_progress=bar.track(_label(destination, "write")))
        method = "bytes"
    else:
        frame: pd.DataFrame = await reader.download(source.name, progress=bar.track(_label(source, "read")))
        await writer.upload(frame, destination.name, overwrite=overwrite,
                            progress=written.wrap(bar.track(_label(destination, "write"))))
        size, method = written.total, "convert"
    if move:  # the copy is complete and verified by its CRC32C on the way in
        await reader.delete(source.name)
    return size, method


@dataclass
class _Size:
    total: int = 0

    def wrap(self, callback: ByteProgress) -> ByteProgress:
        def report(done: int, total: int) -> None:
            self.total = total
            callback(done, total)

        return report


def _label(artifact: ArtifactURI, verb: str) -> str:
    return f"{verb} {posixpath.basename(artifact.uri)}"


def worst_code(codes: Sequence[ExitCode], total: int) -> ExitCode:
    """The exit code of a many-item command: 0; the shared code when every item failed alike; else 1."""
    if not codes:
        return ExitCode.OK
    if len(codes) == total and len(set(codes)) == 1:
        return codes[0]
    return ExitCode.FAILURE
