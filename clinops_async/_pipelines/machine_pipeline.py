"""What a pipeline does with a modelled state machine: load one, render it, draw it.

A pipeline holds either the seed's chain of steps (``add_step``) or a :class:`StateMachine` in
``machine`` (from :meth:`from_definition`, or set to a built one); ``definition()``, ``to_mermaid()``
and ``deploy()`` use whichever it holds, so everything else works the same for both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from .._exceptions import ConfigurationError
from .machine_mermaid import machine_mermaid
from .states import StateMachine, load_definition

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["MachinePipeline"]


class MachinePipeline:
    """The ``machine`` of a pipeline and the calls that load, render and draw it."""

    #: The modelled state machine, when the pipeline was made from one (None: the steps are used).
    machine: StateMachine | None = None
    name: str
    steps: list[Any]

    if TYPE_CHECKING:  # the pipeline's own constructor, as from_definition calls it
        def __init__(self, name: str, role_arn: str, region: str = ..., **options: Any) -> None: ...

    @classmethod
    def from_definition(
        cls, definition: Mapping[str, Any] | str | StateMachine, name: str, role_arn: str,
        region: str = "us-east-1", *, substitutions: Mapping[str, str] | None = None, **options: Any,
    ) -> Self:
        """A pipeline running ``definition``: any state machine, written anywhere.

        The definition (a dict, JSON text such as a ``.asl.json`` file, or a :class:`StateMachine`
        built in Python) is modelled state by state, so ``pipeline.machine`` can be inspected and
        changed (``pipeline.machine = pipeline.machine.with_state(...)``), ``to_mermaid()`` draws
        it and ``deploy()`` deploys it. ``definition()`` renders it back equal to the input, key
        order included; fields the model does not know are carried, never dropped.

        Args:
            definition: The Amazon States Language definition.
            name: The state machine name.
            role_arn: The IAM role Step Functions runs it as.
            region: The AWS region.
            substitutions: Values for the ``${Name}`` placeholders of a definition kept beside a
                CloudFormation or SAM template (its ``DefinitionSubstitutions``).
            **options: The other arguments of the pipeline (``endpoint_url``, ``type``, ...).

        Raises:
            ConfigurationError: The definition is not JSON, or an argument is invalid.
            InvalidDefinitionError: The definition breaks a rule (it names the state); no I/O is done.
        """
        pipeline = cls(name, role_arn, region, **options)
        pipeline.machine = load_definition(definition, substitutions)
        pipeline.machine.definition()
        return pipeline

    def _machine_definition(self) -> dict[str, Any]:
        assert self.machine is not None
        if not isinstance(self.machine, StateMachine):
            raise ConfigurationError(f"pipeline {self.name!r}: machine must be a StateMachine; got "
                                     f"{type(self.machine).__name__}")
        if self.steps:
            raise ConfigurationError(f"pipeline {self.name!r} holds both a state machine and add_step() "
                                     "steps; add the steps to the machine as states instead")
        return self.machine.definition()

    def _machine_mermaid(self) -> str:
        assert self.machine is not None
        return machine_mermaid(self.name, self.machine)
