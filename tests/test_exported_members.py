"""The public names are deliberate: adding or removing one is a visible change."""

from __future__ import annotations

import clinops_async
import clinops_async.orchestrate


def test_package_exports_are_pinned() -> None:
    assert sorted(clinops_async.__all__) == clinops_async.__all__
    for name in clinops_async.__all__:
        assert hasattr(clinops_async, name), name
    public = {n for n in dir(clinops_async) if not n.startswith("_")} - {
        "orchestrate", "synthetic", "demo", "testing", "cli", "progress", "handler",
    }
    assert public <= set(clinops_async.__all__), public - set(clinops_async.__all__)


def test_orchestrate_keeps_the_documented_names() -> None:
    for name in ("GCSPipelineStore", "S3PipelineStore", "StepFunctionsPipeline", "PipelineStep", "StorageFormat"):
        assert name in clinops_async.orchestrate.__all__
        assert getattr(clinops_async.orchestrate, name) is getattr(clinops_async, name)
    parquet: str = clinops_async.orchestrate.StorageFormat.PARQUET  # a str enum: its members are strings
    assert parquet == "parquet"
    assert clinops_async.orchestrate.StorageFormat.CSV.value == "csv"


def test_every_error_of_the_tree_is_exported() -> None:
    from clinops_async import _exceptions

    assert set(_exceptions.__all__) <= set(clinops_async.__all__)
    assert issubclass(clinops_async.NameConflictError, clinops_async.StoreError)
    assert not issubclass(clinops_async.NameConflictError, FileExistsError)  # not "--no-clobber" (exit 9)
