"""Bucket names: each service's documented naming rules, checked when a store is made, before any I/O.

A name the service could never have created would otherwise surface much later, as a request error
(often a misleading 404 or 403) on the first upload. The rules follow the services' documentation:

- S3 general purpose buckets (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
  3 to 63 characters of lowercase letters, digits, dots and hyphens; a letter or digit at each end; no
  two adjacent dots; not an IP address; none of the prefixes and suffixes S3 reserves (``xn--``,
  ``sthree-``, ``amzn-s3-demo-``, ``-s3alias``, ``--ol-s3``, ``.mrap``, ``--x-s3``, ``--table-s3``).
  Names of legacy us-east-1 buckets (up to 255 characters, capitals, underscores) are not accepted.
- Cloud Storage (cloud.google.com/storage/docs/buckets#naming): 3 to 63 characters of lowercase
  letters, digits, ``-``, ``_`` and ``.``; up to 222 when the name has dots, each dot-separated part
  at most 63 (and, as a domain name, not empty); a letter or digit at each end; not an IP address; no
  ``goog`` prefix and no ``google`` inside.

Every message names the bucket and the rule it breaks.
"""

from __future__ import annotations

import re

from .._exceptions import ConfigurationError

__all__ = ["check_gcs_bucket", "check_s3_bucket"]

_S3_CHARACTERS = re.compile(r"[a-z0-9.-]+")
_GCS_CHARACTERS = re.compile(r"[a-z0-9._-]+")
_IPV4 = re.compile(r"\d+\.\d+\.\d+\.\d+")
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
#: Each suffix names another kind of S3 resource whose names S3 keeps apart from buckets'.
_S3_RESERVED_SUFFIXES = {
    "-s3alias": "access point aliases",
    "--ol-s3": "Object Lambda access point aliases",
    ".mrap": "Multi-Region Access Points",
    "--x-s3": "directory buckets",
    "--table-s3": "table buckets",
}
_GCS_LABEL_MAX = 63
_GCS_DOTTED_MAX = 222


def check_s3_bucket(bucket: object) -> None:
    """Raise ConfigurationError unless ``bucket`` is a valid S3 general purpose bucket name."""
    name = _bare_name(bucket)
    broken = _shared_rule_broken(name, "S3", _S3_CHARACTERS, "lowercase letters, digits, '.' and '-'")
    if broken is None and not 3 <= len(name) <= 63:
        broken = f"S3 bucket names must be 3 to 63 characters long; this one has {len(name)}"
    if broken is None and ".." in name:
        broken = "S3 bucket names must not contain two adjacent dots"
    if broken is None and name.startswith(_S3_RESERVED_PREFIXES):
        prefix = next(p for p in _S3_RESERVED_PREFIXES if name.startswith(p))
        broken = f"S3 reserves the prefix {prefix!r}"
    if broken is None:
        suffix = next((s for s in _S3_RESERVED_SUFFIXES if name.endswith(s)), None)
        if suffix is not None:
            broken = f"S3 reserves the suffix {suffix!r} for {_S3_RESERVED_SUFFIXES[suffix]}"
    _raise_if_broken(name, "S3", broken)


def check_gcs_bucket(bucket: object) -> None:
    """Raise ConfigurationError unless ``bucket`` is a valid Cloud Storage bucket name."""
    name = _bare_name(bucket)
    broken = _shared_rule_broken(name, "GCS", _GCS_CHARACTERS, "lowercase letters, digits, '-', '_' and '.'")
    if broken is None:
        broken = _gcs_length_rule_broken(name)
    if broken is None and name.startswith("goog"):
        broken = "GCS bucket names must not start with 'goog'"
    if broken is None and "google" in name:
        broken = "GCS bucket names must not contain 'google'"
    _raise_if_broken(name, "GCS", broken)


def _bare_name(bucket: object) -> str:
    """``bucket`` as a name, or ConfigurationError for what is not a name at all (a URI, a path)."""
    if not isinstance(bucket, str):
        raise ConfigurationError(f"bucket must be a bucket name (a string); got {type(bucket).__name__}")
    if "/" in bucket or "://" in bucket:
        raise ConfigurationError(
            f"bucket must be a bare bucket name, without scheme or '/'; got {bucket!r} "
            "(put a key prefix in the prefix argument)"
        )
    return bucket


def _shared_rule_broken(name: str, service: str, characters: re.Pattern[str], allowed: str) -> str | None:
    """The rule both services share that ``name`` breaks first, or None."""
    if not name:
        return f"{service} bucket names must not be empty"
    if not characters.fullmatch(name):
        return f"{service} bucket names must contain only {allowed}"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return f"{service} bucket names must start and end with a letter or digit"
    if _IPV4.fullmatch(name):
        return f"{service} bucket names must not be formatted as an IP address"
    return None


def _gcs_length_rule_broken(name: str) -> str | None:
    if "." not in name:
        if not 3 <= len(name) <= _GCS_LABEL_MAX:
            return f"GCS bucket names must be 3 to 63 characters long (222 with dots); this one has {len(name)}"
        return None
    if not 3 <= len(name) <= _GCS_DOTTED_MAX:
        return f"GCS bucket names with dots must be 3 to 222 characters long; this one has {len(name)}"
    for part in name.split("."):
        if not part:
            return "GCS bucket names with dots are domain names, so they must not contain two adjacent dots"
        if len(part) > _GCS_LABEL_MAX:
            return f"each dot-separated part of a GCS bucket name must be at most 63 characters; one has {len(part)}"
    return None


def _raise_if_broken(name: str, service: str, broken: str | None) -> None:
    if broken is not None:
        raise ConfigurationError(f"{name!r} is not a valid {service} bucket name: {broken}")
