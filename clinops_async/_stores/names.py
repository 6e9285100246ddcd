"""Artifact names, store prefixes and object keys, with the original clinops.orchestrate semantics.

An artifact ``name`` under a store ``prefix`` lives at the object key
``"/".join(p for p in [prefix, name] if p) + "." + format`` and ``list_artifacts`` returns names
relative to the prefix, extension removed, sorted.

Names that look alike are one name or none, on every backend: names and prefixes are normalised to
Unicode NFC (so ``"café"`` typed with a combining accent and with ``é`` is one artifact, not two
that list identically), and characters that change how a name is shown without being seen are
refused: C0 and C1 controls, bidirectional embeddings, overrides, isolates and marks (otherwise
``"report\\u202efdp.exe"`` displays as ``reportexe.pdf``), and the line and paragraph separators.
Zero-width joiners stay allowed: Persian, Indic scripts and emoji need them.
"""

from __future__ import annotations

import re
import unicodedata

from .._exceptions import ConfigurationError

__all__ = ["MAX_KEY_BYTES", "list_prefix", "name_from_key", "object_key", "validate_name",
           "validate_prefix"]

#: S3 and GCS both limit object keys to 1024 UTF-8 bytes.
MAX_KEY_BYTES = 1024

#: C0 and C1 controls (category Cc), the bidirectional formatting characters (ALM, LRM, RLM, LRE,
#: RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI) and the line and paragraph separators: invisible, yet they
#: reorder or break what is displayed. One compiled class, as names are checked for every listed key.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _check_text(value: object, what: str) -> str:
    """``value`` in NFC after the checks every name, prefix and list prefix shares."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a str; got {type(value).__name__}")
    if "\\" in value:
        raise ConfigurationError(f"{what} {value!r} contains a backslash; use '/' to separate segments")
    invisible = _INVISIBLE.search(value)
    if invisible is not None:
        char = invisible.group()
        raise ConfigurationError(
            f"{what} {value!r} contains U+{ord(char):04X} ({unicodedata.name(char, 'a control character')}), "
            "an invisible character that changes how the name is shown; remove it"
        )
    if value.startswith("/"):
        raise ConfigurationError(f"{what} {value!r} is absolute; give it relative to the store prefix")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError(f"{what} {value!r} is not valid UTF-8 text (lone surrogate)") from None
    return value if unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)


def _check_segments(value: str, what: str, *, allow_trailing_slash: bool) -> None:
    segments = value.split("/")
    if allow_trailing_slash and segments and segments[-1] == "":
        segments = segments[:-1]
    for segment in segments:
        if segment in ("", ".", ".."):
            shown = "an empty segment ('//' or a trailing '/')" if segment == "" else f"a {segment!r} segment"
            raise ConfigurationError(f"{what} {value!r} contains {shown}")


def validate_name(name: object) -> str:
    """Check an artifact name; return it in Unicode NFC (the form its key is stored under).

    Raises:
        ConfigurationError: Empty, not a str, absolute, with a backslash, a control character, a
            bidirectional formatting character or line separator, an empty, ``.`` or ``..``
            segment, or a trailing ``/``.
    """
    text = _check_text(name, "artifact name")
    if not text:
        raise ConfigurationError("artifact name must not be empty")
    _check_segments(text, "artifact name", allow_trailing_slash=False)
    return text


def validate_prefix(prefix: object, what: str = "store prefix") -> str:
    """Check a store prefix and return it in NFC with trailing '/' stripped (as the original does)."""
    text = _check_text(prefix, what).rstrip("/")
    if text:
        _check_segments(text, what, allow_trailing_slash=False)
    if len(text.encode("utf-8")) >= MAX_KEY_BYTES:
        raise ConfigurationError(f"{what} is {len(text.encode())} UTF-8 bytes; object keys allow 1024")
    return text


def object_key(prefix: str, name: str, extension: str) -> str:
    """The object key of artifact ``name``; raises ConfigurationError when it is too long."""
    key = "/".join(p for p in (prefix, validate_name(name)) if p) + "." + extension
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        raise ConfigurationError(
            f"artifact name is too long: its object key is {size} UTF-8 bytes, the limit is {MAX_KEY_BYTES}"
        )
    return key


def list_prefix(prefix: str, sub_prefix: object) -> str:
    """The key prefix listed by ``list_artifacts(sub_prefix)``: a plain string-prefix match."""
    text = _check_text(sub_prefix, "list prefix")
    if text:
        _check_segments(text, "list prefix", allow_trailing_slash=True)
    return f"{prefix}/{text}" if prefix else text


def name_from_key(prefix: str, key: str, extension: str) -> str | None:
    """The artifact name stored at ``key``, or None when the key is not an artifact of this store.

    A key whose name this library would not write (in NFD, with a control character, an empty
    segment) is not an artifact: ``download`` of that name could not reach it.
    """
    suffix = "." + extension
    if not key.endswith(suffix):
        return None
    if prefix:
        if not key.startswith(prefix + "/"):
            return None
        key = key[len(prefix) + 1 :]
    name = key[: -len(suffix)]
    try:
        return name if name and validate_name(name) == name else None
    except ConfigurationError:
        return None
