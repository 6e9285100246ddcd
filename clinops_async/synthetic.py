"""Synthetic ICU feature windows, shaped like real extractions but containing no patient data.

For demos, tests and benchmarks: identifiers in MIMIC-IV's ranges, hourly windows with a
time-zone-aware ``window_start`` index, vitals with gaps, sparse labs as nullable integers, and
flags and categories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["LABS", "VITALS", "icu_windows"]

VITALS = ("heart_rate", "sbp", "dbp", "map", "resp_rate", "spo2", "temperature", "gcs")
LABS = ("lactate", "creatinine", "wbc", "hemoglobin", "platelets", "sodium", "potassium", "glucose")
_UNITS = ("MICU", "SICU", "CCU", "TSICU", "CVICU")


def icu_windows(stays: int = 5, hours: int = 24, *, seed: int = 0, first_stay: int = 30_000_000) -> pd.DataFrame:
    """One row per ICU stay per hourly window.

    Args:
        stays: Number of ICU stays.
        hours: Windows per stay.
        seed: Random seed (the same seed gives the same frame).
        first_stay: The first ``stay_id``; stays are numbered consecutively from it.

    Returns:
        A DataFrame indexed by ``window_start`` (UTC) with ids, vitals (float, ~10% missing), labs
        (nullable Int64, ~80% missing), ``care_unit`` (categorical) and boolean flags.
    """
    rng = np.random.default_rng(seed)
    n = stays * hours
    starts = pd.date_range("2024-01-01", periods=hours, freq="h", tz="UTC")
    index = pd.DatetimeIndex(list(starts) * stays, name="window_start")
    columns: dict[str, object] = {
        "subject_id": np.repeat(rng.integers(10_000_000, 19_999_999, stays), hours),
        "hadm_id": np.repeat(rng.integers(20_000_000, 29_999_999, stays), hours),
        "stay_id": np.repeat(np.arange(first_stay, first_stay + stays), hours),
    }
    for name in VITALS:
        columns[name] = np.where(rng.random(n) < 0.1, np.nan, rng.normal(80, 12, n).round(1))
    for name in LABS:
        labs = pd.array(rng.integers(1, 200, n), dtype="Int64")
        labs[rng.random(n) < 0.8] = pd.NA
        columns[name] = labs
    columns["care_unit"] = pd.Categorical(rng.choice(_UNITS, n), categories=list(_UNITS))
    columns["on_vasopressor"] = rng.random(n) < 0.15
    sepsis = pd.array(rng.random(n) < 0.3, dtype="boolean")
    sepsis[rng.random(n) < 0.5] = pd.NA
    columns["sepsis_label"] = sepsis
    return pd.DataFrame(columns, index=index)
