"""Fixtures of the fault, overlap, secrets and soak tests: a whole deployment driven through the
real Lambda handler (tests/aws/deployment.py), and readers of what a run wrote to stdout (the
Powertools JSON log lines and the EMF metric documents)."""

from __future__ import annotations

import json

import pytest

from tests.aws.deployment import deploy


@pytest.fixture
def deployment(aws_env, monkeypatch):
    """A healthy cluster prod-a checked through its EKS token, with simulated time advanced so
    that every leader and kubelet has renewed. A canary not answered within 1.5 s counts as not
    observed (the fake's controllers react within milliseconds), so a look at a cluster with a
    stopped component takes about 1.5 s."""
    # The matrix asserts what each fault makes cpwatch report, publish and store in one run, so
    # "cannot see" alarms on the first blind run here; test_one_message_per_event.py tests the
    # default of three blind runs in a row.
    with deploy(aws_env, monkeypatch, env={"CPWATCH_CANARY_WAIT_S": "1.5", "CPWATCH_CHECKER_ALARM_AFTER_RUNS": "1"}) as d:
        d.fc.advance(15)
        yield d


def stdout_documents(text: str) -> list[dict]:
    documents = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                documents.append(json.loads(line))
            except ValueError:
                continue
    return documents


def emf_documents(text: str) -> list[dict]:
    """The EMF metric documents of the captured stdout."""
    return [d for d in stdout_documents(text) if "_aws" in d]


def heartbeats(text: str) -> list[dict]:
    """The [Cluster] EMF documents (ComponentsDown, the dead-man's switch input), one per run."""
    return [d for d in emf_documents(text) if "ComponentsDown" in d]


def log_lines(text: str, level: str | None = None) -> list[dict]:
    """The Powertools JSON log lines of the captured stdout."""
    return [d for d in stdout_documents(text) if "level" in d and (level is None or d["level"] == level)]


def metric(document: dict, name: str) -> float:
    """A metric's value in an EMF document (Powertools writes a one-element list)."""
    value = document[name]
    return value[0] if isinstance(value, list) else value
