"""The context object Lambda passes to a handler, for calling the handler in-process.

Only what Powertools and cpwatch's handler read; the deadline is on the monotonic clock.
(tests/lambda_runtime.py runs the handler through the real runtime interface client instead.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class LambdaContext:
    deadline: float
    function_name: str = "cpwatch-checker"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:cpwatch-checker"
    aws_request_id: str = "req-1"

    @classmethod
    def with_remaining(cls, seconds: float) -> LambdaContext:
        return cls(time.monotonic() + seconds)

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)
