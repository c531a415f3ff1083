"""What each verdict carries besides verdict and confidence: the component it speaks for, every
finding of that component as its evidence, and, when not judged, a note naming the root cause.

The report and the alert render these (report.py, the SNS message): a verdict filed under the
wrong component or without its findings would page about the right thing with no evidence.
Same rows as test_diagnosis_rules.py, which pins verdicts and confidences.
"""

from __future__ import annotations

import pytest

from cpwatch.judging.diagnosis import Verdict, diagnose
from cpwatch.findings import CONTROL_PLANE, Component

from .test_diagnosis_rules import ROWS


@pytest.mark.parametrize(("name", "observations"), [r[:2] for r in ROWS], ids=[r[0] for r in ROWS])
def test_every_verdict_names_its_component_and_keeps_all_its_findings(name, observations):
    verdicts = diagnose(observations)
    for component in CONTROL_PLANE:
        verdict = verdicts[component]
        assert verdict.component is component
        own = [o for o in observations if o.component is component]
        judged = [o for o in verdict.findings if o.code != "NOT_JUDGED"]
        assert sorted(judged, key=repr) == sorted(own, key=repr)
        assert all(o.component is component for o in verdict.findings)


@pytest.mark.parametrize(("name", "observations"), [r[:2] for r in ROWS], ids=[r[0] for r in ROWS])
def test_a_component_not_judged_carries_a_note_naming_the_root_cause(name, observations):
    verdicts = diagnose(observations)
    for component, verdict in verdicts.items():
        notes = [o for o in verdict.findings if o.code == "NOT_JUDGED"]
        if verdict.consequence_of is None:
            assert notes == []
            continue
        [note] = notes
        assert verdict.verdict is Verdict.UNKNOWN
        assert note.evidence["root_cause"] == verdict.consequence_of.value
        # the rendered note says why, in terms of the component that caused it
        assert verdict.consequence_of.value in note.message()


def test_apiserver_down_leaves_the_others_with_the_apiserver_as_cause():
    verdicts = diagnose([o for r in ROWS if r[0].startswith("apiserver unreachable") for o in r[1]])
    assert {c: v.consequence_of for c, v in verdicts.items()} == {
        Component.APISERVER: None, Component.ETCD: Component.APISERVER,
        Component.CONTROLLER_MANAGER: Component.APISERVER, Component.SCHEDULER: Component.APISERVER}
