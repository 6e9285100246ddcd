"""A griffe extension for the API pages: Sphinx roles in docstrings become Markdown.

The docstrings use ``:class:`PipelineStep``` and friends, which ``help()`` and IDEs show as they are.
On the site, a role naming a public class or function becomes a link to its entry; any other role
(``:meth:`execute```, a private helper) becomes inline code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|meth|func|attr|exc|data|mod|obj):`~?([^`]+)`")

#: Documented names and the identifier of their entry on the API pages.
PACKAGE = Path(__file__).resolve().parents[2] / "clinops_async" / "__init__.py"


def _public_names() -> list[str]:
    """``clinops_async.__all__``, read from the source the site is built from (not the installed copy)."""
    for node in ast.parse(PACKAGE.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise RuntimeError(f"no __all__ in {PACKAGE}")


TARGETS = {name: f"clinops_async.{name}" for name in _public_names() if not name.startswith("_")}
TARGETS["ProgressBar"] = "clinops_async.progress.ProgressBar"
TARGETS["icu_windows"] = "clinops_async.synthetic.icu_windows"


def markdown(text: str) -> str:
    """``text`` with every Sphinx role replaced by a Markdown link or inline code."""

    def replace(match: re.Match[str]) -> str:
        target = match.group(1)
        short = target.removeprefix("clinops_async.").removeprefix("orchestrate.")
        if short in TARGETS:
            return f"[`{short}`][{TARGETS[short]}]"
        return f"`{target}`"

    return ROLE.sub(replace, text)


class SphinxRoles(griffe.Extension):
    """Rewrite docstrings as griffe loads them, before they are parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
