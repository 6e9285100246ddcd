"""Pipeline steps that pass artifacts, never frames: a handler helper for Lambda and container tasks.

A Step Functions execution carries at most 256 KiB, so DataFrames travel between steps as artifacts
in a store, and the state input carries small references to them. :func:`artifact_handler` turns a
function of DataFrames into such a step::

    from clinops_async.handler import artifact_handler

    @artifact_handler("s3://clinops-artifacts/runs")
    def features(clean):                      # a pandas DataFrame, read from the event's artifact
        return clean.groupby("patient_id").mean(numeric_only=True)

    # Lambda: handler = "module.features"; a container: sys.exit(features.run_container())

The step reads the artifacts the event names (an artifact URI, or the reference a previous step
returned; a list of them from a Parallel or Map state; ``{"artifacts": {name: ref}}`` for named
inputs; ``{"Items": [...], "BatchInput": {...}}`` from a Distributed Map's ItemBatcher), calls the
function, stores what it returns, and returns a reference for the next state::

    {"uri": "s3://clinops-artifacts/runs/EXEC/Features/features.parquet", "format": "parquet",
     "rows": 1200, "columns": 14, "crc32c": "yZRlqg==", "size": 48213}

**Names are deterministic**, so a retried step replaces its own output instead of leaving another:
with :func:`step_parameters` (a Task's ``Parameters``) or :func:`map_item_selector` (a Map's
``ItemSelector``) the output is ``EXECUTION/STATE[/item-N]/NAME``; without them it is
``by-input/SHA256(event)/NAME``. Each upload is atomic, so a reader never sees half an output.

**Errors are named for Retry and Catch**: Lambda reports an exception's class name as the error, so
``ErrorEquals`` matches these names exactly (not their base classes):

- ``TransientStoreError``: a store kept failing through its own retries; worth a Retry
  (:data:`RETRYABLE_STEP_ERRORS`);
- ``ArtifactNotFoundError``, ``ArtifactChangedError`` (the referenced artifact was replaced since),
  ``IntegrityError`` (bytes do not match their checksum), ``StepInputError`` (the event names no
  artifact), ``SerializationError``, ``AccessDeniedError``: retrying does not help; Catch them
  (:data:`STEP_INPUT_ERRORS`).
"""

from __future__ import annotations

from ._handler.core import ArtifactHandler, artifact_handler
from ._handler.events import map_item_selector, step_parameters

__all__ = [
    "RETRYABLE_STEP_ERRORS",
    "STEP_INPUT_ERRORS",
    "ArtifactHandler",
    "artifact_handler",
    "map_item_selector",
    "step_parameters",
]

#: The error a step fails with that a Retry should match (add it to ``retry_on``).
RETRYABLE_STEP_ERRORS: tuple[str, ...] = ("TransientStoreError",)

#: The errors a step fails with that retrying cannot fix (match them in a Catch).
STEP_INPUT_ERRORS: tuple[str, ...] = (
    "ArtifactNotFoundError",
    "ArtifactChangedError",
    "IntegrityError",
    "StepInputError",
    "SerializationError",
    "AccessDeniedError",
)
