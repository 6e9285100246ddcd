"""MkDocs hooks: serve mermaid from the site itself, so the pipeline pictures draw without a network.

Material loads mermaid from a CDN unless a ``mermaid`` script is already on the page. When the
project's Node tools are installed (``make tools``, ``.tools/``), their copy is added to the site and
the pictures draw offline; without them the build still works and the pictures use the CDN.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MERMAID = ROOT / ".tools" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
TARGET = "assets/javascripts/mermaid.min.js"


def on_config(config: Any) -> Any:
    if MERMAID.is_file() and TARGET not in config.extra_javascript:
        config.extra_javascript.append(TARGET)
    return config


def on_post_build(config: Any) -> None:
    if MERMAID.is_file():
        target = Path(config.site_dir) / TARGET
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(MERMAID, target)
