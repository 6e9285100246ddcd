"""Bulk transfers: bounded concurrency over a lazy stream of items, one outcome per item."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .._exceptions import ConfigurationError
from .._tasks import run_limited

__all__ = ["BulkItem", "BulkResult", "ProgressCallback", "TransferOutcome", "pair_label", "pair_name", "run_bulk"]

T = TypeVar("T")
logger = logging.getLogger("clinops_async")


@dataclass(frozen=True)
class TransferOutcome(Generic[T]):
    """The result of one item of ``upload_many`` / ``download_many``.

    Attributes:
        name: The artifact name.
        uri: Its URI (empty when the name itself was invalid).
        value: The URI (uploads; the new URI for copies) or the DataFrame (downloads) when it succeeded,
            else None.
        error: The exception when it failed, else None.
    """

    name: str
    uri: str
    value: T | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class BulkResult(Sequence[TransferOutcome[T]]):
    """Per-item outcomes of a bulk transfer, in the order the items were given.

    One failure never hides the others: look at :attr:`failed`, or call :meth:`raise_for_errors`.
    """

    def __init__(self, outcomes: list[TransferOutcome[T]]) -> None:
        self._outcomes = outcomes

    def __getitem__(self, index: Any) -> Any:
        return self._outcomes[index]

    def __len__(self) -> int:
        return len(self._outcomes)

    def __repr__(self) -> str:
        return f"<BulkResult {len(self.succeeded)} succeeded, {len(self.failed)} failed>"

    @property
    def ok(self) -> bool:
        """True when every item succeeded."""
        return not self.failed

    @property
    def succeeded(self) -> list[TransferOutcome[T]]:
        return [o for o in self._outcomes if o.ok]

    @property
    def failed(self) -> list[TransferOutcome[T]]:
        return [o for o in self._outcomes if not o.ok]

    @property
    def values(self) -> dict[str, T]:
        """``{name: value}`` of the items that succeeded (URIs or DataFrames)."""
        return {o.name: o.value for o in self._outcomes if o.ok and o.value is not None}

    def raise_for_errors(self) -> None:
        """Raise an ``ExceptionGroup`` of every failure, if any item failed."""
        errors = [o.error for o in self.failed if isinstance(o.error, Exception)]
        if errors:
            raise ExceptionGroup(f"{len(errors)} of {len(self)} transfers failed", errors)


ProgressCallback = Callable[[TransferOutcome[Any], int, "int | None"], None]


@dataclass(frozen=True)
class BulkItem(Generic[T]):
    """One item of a bulk transfer: its name, URI, and the action to run (or why it cannot run)."""

    name: str
    uri: str
    action: Callable[[], Awaitable[T]] | None = None
    failure: Exception | None = None


async def run_bulk(
    items: Iterable[BulkItem[T]], *, limit: int, total: int | None, progress: ProgressCallback | None
) -> BulkResult[T]:
    """Run the items' actions with at most ``limit`` in flight, pulling items only as slots free up."""
    if progress is not None and not callable(progress):
        raise ConfigurationError("progress must be a callable")
    outcomes: list[TransferOutcome[T]] = []
    done = 0

    async def run(index: int, item: BulkItem[T]) -> None:
        nonlocal done
        try:
            if item.failure is not None:
                raise item.failure
            assert item.action is not None
            outcome: TransferOutcome[T] = TransferOutcome(item.name, item.uri, value=await item.action())
        except Exception as exc:
            outcome = TransferOutcome(item.name, item.uri, error=exc)
        outcomes[index] = outcome
        done += 1
        if progress is not None:
            try:
                progress(outcome, done, total)
            except Exception:
                logger.warning("the progress callback raised; the transfer goes on", exc_info=True)

    def job(index: int, item: BulkItem[T]) -> Callable[[], Awaitable[None]]:
        return lambda: run(index, item)

    def jobs() -> Iterator[Callable[[], Awaitable[None]]]:
        for item in items:
            outcomes.append(TransferOutcome(item.name, item.uri))
            yield job(len(outcomes) - 1, item)

    await run_limited(max(1, min(limit, total or limit)), jobs())
    return BulkResult(outcomes)


def pair_name(pair: object, check: Callable[[str], str]) -> str:
    """The name of an ``upload_many`` pair, checked by ``check``; ConfigurationError for a non-pair."""
    if not (isinstance(pair, tuple) and len(pair) == 2):
        raise ConfigurationError("upload_many takes {name: DataFrame} or (name, DataFrame) pairs")
    check(pair[0])
    return str(pair[0])


def pair_label(pair: object) -> str:
    """What to call a pair whose name is invalid, in its failed outcome."""
    name = pair[0] if isinstance(pair, tuple) and pair else None
    return name if isinstance(name, str) else repr(type(pair).__name__)

