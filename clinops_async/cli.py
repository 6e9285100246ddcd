"""The ``clinops-async`` command line (its commands live in :mod:`clinops_async._cli`)."""

from __future__ import annotations

from ._cli.app import cli, main

__all__ = ["cli", "main"]
