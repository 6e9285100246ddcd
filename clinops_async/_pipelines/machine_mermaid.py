"""A Mermaid flowchart of any state machine: every state, Choice rules, catches, loops and fan-out.

The seed's straight-line pipelines keep their own picture (:mod:`.mermaid`); this one draws the graph
of a modelled machine, so a Choice's rules are labelled edges, a loop is an edge back, a catch is a
dotted edge, and Parallel branches and Map item processors are subgraphs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .mermaid import _escape, _resource_label
from .states import Choice, Fail, Map, Parallel, Pass, Scope, State, Succeed, Task, Transition, Wait

if TYPE_CHECKING:
    from .states import StateMachine

__all__ = ["machine_mermaid"]

_SHAPES = {Choice: ("{", "}"), Wait: ("(", ")"), Pass: ("(", ")"), Succeed: ("([", "])"),
           Fail: ("[[", "]]"), Parallel: ("{{", "}}"), Map: ("{{", "}}")}


def _details(state: State) -> list[str]:
    if isinstance(state, Task):
        details = [_resource_label(state.resource) if state.resource.count(":") >= 5 else state.resource]
        errors = [error for retrier in state.retriers or () for error in retrier.error_equals]
        if errors:
            details.append("retry on " + ", ".join(errors[:2]) + (", ..." if len(errors) > 2 else ""))
        return details
    if isinstance(state, Wait):
        shown = next(v for v in (state.seconds, state.timestamp, state.seconds_path,
                                 state.timestamp_path, "") if v is not None)
        return [f"wait {shown}{' s' if isinstance(state.seconds, int) else ''}"]
    if isinstance(state, Fail):
        return [f"fail {state.error or state.error_path or ''}".rstrip()]
    if isinstance(state, Map):
        config = state.item_processor.processor_config if state.item_processor else None
        mode = (config.mode if config and config.mode else "INLINE").lower()
        details = [f"map · {mode}"]
        reader = state.item_reader
        if reader is not None and reader.parameters:
            where = "/".join(str(v) for k, v in reader.parameters.items() if k.split(".")[0] in
                             ("Bucket", "Prefix", "Key"))
            kind = reader.reader_config.input_type if reader.reader_config else None
            details.append(f"items: s3://{where}" + (f" ({kind})" if kind else ""))
        elif state.items_path is not None:
            details.append(f"items: {state.items_path}")
        return details
    if isinstance(state, Parallel):
        return [f"parallel · {len(state.branches)} branches"]
    return [state.type_name.lower()]


class _Picture:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.edges: list[str] = []
        self.failed: list[str] = []
        self._count = 0

    def new_id(self) -> str:
        self._count += 1
        return f"s{self._count}"

    def scope(self, scope: Scope, indent: str, end: str) -> str:
        """Draw ``scope``; its ends lead to ``end``; return the id of its first state."""
        ids = {state.name: self.new_id() for state in scope.states}
        for state in scope.states:
            node = ids[state.name]
            opening, closing = _SHAPES.get(type(state), ("[", "]"))
            label = "<b>" + _escape(state.name) + "</b><br/>" + "<br/>".join(map(_escape, _details(state)))
            self.lines.append(f'{indent}{node}{opening}"{label}"{closing}')
            exit_ = self.fan_out(state, node, indent)
            if isinstance(state, Fail):
                self.failed.append(node)
            elif isinstance(state, Succeed) or (isinstance(state, Transition) and state.end):
                self.edges.append(f"{exit_} --> {end}")
            for label, target in state.targets():
                if target not in ids:
                    continue
                source = node if label.startswith("catch") or isinstance(state, Choice) else exit_
                if label.startswith("catch "):
                    self.edges.append(f'{node} -. "{_escape(label)}" .-> {ids[target]}')
                elif label:
                    self.edges.append(f'{source} -- "{_escape(label)}" --> {ids[target]}')
                else:
                    self.edges.append(f"{source} --> {ids[target]}")
        return ids[scope.start_at] if scope.start_at in ids else end

    def fan_out(self, state: State, node: str, indent: str) -> str:
        """Draw the branches or item processor of ``state``; return the node its way out leaves from."""
        if isinstance(state, Parallel):
            scopes = list(state.branches)
            titles = [f"branch {index + 1}" for index in range(len(scopes))]
        elif isinstance(state, Map) and (state.item_processor or state.iterator) is not None:
            processor = state.item_processor or state.iterator
            assert processor is not None
            scopes, titles = [processor], ["each item"]
        else:
            return node
        join = self.new_id()
        for scope, title in zip(scopes, titles, strict=True):
            box = self.new_id()
            self.lines.append(f'{indent}subgraph {box} ["{title}"]')
            first = self.scope(scope, indent + "    ", join)
            self.lines.append(f"{indent}end")
            self.edges.append(f"{node} --> {first}")
        self.lines.append(f'{indent}{join}(("{"join" if isinstance(state, Parallel) else "collect"}"))')
        return join


def machine_mermaid(name: str, machine: StateMachine) -> str:
    """Mermaid ``flowchart`` source of ``machine`` (which should already be valid)."""
    picture = _Picture()
    picture.lines.append("flowchart TD")
    picture.lines.append(f'    start(["{_escape(name)}"])')
    picture.lines.append('    finish(["End"])')
    first = picture.scope(machine, "    ", "finish")
    picture.lines.append(f"    start --> {first}")
    picture.lines.extend("    " + edge for edge in picture.edges)
    if picture.failed:
        picture.lines.append("    classDef failed fill:#fdd,stroke:#c00")
        picture.lines.append(f"    class {','.join(picture.failed)} failed")
    return "\n".join(picture.lines) + "\n"
