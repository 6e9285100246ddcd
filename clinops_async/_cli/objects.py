"""``presign`` and ``ls --versions``: a time-limited link to an artifact, and the versions kept of each.

The stores (and pandas and pyarrow with them) are imported inside the commands, as everywhere in the
command line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import click

from .common import CliState, emit_json, human_size, json_option, print_table, run_async, table

if TYPE_CHECKING:
    from .._stores.versions import ArtifactVersion

__all__ = ["presign", "show_versions"]

#: The longest lifetime S3 and GCS honour for a signed URL.
_SEVEN_DAYS = 7 * 24 * 3600


@click.command()
@click.argument("uri")
@click.option("--expires", type=click.IntRange(1, _SEVEN_DAYS), default=3600, show_default=True, metavar="SECONDS",
              help="How long the URL works (at most 7 days, 604800).")
@click.option("--method", type=click.Choice(["GET", "PUT"], case_sensitive=False), default="GET", show_default=True,
              help="GET reads the artifact; PUT writes raw bytes to it.")
@click.option("--version", "version", metavar="ID", help="Sign a read of this version (see ls --versions).")
@json_option
@click.pass_context
def presign(ctx: click.Context, uri: str, expires: int, method: str, version: str | None, as_json: bool) -> None:
    """Print a URL that reads (or writes) one artifact, with no credentials, for a limited time.

    \b
    S3 presigns with the credentials in use; GCS signs a V4 URL with the service-account key, or by
    the IAM signBlob API on workload identity. A local store cannot sign (exit 2).
      clinops-async presign s3://bucket/features/w.parquet --expires 600
    """
    from .._stores.uri import parse_artifact_uri
    from .transfer import StorePool

    state = ctx.ensure_object(CliState)
    artifact = parse_artifact_uri(uri)
    verb: Literal["GET", "PUT"] = "PUT" if method.upper() == "PUT" else "GET"

    async def main() -> str:
        async with StorePool(state) as pool:
            store = pool.for_artifact(artifact, reading=verb == "GET")
            return await store.signed_url(artifact.name, expires=expires, method=verb, version=version)

    url = run_async(main)
    if as_json:
        until = datetime.now(UTC) + timedelta(seconds=expires)
        emit_json({"uri": artifact.uri, "url": url, "method": verb, "version": version,
                   "expires": until.isoformat(timespec="seconds")})
    else:
        click.echo(url)


def _version_json(version: ArtifactVersion, relative: str) -> dict[str, Any]:
    return {
        "name": relative,
        "uri": version.uri,
        "version": version.version,
        "is_latest": version.is_latest,
        "size": version.size,
        "last_modified": version.last_modified.isoformat() if version.last_modified else None,
        "checksum": version.checksum,
        "etag": version.etag,
    }


def show_versions(state: CliState, location: str, as_json: bool) -> None:
    """``ls --versions``: every version kept of each artifact under ``location``, newest first."""
    from .._stores.uri import parse_location_uri
    from .transfer import StorePool, list_location

    place = parse_location_uri(location)

    async def main() -> list[tuple[str, list[ArtifactVersion]]]:
        async with StorePool(state) as pool:
            found = []
            for item in await list_location(pool, place):
                store = pool.for_artifact(item.artifact, reading=True)
                found.append((item.relative, await store.list_versions(item.artifact.name)))
            return found

    listed = run_async(main)
    if as_json:
        emit_json([_version_json(version, relative) for relative, versions in listed for version in versions])
        return
    rows = table("NAME", "VERSION", "LATEST", "SIZE", "MODIFIED", right=("SIZE",))
    for relative, versions in listed:
        for version in versions:
            modified = version.last_modified.strftime("%Y-%m-%d %H:%M:%S") if version.last_modified else "-"
            latest = "*" if version.is_latest else ""
            rows.add_row(relative, version.version, latest, human_size(version.size), modified)
    if any(versions for _, versions in listed):
        print_table(rows)
