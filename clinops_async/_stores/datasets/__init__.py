"""Hive-partitioned Parquet datasets: :mod:`.partitions` (paths and partition pruning), :mod:`.write`,
:mod:`.read`, :mod:`.dask`, and :mod:`.store`, the methods every async store inherits."""
