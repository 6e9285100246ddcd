"""The command line as the CLI tests call it: in-process, with the environment a user would set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from click.testing import CliRunner

from clinops_async._cli.app import cli

if TYPE_CHECKING:
    from click.testing import Result

__all__ = ["CLI_SECRET", "invoke"]

#: The secret access key of the CLI tests' environment: no command may print it, at any log level.
CLI_SECRET = "cli-test-secret-value-0123456789"


def invoke(env: dict[str, str], *args: str) -> Result:
    """``clinops-async ARGS`` in this process, with exactly ``env`` as its environment."""
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)
