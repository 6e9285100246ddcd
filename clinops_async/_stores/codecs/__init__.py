"""DataFrame <-> artifact bytes, one module per concept. Pure and synchronous: called in worker threads.

- :mod:`.frames`: what a frame must be to round-trip exactly, and the metadata recorded beside pandas' own;
- :mod:`.formats`: whole frames to Parquet or CSV bytes and back;
- :mod:`.parquet_write`: Parquet written row group by row group, cut into parts as it goes;
- :mod:`.parquet_stream`: a stream of frames or record batches written as one Parquet file;
- :mod:`.parquet_read`: Parquet bytes back into the frame, the bytes handed back as they are decoded;
- :mod:`.tables`: Arrow tables and polars frames in and out, without a detour through pandas.
"""

from __future__ import annotations

from .formats import Encoded, StorageFormat, coerce_format, decode, decode_owned, encode
from .parquet_read import decode_errors, index_columns, parquet_columns, read_parquet_table, table_to_frame
from .parquet_stream import END_OF_STREAM, StreamShape, encode_stream
from .parquet_write import PartSink, StreamedTail, encode_parts
from .tables import ResultKind, check_result_kind, check_upload_data, from_table, to_arrow_input

__all__ = [
    "END_OF_STREAM",
    "Encoded",
    "PartSink",
    "ResultKind",
    "StorageFormat",
    "StreamShape",
    "StreamedTail",
    "check_result_kind",
    "check_upload_data",
    "coerce_format",
    "decode",
    "decode_errors",
    "decode_owned",
    "encode",
    "encode_parts",
    "encode_stream",
    "from_table",
    "index_columns",
    "parquet_columns",
    "read_parquet_table",
    "table_to_frame",
    "to_arrow_input",
]
