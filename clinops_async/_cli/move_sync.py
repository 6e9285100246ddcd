"""``mv`` and ``sync``: move artifacts, and bring a destination prefix up to date with a source.

Both go through the copy planner and runner of :mod:`.transfer`, as ``cp`` does: on the server when
both ends are in one service and format, else by the stored bytes (verified by CRC32C), else
decoded and encoded in the other format. The stores (and with them pandas) load inside the commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import (
    CliState,
    emit_json,
    exit_code_for,
    fail,
    human_size,
    json_option,
    message_for,
    run_async,
    stderr_line,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .._stores.core import ArtifactInfo
    from .transfer import StorePool, Transfer, TransferResult

__all__ = ["finish", "mv", "reporter", "sync"]

#: Artifacts moved or synchronised at once unless ``--concurrency`` says otherwise (as ``cp``).
DEFAULT_CONCURRENCY = 8

_concurrency_option = click.option(
    "-j", "--concurrency", type=click.IntRange(1, 256), default=DEFAULT_CONCURRENCY, show_default=True,
    help="Artifacts at once.")
_quiet_option = click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")


def reporter(verb: str, quiet: bool, as_json: bool) -> Callable[[TransferResult], None]:
    """What ``cp``, ``mv`` and ``sync`` print as each artifact is done (errors on stderr)."""
    def done(result: TransferResult) -> None:
        if not result.ok:
            assert result.error is not None
            stderr_line(f"Error: {message_for(result.error)}")
        elif not quiet and not as_json:
            click.echo(f"{verb} {result.transfer.source.uri} -> {result.transfer.destination.uri} "
                       f"({human_size(result.bytes)}{', on the server' if result.method == 'server' else ''})")

    return done


def finish(results: Sequence[TransferResult], as_json: bool) -> None:
    """Print the ``--json`` records, then exit with the worst code of the artifacts that failed."""
    from .transfer import worst_code

    if as_json:
        emit_json([r.as_json() for r in results])
    codes = [exit_code_for(r.error) for r in results if r.error is not None]
    code = worst_code(codes, len(results))
    if code:
        raise fail(code)


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="SOURCE... DESTINATION")
@click.option("-r", "--recursive", is_flag=True, help="Move every artifact under a source prefix or directory.")
@_concurrency_option
@click.option("-n", "--no-clobber", is_flag=True, help="Never replace an existing destination (exit 9 if one exists).")
@_quiet_option
@json_option
@click.pass_context
def mv(ctx: click.Context, paths: Sequence[str], recursive: bool, concurrency: int, no_clobber: bool, quiet: bool,
       as_json: bool) -> None:
    """Move artifacts: copy each one as `cp` does, then delete its source once the copy is verified.

    \b
    Within one bucket, between buckets of one service, or between local directories the move
    happens on the server (no byte passes through this machine):
      clinops-async mv s3://bucket/staging/a.parquet s3://bucket/prod/a.parquet
      clinops-async mv -r s3://bucket/staging/ s3://bucket/prod/
    """
    from .transfer import StorePool, plan_copies, run_copies

    if len(paths) < 2:
        raise click.UsageError("mv needs a SOURCE and a DESTINATION")
    state = ctx.ensure_object(CliState)
    sources, destination = list(paths[:-1]), paths[-1]

    async def main() -> list[TransferResult]:
        async with StorePool(state) as pool:
            transfers = await plan_copies(pool, sources, destination, recursive=recursive)
            with state.progress_bar("move", total=len(transfers)) as bar:
                return await run_copies(pool, transfers, concurrency=concurrency, overwrite=not no_clobber,
                                        bar=bar, on_done=reporter("moved", quiet, as_json), move=True)

    finish(run_async(main), as_json)


@click.command()
@click.argument("source")
@click.argument("destination")
@_concurrency_option
@_quiet_option
@json_option
@click.pass_context
def sync(ctx: click.Context, source: str, destination: str, concurrency: int, quiet: bool, as_json: bool) -> None:
    """Copy every artifact under SOURCE/ that DESTINATION/ lacks or holds in another version.

    \b
    An artifact is up to date when its size and CRC32C match (its size and modified time when
    either end records no CRC32C, as local files do). Nothing is deleted at the destination.
      clinops-async sync s3://bucket/staging/ s3://bucket/prod/
      clinops-async sync s3://bucket/features/ gs://other-bucket/features/
    """
    from .transfer import StorePool, TransferResult, plan_copies, run_copies

    state = ctx.ensure_object(CliState)
    for place in (source, destination):
        if not place.endswith("/"):
            raise click.UsageError(f"sync copies between prefixes or directories: end {place!r} with '/'")

    async def main() -> list[TransferResult]:
        async with StorePool(state) as pool:
            transfers = await plan_copies(pool, [source], destination, recursive=True)
            stale = await _stale(pool, transfers)
            unchanged = [TransferResult(t, method="unchanged") for t in transfers if t not in stale]
            with state.progress_bar("sync", total=len(stale)) as bar:
                copied = await run_copies(pool, stale, concurrency=concurrency, overwrite=True, bar=bar,
                                          on_done=reporter("copied", quiet, as_json))
            order = {t.destination.uri: i for i, t in enumerate(transfers)}
            return sorted([*copied, *unchanged], key=lambda r: order[r.transfer.destination.uri])

    results = run_async(main)
    if not quiet and not as_json:
        kept = sum(r.method == "unchanged" for r in results)
        click.echo(f"{len(results) - kept} copied, {kept} already up to date")
    finish(results, as_json)


async def _stale(pool: StorePool, transfers: Sequence[Transfer]) -> list[Transfer]:
    """The transfers whose destination is missing or differs from the source."""
    from .._stores.core import ArtifactInfo
    from .transfer import Listed, infos

    sources = await infos(pool, [Listed("", t.source) for t in transfers])
    targets = await infos(pool, [Listed("", t.destination) for t in transfers])
    stale = []
    for transfer, there, here in zip(transfers, sources, targets, strict=True):
        if not (isinstance(there, ArtifactInfo) and isinstance(here, ArtifactInfo) and _same(there, here)):
            stale.append(transfer)  # a source that cannot be read fails in the copy, with its own error
    return stale


def _same(source: ArtifactInfo, copy: ArtifactInfo) -> bool:
    if source.size != copy.size:
        return False
    if source.checksum is not None and copy.checksum is not None:
        return source.checksum == copy.checksum
    return (source.last_modified is not None and copy.last_modified is not None
            and copy.last_modified >= source.last_modified)
