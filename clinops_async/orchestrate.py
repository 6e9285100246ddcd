"""The documented blocking API of ``clinops.orchestrate``, under its original names.

``from clinops_async.orchestrate import S3PipelineStore, StorageFormat`` works as the original did;
each class runs its async twin on a shared event-loop thread.
"""

from __future__ import annotations

from ._codecs import StorageFormat
from ._sfn_steps import FailStep, MapStep, ParallelStep, PassStep, PipelineStep, S3Prefix, WaitStep
from ._sync import GCSPipelineStore, LocalPipelineStore, S3PipelineStore
from ._sync_stepfunctions import StepFunctionsPipeline

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
