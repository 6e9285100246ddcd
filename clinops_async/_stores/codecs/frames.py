"""What a DataFrame must be to round-trip exactly, and what is recorded beside pandas' own metadata.

Errors never quote DataFrame values (they may be patient data): they name the column and the Python
types found in it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..._exceptions import SerializationError

__all__ = [
    "FRAME_META_KEY",
    "check_frame",
    "describe_failure",
    "dictionary_columns",
    "object_column_names",
    "with_extra_metadata",
]


FRAME_META_KEY = b"clinops_async"


def check_frame(df: object) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise SerializationError(f"expected a pandas DataFrame; got {type(df).__name__}")
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad:
        kinds = sorted({type(c).__name__ for c in bad})
        raise SerializationError(
            f"column names must be strings; {len(bad)} are not (types: {', '.join(kinds)}). "
            "Rename them, e.g. df.columns = df.columns.map(str)"
        )
    duplicated = df.columns[df.columns.duplicated()].unique().tolist()
    if duplicated:
        raise SerializationError(f"duplicate column names {duplicated[:5]}: column names must be unique")
    for name in object_column_names(df):
        if not _same_dict_keys(df[name]):
            raise SerializationError(
                f"column {name!r} holds dicts with different keys: Parquet stores them as one struct, so "
                "missing keys would come back as None. Give every dict the same keys, or store JSON text"
            )
    return df


def object_column_names(df: pd.DataFrame) -> list[str]:
    # One pass over the dtypes: looking each column up (``df[name]``) costs ~0.1 ms a column.
    return [str(name) for name, dtype in df.dtypes.items() if pd.api.types.is_object_dtype(dtype)]


def _same_dict_keys(column: pd.Series) -> bool:
    keys: set[Any] | None = None
    for value in column:
        if isinstance(value, dict):
            if keys is None:
                keys = set(value)
            elif set(value) != keys:
                return False
    return True


def describe_failure(df: pd.DataFrame) -> str:
    """Name the first column pyarrow cannot convert and the value types in it (never the values)."""
    for name in df.columns:
        try:
            pa.array(df[name], from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):
            kinds = sorted({type(v).__name__ for v in df[name].dropna().tolist()})
            return f"column {name!r} holds values of types {kinds} that do not form one Parquet type"
    return "the index or a column could not be converted to Arrow"


def with_extra_metadata(frame: pd.DataFrame, schema: pa.Schema) -> dict[bytes, bytes]:
    """The schema's metadata plus what pandas' own leaves out (the index frequency, NaN columns...)."""
    freq = getattr(frame.index, "freqstr", None)
    extra: dict[str, Any] = {"index_freq": freq}
    if len(frame) == 0:
        # Parquet keeps no dictionary for a categorical column without rows: record its categories.
        extra["empty_categories"] = _empty_categories(frame)
    nan_columns = _nan_object_columns(frame)
    if nan_columns:
        extra["nan_object_columns"] = nan_columns
    meta = dict(schema.metadata or {})
    try:
        meta[FRAME_META_KEY] = json.dumps(extra).encode()
    except TypeError:
        meta[FRAME_META_KEY] = json.dumps({"index_freq": freq}).encode()
    return meta


def _nan_object_columns(frame: pd.DataFrame) -> list[str]:
    """Object columns whose missing values are NaN, not None (Parquet stores both as null).

    Raises:
        SerializationError: A column mixes None and NaN, which one null cannot tell apart.
    """
    found = []
    for name in object_column_names(frame):
        nulls = {"nan" if isinstance(v, float) else "none" for v in frame[name] if v is None or v != v}
        if nulls == {"nan", "none"}:
            raise SerializationError(
                f"column {name!r} mixes None and NaN as missing values; Parquet keeps one kind of null. "
                "Use one of them (e.g. .fillna(np.nan) or .replace({np.nan: None}))"
            )
        if nulls == {"nan"}:
            found.append(name)
    return found


def _empty_categories(frame: pd.DataFrame) -> dict[str, Any]:
    found = {}
    for name in frame.columns:
        dtype = frame[name].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            found[name] = {"categories": dtype.categories.tolist(), "ordered": bool(dtype.ordered)}
    return found


#: Float columns whose sample is more than this share distinct values are not dictionary-encoded.
_DISTINCT_SHARE = 0.5


_SAMPLE_ROWS = 1_000


def dictionary_columns(frame: pd.DataFrame, schema: pa.Schema) -> bool | list[str]:
    """Columns worth dictionary encoding: all but floats that are mostly distinct (measurements).

    A dictionary of mostly distinct floats is dropped by the writer after a megabyte anyway, and
    costs time and space until then (a 64 MiB frame of such floats encoded 4x slower and 25% larger
    with it); rounded vitals, flags and ids keep it.
    """
    positions = [i for i, dtype in enumerate(frame.dtypes) if pd.api.types.is_float_dtype(dtype)]
    if not positions:
        return True
    # One conversion of the sampled rows of every float column (a column at a time costs ~0.3 ms each).
    samples = frame.iloc[:_SAMPLE_ROWS, positions].to_numpy(dtype="float64", na_value=np.nan)
    dense = set()
    for j, position in enumerate(positions):
        sample = samples[:, j]
        sample = sample[~np.isnan(sample)]
        if len(sample) and np.unique(sample).size > _DISTINCT_SHARE * len(sample):
            dense.add(frame.columns[position])
    if not dense:
        return True
    return [n for n in schema.names if n not in dense]
