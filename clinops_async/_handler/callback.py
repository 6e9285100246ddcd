"""A container task's answer to Step Functions: ``SendTaskSuccess`` or ``SendTaskFailure`` with its token.

An ECS task run with ``.waitForTaskToken`` has no return value; it reports back with the token
Step Functions gave it (``$$.Task.Token``, passed in the environment). The error name sent on
failure is the exception's class name, as Lambda reports it, so the same Retry and Catch match.
"""

from __future__ import annotations

import json
import os
from contextlib import AsyncExitStack
from typing import Any

from .._aws import open_client
from .._pipelines.errors import call, translate

__all__ = ["TOKEN_VARIABLE", "send_task_result"]

#: The environment variable holding the task token (set from ``$$.Task.Token`` in the state).
TOKEN_VARIABLE = "CLINOPS_TASK_TOKEN"


async def send_task_result(token: str, *, output: Any = None, error: BaseException | None = None) -> None:
    """Report ``output`` (success) or ``error`` (failure) for the task holding ``token``.

    The region is the task's (``AWS_REGION``, set by ECS); the endpoint and credentials are
    botocore's usual chain (the task role).
    """
    from botocore.config import Config

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = Config(region_name=region, retries={"mode": "standard", "total_max_attempts": 5})
    async with AsyncExitStack() as stack:
        try:
            client = await open_client(stack, "stepfunctions", profile=None, region=region, endpoint_url=None,
                                       config=config)
        except Exception as exc:
            raise translate(exc, "open a Step Functions client to report the task") from exc
        if error is None:
            await call(client.send_task_success(taskToken=token, output=json.dumps(output)), "report the task")
        else:
            await call(client.send_task_failure(taskToken=token, error=type(error).__name__[:256],
                                                cause=str(error)[:32768]), "report the task failure")
