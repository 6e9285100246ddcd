"""``ls -l``, printed as the listing's pages arrive, and ``head``, which reads only the rows it shows.

``ls -l`` takes what the list responses say of each artifact (size, modified time, ETag or
generation) from ``iter_artifacts``: no request per artifact, and the first lines appear while later
pages are still on their way. ``head -n N`` reads the artifact with ``iter_batches`` in batches of N
rows and stops after the first N: on S3 and GCS only the first row groups' column chunks move.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import click

from .common import emit_json, human_size, is_stdout_terminal, run_async

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import pandas as pd

    from .._stores.core import AsyncPipelineStore
    from .._stores.listing import ArtifactEntry
    from .._stores.uri import LocationURI
    from .common import CliState

__all__ = ["first_rows", "long_listing"]


async def _entries(state: CliState, place: LocationURI) -> AsyncIterator[tuple[str, str, ArtifactEntry]]:
    """(relative name with extension, format, entry) for Parquet artifacts, then CSV ones, each in key order."""
    from .._stores.codecs import StorageFormat
    from .transfer import StorePool

    listed_prefix = "/".join(p for p in (place.prefix, place.partial) if p)
    if place.prefix and not place.partial:
        listed_prefix += "/"
    async with StorePool(state) as pool:
        for fmt in StorageFormat:
            store = pool.get(place.scheme, place.root, fmt, reading=True)
            async for entry in store.iter_artifacts(listed_prefix):
                relative = entry.name[len(place.prefix) + 1:] if place.prefix else entry.name
                yield f"{relative}.{fmt.value}", fmt.value, entry


def _entry_json(relative: str, fmt: str, entry: ArtifactEntry) -> dict[str, Any]:
    return {
        "name": relative,
        "uri": entry.uri,
        "format": fmt,
        "size": entry.size,
        "last_modified": entry.last_modified.isoformat() if entry.last_modified else None,
        "etag": entry.etag,
    }


def long_listing(state: CliState, place: LocationURI, *, as_json: bool) -> None:
    """Print one line per artifact as the pages arrive (or, with ``as_json``, one JSON list)."""

    async def main() -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        header = not as_json and is_stdout_terminal()
        async for relative, fmt, entry in _entries(state, place):
            if as_json:
                records.append(_entry_json(relative, fmt, entry))
                continue
            if header:
                click.echo(f"{'SIZE':>10}  {'MODIFIED':<19}  {'ETAG':<34}  NAME")
                header = False
            modified = entry.last_modified.strftime("%Y-%m-%d %H:%M:%S") if entry.last_modified else "-"
            etag = (entry.etag or "-").strip('"')
            click.echo(f"{human_size(entry.size):>10}  {modified:<19}  {etag:<34}  {relative}")
        return records

    records = run_async(main)
    if as_json:
        emit_json(records)


async def first_rows(store: AsyncPipelineStore, name: str, rows: int, columns: list[str] | None) -> pd.DataFrame:
    """The first ``rows`` rows of artifact ``name``, read batch by batch and no further."""
    import pandas as pd

    taken: list[pd.DataFrame] = []
    count = 0
    async with aclosing(store.iter_batches(name, columns=columns, batch_rows=max(rows, 1))) as batches:
        async for batch in batches:
            taken.append(batch)
            count += len(batch)
            if count >= rows:
                break
    if not taken:  # no rows at all: the (empty) artifact whole, for its columns
        return await store.download(name, columns=columns)
    renumbered = all(isinstance(b.index, pd.RangeIndex) for b in taken)
    frame = taken[0] if len(taken) == 1 else pd.concat(taken, ignore_index=renumbered)
    return frame.head(rows)
