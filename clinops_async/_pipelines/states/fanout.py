"""The states that fan out: Parallel (branches) and Map (inline, or distributed over S3 objects)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from ..._exceptions import ConfigurationError
from .base import AslObject, asl
from .common import STRINGS, DataFlow, State
from .machine import ProcessorConfig, Scope

__all__ = ["DistributedMap", "ItemBatcher", "ItemReader", "Map", "Parallel", "Processor",
           "ReaderConfig", "ResultWriter", "WriterConfig"]

_LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"
_GET_OBJECT = "arn:aws:states:::s3:getObject"
_PUT_OBJECT = "arn:aws:states:::s3:putObject"
InputType = Literal["CSV", "JSON", "JSONL", "MANIFEST"]


def _s3_parameters(**values: str) -> dict[str, str]:
    """``{"Bucket": ..., "Key": ...}``, a value starting with ``$`` read from the input (``"Bucket.$"``)."""
    return {(f"{key}.$" if value.startswith("$") else key): value for key, value in values.items()}


@dataclass(frozen=True)
class Parallel(DataFlow):
    """A Parallel state: run every branch on the same input; the output lists their outputs.

    Args:
        name: The state name.
        branches: One :class:`Scope` per branch (``Scope.chain(Task(...), ...)``).
    """

    type_name: ClassVar[str] = "Parallel"
    _tail: ClassVar[tuple[str, ...]] = ("Branches", *DataFlow._tail)

    branches: tuple[Scope, ...] = asl("Branches", Scope, many=True, default=())

    def nested(self) -> list[Any]:
        return list(self.branches)


@dataclass(frozen=True, kw_only=True)
class Processor(Scope):
    """A Map's ``ItemProcessor``: the states run for each item, and how (``processor_config``)."""

    _head: ClassVar[tuple[str, ...]] = ("Comment", "ProcessorConfig", "StartAt", "States")

    processor_config: ProcessorConfig | None = asl("ProcessorConfig", ProcessorConfig)


@dataclass(frozen=True, kw_only=True)
class ReaderConfig(AslObject):
    """How a Distributed Map reads its items: ``InputType``, CSV options, ``MaxItems``."""

    input_type: InputType | None = asl("InputType")
    csv_header_location: Literal["FIRST_ROW", "GIVEN"] | None = asl("CSVHeaderLocation")
    csv_headers: tuple[str, ...] | None = asl("CSVHeaders", STRINGS)
    csv_delimiter: str | None = asl("CSVDelimiter")
    manifest_type: str | None = asl("ManifestType")
    max_items: int | None = asl("MaxItems")
    max_items_path: str | None = asl("MaxItemsPath")


@dataclass(frozen=True, kw_only=True)
class ItemReader(AslObject):
    """Where a Distributed Map's items come from (build one with the class methods).

    Args:
        resource: ``arn:aws:states:::s3:listObjectsV2`` (a prefix) or ``...:s3:getObject`` (an object).
        parameters: ``Bucket`` and ``Prefix`` or ``Key`` (JSONPath); ``arguments`` for JSONata.
        reader_config: A :class:`ReaderConfig`.
    """

    resource: str = asl("Resource", default=_LIST_OBJECTS)
    reader_config: ReaderConfig | None = asl("ReaderConfig", ReaderConfig)
    parameters: Mapping[str, Any] | None = asl("Parameters")
    arguments: Any = asl("Arguments")

    @classmethod
    def s3_prefix(cls, bucket: str, prefix: str = "", *, max_items: int | None = None) -> ItemReader:
        """The objects under ``s3://bucket/prefix`` (each item: ``Key``, ``Size``, ``ETag``, ...)."""
        parameters = _s3_parameters(Bucket=bucket, **({"Prefix": prefix} if prefix else {}))
        config = ReaderConfig(max_items=max_items) if max_items is not None else None
        return cls(resource=_LIST_OBJECTS, parameters=parameters, reader_config=config)

    @classmethod
    def s3_object(cls, bucket: str, key: str, input_type: InputType = "JSON", *,
                  csv_header_location: Literal["FIRST_ROW", "GIVEN"] | None = None,
                  csv_headers: tuple[str, ...] | None = None, csv_delimiter: str | None = None,
                  max_items: int | None = None) -> ItemReader:
        """The items in one object: a JSON array, the rows of a CSV file or the lines of JSON Lines."""
        if input_type not in ("CSV", "JSON", "JSONL"):
            raise ConfigurationError(f"input_type must be 'CSV', 'JSON' or 'JSONL'; got {input_type!r}")
        if input_type == "CSV" and csv_header_location is None:
            csv_header_location = "GIVEN" if csv_headers else "FIRST_ROW"
        if input_type != "CSV" and (csv_headers or csv_header_location or csv_delimiter):
            raise ConfigurationError("csv_headers, csv_header_location and csv_delimiter need input_type='CSV'")
        config = ReaderConfig(input_type=input_type, csv_header_location=csv_header_location,
                              csv_headers=tuple(csv_headers) if csv_headers else None,
                              csv_delimiter=csv_delimiter, max_items=max_items)
        return cls(resource=_GET_OBJECT, reader_config=config,
                   parameters=_s3_parameters(Bucket=bucket, Key=key))

    @classmethod
    def inventory_manifest(cls, bucket: str, key: str, *, max_items: int | None = None) -> ItemReader:
        """The objects an S3 Inventory report lists, from its ``manifest.json``."""
        return cls(resource=_GET_OBJECT, parameters=_s3_parameters(Bucket=bucket, Key=key),
                   reader_config=ReaderConfig(input_type="MANIFEST", max_items=max_items))


@dataclass(frozen=True, kw_only=True)
class ItemBatcher(AslObject):
    """Items sent to each child execution together (``{"Items": [...], "BatchInput": ...}``)."""

    max_items_per_batch: int | None = asl("MaxItemsPerBatch")
    max_items_per_batch_path: str | None = asl("MaxItemsPerBatchPath")
    max_input_bytes_per_batch: int | None = asl("MaxInputBytesPerBatch")
    max_input_bytes_per_batch_path: str | None = asl("MaxInputBytesPerBatchPath")
    batch_input: Mapping[str, Any] | None = asl("BatchInput")


@dataclass(frozen=True, kw_only=True)
class WriterConfig(AslObject):
    """How results are written: ``OutputType`` (JSON, JSONL) and ``Transformation`` (NONE, COMPACT, FLATTEN)."""

    output_type: Literal["JSON", "JSONL"] | None = asl("OutputType")
    transformation: Literal["NONE", "COMPACT", "FLATTEN"] | None = asl("Transformation")


@dataclass(frozen=True, kw_only=True)
class ResultWriter(AslObject):
    """Where a Distributed Map writes its children's results (an S3 prefix), instead of its output."""

    resource: str | None = asl("Resource")
    parameters: Mapping[str, Any] | None = asl("Parameters")
    arguments: Any = asl("Arguments")
    writer_config: WriterConfig | None = asl("WriterConfig", WriterConfig)

    @classmethod
    def to_s3(cls, bucket: str, prefix: str = "", *, output_type: Literal["JSON", "JSONL"] | None = None,
              transformation: Literal["NONE", "COMPACT", "FLATTEN"] | None = None) -> ResultWriter:
        """Results under ``s3://bucket/prefix`` (a manifest and result files, per status)."""
        config = (WriterConfig(output_type=output_type, transformation=transformation)
                  if output_type or transformation else None)
        return cls(resource=_PUT_OBJECT, writer_config=config,
                   parameters=_s3_parameters(Bucket=bucket, **({"Prefix": prefix} if prefix else {})))


@dataclass(frozen=True)
class Map(DataFlow):
    """A Map state: run ``item_processor`` for each item (inline, or as child executions).

    Args:
        name: The state name.
        item_processor: The states run per item, with their ``ProcessorConfig``.
        items_path: The items' path in the input (JSONPath); ``items`` their JSONata expression.
        item_selector: Each item's input (``ItemSelector``).
        item_reader: Distributed only (see :class:`ItemReader`).
        item_batcher: Distributed only (see :class:`ItemBatcher`).
        result_writer: Distributed only (see :class:`ResultWriter`).
        max_concurrency: Items at once (0: as many as allowed); or ``max_concurrency_path``.
        tolerated_failure_percentage: Distributed only; or ``tolerated_failure_percentage_path``.
        tolerated_failure_count: Distributed only; or ``tolerated_failure_count_path``.
        label: Distributed only: a label for the child executions.
        iterator: The older name of ``item_processor`` (``Iterator``), kept when loaded.
    """

    type_name: ClassVar[str] = "Map"
    _tail: ClassVar[tuple[str, ...]] = ("ItemProcessor", *DataFlow._tail)

    item_processor: Processor | None = asl("ItemProcessor", Processor)
    iterator: Processor | None = asl("Iterator", Processor)
    items_path: str | None = asl("ItemsPath")
    items: Any = asl("Items")
    item_selector: Mapping[str, Any] | None = asl("ItemSelector")
    item_reader: ItemReader | None = asl("ItemReader", ItemReader)
    item_batcher: ItemBatcher | None = asl("ItemBatcher", ItemBatcher)
    result_writer: ResultWriter | None = asl("ResultWriter", ResultWriter)
    max_concurrency: int | None = asl("MaxConcurrency")
    max_concurrency_path: str | None = asl("MaxConcurrencyPath")
    tolerated_failure_percentage: float | None = asl("ToleratedFailurePercentage")
    tolerated_failure_percentage_path: str | None = asl("ToleratedFailurePercentagePath")
    tolerated_failure_count: int | None = asl("ToleratedFailureCount")
    tolerated_failure_count_path: str | None = asl("ToleratedFailureCountPath")
    label: str | None = asl("Label")

    def nested(self) -> list[Any]:
        processor = self.item_processor or self.iterator
        return [processor] if processor is not None else []

    @classmethod
    def inline(cls, name: str, *states: State, **fields: Any) -> Map:
        """An inline Map running ``states`` (a chain, see :meth:`Scope.chain`) for each item."""
        processor = Processor.chain(*states, processor_config=ProcessorConfig(mode="INLINE"))
        return cls(name, item_processor=processor, **fields)


class _S3Store(Protocol):
    bucket: str
    prefix: str

    def uri(self, name: str) -> str: ...


class DistributedMap:
    """Builders of a Distributed Map: a :class:`Map` whose items run as child executions."""

    @staticmethod
    def over(name: str, reader: ItemReader, *states: State,
             execution_type: Literal["STANDARD", "EXPRESS"] = "STANDARD", **fields: Any) -> Map:
        """A Distributed Map running ``states`` (a chain) for each item ``reader`` reads."""
        config = ProcessorConfig(mode="DISTRIBUTED", execution_type=execution_type)
        percentage = fields.get("tolerated_failure_percentage")
        if isinstance(percentage, int) and not isinstance(percentage, bool):
            # A decimal number, as the seed's MapStep writes it: Step Functions takes both, some ASL
            # interpreters (moto's) only a decimal.
            fields["tolerated_failure_percentage"] = float(percentage)
        return Map(name, item_processor=Processor.chain(*states, processor_config=config),
                   item_reader=reader, **fields)

    @staticmethod
    def over_store(name: str, store: _S3Store, prefix: str, *states: State, **fields: Any) -> Map:
        """A Distributed Map over the artifacts under ``prefix`` of an S3 store, in one line.

        Each item's input is ``{"bucket": ..., "key": ..., "size": ...}`` of one stored object
        (``item_selector=`` replaces it). Other ``fields`` as for :meth:`over` and :class:`Map`.
        """
        bucket = getattr(store, "bucket", None)
        if not isinstance(bucket, str) or not store.uri("x").startswith("s3://"):
            raise ConfigurationError("over_store needs an S3 store (AsyncS3PipelineStore or S3PipelineStore): "
                                     "a Distributed Map reads its items from S3")
        if not isinstance(prefix, str):
            raise ConfigurationError(f"prefix must be a str; got {type(prefix).__name__}")
        key_prefix = f"{store.prefix}/{prefix}" if store.prefix else prefix
        fields.setdefault("item_selector", {"bucket": bucket, "key.$": "$$.Map.Item.Value.Key",
                                            "size.$": "$$.Map.Item.Value.Size"})
        return DistributedMap.over(name, ItemReader.s3_prefix(bucket, key_prefix), *states, **fields)
