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
    "unit_of",
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
    for name, dtype in df.dtypes.items():
        if isinstance(dtype, pd.SparseDtype):
            raise SerializationError(
                f"column {name!r} is sparse ({dtype}); Parquet has no sparse type. "
                "Store it dense: df[name] = df[name].sparse.to_dense()"
            )
    for name in object_column_names(df):
        _check_object_column(name, df[name])
    return df


def _check_object_column(name: str, column: pd.Series) -> None:
    """Refuse what Parquet would change without an error: dicts with differing keys, bytes beside str."""
    keys: set[Any] | None = None
    kinds: set[type] = set()
    for value in column:
        kind = type(value)
        kinds.add(kind)
        if kind is dict:
            if keys is None:
                keys = set(value)
            elif set(value) != keys:
                raise SerializationError(
                    f"column {name!r} holds dicts with different keys: Parquet stores them as one struct, so "
                    "missing keys would come back as None. Give every dict the same keys, or store JSON text"
                )
    if bytes in kinds and str in kinds:
        raise SerializationError(
            f"column {name!r} mixes bytes and str values: Parquet stores such a column as bytes, so the "
            "str values would come back as bytes. Encode the str values or decode the bytes first"
        )


def object_column_names(df: pd.DataFrame) -> list[str]:
    # One pass over the dtypes: looking each column up (``df[name]``) costs ~0.1 ms a column.
    return [str(name) for name, dtype in df.dtypes.items() if pd.api.types.is_object_dtype(dtype)]


def describe_failure(df: pd.DataFrame) -> str:
    """Name the first column pyarrow cannot convert and why (never its values)."""
    for name in df.columns:
        try:
            pa.array(df[name], from_pandas=True)
        except UnicodeError:
            return (
                f"column {name!r} holds a string that is not valid Unicode (a lone surrogate); Parquet "
                "strings are UTF-8. Repair or drop such strings before uploading"
            )
        except (pa.ArrowException, TypeError, ValueError):
            kinds = sorted({type(v).__name__ for v in df[name].dropna().tolist()})
            if len(kinds) == 1:
                return (
                    f"column {name!r} holds values of type {kinds[0]}, which Parquet cannot store. "
                    "Convert them (e.g. .astype(str)) before uploading"
                )
            return (
                f"column {name!r} holds values of types {kinds} that do not form one Parquet type. "
                "Cast the column to one type (e.g. .astype(str)) before uploading"
            )
    return "the index or a column could not be converted to Arrow"


def with_extra_metadata(frame: pd.DataFrame, schema: pa.Schema) -> dict[bytes, bytes]:
    """The schema's metadata plus what pandas' own leaves out (the index frequency, NaN columns...)."""
    freq = getattr(frame.index, "freqstr", None)
    extra: dict[str, Any] = {"index_freq": freq}
    categories = _categories(frame)
    if categories:
        extra["categories"] = categories
    units = {str(n): unit_of(d) for n, d in frame.dtypes.items() if unit_of(d) is not None}
    if units:
        extra["units"] = units
    if unit_of(frame.index.dtype) is not None:
        extra["index_unit"] = unit_of(frame.index.dtype)
    nan_columns = _nan_object_columns(frame)
    if nan_columns:
        extra["nan_object_columns"] = nan_columns
    meta = dict(schema.metadata or {})
    meta[FRAME_META_KEY] = json.dumps(extra).encode()
    return meta


def unit_of(dtype: Any) -> str | None:
    """The unit of a datetime or timedelta dtype (Parquet has no seconds: they come back as ms)."""
    if isinstance(dtype, pd.DatetimeTZDtype):
        return str(dtype.unit)
    if isinstance(dtype, np.dtype) and dtype.kind in "mM":
        return str(np.datetime_data(dtype)[0])
    return None


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


def _categories(frame: pd.DataFrame) -> dict[str, Any]:
    """Categories that Parquet does not keep: of categoricals whose categories are not strings (read
    back as plain values) and of every categorical in a frame without rows (no dictionary is written).

    Raises:
        SerializationError: Categories of a kind that cannot be recorded exactly.
    """
    found = {}
    for name, dtype in frame.dtypes.items():
        if not isinstance(dtype, pd.CategoricalDtype):
            continue
        cats = dtype.categories
        if len(frame) and (pd.api.types.is_string_dtype(cats.dtype) or pd.api.types.is_object_dtype(cats.dtype)):
            continue  # kept by the Parquet dictionary, order and unused categories included
        found[str(name)] = {**_category_values(str(name), cats), "ordered": bool(dtype.ordered)}
    return found


def _category_values(name: str, cats: pd.Index) -> dict[str, Any]:
    kind = cats.dtype
    if isinstance(kind, pd.DatetimeTZDtype) or (isinstance(kind, np.dtype) and kind.kind in "mM"):
        return {"epoch": cats.view("int64").tolist(), "dtype": str(kind)}
    if isinstance(kind, np.dtype) and kind.kind in "iufb":
        return {"values": cats.tolist(), "dtype": str(kind)}
    if pd.api.types.is_string_dtype(kind) or pd.api.types.is_object_dtype(kind):
        try:
            json.dumps(cats.tolist())
            return {"values": cats.tolist(), "dtype": "object"}
        except TypeError:
            pass
    raise SerializationError(
        f"column {name!r} is a categorical with {kind} categories, which cannot be stored exactly. "
        "Store its values with .astype(...) instead"
    )


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
