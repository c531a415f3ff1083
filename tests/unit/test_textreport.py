"""The text report's own rules (issue 18): wrapping, cutting, colour, `cpwatch explain`."""

from __future__ import annotations

import pytest

from cpwatch.judging.check import _diagnosis
from cpwatch.entry.cli import main, terminal_style
from cpwatch.findings import CATALOGUE, Component, observe
from cpwatch.runbooks import CONTROLLER_MANAGER
from cpwatch.telling.textreport import (DEFAULT_WIDTH, FOOTER, SCREEN_LINES, Style, cut_at_word, explain_text,
                                        runbook_lines, to_text)

K = Component.CONTROLLER_MANAGER


def kcm_down(*others):
    observations = (*others, observe("APISERVER_LIVE", Component.APISERVER), observe("ETCD_CHECK_PASSED", Component.ETCD),
                    observe("LEADER_LEASE_STALE", K, lease="kube-system/kube-controller-manager", age_s=150,
                            threshold_s=55), observe("LEADER_LEASE_FRESH", Component.SCHEDULER),
                    observe("DEPLOYMENT_CANARY_NOT_OBSERVED", K, object="cpwatch/cpwatch-canary", generation=2,
                            observed=1, wait_s=10, leader_renewed=False))
    return _diagnosis("prod", observations, __import__("datetime").datetime(2026, 12, 7), 1.0, False, {}, 0, 0)


def test_a_cut_ends_at_a_word_with_an_ellipsis():
    assert cut_at_word("leader Lease renewed 0 s ago by control-plane_abc", 30) == "leader Lease renewed 0 s ago…"
    assert cut_at_word("short", 30) == "short"


@pytest.mark.parametrize("width", [60, 80, 100, 140])
def test_every_line_wraps_within_the_width(width):
    text = to_text(kcm_down(), Style(width))
    assert all(len(line) <= width or " " not in line.strip() for line in text.splitlines()), text


def test_colour_marks_verdicts_only_when_asked():
    plain, coloured = to_text(kcm_down(), Style()), to_text(kcm_down(), Style(colour=True))
    assert "\033[" not in plain
    assert "\033[1;31mDOWN\033[0m" in coloured and "\033[32mHEALTHY\033[0m" in coloured
    assert coloured.replace("\033[1;31m", "").replace("\033[32m", "").replace("\033[0m", "") == plain


def test_piped_output_is_100_columns_without_colour(capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "")
    style = terminal_style()  # pytest's stdout is not a terminal
    assert (style.width, style.colour) == (DEFAULT_WIDTH, False)


def test_the_root_cause_runbook_is_printed_once_and_its_key_finding_leads():
    text = to_text(kcm_down())
    assert text.splitlines()[1].startswith("controller-manager down: leader Lease kube-system/kube-controller-manager")
    assert text.count("what it means:") == 1 and CONTROLLER_MANAGER.meaning.split(":")[0] in text


def test_verbose_lists_every_finding_with_its_evidence():
    text = to_text(kcm_down(), verbose=True)
    for code in ("APISERVER_LIVE", "LEADER_LEASE_STALE", "DEPLOYMENT_CANARY_NOT_OBSERVED", "LEADER_LEASE_FRESH"):
        assert code in text
    assert "evidence: lease=kube-system/kube-controller-manager, age_s=150" in text


def test_explain_prints_the_catalogue_runbook(capsys):
    assert main(["explain", "leader_lease_stale"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("LEADER_LEASE_STALE (fail)") and CONTROLLER_MANAGER.self_managed.split(";")[0] in out
    assert out == explain_text("LEADER_LEASE_STALE", terminal_style())


def test_explain_of_an_unknown_code_names_the_closest(capsys):
    assert main(["explain", "LEADER_LEASE_STAL"]) == 64
    assert "did you mean LEADER_LEASE_STALE" in capsys.readouterr().err


def test_explain_knows_every_code():
    for code in CATALOGUE:
        assert explain_text(code).startswith(code)


OTHER_PROBLEMS = (
    observe("APISERVER_CERT_EXPIRING", Component.APISERVER, not_after="2026-12-19", days_left=12, warn_days=14),
    observe("ETCD_DB_NEAR_QUOTA", Component.ETCD, size="1.8 GiB", percent=90.0, quota="2.0 GiB", warn_percent=80.0,
            metric="apiserver_storage_size_bytes"),
    observe("NODE_LEASES_EXPIRED", Component.NODE, count=1, leases=3, oldest_s=150, status_reported=0),
    observe("CHECKER_CLOCK_SKEW", Component.CHECKER, offset_s=90),
    observe("APISERVER_THROTTLED", Component.APISERVER, count=3, priority_level="workload-low", gave_up=0),
)


def test_a_report_that_fits_a_screen_keeps_its_whole_runbook():
    text = to_text(kcm_down(), Style(DEFAULT_WIDTH))
    assert len(text.splitlines()) <= SCREEN_LINES
    assert CONTROLLER_MANAGER.confirm[0] in text and CONTROLLER_MANAGER.confirm[1] in text
    assert " ".join(runbook_lines(CONTROLLER_MANAGER, Style(DEFAULT_WIDTH), "  ", 2)) in " ".join(text.splitlines())
    assert text.splitlines()[-1] == FOOTER


def test_other_problems_fold_to_their_codes_before_the_runbook_is_cut():
    text = to_text(kcm_down(*OTHER_PROBLEMS), Style(DEFAULT_WIDTH))
    lines = text.splitlines()
    assert len(lines) <= SCREEN_LINES, text
    assert CONTROLLER_MANAGER.self_managed.split()[-1] in text and "…" not in "".join(
        runbook_lines(CONTROLLER_MANAGER, Style(DEFAULT_WIDTH), "  ", 1))
    assert " ".join(runbook_lines(CONTROLLER_MANAGER, Style(DEFAULT_WIDTH), "  ", 1)) in " ".join(lines)
    named_only = [line for line in lines if line.startswith(("other problems (", "  and "))]
    assert named_only and "CHECKER_CLOCK_SKEW" in named_only[-1], text  # its message left to --verbose


@pytest.mark.parametrize("width", [40, 60])
def test_a_report_longer_than_a_screen_folds_until_it_fits(width):
    style = Style(width)
    unfolded = len(runbook_lines(CONTROLLER_MANAGER, style, "  ", 2)) + len(OTHER_PROBLEMS) + 12
    assert unfolded > SCREEN_LINES  # the case folds
    text = to_text(kcm_down(*OTHER_PROBLEMS), style)
    assert len(text.splitlines()) <= SCREEN_LINES, text
    # what is cut is named: the key finding, and where its whole runbook is
    assert "LEADER_LEASE_STALE" in text and "cpwatch explain LEADER_LEASE_STALE" in " ".join(text.split())
