"""A Status answer is rendered as its message, on one line, with reason and code in the evidence.

Before: a forbidden health path put the raw JSON Status body (several lines) in the finding's
message, while other probes showed the message.
"""

from __future__ import annotations

import json

import pytest

from tests.fakecluster import FakeCluster
from tests.fakecluster.rbac import RuleRef
from tests.integration.conftest import FAST, check

pytestmark = pytest.mark.network

HEALTH_RULE = RuleRef("ClusterRole", "", "cpwatch-reader", 0)  # nonResourceURLs /livez, /readyz, ...
LEASE_RULE = RuleRef("Role", "kube-system", "cpwatch-leader-leases", 0)


@pytest.mark.parametrize(("rule", "path"), [(HEALTH_RULE, "/livez"),
                                            (LEASE_RULE, "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler")],
                         ids=["health-path", "resource"])
def test_forbidden_is_the_status_message_on_one_line(tmp_path, rule, path):
    with FakeCluster(nodes=1, rbac_drop=[rule]) as fc:
        fc.advance(15)
        diagnosis = check(fc, tmp_path, FAST, read_only=True)
    forbidden = next(o for o in diagnosis.observations if o.code == "CHECKER_FORBIDDEN" and o.evidence["path"] == path)
    message = forbidden.evidence["message"]
    assert message.startswith("forbidden: User \"cpwatch-checker\"") or " is forbidden: User \"cpwatch-checker\"" in message
    assert "\n" not in forbidden.message() and "{" not in forbidden.message() and '"kind"' not in forbidden.message()
    assert forbidden.evidence["reason"] == "Forbidden"
    assert forbidden.evidence["http_status"] == 403
    assert forbidden.message() == f"cpwatch may not GET {path}: {message}"
    json.dumps(dict(forbidden.evidence))  # evidence stays JSON-able
