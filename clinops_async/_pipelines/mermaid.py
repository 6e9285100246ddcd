"""A Mermaid flowchart of a pipeline: its steps, retries, catches and fan-out, for docs and notebooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .steps import FailStep, MapStep, ParallelStep, PassStep, PipelineStep, RetryAndCatch, Step, WaitStep

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["pipeline_mermaid"]


def _escape(text: str) -> str:
    return (text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;").replace("\n", " "))


def _resource_label(resource: str) -> str:
    parts = resource.split(":")
    if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
        return "λ " + ":".join(parts[6:])
    if parts[2:5] == ["states", "", ""]:
        return ":".join(parts[5:])
    return resource


def _retry_label(step: RetryAndCatch) -> str | None:
    if step.retry_attempts == 0:
        return "no retry" if isinstance(step, PipelineStep) else None
    errors = list(step.retry_on)
    if all(e.startswith("Lambda.") for e in errors):
        shown = "Lambda service errors"
    else:
        shown = ", ".join(errors[:3]) + (", ..." if len(errors) > 3 else "")
    return f"retry ×{step.retry_attempts} on {shown}"


class _Drawing:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ids: dict[str, str] = {}
        self.catches: list[tuple[str, Sequence[str], str]] = []
        self.failed: list[str] = []
        self._count = 0

    def node_id(self, name: str | None = None) -> str:
        self._count += 1
        node = f"n{self._count}"
        if name is not None:
            self.ids[name] = node
        return node

    def node(self, indent: str, node: str, title: str, details: list[str], shape: str = "[ ]") -> None:
        label = f"<b>{_escape(title)}</b>"
        if details:
            label += "<br/>" + "<br/>".join(_escape(d) for d in details)
        opening, closing = shape.split(" ")
        self.lines.append(f'{indent}{node}{opening}"{label}"{closing}')

    def chain(self, steps: Sequence[Step], indent: str) -> tuple[str, str | None]:
        """Draw ``steps`` one after the other; return the first node and the last exit (None: Fail)."""
        first: str | None = None
        previous: str | None = None
        for step in steps:
            entry, exit_ = self.step(step, indent)
            if previous is not None:
                self.lines.append(f"{indent}{previous} --> {entry}")
            first = first or entry
            previous = exit_
        assert first is not None
        return first, previous

    def step(self, step: Step, indent: str) -> tuple[str, str | None]:
        node = self.node_id(step.name)
        if isinstance(step, PipelineStep):
            details = [_resource_label(step.resource), f"timeout {step.timeout_seconds} s"]
            retry = _retry_label(step)
            if retry:
                details.append(retry)
            self.node(indent, node, step.name, details)
        elif isinstance(step, WaitStep):
            self.node(indent, node, step.name, [f"wait {step.seconds} s"], "( )")
        elif isinstance(step, PassStep):
            self.node(indent, node, step.name, ["pass"], "( )")
        elif isinstance(step, FailStep):
            self.node(indent, node, step.name, [f"fail {step.error}".rstrip()], "[[ ]]")
            self.failed.append(node)
            return node, None
        elif isinstance(step, ParallelStep):
            return self.parallel(step, node, indent)
        else:
            return self.map(step, node, indent)
        self._catch(step, node)
        return node, node

    def _catch(self, step: Step, node: str) -> None:
        if isinstance(step, RetryAndCatch) and step.catch is not None:
            self.catches.append((node, step.catch_on, step.catch))

    def parallel(self, step: ParallelStep, node: str, indent: str) -> tuple[str, str | None]:
        details = [f"parallel · {len(step.branches)} branches"]
        retry = _retry_label(step)
        if retry:
            details.append(retry)
        self.node(indent, node, step.name, details, "{{ }}")
        join = self.node_id()
        for index, branch in enumerate(step.branches):
            self.lines.append(f'{indent}subgraph {node}b{index} ["branch {index + 1}"]')
            first, last = self.chain(branch, indent + "    ")
            self.lines.append(f"{indent}end")
            self.lines.append(f"{indent}{node} --> {first}")
            if last is not None:
                self.lines.append(f"{indent}{last} --> {join}")
        self.lines.append(f'{indent}{join}(("join"))')
        self._catch(step, node)
        return node, join

    def map(self, step: MapStep, node: str, indent: str) -> tuple[str, str | None]:
        details = [f"map · {(step.mode or 'INLINE').lower()}"]
        if step.items_from is not None:
            bucket, prefix = step.items_from.bucket, step.items_from.prefix
            details.append(f"items: s3://{bucket}/{prefix}")
        elif step.items_path is not None:
            details.append(f"items: {step.items_path}")
        cap = step.max_concurrency
        details.append(f"max {cap} at once" if cap else "no concurrency cap")
        if step.tolerated_failure_percentage is not None:
            details.append(f"tolerates {step.tolerated_failure_percentage:g}% failed")
        if step.tolerated_failure_count is not None:
            details.append(f"tolerates {step.tolerated_failure_count} failed")
        retry = _retry_label(step)
        if retry:
            details.append(retry)
        self.node(indent, node, step.name, details, "{{ }}")
        join = self.node_id()
        self.lines.append(f'{indent}subgraph {node}items ["each item"]')
        first, last = self.chain(step.steps, indent + "    ")
        self.lines.append(f"{indent}end")
        self.lines.append(f'{indent}{node} -- "each item" --> {first}')
        if last is not None:
            self.lines.append(f"{indent}{last} --> {join}")
        self.lines.append(f'{indent}{join}(("collect"))')
        self._catch(step, node)
        return node, join


def pipeline_mermaid(name: str, steps: Sequence[Step], handlers: Sequence[Sequence[Step]]) -> str:
    """Mermaid ``flowchart`` source of a pipeline (steps must already be valid)."""
    drawing = _Drawing()
    drawing.lines.append("flowchart TD")
    drawing.lines.append(f'    start(["{_escape(name)}"])')
    if not steps:
        drawing.lines.append('    start --> finish(["End"])')
        return "\n".join(drawing.lines) + "\n"
    first, last = drawing.chain(steps, "    ")
    drawing.lines.append(f"    start --> {first}")
    if last is not None:
        drawing.lines.append(f'    {last} --> finish(["End"])')
    if handlers:
        drawing.lines.append('    subgraph handlers ["on failure"]')
        ends = [drawing.chain(handler, "        ")[1] for handler in handlers]
        drawing.lines.append("    end")
        drawing.lines.extend(f'    {end} --> finish(["End"])' for end in ends if end is not None)
    for source, errors, target in drawing.catches:
        label = _escape("catch " + ", ".join(errors))
        drawing.lines.append(f'    {source} -. "{label}" .-> {drawing.ids.get(target, target)}')
    if drawing.failed:
        drawing.lines.append("    classDef failed fill:#fdd,stroke:#c00")
        drawing.lines.append(f"    class {','.join(drawing.failed)} failed")
    return "\n".join(drawing.lines) + "\n"
