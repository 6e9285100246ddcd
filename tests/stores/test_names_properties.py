"""Property tests over names and prefixes: a valid name round-trips; anything else fails before I/O."""

from __future__ import annotations

import tempfile
import unicodedata
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinops_async import ConfigurationError, LocalPipelineStore
from clinops_async._stores.names import MAX_KEY_BYTES, name_from_key, object_key, validate_name
from tests.stores.test_names_unicode import INVISIBLE

# Valid names are in NFC and free of bidirectional formatting (tests/stores/test_names_unicode.py
# draws the others).
segment = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"), min_size=1,
                  max_size=20).map(lambda s: unicodedata.normalize("NFC", s)).filter(
    lambda s: s not in (".", "..") and not any(c in INVISIBLE for c in s))
valid_names = st.lists(segment, min_size=1, max_size=4).map("/".join)
any_text = st.text(max_size=60)


@given(prefix=st.lists(segment, max_size=3).map("/".join), name=valid_names)
def test_valid_names_map_to_keys_and_back(prefix: str, name: str) -> None:
    try:
        key = object_key(prefix, name, "parquet")
    except ConfigurationError:
        assert len(("/".join(p for p in (prefix, name) if p) + ".parquet").encode()) > MAX_KEY_BYTES
        return
    assert key == "/".join(p for p in (prefix, name) if p) + ".parquet"
    assert name_from_key(prefix, key, "parquet") == name


@given(text=any_text)
def test_any_text_is_either_a_valid_name_or_a_configuration_error(text: str) -> None:
    try:
        validate_name(text)
    except ConfigurationError:
        return
    parts = text.split("/")
    assert text and not text.startswith("/") and "\\" not in text
    assert all(p not in ("", ".", "..") for p in parts)
    assert all(ord(c) >= 32 and ord(c) != 127 and c not in INVISIBLE for c in text)


_root = Path(tempfile.mkdtemp(prefix="clinops-names-"))
_store = LocalPipelineStore(_root, "props")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.one_of(valid_names, any_text))
def test_local_store_round_trips_valid_names_and_never_writes_outside(name: str) -> None:
    df = pd.DataFrame({"v": [len(name)]})
    try:
        validate_name(name)
    except ConfigurationError:
        before = sorted(_root.rglob("*"))
        try:
            _store.upload(df, name)
        except ConfigurationError:
            assert sorted(_root.rglob("*")) == before
            return
        raise AssertionError(f"{name!r} was accepted by the store but not by validate_name") from None
    try:
        _store.upload(df, name)
    except ConfigurationError:
        return  # too long for a key
    pd.testing.assert_frame_equal(_store.download(name), df)
    assert unicodedata.normalize("NFC", name) in _store.list_artifacts()
    for path in _root.rglob("*"):
        assert path.resolve().is_relative_to(_root.resolve())
