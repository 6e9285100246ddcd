"""Synthetic benchmark data (no patient data): the same frames in every client process, by seed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["bulk_frame", "frames_match", "load_matrix", "matrix_frame", "save_matrix"]

MiB = 1024 * 1024
FLOAT_COLUMNS = [f"v{i}" for i in range(8)]


def bulk_frame(index: int, rows: int = 10_000) -> pd.DataFrame:
    """One ~1 MB Parquet artifact: a patient id, a timestamp and 8 float columns."""
    rng = np.random.default_rng(1000 + index)
    frame = pd.DataFrame(
        {
            "patient_id": rng.integers(10_000_000, 19_999_999, rows),
            "ts": pd.date_range("2024-01-01", periods=rows, freq="min", tz="UTC"),
        }
    )
    for name in FLOAT_COLUMNS:
        frame[name] = rng.normal(80.0, 12.0, rows)
    return frame


def save_matrix(path: Path, size_bytes: int, columns: int, seed: int) -> None:
    """Write a float64 matrix of about ``size_bytes`` (rows × columns) as .npy."""
    rows = size_bytes // (8 * columns)
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((rows, columns))
    np.save(path, matrix)


def load_matrix(path: Path) -> np.ndarray:
    return np.asarray(np.load(path))


def matrix_frame(matrix: np.ndarray) -> pd.DataFrame:
    """A wide float frame over ``matrix`` (columns ``c000``, ``c001``...), without copying it."""
    return pd.DataFrame(matrix, columns=[f"c{i:03d}" for i in range(matrix.shape[1])], copy=False)


def frames_match(got: pd.DataFrame, expected: pd.DataFrame) -> bool:
    """Same shape, same column names, same values (dtype details such as time units may differ)."""
    if got.shape != expected.shape or list(got.columns) != list(expected.columns):
        return False
    for name in expected.columns:
        a, b = got[name], expected[name]
        if pd.api.types.is_datetime64_any_dtype(b):
            if not (pd.to_datetime(a, utc=True) == pd.to_datetime(b, utc=True)).all():
                return False
        elif not np.array_equal(a.to_numpy(), b.to_numpy()):
            return False
    return True
