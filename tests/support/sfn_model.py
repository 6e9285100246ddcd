"""Where no local server implements a Step Functions API: check the request against botocore's model.

:func:`answer_from_model` hooks the pipeline's own aiobotocore client (botocore's event system, the
mechanism its ``Stubber`` uses): the request is built and validated by botocore as for AWS, captured
as it would go on the wire, and answered with a response that is itself validated against the
operation's output shape. Nothing of the library is replaced; only the HTTP exchange is skipped.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from botocore.validate import ParamValidator

__all__ = ["answer_from_model"]


def answer_from_model(client: Any, operation: str, response: dict[str, Any]) -> list[dict[str, Any]]:
    """Answer each ``operation`` call of ``client`` with ``response``; the list collects the requests sent.

    Raises:
        AssertionError: ``response`` does not fit the operation's output shape.
    """
    model = client.meta.service_model.operation_model(operation)
    report = ParamValidator().validate(response, model.output_shape)
    assert not report.has_errors(), report.generate_report()
    sent: list[dict[str, Any]] = []

    def answer(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        body = params.get("body") or b"{}"
        sent.append(json.loads(body.decode() if isinstance(body, bytes) else body))
        return SimpleNamespace(status_code=200, headers={}), dict(response)

    client.meta.events.register(f"before-call.sfn.{operation}", answer)
    return sent
