"""Names that look alike: one artifact per NFC form, and no invisible characters that reorder a name."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinops_async import ConfigurationError
from clinops_async._stores.names import name_from_key, object_key, validate_name, validate_prefix

if TYPE_CHECKING:
    from tests.support.store_envs import StoreEnv

NFC = "caf\u00e9/na\u00efve"
NFD = unicodedata.normalize("NFD", NFC)

#: Bidirectional formatting (embeddings, overrides, isolates, marks) and line/paragraph separators:
#: they change how a name is shown, or where it breaks, without being seen.
INVISIBLE = ["\u202e", "\u202d", "\u202a", "\u202b", "\u202c", "\u2066", "\u2067", "\u2068", "\u2069",
             "\u200e", "\u200f", "\u061c", "\u2028", "\u2029", "\x85", "\x9b"]


async def test_nfc_and_nfd_forms_of_a_name_are_one_artifact(store_env: StoreEnv) -> None:
    assert NFC != NFD
    async with store_env.make("p") as store:
        first = await store.upload(pd.DataFrame({"v": [1]}), NFC)
        second = await store.upload(pd.DataFrame({"v": [2]}), NFD)  # replaces the first
        assert first == second == store.uri(NFD)
        assert await store.list_artifacts() == [NFC]
        pd.testing.assert_frame_equal(await store.download(NFD), pd.DataFrame({"v": [2]}))
    assert store_env.keys() == [f"p/{NFC}.parquet"]


@pytest.mark.parametrize("char", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
async def test_bidi_and_other_invisible_controls_are_refused_before_any_io(store_env: StoreEnv, char: str) -> None:
    async with store_env.make("p") as store:
        with pytest.raises(ConfigurationError, match=f"U\\+{ord(char):04X}"):
            await store.upload(pd.DataFrame({"v": [1]}), f"report{char}fdp.exe")
    with pytest.raises(ConfigurationError):
        store_env.make(f"pre{char}fix")
    assert store_env.keys() == []


def test_joiners_that_scripts_need_stay_allowed() -> None:
    for name in ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "family \U0001f468\u200d\U0001f469"):
        assert validate_name(name) == name


def test_keys_written_by_other_tools_in_nfd_are_not_listed_as_artifacts() -> None:
    # download() of such a name would look for its NFC key; listing only what can be downloaded.
    assert name_from_key("p", f"p/{NFD}.parquet", "parquet") is None
    assert name_from_key("p", "p/a\u202eb.parquet", "parquet") is None
    assert name_from_key("p", f"p/{NFC}.parquet", "parquet") == NFC


@given(text=st.text(max_size=30))
def test_every_accepted_name_is_nfc_and_free_of_invisible_controls(text: str) -> None:
    try:
        name = validate_name(text)
    except ConfigurationError:
        return
    assert name == unicodedata.normalize("NFC", text)
    assert not any(unicodedata.category(c) == "Cc" or c in INVISIBLE for c in name)
    assert object_key(validate_prefix("pre"), text, "csv") == f"pre/{name}.csv"
    assert name_from_key("pre", f"pre/{name}.csv", "csv") == name
