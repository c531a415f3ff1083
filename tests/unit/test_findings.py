from cpwatch.findings import CATALOGUE, Status, observe, Component, runbook_for


def test_every_problem_code_has_a_runbook_with_commands():
    for code, kind in CATALOGUE.items():
        if kind.status is Status.OK or code == "NOT_JUDGED":
            continue
        for component in Component:
            runbook = runbook_for(observe(code, component))
            assert runbook is not None, code
            assert runbook.confirm and runbook.eks and runbook.self_managed, code


def test_unknown_code_is_rejected():
    import pytest

    with pytest.raises(ValueError):
        observe("NO_SUCH_CODE", Component.ETCD)


def test_message_renders_missing_evidence_as_question_mark():
    assert observe("LEADER_LEASE_STALE", Component.SCHEDULER).message() == \
        "leader Lease ? not renewed for ? s (stale after ? s)"
