"""DataFrame <-> artifact bytes, one module per concept. Pure and synchronous: called in worker threads.

- :mod:`.frames`: what a frame must be to round-trip exactly, and the metadata recorded beside pandas' own;
- :mod:`.formats`: whole frames to Parquet or CSV bytes and back;
- :mod:`.parquet_write`: Parquet written row group by row group, cut into parts as it goes;
- :mod:`.parquet_read`: Parquet bytes back into the frame, the bytes handed back as they are decoded.
"""

from __future__ import annotations

from .formats import Encoded, StorageFormat, coerce_format, decode, decode_owned, encode
from .parquet_read import index_columns, parquet_columns
from .parquet_write import StreamedTail, encode_parts

__all__ = [
    "Encoded",
    "StorageFormat",
    "StreamedTail",
    "coerce_format",
    "decode",
    "decode_owned",
    "encode",
    "encode_parts",
    "index_columns",
    "parquet_columns",
]
