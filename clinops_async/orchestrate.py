"""The documented blocking API of ``clinops.orchestrate``, under its original names.

``from clinops_async.orchestrate import S3PipelineStore, StorageFormat`` works as the original did;
each class runs its async twin on a shared event-loop thread.
"""

from __future__ import annotations

from ._codecs import StorageFormat
from ._sync import LocalPipelineStore, S3PipelineStore

__all__ = ["LocalPipelineStore", "S3PipelineStore", "StorageFormat"]
