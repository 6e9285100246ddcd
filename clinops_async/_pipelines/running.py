"""Running beyond start-and-poll: synchronous Express runs, redrive, and history page by page.

- ``StartSyncExecution`` runs an Express workflow and answers with its result (up to 5 minutes),
  on the ``sync-`` endpoint of Step Functions.
- ``RedriveExecution`` restarts a failed, aborted or timed-out Standard execution from the states
  that did not succeed (within 14 days of its end); the execution keeps its ARN.
- ``GetExecutionHistory`` pages oldest first, or newest first with ``reverseOrder``; the iterator
  reads one page at a time and stops at ``limit``, so the last events of a long execution cost one
  request.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigurationError
from .errors import call, translate
from .results import ExecutionResult, execution_result

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from types_aiobotocore_stepfunctions.client import SFNClient

__all__ = ["EXPRESS_HISTORY_HINT", "check_not_express", "iter_execution_history", "redrive_execution",
           "start_sync_execution"]

#: Events per history page: the most AWS sends at once.
HISTORY_PAGE = 1000

EXPRESS_HISTORY_HINT = (
    "Step Functions keeps no history of Express executions to describe: use run_sync() to get the "
    "result, or read the execution's events from the CloudWatch Logs group in the pipeline's "
    "LoggingConfig (level='ALL', include_execution_data=True)"
)


def check_not_express(arn: str, what: str) -> None:
    """Refuse (before any call) an asynchronous Express execution ARN, which AWS cannot describe."""
    if ":express:" in arn:
        raise ConfigurationError(f"{what} {arn}: {EXPRESS_HISTORY_HINT}")


async def start_sync_execution(client: SFNClient, machine: str, name: str, payload: str) -> ExecutionResult:
    """Run Express machine ``machine`` with ``payload`` and return how it ended."""
    what = f"run execution {name!r} of {machine} synchronously"
    data = await call(client.start_sync_execution(stateMachineArn=machine, name=name, input=payload), what)
    return execution_result(data, str(data["executionArn"]), name, machine)


async def redrive_execution(client: SFNClient, arn: str, client_token: str | None) -> None:
    """Redrive execution ``arn``; the token makes a retried request redrive it once only."""
    token = client_token or uuid.uuid4().hex
    await call(client.redrive_execution(executionArn=arn, clientToken=token), f"redrive {arn}")


async def iter_execution_history(client: SFNClient, arn: str, *, reverse: bool, limit: int | None,
                                 include_data: bool) -> AsyncIterator[dict[str, Any]]:
    """The events of execution ``arn``, oldest first (newest first with ``reverse``), at most ``limit``."""
    page_size = HISTORY_PAGE if limit is None else min(limit, HISTORY_PAGE)
    sent = 0
    query: dict[str, Any] = {"executionArn": arn, "reverseOrder": reverse, "maxResults": page_size,
                             "includeExecutionData": include_data}
    while True:
        try:
            page = await client.get_execution_history(**query)
        except Exception as exc:
            raise translate(exc, f"read the history of {arn}") from exc
        for event in page.get("events", ()):
            yield dict(event)
            sent += 1
            if limit is not None and sent >= limit:
                return
        token = page.get("nextToken")
        if not token:
            return
        query["nextToken"] = token
