"""Which runbook a finding links to (findings.runbook_for), one row per branch.

A probe that could not look because something else refused its write links to the runbook of
what refused (the webhook, etcd's quota, etcd itself), not to "cpwatch cannot see"; a member-level
etcd warning links to the member runbook, not to "etcd down".
"""

from __future__ import annotations

import pytest

from cpwatch.findings import Component, observe, runbook_for

A, E, K, S, X, C = (Component.APISERVER, Component.ETCD, Component.CONTROLLER_MANAGER, Component.SCHEDULER,
                    Component.EXTENSIONS, Component.CHECKER)

ROWS = [
    # (code, component, evidence, runbook title or None)
    ("LEADER_LEASE_FRESH", S, {}, None),                                       # OK: no runbook
    ("APISERVER_CERT_INVALID", A, {}, "apiserver serving certificate expired or not yet valid"),
    ("PROBE_BLOCKED", K, {"cause": "webhook-unreachable"}, "admission webhook failing closed"),
    ("PROBE_BLOCKED", K, {"cause": "webhook-intercepts"}, "admission webhook failing closed"),
    ("PROBE_BLOCKED", E, {"cause": "webhook-denied"}, "cpwatch cannot see"),
    ("PROBE_BLOCKED", E, {"cause": "policy-denied"}, "cpwatch cannot see"),
    ("PROBE_BLOCKED", E, {"cause": "etcd-nospace"}, "etcd at its space quota (NOSPACE alarm)"),
    ("PROBE_BLOCKED", S, {"cause": "storage"}, "etcd down (quorum lost or unreachable)"),
    ("PROBE_BLOCKED", S, {"cause": "no-answer"}, "cpwatch cannot see"),            # not a refusal
    ("PROBE_BLOCKED", S, {}, "cpwatch cannot see"),
    ("PROBE_NO_ANSWER", E, {"cause": "storage"}, "cpwatch cannot see"),           # cause read only when blocked
    ("COMPONENTSTATUS_UNHEALTHY", E, {}, "etcd member unhealthy, quorum held"),
    ("STATIC_POD_NOT_READY", E, {}, "etcd member unhealthy, quorum held"),
    ("STATIC_POD_NOT_READY", S, {}, "kube-scheduler down"),
    ("COMPONENTSTATUS_UNHEALTHY", K, {}, "kube-controller-manager down"),
    ("LEADER_LEASE_STALE", K, {}, "kube-controller-manager down"),
    ("LEADER_LEASE_STALE", S, {}, "kube-scheduler down"),
    ("NODE_NOT_READY", Component.NODE, {}, "node problem"),
    # a failing EKS metrics endpoint is evidence about its component, not about cpwatch's sight
    ("EKS_METRICS_FAILING", K, {}, "kube-controller-manager down"),
    ("EKS_METRICS_FAILING", S, {}, "kube-scheduler down"),
    ("EKS_METRICS_NOT_SERVED", K, {}, None),
    ("CONTROLLER_WORKER_HUNG", K, {}, "controller stuck while kube-controller-manager runs"),
    ("CONTROLLER_QUEUE_NOT_DRAINING", K, {}, "controller stuck while kube-controller-manager runs"),
    ("SCHEDULER_NOT_ATTEMPTING", S, {}, "kube-scheduler down"),
]


@pytest.mark.parametrize(("code", "component", "evidence", "title"), ROWS,
                         ids=[f"{r[0]}-{r[1].value}-{r[2].get('cause', '')}" for r in ROWS])
def test_runbook_for(code, component, evidence, title):
    runbook = runbook_for(observe(code, component, **evidence))
    assert (runbook.title if runbook else None) == title


def test_an_unknown_code_is_named_in_the_error():
    with pytest.raises(ValueError, match="unknown finding code NO_SUCH_CODE"):
        observe("NO_SUCH_CODE", E)
