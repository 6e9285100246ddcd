"""Synthetic ICU feature frames (no real patient data) for tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["icu_windows", "wide_frame"]

VITALS = ["heart_rate", "sbp", "dbp", "map", "resp_rate", "spo2", "temperature", "gcs"]


def icu_windows(stays: int = 5, hours: int = 24, seed: int = 0) -> pd.DataFrame:
    """Hourly windows per ICU stay: ids, a tz-aware window_start index, vitals with gaps, labs, flags."""
    rng = np.random.default_rng(seed)
    n = stays * hours
    starts = pd.date_range("2024-01-01", periods=hours, freq="h", tz="UTC")
    index = pd.DatetimeIndex(starts.repeat(1).tolist() * stays, name="window_start")
    df = pd.DataFrame(
        {
            "subject_id": np.repeat(rng.integers(10_000_000, 19_999_999, stays), hours),
            "stay_id": np.repeat(np.arange(30_000_000, 30_000_000 + stays), hours),
            **{v: np.where(rng.random(n) < 0.1, np.nan, rng.normal(80, 10, n)) for v in VITALS},
            "lactate": pd.array(np.where(rng.random(n) < 0.8, None, rng.integers(1, 9, n)), dtype="Int64"),
            "care_unit": pd.Categorical(rng.choice(["MICU", "SICU", "CCU", "TSICU"], n)),
            "on_vasopressor": rng.random(n) < 0.2,
            "sepsis_label": pd.array(np.where(rng.random(n) < 0.5, None, rng.random(n) < 0.3), dtype="boolean"),
        },
        index=index,
    )
    return df


def hourly_series(hours: int = 48) -> pd.DataFrame:
    """One stay's windows with a regular hourly DatetimeIndex (its frequency must survive)."""
    index = pd.date_range("2024-01-01", periods=hours, freq="h", tz="UTC", name="window_start")
    return pd.DataFrame({"heart_rate": np.linspace(60, 100, hours)}, index=index)


def wide_frame(rows: int, cols: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.random((rows, cols)), columns=[f"f{i:04d}" for i in range(cols)])
