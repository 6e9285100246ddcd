"""The real local servers the tests run against: the library's own launchers, plus the repo root."""

from __future__ import annotations

from pathlib import Path

from clinops_async.testing import (
    Server,
    free_port,
    moto_reset,
    start_fake_gcs,
    start_gcs_emulator,
    start_moto,
    start_seaweedfs,
    wait_http,
)

__all__ = [
    "ROOT", "Server", "free_port", "moto_reset", "start_fake_gcs", "start_gcs_emulator", "start_moto",
    "start_seaweedfs", "wait_http",
]

ROOT = Path(__file__).resolve().parents[2]
