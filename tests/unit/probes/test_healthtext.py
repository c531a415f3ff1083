import json
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from cpwatch.probes.healthtext import parse_health_text

RECORDINGS = Path(__file__).parents[2] / "data" / "real-control-plane"


def recorded(scenario: str, key: str) -> str:
    return json.loads((RECORDINGS / f"{scenario}.json").read_text())["responses"][key]["body"]


def test_recorded_healthy_livez_has_no_failed_check_and_a_passed_trailer():
    report = parse_health_text(recorded("healthy", "livez_verbose"))
    assert report.failed == ()
    assert report.passed_trailer is True
    assert "etcd" in report.checks and "ping" in report.checks


@pytest.mark.parametrize("key", ["livez_verbose", "readyz_verbose", "healthz"])
def test_recorded_quorum_loss_fails_exactly_the_etcd_check(key):
    report = parse_health_text(recorded("etcd-quorum-lost", key))
    assert report.failed == ("etcd",)
    assert report.passed_trailer is False


def test_plain_ok_has_no_checks():
    report = parse_health_text("ok")
    assert report.checks == () and report.failed == () and report.passed_trailer is None


@given(st.text())
def test_any_text_parses_without_error_and_failed_is_subset_of_checks(text):
    report = parse_health_text(text)
    assert set(report.failed) <= set(report.checks)
