"""What the AWS clients share: one way to open an aiobotocore client without stalling the loop."""

from __future__ import annotations

import socket
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, overload

import anyio

from ._exceptions import ConfigurationError
from ._redaction import install_log_redaction

if TYPE_CHECKING:  # the stubs are a development dependency; at run time the clients are aiobotocore's
    from collections.abc import Callable
    from contextlib import AsyncExitStack

    from types_aiobotocore_s3.client import S3Client
    from types_aiobotocore_stepfunctions.client import SFNClient

__all__ = ["credentials_error", "open_client", "parse_timestamp", "stall_limited_sockets"]

_MODEL_FILES = ("service-2", "endpoint-rule-set-1", "paginators-1")
_DATA_FILES = ("endpoints", "partitions", "sdk-default-configuration", "_retry")


def _warm_models(session: Any, service: str) -> None:
    """Load (and cache) the JSON models a client needs; botocore reads them synchronously."""
    loader = session.get_component("data_loader")
    for kind in _MODEL_FILES:
        try:
            loader.load_service_model(service, kind)
        except Exception:
            pass
    for name in _DATA_FILES:
        try:
            loader.load_data(name)
        except Exception:
            pass


def parse_timestamp(value: Any) -> datetime:
    """A response's timestamp: ISO 8601 ones (each entry's LastModified in a listing) by the standard
    library, anything else by botocore's own parser (registered with ``set_parser_defaults``, the
    session's way to choose it). botocore's goes through dateutil, on the event loop: 1.5 of the 3.6
    CPU-seconds of listing 5,000 objects under a profiler, and the listing's longest stalls."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    from botocore.utils import parse_timestamp as botocore_parse

    return botocore_parse(value)


@overload
async def open_client(
    stack: AsyncExitStack, service: Literal["s3"], *, profile: str | None, region: str, endpoint_url: str | None,
    config: Any,
) -> S3Client: ...


@overload
async def open_client(
    stack: AsyncExitStack, service: Literal["stepfunctions"], *, profile: str | None, region: str,
    endpoint_url: str | None, config: Any,
) -> SFNClient: ...


async def open_client(
    stack: AsyncExitStack,
    service: Literal["s3", "stepfunctions"],
    *,
    profile: str | None,
    region: str,
    endpoint_url: str | None,
    config: Any,
) -> Any:
    """Create an aiobotocore client registered on ``stack``.

    The SDK modules, the session and the service models are loaded in a worker thread first (about
    150 ms of imports and JSON parsing that would otherwise block the event loop).
    """
    def make_session() -> Any:
        # Imported here, in the worker thread: importing aiohttp's connector builds SSL contexts
        # (tens of milliseconds), which must not happen on the event loop.
        try:
            import aiobotocore.httpsession
            import aiobotocore.session
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ImportError(
                f"the {service} client needs aiobotocore: pip install 'clinops-async[aws]'"
            ) from None
        session = aiobotocore.session.AioSession(profile=profile)
        session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
        _warm_models(session, service)
        return session

    install_log_redaction()  # before the client exists: it logs credentials at DEBUG as it is made
    session = await anyio.to_thread.run_sync(make_session)
    return await stack.enter_async_context(
        session.create_client(service, region_name=region, endpoint_url=endpoint_url, config=config)
    )


def stall_limited_sockets(read_timeout: float) -> Callable[[Any], socket.socket]:
    """A socket factory for aiohttp whose connections the kernel drops after ``read_timeout`` s stalled.

    A request cancelled at its deadline while the peer has stopped reading its body cannot close its
    connection: asyncio waits for the unsent bytes to drain first, and TCP probes a closed receive
    window for ever, so the socket would stay open as long as the peer does. ``TCP_USER_TIMEOUT``
    (Linux) drops a connection whose sent data stays unacknowledged that long, which frees it; idle
    pooled connections are not affected. Elsewhere the sockets are plain.
    """
    user_timeout_ms = max(1, int(read_timeout * 1000))

    def make_socket(addr_info: Any) -> socket.socket:
        family, kind, proto = addr_info[0], addr_info[1], addr_info[2]
        sock = socket.socket(family=family, type=kind, proto=proto)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, user_timeout_ms)
        return sock

    return make_socket


def credentials_error(exc: BaseException) -> ConfigurationError | None:
    """The ConfigurationError for missing or unknown AWS credentials, or None for other errors."""
    from botocore import exceptions as bex

    if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
        return ConfigurationError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or an "
            "instance role"
        )
    if isinstance(exc, bex.ProfileNotFound):
        return ConfigurationError(f"AWS profile not found: {exc.kwargs.get('profile')!r}")
    return None
