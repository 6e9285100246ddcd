"""Large uploads to GCS, written over plain requests because gcloud-aio sends one PUT and never retries.

Resumable (the default): one upload session, sent in chunks (multiples of 256 KiB). A chunk that fails
(429, 5xx, a dropped connection, a timeout) is not simply sent again: the store first asks the server
how many bytes it holds (``Content-Range: bytes */N`` → 308 + ``Range``) and resumes from there. The
attempt count starts again whenever the server's offset moves forward, so a long upload survives any
number of separate interruptions, but not a connection that never makes progress. A lost session
(404/410) starts a new one. A failed or cancelled upload cancels its session, so nothing is created.

Composite: the artifact is cut into components uploaded concurrently (each CRC32C-checked), then
composed, 32 sources per compose request, nested beyond that. Temporary components are deleted on
success, failure and cancellation alike (in a shielded scope).
"""

from __future__ import annotations

import functools
import json
import logging
import random
import uuid
from typing import TYPE_CHECKING, Any

import anyio

from ..._exceptions import ArtifactExistsError, StoreError, TransientStoreError
from ..._retry import retry
from ..._tasks import run_limited
from ..checksum import crc32c_b64_async
from .http import BucketClient, status_error

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..._config import RetryConfig
    from ..backend import PutRequest

__all__ = ["CHUNK_ALIGN", "MAX_COMPONENTS", "MAX_COMPOSE_SOURCES", "TEMP_MARK", "upload_composite", "upload_resumable"]

logger = logging.getLogger("clinops_async")

#: Resumable chunks (all but the last) and composite components must be multiples of 256 KiB.
CHUNK_ALIGN = 256 * 1024
#: GCS composes at most 32 sources per request, and a composite object of at most 1024 components.
MAX_COMPOSE_SOURCES = 32
MAX_COMPONENTS = 1024
#: Marks the names of temporary components: ``<object>.clinops-tmp-<token>-<n>``.
TEMP_MARK = ".clinops-tmp-"
_MAX_NAME_BYTES = 1024


class _SessionLost(Exception):
    """The resumable session is gone (expired, or finalized short by a faulty server): start again."""


class _OffsetRefused(Exception):
    """The server refused a chunk's start offset: it holds a different number of bytes than assumed."""


def _align(size: int) -> int:
    return -(-size // CHUNK_ALIGN) * CHUNK_ALIGN


def _backoff(config: RetryConfig, attempt: int) -> float:
    return random.uniform(0, min(config.max_backoff, config.initial_backoff * 2 ** (attempt - 1)))


async def _shielded(http: BucketClient, action: Callable[[], Awaitable[None]], what: str) -> None:
    """Run a clean-up step even while the caller is being cancelled, within a time limit."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(2 * http.transfer.read_timeout):
        try:
            await action()
        except Exception:
            logger.warning("could not %s", what, exc_info=True)


# -- resumable ---------------------------------------------------------------------------------------


async def upload_resumable(
    http: BucketClient, request: PutRequest, data: memoryview, chunk_size: int, config: RetryConfig
) -> dict[str, Any]:
    """Upload ``data`` through a resumable session in chunks; returns the stored object's resource.

    ``config`` bounds the attempts at each step: starting the session, each chunk (counted again from
    zero whenever the server's offset moves forward), and starting over when the session is lost.
    """
    chunk = _align(chunk_size)
    restarts = 0
    while True:
        session = await retry(config, lambda: _start_session(http, request), what=f"start of {request.uri}")
        try:
            return await _send_chunks(http, request, data, session, chunk, config)
        except _SessionLost as lost:
            restarts += 1
            if restarts >= config.max_attempts:
                raise TransientStoreError(
                    f"{request.uri}: the upload session was lost {restarts} times ({lost})",
                    uri=request.uri, attempts=restarts,
                ) from None
            logger.warning("%s: %s; starting the upload again", request.uri, lost)
        except BaseException:
            await _shielded(http, functools.partial(_cancel_session, http, session, request.uri),
                            f"cancel the upload session of {request.uri}")
            raise


async def _start_session(http: BucketClient, request: PutRequest) -> str:
    body = json.dumps(http.resource(request)).encode()
    with http.missing_bucket(request.uri):
        return await _open_session(http, request, body)


async def _open_session(http: BucketClient, request: PutRequest, body: bytes) -> str:
    async with http.send(
        "POST", http.upload_api, uri=request.uri,
        params={"uploadType": "resumable", "name": request.key, **http.write_params(request)},
        headers={
            "Content-Type": "application/json; charset=UTF-8",
            "X-Upload-Content-Type": request.content_type,
            "X-Upload-Content-Length": str(request.size),
        },
        data=body,
    ) as response:
        location = response.headers.get("Location")
    if not location:
        raise StoreError(f"{request.uri}: GCS started an upload session without a Location", uri=request.uri)
    return str(location)


async def _session_request(
    http: BucketClient, session: str, uri: str, content_range: str, body: memoryview | bytes
) -> tuple[int, dict[str, Any] | None]:
    """One PUT to the session: (bytes the server holds, the object resource once it is finalized)."""
    async with http.send(
        "PUT", session, uri=uri, expect=(200, 201, 308, 400, 404, 410),
        headers={"Content-Range": content_range}, data=body, size=len(body),
    ) as response:
        if response.status == 400:
            refusal = status_error(400, await http.read_error_body(response), uri, http.bucket)
            if not body:
                raise refusal
            raise _OffsetRefused(str(refusal))
        if response.status in (404, 410):
            raise _SessionLost(f"the server no longer knows the upload session (HTTP {response.status})")
        if response.status == 308:
            held = response.headers.get("Range", "")
            return (int(held.rsplit("-", 1)[1]) + 1 if "-" in held else 0), None
        text = await response.read()
    try:
        stored = json.loads(text)
    except ValueError:
        raise TransientStoreError(f"{uri}: the server sent an unreadable answer", uri=uri) from None
    return int(stored.get("size", -1)), stored


async def _send_chunks(
    http: BucketClient, request: PutRequest, data: memoryview, session: str, chunk: int, config: RetryConfig
) -> dict[str, Any]:
    total = len(data)
    offset = failures = 0
    query = False
    while True:
        try:
            if query:
                held, stored = await _session_request(http, session, request.uri, f"bytes */{total}", b"")
            else:
                end = min(offset + chunk, total)
                held, stored = await _session_request(
                    http, session, request.uri, f"bytes {offset}-{end - 1}/{total}", data[offset:end]
                )
        except (TransientStoreError, _OffsetRefused) as exc:
            failures += 1
            if failures >= config.max_attempts:
                if isinstance(exc, _OffsetRefused):
                    raise StoreError(str(exc), uri=request.uri) from None
                exc.attempts = failures
                raise
            logger.debug("%s: chunk at %d failed (%s); asking the server for its offset", request.uri, offset, exc)
            await anyio.sleep(_backoff(config, failures))
            query = True
            continue
        if stored is not None:
            if held != total:
                # A faulty server finalized an incomplete object: remove it and start again.
                generation = str(stored.get("generation", "")) or None
                await _shielded(http, functools.partial(http.delete, request.key, generation=generation),
                                f"delete the incomplete object {request.uri}")
                raise _SessionLost(f"the server finalized the object at {held} of {total} bytes")
            return stored
        if not 0 <= held <= total:
            raise StoreError(f"{request.uri}: the server reports {held} bytes of {total}", uri=request.uri)
        if held > offset:
            failures = 0
        elif not query:
            failures += 1  # a chunk accepted without progress
            if failures >= config.max_attempts:
                raise TransientStoreError(
                    f"{request.uri}: the server accepted no bytes at offset {offset}", uri=request.uri,
                    attempts=failures,
                )
            await anyio.sleep(_backoff(config, failures))
        if held < offset:
            logger.debug("%s: resuming at byte %d (sent up to %d)", request.uri, held, offset)
        offset = held
        query = False


async def _cancel_session(http: BucketClient, session: str, uri: str) -> None:
    try:
        async with http.send("DELETE", session, uri=uri, expect=(200, 204, 404, 410, 499)):
            pass
    except StoreError as exc:
        logger.debug("%s: the server did not cancel the upload session (%s)", uri, exc)


# -- composite ---------------------------------------------------------------------------------------


async def upload_composite(
    http: BucketClient, request: PutRequest, data: memoryview, part_size: int, config: RetryConfig, *,
    write_marker: str,
) -> dict[str, Any]:
    """Upload ``data`` as concurrent components composed into one object; returns its resource.

    ``write_marker`` names the metadata entry whose value is unique to this write: a retried final
    compose that finds the object already there accepts it only when it carries this write's value.
    An artifact too small for two components, or whose component names would be too long, goes up
    as a resumable upload in chunks of ``part_size`` instead.
    """
    total = len(data)
    size = _align(max(part_size, -(-total // MAX_COMPONENTS)))
    count = -(-total // size)
    base = f"{request.key}{TEMP_MARK}{uuid.uuid4().hex[:16]}"
    if count < 2 or len(f"{base}-L9-00000".encode()) > _MAX_NAME_BYTES:
        return await upload_resumable(http, request, data, part_size, config)
    temporary: list[str] = []

    def upload_job(index: int, names: list[str], generations: list[str]) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            piece = data[index * size : (index + 1) * size]
            crc = await crc32c_b64_async(piece)
            temporary.append(names[index])
            generations[index] = await retry(
                config, lambda: _put_component(http, names[index], piece, crc),
                what=f"component {index + 1}/{count} of {request.uri}",
            )

        return send

    try:
        names = [f"{base}-{i:05d}" for i in range(count)]
        generations = [""] * count
        await run_limited(http.transfer.max_concurrency,
                           (upload_job(i, names, generations) for i in range(count)))
        sources = list(zip(names, generations, strict=True))
        level = 0
        while len(sources) > MAX_COMPOSE_SOURCES:
            level += 1
            sources = await _compose_level(http, config, sources, f"{base}-L{level}", temporary)
        return await _compose_final(http, config, request, sources, write_marker)
    finally:
        await _shielded(http, lambda: _delete_all(http, config, list(temporary)),
                        f"delete the temporary components of {request.uri}")


async def _put_component(http: BucketClient, name: str, piece: memoryview, crc: str) -> str:
    uri = http.uri(name)
    resource = {"name": name, "contentType": "application/octet-stream", "crc32c": crc}
    stored = await http.insert(uri, resource, piece, http.kms_params())
    if stored.get("crc32c") != crc or int(stored.get("size", -1)) != len(piece):
        # Damaged on the way (servers that validate the sent CRC32C refuse it instead): send it again.
        raise TransientStoreError(f"{uri}: the stored component does not match what was sent", uri=uri)
    return str(stored.get("generation", ""))


async def _compose(
    http: BucketClient, key: str, sources: list[tuple[str, str]], destination: dict[str, Any],
    params: dict[str, str],
) -> dict[str, Any]:
    body = {
        "sourceObjects": [{"name": n, **({"generation": g} if g else {})} for n, g in sources],
        "destination": destination,
    }
    return await http.send_json(
        "POST", f"{http.object_url(key)}/compose", uri=http.uri(key), params=params,
        headers={"Content-Type": "application/json; charset=UTF-8"}, data=json.dumps(body).encode(),
    )


async def _compose_level(
    http: BucketClient, config: RetryConfig, sources: list[tuple[str, str]], base: str, temporary: list[str]
) -> list[tuple[str, str]]:
    """Compose ``sources`` 32 at a time into intermediate temporary objects."""
    groups = [sources[i : i + MAX_COMPOSE_SOURCES] for i in range(0, len(sources), MAX_COMPOSE_SOURCES)]
    names = [f"{base}-{j:05d}" for j in range(len(groups))]
    generations = [""] * len(groups)
    params = http.kms_params()
    destination = {"contentType": "application/octet-stream"}

    def job(j: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            temporary.append(names[j])
            stored = await retry(
                config, lambda: _compose(http, names[j], groups[j], destination, params),
                what=f"compose of {http.uri(names[j])}",
            )
            generations[j] = str(stored.get("generation", ""))

        return run

    await run_limited(http.transfer.max_concurrency, (job(j) for j in range(len(groups))))
    return list(zip(names, generations, strict=True))


async def _compose_final(
    http: BucketClient, config: RetryConfig, request: PutRequest, sources: list[tuple[str, str]], write_marker: str
) -> dict[str, Any]:
    destination = {"contentType": request.content_type, "metadata": dict(request.metadata)}
    marker = request.metadata.get(write_marker)
    attempts = 0

    async def once() -> dict[str, Any]:
        nonlocal attempts
        attempts += 1
        try:
            return await _compose(http, request.key, sources, destination, http.write_params(request))
        except ArtifactExistsError:
            # A retried conditional compose may find the object its own first attempt created.
            if attempts > 1 and marker is not None:
                stored = await http.send_json("GET", http.object_url(request.key), uri=request.uri)
                if (stored.get("metadata") or {}).get(write_marker) == marker:
                    return stored
            raise

    return await retry(config, once, what=f"compose of {request.uri}")


async def _delete_all(http: BucketClient, config: RetryConfig, names: list[str]) -> None:
    failed: list[str] = []

    async def remove(name: str) -> None:
        try:
            await retry(config, lambda: http.delete(name), what=f"delete of {http.uri(name)}")
        except Exception:
            failed.append(name)

    async with anyio.create_task_group() as group:
        limiter = anyio.CapacityLimiter(http.transfer.max_concurrency)

        async def limited(name: str) -> None:
            async with limiter:
                await remove(name)

        for name in names:
            group.start_soon(limited, name)
    if failed:
        logger.warning("%d temporary components could not be deleted, e.g. %s", len(failed), http.uri(failed[0]))
