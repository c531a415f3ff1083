"""The function's own AWS account: the account of scheduled targets that name no role (identity.py).

Called by handler.py: each invocation tells it the invoked function's ARN (the Lambda context's
invoked_function_arn, arn:aws:lambda:<region>:<account>:function:<name>), which needs no call.
Outside Lambda (tests, the demo, bench) nothing tells it, and it asks sts:GetCallerIdentity once
(no IAM permission is needed for it) and remembers the answer.
"""

from __future__ import annotations

import threading
from typing import Callable

from ..identity import account_of_function
from .call_errors import AWS_CALL_ERRORS, aws_error


class HomeAccount:
    def __init__(self, sts_client: Callable[[], object]):
        self._sts_client = sts_client
        self._account: str | None = None
        self._lock = threading.Lock()

    def learn(self, function_arn: str | None) -> None:
        account = account_of_function(function_arn)
        if account:
            self._account = account

    def __call__(self) -> str:
        with self._lock:
            if self._account is None:
                client = self._sts_client()
                try:
                    self._account = str(client.get_caller_identity()["Account"])
                except AWS_CALL_ERRORS as error:
                    raise aws_error(error, "sts", "GetCallerIdentity", "the function's own account") from None
            return self._account
