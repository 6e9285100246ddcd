"""One retry helper with full-jitter exponential backoff, for every backend."""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, TypeVar

import anyio

from ._exceptions import TransientStoreError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._config import RetryConfig

__all__ = ["retry"]

T = TypeVar("T")
logger = logging.getLogger("clinops_async")


async def retry(config: RetryConfig, operation: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Await ``operation()`` until it succeeds or stops raising ``TransientStoreError``.

    Args:
        config: Attempts and backoff bounds.
        operation: A fresh awaitable per attempt. Only ``TransientStoreError`` is retried.
        what: A short description for the log ("upload part 3 of s3://b/k").

    Returns:
        The operation's result.

    Raises:
        TransientStoreError: The last transient error, with ``attempts`` set to the attempts made.
    """
    attempt = 1
    while True:
        try:
            return await operation()
        except TransientStoreError as exc:
            if attempt >= config.max_attempts:
                exc.attempts = attempt
                raise
            ceiling = min(config.max_backoff, config.initial_backoff * 2 ** (attempt - 1))
            delay = random.uniform(0, ceiling)
            logger.debug("retrying %s after a transient error (attempt %d): %s", what, attempt, exc)
            await anyio.sleep(delay)
            attempt += 1
