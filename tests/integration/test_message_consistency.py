"""Every message of every demo scenario agrees with the verdicts (issue 8, item 7).

A message states only what its own evidence shows. Read against the verdicts of the same check:
no finding says a component failed while that component is judged healthy, none says the
apiserver answered while it is down, none claims the cluster is locked unless etcd is down, the
summary names the root cause first, and no message is left with an unfilled placeholder.
"""

from __future__ import annotations

import re
from string import Formatter

import pytest

from cpwatch.judging.diagnosis import Verdict
from cpwatch.findings import CONTROL_PLANE, Component, Status
from cpwatch.telling.headline import summary
from cpwatch.telling.textreport import to_text
from tests.fakecluster import FakeCluster
from tests.scenarios import SCENARIOS, cluster_options

from .conftest import FAST

# Phrases that claim something about a component, and the verdicts under which they may be said.
CLAIMS = [
    (re.compile(r"health endpoints answer", re.I), Component.APISERVER, {"healthy", "degraded"}),
    (re.compile(r"cluster is locked|no object can be changed", re.I), Component.ETCD, {"down"}),
    (re.compile(r"not renewed for", re.I), None, {"down", "unknown"}),
    (re.compile(r"livez and readyz pass", re.I), Component.APISERVER, {"healthy", "degraded"}),
    (re.compile(r"etcd check passes", re.I), Component.ETCD, {"healthy", "degraded", "down"}),
]


@pytest.fixture(scope="module", params=list(SCENARIOS))
def scenario_check(request, tmp_path_factory):
    from .conftest import check

    with FakeCluster(**cluster_options(request.param)) as fc:
        SCENARIOS[request.param](fc)
        diagnosis = check(fc, tmp_path_factory.mktemp(request.param), FAST)
    return request.param, diagnosis


def test_no_failure_finding_under_a_healthy_verdict(scenario_check):
    name, diagnosis = scenario_check
    for component in CONTROL_PLANE:
        verdict = diagnosis.components[component]
        if verdict.verdict is Verdict.HEALTHY:
            # a failure a cause explains (a canary during a failover) says nothing against it
            failing = [o.code for o in verdict.findings if o.status is Status.FAIL and diagnosis.explanation_of(o) is None]
            assert failing == [], f"{name}: {component.value} healthy with failing findings {failing}"


def test_no_success_claimed_for_a_component_that_is_down(scenario_check):
    name, diagnosis = scenario_check
    for component in CONTROL_PLANE:
        verdict = diagnosis.components[component]
        if verdict.verdict is Verdict.DOWN and verdict.consequence_of is None:
            passing = [o.code for o in verdict.findings if o.status is Status.OK
                       and o.code not in ("APISERVER_CERT_OK", "ETCD_CHECK_PASSED", "ETCD_DB_SIZE_OK")]
            if component is Component.ETCD:
                passing = [c for c in passing if c != "ETCD_CHECK_PASSED"]
            assert not (component is Component.APISERVER and passing), f"{name}: apiserver down but {passing}"


def test_claims_in_messages_match_the_verdicts(scenario_check):
    name, diagnosis = scenario_check
    for observation in diagnosis.observations:
        message = observation.message()
        for pattern, component, allowed in CLAIMS:
            if pattern.search(message):
                judged = diagnosis.components.get(component or observation.component)
                if judged is None:
                    continue
                assert judged.verdict.value in allowed, (
                    f"{name}: {observation.code} says {message!r} while {judged.component.value} is {judged.verdict.value}")


def test_messages_are_complete_single_lines(scenario_check):
    name, diagnosis = scenario_check
    for observation in diagnosis.observations:
        assert "\n" not in observation.message(), f"{name}: {observation.code} spans lines"
        wanted = {field for _, field, _, _ in Formatter().parse(observation.kind.template) if field}
        missing = sorted(wanted - set(observation.evidence))
        assert missing == [], f"{name}: {observation.code} lacks evidence for {missing}"


def test_summary_names_the_root_cause_first(scenario_check):
    name, diagnosis = scenario_check
    text = summary(diagnosis)
    if diagnosis.overall is Verdict.HEALTHY:
        assert text.endswith("control plane healthy")
    elif diagnosis.root_cause is Component.EXTENSIONS:  # the webhook's finding, as the headline says it
        assert text.split(": ", 1)[1].startswith(diagnosis.cause_finding().message()), f"{name}: {text}"
    elif diagnosis.root_cause is not None:
        first = text.split(": ", 1)[1]
        assert first.startswith(diagnosis.root_cause.value), f"{name}: {text}"
    assert f"overall {diagnosis.overall.value.upper()}" in to_text(diagnosis).splitlines()[0]


# --- the default report (issue 18): the answer first, on one screen -------------------------

# Scenarios with more than one cause (both leaders down) may take more than one screen.
SEVERAL_CAUSES = frozenset({"both-down"})
SCREEN_LINES = 25
# The default when not on a terminal, the classic terminal, a split pane, the narrowest laid out.
WIDTHS = (100, 80, 60, 40)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_default_report_fits_a_screen_with_one_runbook(scenario_check, width):
    from cpwatch.telling.textreport import Style

    name, diagnosis = scenario_check
    text = to_text(diagnosis, Style(width))
    lines = text.splitlines()
    if name not in SEVERAL_CAUSES:
        assert len(lines) <= SCREEN_LINES, f"{name}: {len(lines)} lines at {width} columns\n{text}"
    assert text.count("what it means:") <= 1, f"{name}: more than one runbook\n{text}"
    # Lines wrap at word boundaries: only a single word longer than the width may stick out.
    assert all(len(line) <= width or " " not in line.strip() for line in lines), text
    # However folded, the report names the root cause's finding and where its runbook is.
    key = diagnosis.cause_finding()
    if key is not None:
        assert key.code in text and ("what it means:" in text or f"explain {key.code}" in " ".join(text.split())), text


def test_could_not_look_findings_of_the_root_cause_carry_no_advice(scenario_check):
    """Under an apiserver or etcd that is down, what cpwatch could not look at is folded into one
    line without advice: the checker's runbook ("check the access entry ...") is not printed."""
    from cpwatch.findings import COMPONENT_RUNBOOKS

    name, diagnosis = scenario_check
    root = diagnosis.root_cause
    if root not in (Component.APISERVER, Component.ETCD) or diagnosis.components[root].verdict is not Verdict.DOWN:
        pytest.skip("the root cause is not one that makes looking impossible")
    text = to_text(diagnosis)
    assert COMPONENT_RUNBOOKS[Component.CHECKER].meaning.split(":")[0] not in text
    unknown = {o.code for o in diagnosis.observations if o.status is Status.UNKNOWN and o.code != "NOT_JUDGED"}
    for code in unknown:
        assert all(line.startswith("  consequence: ") for line in text.splitlines() if code in line), \
            f"{name}: {code} outside the consequence lines\n{text}"


def test_the_headline_is_the_same_in_the_report_the_email_and_the_evidence_pack(scenario_check):
    from datetime import datetime, timezone

    from cpwatch.telling.alerting import Transition, TransitionKind
    from cpwatch.telling.evidencepack import evidence_pack
    from cpwatch.telling.headline import headline
    from cpwatch.identity import ClusterIdentity
    from cpwatch.telling.notification import build_notification
    from cpwatch.telling.report import to_dict

    name, diagnosis = scenario_check
    said = headline(diagnosis)
    flat = lambda text: " ".join(text.split())  # noqa: E731 - wrapped lines joined again
    assert flat(said) in flat(to_text(diagnosis).split("\n\n")[0])
    document = to_dict(diagnosis)
    assert document["headline"] == said
    now = datetime.now(timezone.utc)
    component = (diagnosis.root_cause or Component.APISERVER).value
    cluster = ClusterIdentity("c", "eu-west-1", "123456789012")
    transition = Transition(component, TransitionKind.ALARM, now, now)
    email = build_notification(cluster, transition, document).text
    assert f"Diagnosis: {flat(said)}" in flat(email)
    pack = evidence_pack(cluster, None, transition, 2, document, now)
    assert f"Diagnosis: {flat(said)}" in flat(pack)
