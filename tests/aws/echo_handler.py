"""Trivial handlers for testing tests/lambda_runtime.py through the real awslambdaric."""


def handler(event, context):
    return {"echo": event, "remaining_ms": context.get_remaining_time_in_millis(),
            "request_id": context.aws_request_id, "function_arn": context.invoked_function_arn}


def fail(event, context):
    raise ValueError("echo handler failed on purpose")
