"""What the AWS clients share: one way to open an aiobotocore client without stalling the loop."""

from __future__ import annotations

import socket
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

import anyio

from ._exceptions import ConfigurationError
from ._redaction import install_log_redaction, register_secret

if TYPE_CHECKING:  # the stubs are a development dependency; at run time the clients are aiobotocore's
    from collections.abc import Awaitable, Callable, Mapping
    from contextlib import AsyncExitStack

    from types_aiobotocore_s3.client import S3Client
    from types_aiobotocore_stepfunctions.client import SFNClient

__all__ = [
    "AwsAuth", "CredentialProvider", "aws_auth", "credentials_error", "open_client", "parse_timestamp",
    "stall_limited_sockets",
]

#: An async callable returning botocore's refreshable-credentials metadata: ``access_key``,
#: ``secret_key``, ``token`` and ``expiry_time`` (ISO 8601); called again before the expiry.
CredentialProvider: TypeAlias = "Callable[[], Awaitable[Mapping[str, str]]]"


class AwsAuth:
    """Credentials handed in to a client instead of the default chain: one of an aiobotocore session,
    explicit keys (and token), or a refreshable credential provider. Never shown: not in its repr,
    not in any message."""

    __slots__ = ("_keys", "provider", "session")

    def __init__(
        self, *, session: Any = None, keys: tuple[str, str, str | None] | None = None,
        provider: CredentialProvider | None = None,
    ) -> None:
        self.session = session
        self._keys = keys
        self.provider = provider
        for secret in keys[1:] if keys else ():
            register_secret(secret)

    def client_keys(self) -> dict[str, str | None]:
        """The explicit keys as ``create_client`` takes them (none when not handed in)."""
        if self._keys is None:
            return {}
        key_id, secret, token = self._keys
        return {"aws_access_key_id": key_id, "aws_secret_access_key": secret, "aws_session_token": token}

    def __repr__(self) -> str:
        kind = "session" if self.session is not None else "keys" if self._keys else "provider"
        return f"<AWS credentials: {kind}, hidden>"


def aws_auth(
    *, profile: str | None, session: Any, access_key_id: str | None, secret_access_key: str | None,
    session_token: str | None, provider: Any,
) -> AwsAuth | None:
    """The handed-in credentials, checked (before any I/O); None for the profile or default chain.

    Messages name the argument, never its value.
    """
    keys_given = access_key_id is not None or secret_access_key is not None or session_token is not None
    given = [name for name, value in (("session", session), ("aws_access_key_id", keys_given or None),
                                      ("credential_provider", provider), ("profile", profile)) if value is not None]
    if len(given) > 1:
        raise ConfigurationError(f"pass only one way to get AWS credentials; got {', '.join(given)}")
    if session is not None:
        if not (hasattr(session, "create_client") and hasattr(session, "get_credentials")):
            raise ConfigurationError("session must be an aiobotocore session (aiobotocore.session.AioSession)")
        return AwsAuth(session=session)
    if keys_given:
        for name, value in (("aws_access_key_id", access_key_id), ("aws_secret_access_key", secret_access_key)):
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"{name} must be a non-empty string when explicit keys are passed")
        if session_token is not None and (not isinstance(session_token, str) or not session_token):
            raise ConfigurationError("aws_session_token must be a non-empty string or None")
        assert access_key_id is not None and secret_access_key is not None
        return AwsAuth(keys=(access_key_id, secret_access_key, session_token))
    if provider is not None:
        if not callable(provider):
            raise ConfigurationError("credential_provider must be an async callable returning the credentials")
        return AwsAuth(provider=provider)
    return None


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
    config: Any, auth: AwsAuth | None = ...,
) -> S3Client: ...


@overload
async def open_client(
    stack: AsyncExitStack, service: Literal["stepfunctions"], *, profile: str | None, region: str,
    endpoint_url: str | None, config: Any, auth: AwsAuth | None = ...,
) -> SFNClient: ...


async def open_client(
    stack: AsyncExitStack,
    service: Literal["s3", "stepfunctions"],
    *,
    profile: str | None,
    region: str,
    endpoint_url: str | None,
    config: Any,
    auth: AwsAuth | None = None,
) -> Any:
    """Create an aiobotocore client registered on ``stack``.

    The SDK modules, the session and the service models are loaded in a worker thread first (about
    150 ms of imports and JSON parsing that would otherwise block the event loop). ``auth``: credentials
    handed in (a session of the caller's is used as it is; explicit keys go to the client; a provider
    is asked again before its credentials expire).
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
        session = auth.session if auth is not None and auth.session is not None else (
            aiobotocore.session.AioSession(profile=profile)
        )
        if auth is not None and auth.provider is not None:
            _use_provider(session, auth.provider)
        if auth is None or auth.session is None:  # a session handed in is the caller's to configure
            session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
        _warm_models(session, service)
        return session

    install_log_redaction()  # before the client exists: it logs credentials at DEBUG as it is made
    session = await anyio.to_thread.run_sync(make_session)
    keys = auth.client_keys() if auth is not None else {}
    return await stack.enter_async_context(
        session.create_client(service, region_name=region, endpoint_url=endpoint_url, config=config, **keys)
    )


def _use_provider(session: Any, provider: CredentialProvider) -> None:
    """Put ``provider`` first in ``session``'s credential chain, as refreshable credentials: botocore
    calls it for the first request, and again shortly before the expiry it reported."""
    from aiobotocore.credentials import AioDeferredRefreshableCredentials
    from botocore.credentials import CredentialProvider as BotocoreProvider

    async def refresh() -> dict[str, str]:
        answer = dict(await provider())
        register_secret(answer.get("secret_key"))
        register_secret(answer.get("token"))
        return answer

    class HandedIn(BotocoreProvider):
        METHOD = CANONICAL_NAME = "clinops-credential-provider"

        async def load(self) -> Any:
            return AioDeferredRefreshableCredentials(refresh_using=refresh, method=self.METHOD)

    resolver = session.get_component("credential_provider")
    resolver.insert_before(resolver.providers[0].METHOD, HandedIn())


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
