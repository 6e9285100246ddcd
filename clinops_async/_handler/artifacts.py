"""Reading the artifacts an event names, and writing a step's output under a deterministic name.

Every store a step opens (one per directory of the artifacts it reads, one for its output) is held by
an :class:`AsyncExitStack` for the length of one event, so nothing stays open after the step.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import ArtifactChangedError, StepInputError
from .._stores.checksum import crc32c_b64
from .._stores.codecs import StorageFormat
from .._stores.open import open_store, split_uri
from .._tasks import run_limited

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .._stores.core import AsyncPipelineStore
    from .events import ArtifactRef, StepContext

__all__ = ["ArtifactStores", "checksum_of", "output_base", "reference"]

#: Artifacts of one event read at once. 8 keeps a batch of a Distributed Map (often tens of
#: fragments) moving without opening more connections than one store's pool holds.
READ_CONCURRENCY = 8


def _split_artifact_uri(uri: str) -> tuple[str, str, StorageFormat]:
    """``(directory URI, artifact name, format)`` of an artifact URI such as ``s3://b/runs/x.parquet``."""
    split_uri(uri)  # its checks: scheme, bucket, file URI rules
    directory, _, leaf = uri.rpartition("/")
    stem, dot, extension = leaf.rpartition(".")
    formats = {f.value: f for f in StorageFormat}
    if not directory or not dot or not stem or extension not in formats:
        raise StepInputError(
            f"{uri!r} is not an artifact URI: expected DIRECTORY/NAME.parquet or DIRECTORY/NAME.csv"
        )
    return directory, stem, formats[extension]


class ArtifactStores:
    """The stores a step reads and writes with: one per directory (and format), opened once, kept open.

    A Lambda handler keeps one for the life of its process, so a warm invocation reuses its clients;
    ``run_async`` makes one per event. ``aclose()`` closes every store opened.
    """

    def __init__(self, store_options: dict[str, Any], result_type: str) -> None:
        self._stack = AsyncExitStack()
        self._lock = anyio.Lock()
        self._options = store_options
        self._result_type = result_type
        self._stores: dict[tuple[str, StorageFormat], AsyncPipelineStore] = {}

    async def aclose(self) -> None:
        self._stores.clear()
        await self._stack.aclose()

    async def store(self, directory: str, format: StorageFormat) -> AsyncPipelineStore:
        key = (directory, format)
        async with self._lock:  # two concurrent events must not open the same store twice
            if key not in self._stores:
                options = self._options if split_uri(directory)[0] != "file" else {}
                self._stores[key] = await self._stack.enter_async_context(
                    open_store(directory, format=format, **options)
                )
            return self._stores[key]

    async def read(self, ref: ArtifactRef) -> Any:
        """The frame at ``ref``, after checking it is still the artifact the reference names.

        Raises:
            StepInputError: Not an artifact URI.
            ArtifactNotFoundError: Nothing at that URI.
            ArtifactChangedError: Its CRC32C is not the reference's (it was replaced since).
            IntegrityError: The bytes do not match their recorded CRC32C.
        """
        directory, name, format = _split_artifact_uri(ref.uri)
        store = await self.store(directory, format)
        if ref.crc32c is not None:
            checksum = await checksum_of(store, name)
            if checksum is not None and checksum != ref.crc32c:
                raise ArtifactChangedError(
                    f"{ref.uri} has CRC32C {checksum}, not the {ref.crc32c} its reference names: it "
                    "was replaced after the step that wrote it; re-run that step",
                    uri=ref.uri,
                )
        return await store.download(name, result_type=self._result_type)  # type: ignore[call-overload]

    async def read_all(self, refs: list[ArtifactRef]) -> list[Any]:
        """The frames at ``refs``, in order, at most :data:`READ_CONCURRENCY` at a time.

        The first failure cancels the other reads and is raised as it is (no exception group), so
        its class name is the error Step Functions sees.
        """
        for ref in refs:  # every URI checked, and each store opened once, before the first read
            await self.store(*_split_artifact_uri(ref.uri)[::2])
        frames: list[Any] = [None] * len(refs)

        def job(index: int) -> Callable[[], Awaitable[None]]:
            async def read_one() -> None:
                frames[index] = await self.read(refs[index])
            return read_one

        await run_limited(READ_CONCURRENCY, (job(index) for index in range(len(refs))))
        return frames


def output_base(context: StepContext | None, event: object, output_name: str) -> str:
    """The name of a step's output: the same on every attempt of the same step, so a retry replaces it.

    With the Step Functions context (:func:`step_parameters`): ``EXECUTION/STATE[/item-N]/NAME``.
    Without: ``by-input/KEY/NAME``, KEY being the SHA-256 of the event (as canonical JSON), so the
    same input always gives the same name.
    """
    if context is not None:
        return f"{context.path()}/{output_name}"
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return f"by-input/{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:32]}/{output_name}"


async def checksum_of(store: AsyncPipelineStore, name: str) -> str | None:
    """The CRC32C of artifact ``name``: recorded with it, or (local store, which records none) computed."""
    info = await store.info(name)
    if info.checksum is not None or split_uri(info.uri)[0] != "file":
        return info.checksum
    path = Path(split_uri(info.uri)[2])
    return await anyio.to_thread.run_sync(lambda: crc32c_b64(path.read_bytes()))


async def reference(store: AsyncPipelineStore, name: str) -> dict[str, Any]:
    """The small reference a step returns for artifact ``name`` of ``store``."""
    info = await store.info(name)
    checksum = info.checksum if info.checksum is not None else await checksum_of(store, name)
    return {"uri": info.uri, "format": store.format.value, "rows": info.rows, "columns": info.columns,
            "crc32c": checksum, "size": info.size}
