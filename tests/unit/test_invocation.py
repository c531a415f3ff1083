import json
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from cpwatch.entry.invocation import EventError, Target, parse_event

EVENTS = Path(__file__).parents[2] / "events"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_one_cluster_sample():
    invocation = parse_event(load("one-cluster.json"))
    assert invocation.targets == (Target("prod-a", "eu-west-1"),)
    assert invocation.execution_id == "5c9e2f1a-7f3b-4c1e-9a51-3f6a2b8d9e01"


def test_several_clusters_sample_keeps_per_target_read_only():
    targets = parse_event(load("several-clusters.json")).targets
    assert [t.cluster for t in targets] == ["prod-a", "prod-b", "staging"]
    assert [t.read_only for t in targets] == [None, True, None]


def test_cross_account_sample_and_external_id_stays_out_of_repr():
    target = parse_event(load("cross-account.json")).targets[0]
    assert target.role_arn == "arn:aws:iam::210987654321:role/cpwatch-checker"
    assert target.external_id == "cpwatch-payments-7f3b"
    assert "cpwatch-payments-7f3b" not in repr(target)


def test_eventbridge_default_uses_default_targets_and_event_id():
    defaults = (Target("prod-a", "eu-west-1"),)
    invocation = parse_event(load("eventbridge-default.json"), default_targets=defaults)
    assert invocation.targets == defaults
    assert invocation.execution_id == "3f0a8c1e-6b2d-4e9a-b7c5-0d1e2f3a4b5c"


def test_bad_input_sample_is_rejected_naming_the_field():
    with pytest.raises(EventError, match=r"targets\[0\]\.cluster"):
        parse_event(load("bad-input.json"))


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "event must be a JSON object, got list"),
        ({}, 'event has no "targets" and no default targets are configured (CPWATCH_TARGETS)'),
        ({"targets": []}, '"targets" must be a non-empty list'),
        ({"targets": ["prod"]}, "targets[0] must be an object, got str"),
        ({"targets": [{"cluster": "a", "region": "eu-west-1", "colour": "red"}]}, "targets[0] has unknown field(s): colour"),
        ({"targets": [{"cluster": "a"}]}, "targets[0].region must look like eu-west-1, got None"),
        ({"targets": [{"cluster": "a", "region": "eu-west-1", "role_arn": "admin"}]}, "targets[0].role_arn must be an IAM role ARN, got 'admin'"),
        ({"targets": [{"cluster": "a", "region": "eu-west-1", "external_id": "xyz"}]}, "targets[0].external_id needs role_arn"),
        ({"targets": [{"cluster": "a", "region": "eu-west-1", "read_only": "yes"}]}, "targets[0].read_only must be true or false, got 'yes'"),
        ({"targets": [{"cluster": "a", "region": "eu-west-1"}] * 2}, '"targets" lists the same cluster twice'),
        ({"detail": "{not json"}, 'event "detail" is a string but not JSON'),
        ({"targets": [{"cluster": "a", "region": "eu-west-1"}], "execution_id": 7}, '"execution_id" must be a string of 1 to 256 characters'),
    ],
)
def test_each_mistake_has_its_message(event, message):
    with pytest.raises(EventError) as raised:
        parse_event(event)
    assert str(raised.value) == message


def test_default_region_applies():
    assert parse_event({"targets": [{"cluster": "a"}]}, default_region="us-east-1").targets[0].region == "us-east-1"


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
                    max_leaves=20))
def test_any_json_value_is_parsed_or_rejected_cleanly(value):
    try:
        invocation = parse_event(value)
    except EventError as error:
        assert str(error)
    else:
        assert invocation.targets
