"""Amazon S3: the backend primitives on aiobotocore (:mod:`.backend`), their errors (:mod:`.errors`),
request and response bodies (:mod:`.bodies`), and the public store (:mod:`.store`)."""

from __future__ import annotations

from .store import AsyncS3PipelineStore, IncompleteUpload, ServerSideEncryption

__all__ = ["AsyncS3PipelineStore", "IncompleteUpload", "ServerSideEncryption"]
