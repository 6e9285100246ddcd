"""Synthetic ICU feature frames (no real patient data) for tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clinops_async.synthetic import icu_windows

__all__ = ["hourly_series", "icu_windows", "wide_frame"]


def hourly_series(hours: int = 48) -> pd.DataFrame:
    """One stay's windows with a regular hourly DatetimeIndex (its frequency must survive)."""
    index = pd.date_range("2024-01-01", periods=hours, freq="h", tz="UTC", name="window_start")
    return pd.DataFrame({"heart_rate": np.linspace(60, 100, hours)}, index=index)


def wide_frame(rows: int, cols: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.random((rows, cols)), columns=[f"f{i:04d}" for i in range(cols)])
