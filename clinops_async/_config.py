"""Immutable, keyword-only configuration objects, each default documented with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._exceptions import ConfigurationError

__all__ = ["ParquetCompression", "RetryConfig", "TransferConfig"]

MiB = 1024 * 1024

ParquetCompression = Literal["snappy", "zstd", "gzip", "brotli", "lz4", "none"]

#: S3 allows at most 10,000 parts per multipart upload and parts of at least 5 MiB (but the last).
S3_MAX_PARTS = 10_000
S3_MIN_PART_SIZE = 5 * MiB


@dataclass(frozen=True, kw_only=True)
class TransferConfig:
    """How artifacts move: thresholds, part sizes and concurrency.

    Memory: a big Parquet upload to S3 is encoded while it is sent, holding one row group's Arrow table
    (about 64 MiB of the frame) and at most ``max_concurrency + 1`` parts (144 MiB with the defaults);
    other uploads hold the encoded artifact. A download fills one buffer of the object's size by
    ``max_concurrency`` ranged reads, and hands it back to the system column batch by column batch as
    it is decoded.

    Attributes:
        multipart_threshold: Artifacts of at least this many encoded bytes are uploaded in parts (S3
            multipart, GCS chunks or components) and downloaded as concurrent ranged reads. 16 MiB:
            below it one request is faster than the extra round trips of a multipart upload.
        part_size: Size of each part or ranged read. Grown automatically so that no upload needs more
            than 10,000 parts. 16 MiB keeps per-request overhead small while giving 8 streams work.
        max_concurrency: Parts or ranges of one artifact in flight at once. 8 streams saturate the
            per-connection bandwidth of real object stores without starving bulk transfers.
        bulk_concurrency: Artifacts in flight at once in ``upload_many`` / ``download_many``. 16
            requests in flight hide a 20 ms round trip for ~1 MB artifacts.
        max_pool_connections: HTTP connections kept per store. Enough for bulk transfers plus parts.
        connect_timeout: Seconds to establish a connection.
        read_timeout: Seconds without progress on a socket before a request is failed (and retried).
        min_transfer_rate: The slowest rate, in bytes per second, at which a request body is still
            worth waiting for. Every S3 request has a deadline (see :meth:`request_deadline`) that
            covers sending its body as well as waiting for the answer, so a peer that stops reading
            mid-upload fails the request (which is then retried on another connection) instead of
            holding it for ever. 256 KiB/s, the rate the GCS backend's deadlines allow: a 16 MiB part
            may take 64 s on top of the timeouts, far beyond any healthy link.
        copy_threshold: Server-side copies (``copy``, ``move``) of objects of at least this many bytes
            go as concurrent part copies (S3 UploadPartCopy, ``max_concurrency`` at once); smaller
            ones as one request (S3 CopyObject). 5 GiB, the largest object one CopyObject may copy.
        copy_part_size: Bytes per part of a multipart server-side copy, grown to fit 10,000 parts.
            512 MiB: no byte passes through the client, so a part costs one request whatever its
            size, and a 5 GiB artifact is 10 parts, all in flight at once with the defaults.
        copy_concurrency: Server-side copies in flight at once in ``copy_prefix``, ``copy_many`` and
            their ``move`` forms. A copy carries no bytes through the client, only a request and its
            answer, so more fit than transfers: 32, the connections a store keeps by default.
        rewrite_bytes_per_call: GCS ``rewrite``: at most this many bytes per call (a multiple of 1 MiB),
            or None to let GCS choose. A large copy takes several calls either way, each one
            continuing where the last stopped.
    """

    multipart_threshold: int = 16 * MiB
    part_size: int = 16 * MiB
    max_concurrency: int = 8
    bulk_concurrency: int = 16
    max_pool_connections: int = 32
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    min_transfer_rate: int = 256 * 1024
    copy_threshold: int = 5 * 1024 * MiB
    copy_part_size: int = 512 * MiB
    copy_concurrency: int = 32
    rewrite_bytes_per_call: int | None = None

    def __post_init__(self) -> None:
        _positive_int(self, "multipart_threshold", "part_size", "max_concurrency", "bulk_concurrency",
                      "max_pool_connections", "min_transfer_rate", "copy_threshold", "copy_part_size",
                      "copy_concurrency")
        if self.copy_part_size < S3_MIN_PART_SIZE or self.copy_part_size > 5 * 1024 * MiB:
            raise ConfigurationError(
                f"TransferConfig.copy_part_size must be between 5 MiB and 5 GiB, the part sizes S3 accepts; "
                f"got {self.copy_part_size}"
            )
        rewrite = self.rewrite_bytes_per_call
        if rewrite is not None and (not isinstance(rewrite, int) or isinstance(rewrite, bool)
                                    or rewrite < MiB or rewrite % MiB):
            raise ConfigurationError(
                f"TransferConfig.rewrite_bytes_per_call must be a positive multiple of 1 MiB or None; got {rewrite!r}"
            )
        if self.part_size < S3_MIN_PART_SIZE:
            raise ConfigurationError(
                f"TransferConfig.part_size must be at least 5 MiB ({S3_MIN_PART_SIZE} bytes), "
                f"the smallest part S3 accepts; got {self.part_size}"
            )
        for field in ("connect_timeout", "read_timeout"):
            value = getattr(self, field)
            if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
                raise ConfigurationError(f"TransferConfig.{field} must be a positive number of seconds")

    def request_deadline(self, body_size: int) -> float:
        """Seconds one request with a body of ``body_size`` bytes may take, from connecting to its answer.

        ``connect_timeout + read_timeout + body_size / min_transfer_rate``: 70 s for a request without
        a body and 134 s for a 16 MiB part with the defaults. A request still running then is failed
        as a transient error and retried (``RetryConfig``), so a stalled upload ends after at most
        ``max_attempts`` deadlines plus the backoff waits.
        """
        return self.connect_timeout + self.read_timeout + body_size / self.min_transfer_rate

    def streamed_part_size(self, number: int) -> int:
        """The size of part ``number`` (from 1) of an upload whose total is not known in advance.

        ``part_size``, doubled every 1,000 parts, so that 10,000 parts hold any artifact (16 MiB parts
        reach 16 GB at part 1,000 and 8 PB at part 10,000).
        """
        return self.part_size << ((number - 1) // 1000)

    def part_size_for(self, total: int) -> int:
        """The part size for an upload of ``total`` bytes: ``part_size`` grown to fit 10,000 parts."""
        size = self.part_size
        while -(-total // size) > S3_MAX_PARTS:
            size *= 2
        return size


@dataclass(frozen=True, kw_only=True)
class RetryConfig:
    """Retries of throttling, 5xx answers and dropped connections, with full-jitter backoff.

    Attempt ``n`` (from 1) waits a random time in ``[0, min(max_backoff, initial_backoff × 2^(n-1))]``
    before the next one. After ``max_attempts`` attempts the call raises ``TransientStoreError``.

    Attributes:
        max_attempts: Attempts per request, the first included. 5 rides out a few seconds of
            throttling, as AWS's standard retry mode does.
        initial_backoff: Upper bound of the first wait, in seconds.
        max_backoff: Upper bound of any wait, in seconds.
    """

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 10.0

    def __post_init__(self) -> None:
        _positive_int(self, "max_attempts")
        for field in ("initial_backoff", "max_backoff"):
            value = getattr(self, field)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ConfigurationError(f"RetryConfig.{field} must be a non-negative number of seconds")


def _positive_int(obj: object, *fields: str) -> None:
    for field in fields:
        value = getattr(obj, field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigurationError(
                f"{type(obj).__name__}.{field} must be a positive integer; got {value!r}"
            )
