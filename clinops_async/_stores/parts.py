"""What every mixin of ``AsyncPipelineStore`` relies on, declared once.

The store's public calls are grouped by what they do (copies in :mod:`.copying`, versions in
:mod:`.versions`, datasets in :mod:`.datasets`, ...), each a mixin that ``AsyncPipelineStore``
(:mod:`.core`) inherits. They all use the same few attributes and methods of the store, which
``core`` defines; this base names them for the type checker, so no mixin restates them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._config import RetryConfig, TransferConfig
    from .backend import Backend
    from .codecs import StorageFormat

__all__ = ["StoreParts"]


class StoreParts:
    """The attributes and methods of ``AsyncPipelineStore`` its mixins use (defined in ``core``)."""

    if TYPE_CHECKING:
        _backend: Backend
        prefix: str
        format: StorageFormat
        compression: str
        transfer: TransferConfig
        retry_config: RetryConfig

        def key(self, name: str) -> str: ...
        def uri(self, name: str) -> str: ...
        async def _ready(self) -> Backend: ...
        def _bulk_limit(self, concurrency: int | None) -> int: ...
