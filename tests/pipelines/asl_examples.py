"""State machine definitions written by hand for the round-trip tests: the shapes real machines take.

Each is our own equivalent of a pattern the AWS documentation shows (a Choice on an order, a polling
loop, a callback with a task token, a JSONata machine with variables, Distributed Maps over every
kind of item source), written for these tests, with synthetic names and values.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXAMPLES"]

ACCOUNT = "123456789012"
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function"

ROUTE_SAMPLES: dict[str, Any] = {
    "Comment": "Route lab samples by their kind and age",
    "StartAt": "Classify",
    "TimeoutSeconds": 3600,
    "Version": "1.0",
    "States": {
        "Classify": {
            "Type": "Choice",
            "Comment": "the first rule that holds wins",
            "Choices": [
                {"Variable": "$.sample.kind", "StringEquals": "blood", "Next": "Centrifuge"},
                {"And": [{"Variable": "$.sample.age_hours", "NumericGreaterThan": 48},
                         {"Not": {"Variable": "$.sample.frozen", "BooleanEquals": True}}],
                 "Next": "Discard"},
                {"Or": [{"Variable": "$.sample.kind", "StringMatches": "urine*"},
                        {"Variable": "$.sample.priority", "IsPresent": True}],
                 "Next": "Queue"},
                {"Variable": "$.sample.collected", "TimestampLessThanEquals": "2026-01-01T00:00:00Z",
                 "Next": "Discard"},
                {"Variable": "$.sample.volume", "NumericLessThanPath": "$.limits.min_volume",
                 "Next": "Discard"},
            ],
            "Default": "Queue",
        },
        "Centrifuge": {
            "Type": "Task",
            "Resource": f"{FN}:centrifuge",
            "InputPath": "$.sample",
            "Parameters": {"id.$": "$.id", "rpm": 3000},
            "ResultSelector": {"spun.$": "$.Payload.spun"},
            "ResultPath": "$.centrifuge",
            "OutputPath": "$",
            "TimeoutSeconds": 300,
            "HeartbeatSeconds": 60,
            "Retry": [
                {"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1,
                 "MaxAttempts": 5, "BackoffRate": 2.0, "MaxDelaySeconds": 30, "JitterStrategy": "FULL"},
                {"ErrorEquals": ["States.Timeout"], "MaxAttempts": 1},
            ],
            "Catch": [
                {"ErrorEquals": ["CentrifugeJammed"], "ResultPath": "$.error", "Next": "Queue"},
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Broken"},
            ],
            "Next": "Done",
        },
        "Queue": {"Type": "Wait", "SecondsPath": "$.queue_seconds", "Next": "Done"},
        "Discard": {"Type": "Pass", "Result": {"discarded": True}, "ResultPath": "$.outcome",
                    "Next": "Done"},
        "Broken": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        "Done": {"Type": "Succeed", "OutputPath": "$.sample"},
    },
}

POLL_EXPORT: dict[str, Any] = {
    "StartAt": "StartExport",
    "States": {
        "StartExport": {"Type": "Task", "Resource": f"{FN}:start-export", "ResultPath": "$.job",
                        "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 30, "Next": "CheckExport"},
        "CheckExport": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": f"{FN}:check-export", "Payload.$": "$.job"},
                        "ResultSelector": {"status.$": "$.Payload.status"}, "ResultPath": "$.check",
                        "Next": "Finished?"},
        "Finished?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.check.status", "StringEquals": "DONE", "Next": "Exported"},
                {"Variable": "$.check.status", "StringEquals": "FAILED", "Next": "ExportFailed"},
            ],
            "Default": "Pause",
        },
        "ExportFailed": {"Type": "Fail", "Error": "ExportFailed", "Cause": "the export job failed"},
        "Exported": {"Type": "Succeed"},
    },
}

CALLBACK_REVIEW: dict[str, Any] = {
    "Comment": "Wait for a reviewer, with a token",
    "StartAt": "AskReviewer",
    "States": {
        "AskReviewer": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/reviews",
                           "MessageBody": {"token.$": "$$.Task.Token", "study.$": "$.study"}},
            "TimeoutSecondsPath": "$.review_timeout",
            "HeartbeatSecondsPath": "$.heartbeat",
            "Credentials": {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/ReviewQueue"},
            "Next": "ReviewUntil",
        },
        "ReviewUntil": {"Type": "Wait", "Timestamp": "2026-06-30T17:00:00Z", "Next": "Parallel checks"},
        "Parallel checks": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Audit", "States": {"Audit": {"Type": "Task", "Resource": f"{FN}:audit",
                                                          "End": True}}},
                {"StartAt": "Notify", "States": {
                    "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                               "Parameters": {"TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:reviews",
                                              "Message.$": "States.Format('study {} reviewed', $.study)"},
                               "Next": "Noted"},
                    "Noted": {"Type": "Pass", "End": True},
                }},
            ],
            "ResultPath": "$.checks",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Escalate"}],
            "End": True,
        },
        "Escalate": {"Type": "Wait", "TimestampPath": "$.escalate_at", "End": True},
    },
}

JSONATA_TOTALS: dict[str, Any] = {
    "Comment": "JSONata everywhere, with variables",
    "QueryLanguage": "JSONata",
    "StartAt": "Load",
    "States": {
        "Load": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Arguments": {"FunctionName": f"{FN}:load", "Payload": "{% $states.input %}"},
            "Output": "{% $states.result.Payload %}",
            "Assign": {"count": "{% $count($states.result.Payload.rows) %}"},
            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
            "Next": "Enough?",
        },
        "Enough?": {
            "Type": "Choice",
            "Choices": [{"Condition": "{% $count >= 10 %}", "Next": "Sum",
                         "Assign": {"enough": True}}],
            "Default": "TooFew",
        },
        "Sum": {
            "Type": "Map",
            "Items": "{% $states.input.rows %}",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Double",
                              "States": {"Double": {"Type": "Pass",
                                                    "Output": "{% $states.input * 2 %}", "End": True}}},
            "Output": "{% $sum($states.result) %}",
            "Next": "Hold",
        },
        "Hold": {"Type": "Wait", "Seconds": "{% $count %}", "Next": "Done"},
        "TooFew": {"Type": "Fail", "Error": "TooFew", "Cause": "{% 'only ' & $string($count) & ' rows' %}"},
        "Done": {"Type": "Succeed", "Output": {"total": "{% $states.input %}"}},
    },
}

MIXED_LANGUAGES: dict[str, Any] = {
    "StartAt": "Shape",
    "States": {
        "Shape": {"Type": "Pass", "Parameters": {"n.$": "$.n"}, "Next": "Check"},
        "Check": {"Type": "Choice", "QueryLanguage": "JSONata",
                  "Choices": [{"Condition": "{% $states.input.n > 3 %}", "Next": "Big"}],
                  "Default": "Small"},
        "Big": {"Type": "Succeed"},
        "Small": {"Type": "Succeed"},
    },
}

DISTRIBUTED_CSV: dict[str, Any] = {
    "StartAt": "EachRow",
    "States": {
        "EachRow": {
            "Type": "Map",
            "Label": "rows",
            "ItemReader": {
                "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "GIVEN",
                                 "CSVHeaders": ["subject", "visit", "value"], "MaxItems": 1000},
                "Parameters": {"Bucket": "clinops-synthetic", "Key": "exports/visits.csv"},
            },
            "ItemBatcher": {"MaxItemsPerBatch": 50, "MaxInputBytesPerBatch": 65536,
                            "BatchInput": {"study": "S-001"}},
            "ItemSelector": {"row.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
            "MaxConcurrency": 100,
            "ToleratedFailurePercentage": 5,
            "ToleratedFailureCount": 10,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                "StartAt": "Score",
                "States": {"Score": {"Type": "Task", "Resource": f"{FN}:score", "End": True}},
            },
            "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                             "Parameters": {"Bucket": "clinops-synthetic", "Prefix": "results/"},
                             "WriterConfig": {"OutputType": "JSONL", "Transformation": "COMPACT"}},
            "ResultPath": "$.scored",
            "End": True,
        },
    },
}


def _distributed(reader: dict[str, Any]) -> dict[str, Any]:
    return {
        "StartAt": "Each",
        "States": {"Each": {
            "Type": "Map", "ItemReader": reader,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                              "StartAt": "Work", "States": {"Work": {"Type": "Pass", "End": True}}},
            "End": True,
        }},
    }


LEGACY_ITERATOR: dict[str, Any] = {
    "StartAt": "EachVisit",
    "States": {
        "EachVisit": {
            "Type": "Map",
            "ItemsPath": "$.visits",
            "Parameters": {"visit.$": "$$.Map.Item.Value", "study.$": "$.study"},
            "MaxConcurrency": 0,
            "Iterator": {"StartAt": "Check", "States": {"Check": {"Type": "Pass", "End": True}}},
            "ResultPath": None,
            "End": True,
        },
    },
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "route samples": ROUTE_SAMPLES,
    "poll an export": POLL_EXPORT,
    "callback review": CALLBACK_REVIEW,
    "jsonata totals": JSONATA_TOTALS,
    "mixed languages": MIXED_LANGUAGES,
    "distributed csv": DISTRIBUTED_CSV,
    "distributed prefix": _distributed({
        "Resource": "arn:aws:states:::s3:listObjectsV2",
        "Parameters": {"Bucket.$": "$.bucket", "Prefix.$": "$.prefix"},
        "ReaderConfig": {"MaxItems": 500}}),
    "distributed json": _distributed({
        "Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": "clinops-synthetic", "Key": "cohorts/cohort.json"}}),
    "distributed jsonl": _distributed({
        "Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSONL"},
        "Parameters": {"Bucket": "clinops-synthetic", "Key": "events/2026-01.jsonl"}}),
    "distributed manifest": _distributed({
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "MANIFEST", "MaxItems": 100},
        "Parameters": {"Bucket": "clinops-inventory", "Key": "daily/2026-01-31T01-00Z/manifest.json"}}),
    "legacy iterator": LEGACY_ITERATOR,
}

ASSORTED: dict[str, Any] = {
    "Comment": "Études cliniques — a bit of everything",
    "StartAt": "Provision",
    "States": {
        "Provision": {
            "Type": "Task",
            "Resource": "arn:aws:states:::ecs:runTask.sync",
            "Parameters": {"Cluster": "clinops", "TaskDefinition": "etl:3", "LaunchType": "FARGATE"},
            "Assign": {"runId.$": "$$.Execution.Name"},
            "Retry": [{"ErrorEquals": ["ECS.AmazonECSException"], "IntervalSeconds": 10, "MaxAttempts": 2,
                       "BackoffRate": 1.5}],
            "Next": "Fan out",
        },
        "Fan out": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Child run", "States": {"Child run": {
                    "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                    "Parameters": {"StateMachineArn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:child",
                                   "Input": {"run.$": "$$.Execution.Id"}},
                    "End": True}}},
                {"StartAt": "Tally", "States": {"Tally": {
                    "Type": "Pass", "QueryLanguage": "JSONata",
                    "Output": {"n": "{% $count($states.input) %}"}, "End": True}}},
            ],
            "Retry": [{"ErrorEquals": ["States.BranchFailed"], "MaxAttempts": 1}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Ré-essayer ?"}],
            "ResultSelector": {"child.$": "$[0]", "tally.$": "$[1]"},
            "Next": "Ré-essayer ?",
        },
        "Ré-essayer ?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.failure", "IsPresent": False, "Next": "Fini"},
                {"Variable": "$.attempt", "NumericLessThanEquals": 2.5, "Next": "Provision",
                 "Comment": "at most three tries"},
            ],
            "Default": "Abandon",
        },
        "Abandon": {"Type": "Fail", "Error": "GaveUp"},
        "Fini": {"Type": "Succeed"},
    },
}

EXAMPLES["assorted"] = ASSORTED
