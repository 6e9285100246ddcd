"""The ``clinops-async`` command line: copy, list, inspect and delete artifacts; run pipelines.

Every command reports an error as one line on standard error and leaves with a documented exit code
(see :class:`clinops_async._cli.common.ExitCode` and docs/cli.md); ``--debug`` adds the traceback.
Progress bars go to standard error and only when it is a terminal; ``--json`` writes
machine-readable results to standard output.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import click

from .._exceptions import ConfigurationError
from .._version import __version__
from .common import (
    CliState,
    ExitCode,
    ReportingGroup,
    emit_json,
    error_record,
    exit_code_for,
    fail,
    human_size,
    is_stdout_terminal,
    json_choice_callback,
    json_option,
    message_for,
    print_table,
    run_async,
    stderr_line,
    table,
)
from .move_sync import finish, mv, reporter, sync
from .objects import presign, show_versions
from .pipeline import pipeline

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from .._stores.core import ArtifactInfo
    from .._stores.s3 import IncompleteUpload
    from .._stores.uri import ArtifactURI
    from .transfer import Listed, TransferResult

# The stores (and with them pandas and pyarrow) are imported by the commands that move artifacts,
# not when the command line starts: `clinops-async --help` and `pipeline` commands never load them.

__all__ = ["cli", "main"]

#: Artifacts copied at once by ``cp`` unless ``--concurrency`` says otherwise. Each one in flight
#: holds its DataFrame in memory, so this stays modest.
DEFAULT_CONCURRENCY = 8


@click.group(cls=ReportingGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="clinops-async")
@click.option("--debug", is_flag=True, help="On error, print the full traceback as well.")
@click.option("--endpoint-url", metavar="URL",
              help="S3 and Step Functions endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_SFN / "
                   "AWS_ENDPOINT_URL, else AWS).")
@click.option("--region", metavar="REGION", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1).")
@click.option("--profile", metavar="NAME", help="Named AWS profile (default: AWS_PROFILE or the default chain).")
@click.option("--progress/--no-progress", default=None,
              help="Force progress bars on or off (default: only when standard error is a terminal).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, endpoint_url: str | None, region: str | None, profile: str | None,
        progress: bool | None) -> None:
    """Move pandas artifacts between local files, S3, GCS and local stores, and run pipelines.

    \b
    Artifacts are named by URI; the extension picks the format:
      s3://bucket/prefix/features/a.parquet   gs://bucket/x/a.csv
      file:///data/store/a.parquet            ./a.parquet (a local file)
    """
    ctx.obj = CliState(debug=debug, endpoint_url=endpoint_url, region=region, profile=profile, progress=progress)


def _state(ctx: click.Context) -> CliState:
    return ctx.ensure_object(CliState)


# -- cp -------------------------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="SOURCE... DESTINATION")
@click.option("-r", "--recursive", is_flag=True, help="Copy every artifact under a source prefix or directory.")
@click.option("-j", "--concurrency", type=click.IntRange(1, 256), default=DEFAULT_CONCURRENCY, show_default=True,
              help="Artifacts copied at once.")
@click.option("-n", "--no-clobber", is_flag=True, help="Never replace an existing destination (exit 9 if one exists).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@json_option
@click.pass_context
def cp(ctx: click.Context, paths: Sequence[str], recursive: bool, concurrency: int, no_clobber: bool, quiet: bool,
       as_json: bool) -> None:
    """Copy artifacts: local files <-> s3:// gs:// file:// URIs, or between stores.

    \b
    Within one service (one S3 endpoint, GCS, local directories) and format the copy happens on
    the server; between clouds the stored bytes move, checked by CRC32C, never decoded.
    One artifact to another URI copies it (converting Parquet <-> CSV by extension):
      clinops-async cp windows.parquet s3://bucket/features/windows.parquet
    Several artifacts (or --recursive prefixes) go into a destination ending in '/':
      clinops-async cp a.parquet b.parquet s3://bucket/features/
      clinops-async cp -r s3://bucket/features/ ./local/
    """
    from .transfer import StorePool, plan_copies, run_copies

    if len(paths) < 2:
        raise click.UsageError("cp needs a SOURCE and a DESTINATION")
    state = _state(ctx)
    sources, destination = list(paths[:-1]), paths[-1]

    done = reporter("copied", quiet, as_json)

    async def main() -> list[TransferResult]:
        async with StorePool(state) as pool:
            transfers = await plan_copies(pool, sources, destination, recursive=recursive)
            with state.progress_bar("copy", total=len(transfers)) as bar:
                return await run_copies(pool, transfers, concurrency=concurrency, overwrite=not no_clobber,
                                        bar=bar, on_done=done)

    finish(run_async(main), as_json)


# -- ls / info --------------------------------------------------------------------------------------


def _info_json(info: ArtifactInfo, artifact: ArtifactURI, relative: str | None = None) -> dict[str, Any]:
    return {
        "name": relative if relative is not None else artifact.basename,
        "uri": info.uri,
        "format": artifact.format.value,
        "size": info.size,
        "rows": info.rows,
        "columns": info.columns,
        "last_modified": info.last_modified.isoformat() if info.last_modified else None,
        "checksum": info.checksum,
        "content_type": info.content_type,
    }


@cli.command()
@click.argument("location", default=".", required=False)
@click.option("--versions", "with_versions", is_flag=True,
              help="List every version kept of each artifact (versioned S3 buckets, GCS generations).")
@click.option("-l", "--long", "long_format", is_flag=True,
              help="Size, modified time and ETag from the listing itself, printed as pages arrive (no request "
                   "per artifact; no row or column counts).")
@json_option
@click.pass_context
def ls(ctx: click.Context, location: str, with_versions: bool, long_format: bool, as_json: bool) -> None:
    """List the artifacts under a prefix or directory, with size, rows, columns and modified time.

    \b
    LOCATION is s3://bucket/prefix/, gs://bucket/prefix/, file:///dir or a local directory (default:
    the current directory). Listing is recursive; text after the last '/' is a name prefix:
      clinops-async ls s3://bucket/features/win
    """
    if with_versions:
        return show_versions(_state(ctx), location, as_json)
    from .._stores.core import ArtifactInfo
    from .._stores.uri import parse_artifact_uri, parse_location_uri
    from .transfer import Listed, StorePool, infos, list_location

    state = _state(ctx)
    place = parse_location_uri(location)
    single_file = place.is_local and os.path.isfile(_local_path(location))
    if long_format and not single_file:
        from .streaming import long_listing

        long_listing(state, place, as_json=as_json)
        return

    async def main() -> list[tuple[Listed, ArtifactInfo | BaseException]]:
        async with StorePool(state) as pool:
            if single_file:
                artifact = parse_artifact_uri(location)
                items = [Listed(artifact.basename, artifact)]
            else:
                items = await list_location(pool, place)
            return list(zip(items, await infos(pool, items), strict=True))

    rows = run_async(main)
    errors = [(item, info) for item, info in rows if isinstance(info, BaseException)]
    good = [(item, info) for item, info in rows if isinstance(info, ArtifactInfo)]
    if as_json:  # an artifact that failed is an error record in its place
        emit_json([_info_json(info, item.artifact, item.relative) if isinstance(info, ArtifactInfo)
                   else error_record(info, item.artifact.uri) for item, info in rows])
    else:
        listing = table("NAME", "SIZE", "ROWS", "COLUMNS", "MODIFIED", right=("SIZE", "ROWS", "COLUMNS"))
        for item, info in good:
            modified = info.last_modified.strftime("%Y-%m-%d %H:%M:%S") if info.last_modified else "-"
            listing.add_row(item.relative, human_size(info.size), _count(info.rows), _count(info.columns), modified)
        if good:
            print_table(listing)
    for _item, error in errors:  # an artifact deleted between the listing and its info
        assert isinstance(error, BaseException)
        stderr_line(f"Error: {message_for(error)}")
    if errors:
        raise fail(ExitCode.FAILURE)


def _local_path(location: str) -> str:
    from .._stores.open import split_uri

    return os.path.expanduser(split_uri(location)[2])


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


@cli.command()
@click.argument("uri")
@json_option
@click.pass_context
def info(ctx: click.Context, uri: str, as_json: bool) -> None:
    """Show what is known about one artifact without downloading it."""
    from .._stores.uri import parse_artifact_uri
    from .transfer import StorePool

    state = _state(ctx)
    artifact = parse_artifact_uri(uri)

    async def main() -> ArtifactInfo:
        async with StorePool(state) as pool:
            return await pool.for_artifact(artifact, reading=True).info(artifact.name)

    details = _info_json(run_async(main), artifact)
    if as_json:
        emit_json(details)
        return
    width = max(len(k) for k in details)
    for key, value in details.items():
        shown = human_size(value) + f" ({value} bytes)" if key == "size" else value
        click.echo(f"{key:<{width}}  {'-' if shown is None else shown}")


# -- rm ---------------------------------------------------------------------------------------------


@cli.command()
@click.argument("uris", nargs=-1, required=True, metavar="URI...")
@click.option("-f", "--force", is_flag=True, help="A missing artifact is not an error.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@json_option
@click.pass_context
def rm(ctx: click.Context, uris: Sequence[str], force: bool, quiet: bool, as_json: bool) -> None:
    """Delete artifacts."""
    from .._stores.uri import parse_artifact_uri
    from .transfer import StorePool, worst_code

    state = _state(ctx)
    artifacts = [parse_artifact_uri(u) for u in uris]

    async def main() -> list[BaseException | None]:
        async with StorePool(state) as pool:
            outcomes: list[BaseException | None] = []
            for artifact in artifacts:
                try:
                    await pool.for_artifact(artifact, reading=True).delete(artifact.name, missing_ok=force)
                    outcomes.append(None)
                    if not quiet and not as_json:
                        click.echo(f"deleted {artifact.uri}")
                except Exception as exc:
                    stderr_line(f"Error: {message_for(exc)}")
                    outcomes.append(exc)
            return outcomes

    outcomes = run_async(main)
    if as_json:
        emit_json([{"uri": a.uri, "ok": e is None, "error": None if e is None else message_for(e),
                    "exit_code": int(ExitCode.OK if e is None else exit_code_for(e))}
                   for a, e in zip(artifacts, outcomes, strict=True)])
    code = worst_code([exit_code_for(e) for e in outcomes if e is not None], len(outcomes))
    if code:
        raise fail(code)


# -- head / cat -------------------------------------------------------------------------------------


def _show_frame(ctx: click.Context, uri: str, rows: int | None, columns: str | None, output: str) -> None:
    import pandas as pd

    from .._stores.uri import parse_artifact_uri
    from .transfer import StorePool

    state = _state(ctx)
    artifact = parse_artifact_uri(uri)
    wanted = [c.strip() for c in columns.split(",") if c.strip()] if columns else None

    async def main() -> pd.DataFrame:
        async with StorePool(state) as pool:
            store = pool.for_artifact(artifact, reading=True)
            if rows is not None:  # head: only the first batches are read
                from .streaming import first_rows

                return await first_rows(store, artifact.name, rows, wanted)
            with state.progress_bar(f"read {artifact.basename}") as bar:
                return await store.download(artifact.name, columns=wanted, progress=bar)

    frame = run_async(main)
    total = len(frame) if rows is None else None
    shown = frame if rows is None else frame.head(rows)
    keep_index = not isinstance(shown.index, pd.RangeIndex) or shown.index.name is not None
    if output == "csv":
        click.echo(shown.to_csv(index=keep_index), nl=False)
        return
    if output == "json":
        flat = shown.reset_index() if keep_index else shown
        emit_json(json.loads(flat.to_json(orient="records", date_format="iso", date_unit="us")))
        return
    flat = shown.reset_index() if keep_index else shown
    grid = table(*[str(c) for c in flat.columns])
    for record in flat.itertuples(index=False):
        grid.add_row(*["" if pd.isna(v) else str(v) for v in record])
    if is_stdout_terminal():  # in a pipe, only the rows
        counted = f"{len(shown)} of {total} rows" if total is not None else f"the first {len(shown)} rows"
        grid.caption = f"{counted}, {len(frame.columns)} columns"
    print_table(grid)


_output_option = click.option(
    "-o", "--output", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
    callback=json_choice_callback, is_eager=True,
    help="table: aligned text; csv: CSV with the index; json: a list of records (index included).")
_columns_option = click.option("-c", "--columns", metavar="A,B", help="Only these columns (Parquet reads only them).")


@cli.command()
@click.argument("uri")
@click.option("-n", "--rows", type=click.IntRange(0), default=10, show_default=True, help="How many rows.")
@_columns_option
@_output_option
@click.option("--json", "as_json", is_flag=True, callback=json_choice_callback, is_eager=True,
              help="Same as --output json.")
@click.pass_context
def head(ctx: click.Context, uri: str, rows: int, columns: str | None, output: str, as_json: bool) -> None:
    """Print the first rows of an artifact as a table (only the first row groups are read)."""
    _show_frame(ctx, uri, rows, columns, "json" if as_json else output)


@cli.command()
@click.argument("uri")
@_columns_option
@_output_option
@click.option("--json", "as_json", is_flag=True, callback=json_choice_callback, is_eager=True,
              help="Same as --output json.")
@click.pass_context
def cat(ctx: click.Context, uri: str, columns: str | None, output: str, as_json: bool) -> None:
    """Print every row of an artifact (use --output csv to convert it for other tools)."""
    _show_frame(ctx, uri, None, columns, "json" if as_json else output)


cli.add_command(pipeline)
cli.add_command(mv)
cli.add_command(sync)
cli.add_command(presign)


# -- uploads ----------------------------------------------------------------------------------------


@cli.command()
@click.argument("location")
@click.option("--abort", is_flag=True, help="Abort them (their parts stop costing storage).")
@json_option
@click.pass_context
def uploads(ctx: click.Context, location: str, abort: bool, as_json: bool) -> None:
    """List (or --abort) the incomplete S3 multipart uploads under LOCATION (a URI or key prefix)."""
    from .._stores.s3 import AsyncS3PipelineStore
    from .._stores.uri import parse_location_uri

    state = _state(ctx)
    place = parse_location_uri(location)
    if place.scheme != "s3":
        raise ConfigurationError(f"{location!r}: only S3 keeps incomplete multipart uploads")
    key_prefix = "/".join(p for p in (place.prefix, place.partial) if p)

    async def main() -> list[IncompleteUpload]:
        bucket = place.root.removeprefix("s3://")
        async with AsyncS3PipelineStore(bucket, **state.store_options("s3", reading=True)) as store:
            if abort:
                return await store.abort_incomplete_uploads(key_prefix)
            return await store.list_incomplete_uploads(key_prefix)

    found = run_async(main)
    if as_json:
        emit_json([{"uri": u.uri, "upload_id": u.upload_id, "aborted": abort,
                    "initiated": u.initiated.isoformat() if u.initiated else None} for u in found])
        return
    for upload in found:
        click.echo(f"{'aborted' if abort else 'incomplete'} {upload.uri} {upload.upload_id}")


def main() -> None:
    """The ``clinops-async`` entry point."""
    cli(prog_name="clinops-async")
