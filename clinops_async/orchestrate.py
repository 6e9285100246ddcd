"""The documented blocking API of ``clinops.orchestrate``, under its original names.

``from clinops_async.orchestrate import S3PipelineStore, StorageFormat`` works as the original did;
each class runs its async twin on a shared event-loop thread.
"""

from __future__ import annotations

from ._pipelines.steps import FailStep, MapStep, ParallelStep, PassStep, PipelineStep, S3Prefix, WaitStep
from ._pipelines.sync import StepFunctionsPipeline
from ._stores.codecs import StorageFormat
from ._stores.sync import GCSPipelineStore, LocalPipelineStore, S3PipelineStore

__all__ = [
    "FailStep",
    "GCSPipelineStore",
    "LocalPipelineStore",
    "MapStep",
    "ParallelStep",
    "PassStep",
    "PipelineStep",
    "S3PipelineStore",
    "S3Prefix",
    "StepFunctionsPipeline",
    "StorageFormat",
    "WaitStep",
]
