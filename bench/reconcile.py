"""Fleet in one stack (issue 9): discovery's reconcile at 1,002 clusters, the checker's IAM policy
size at 1,000 listed clusters, minutes from blind to page, the function artifact's size.

- Reconcile: 167 clusters in each of 3 regions of the stack's account and of a member account
  (through the role infra/aws/member-account.yaml declares) on moto in server mode; the
  reconcile's own code (cpwatch.entry.reconcile.reconcile_fleet) with real boto3 clients over HTTP,
  every API call counted. First reconcile (every schedule created), a steady one (nothing to
  do), one after 30 clusters were added and 20 deleted. moto answers in about a millisecond;
  on AWS each call takes longer, so the call counts are the figures that carry over.
- IAM: characters of the checker role's policies (JSON without whitespace, as IAM counts them
  against its 10,240-character limit for a role's inline policies) in template.yaml expanded for
  1,000 listed clusters, next to the same count for the template this branch started from (git
  merge-base HEAD main: one eks:DescribeCluster policy per cluster).
- Blind to page: the function's EMF documents of blind runs (cpwatch.telling.metrics over a blind
  diagnosis from cpwatch.judging.check, as the pipeline writes them) fed to the template's Blind alarm
  (tests/aws/alarm_rule.py), plus one minute for CloudWatch to turn EMF into metrics and evaluate.
- Artifact: the unzipped size of .aws-sam/build/CheckerFunction (du's apparent size, as `make
  package` reports it) when `make package` built it; otherwise not reported. The reconcile
  function ships the same CodeUri.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from .common import REPO, Figures

PER_PARTITION = 167
LIMIT_INLINE_CHARS = 10_240  # IAM: all inline policies of one role together
ARTIFACT = REPO / ".aws-sam" / "build" / "CheckerFunction"


def run(figures: Figures, per_partition: int = PER_PARTITION) -> None:
    _reconcile(figures, per_partition)
    _iam(figures)
    _blind_to_page(figures)
    _artifact(figures)


def _reconcile(figures: Figures, per_partition: int) -> None:
    import pytest

    from cpwatch.entry import reconcile
    from cpwatch.aws.role_chain import CredentialsCache, assumed_session
    from cpwatch.settings import fleet_settings_from_env
    from tests.aws.fleet import CallCounter, fleet_environment, make_fleet
    from tests.aws.moto_server import ACCOUNT_ID, aws_clients, fake_aws_environment, start_moto_server

    server, endpoint = start_moto_server()
    patch = pytest.MonkeyPatch()
    try:
        fake_aws_environment(patch, endpoint)
        aws = aws_clients(endpoint)
        fleet = make_fleet(aws, per_partition)
        total = 6 * per_partition
        settings = fleet_settings_from_env(fleet_environment())
        counter = CallCounter()
        sts = counter.watch(aws.client("sts"))
        cache = CredentialsCache()

        def eks_for(partition):
            if partition.role_arn is None:
                return counter.watch(aws.client("eks", partition.region))
            session = assumed_session(partition.role_arn, partition.external_id, "cpwatch-reconcile", sts,
                                      region=partition.region, cache=cache)
            return counter.watch(aws.client("eks", partition.region, session=session))

        scheduler = counter.watch(aws.client("scheduler"))
        print(f"  {total} clusters over 3 regions x 2 accounts on moto", flush=True)
        for label in ("first (creates every schedule)", "steady (nothing changed)"):
            started = time.monotonic()
            outcomes = reconcile.reconcile_fleet(settings, eks_for, scheduler)
            seconds = time.monotonic() - started
            assert all(o.error is None for o in outcomes), outcomes
            calls = counter.reset()
            figures.add(f"reconcile {total} clusters, {label}: time", seconds, "s")
            figures.add(f"reconcile {total} clusters, {label}: AWS calls", sum(calls.values()), "calls",
                        **{f"calls_{k}": v for k, v in sorted(calls.items())})
        fleet.add(ACCOUNT_ID, "us-east-1", [f"bench-new-{i}" for i in range(30)])
        fleet.remove(ACCOUNT_ID, "eu-west-1", fleet.clusters[(ACCOUNT_ID, "eu-west-1")][:20])
        started = time.monotonic()
        outcomes = reconcile.reconcile_fleet(settings, eks_for, scheduler)
        seconds = time.monotonic() - started
        calls = counter.reset()
        created = sum(o.counts.created for o in outcomes)
        deleted = sum(o.counts.deleted for o in outcomes)
        figures.add(f"reconcile after +30/-20 clusters: time ({created} created, {deleted} deleted)", seconds, "s")
        figures.add("reconcile after +30/-20 clusters: AWS calls", sum(calls.values()), "calls",
                    **{f"calls_{k}": v for k, v in sorted(calls.items())})
    finally:
        patch.undo()
        server.stop()


def _policy_chars(template: dict) -> int:
    """Characters of the checker role's inline policies, wherever they are attached from."""
    total = 0
    for name, resource in template["Resources"].items():
        if name == "CheckerRole":
            for policy in resource["Properties"].get("Policies", []):
                total += len(json.dumps(policy["PolicyDocument"], separators=(",", ":")))
        elif resource.get("Type") == "AWS::IAM::Policy" and {"Ref": "CheckerRole"} in resource["Properties"]["Roles"]:
            total += len(json.dumps(resource["Properties"]["PolicyDocument"], separators=(",", ":")))
    return total


def _expanded(template_path: Path, clusters: int) -> dict:
    import copy

    import cfnlint.decode
    from cfnlint.template import Template
    from cfnlint.template.transforms.transform import Transform

    decoded, matches = cfnlint.decode.decode(str(template_path))
    assert not matches, matches
    template = copy.deepcopy(decoded)
    template["Parameters"]["ClusterNames"]["Default"] = ",".join(f"cluster-{i:04d}" for i in range(clusters))
    cfn = Template(str(template_path), template, ["eu-west-1"])
    Transform().transform(cfn)
    return json.loads(json.dumps(cfn.template))


def _iam(figures: Figures) -> None:
    now = _policy_chars(_expanded(REPO / "template.yaml", 1000))
    figures.add("checker role policies at 1,000 listed clusters (now)", now, "chars",
                target=f"<= {LIMIT_INLINE_CHARS:,} (IAM inline limit)", met=now <= LIMIT_INLINE_CHARS)
    one = _policy_chars(_expanded(REPO / "template.yaml", 1))
    figures.add("checker role policies at 1 listed cluster (now)", one, "chars")
    before_path = REPO / "build" / "template-main.yaml"
    try:
        base = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=REPO, capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
        text = subprocess.run(["git", "show", f"{base}:template.yaml"], cwd=REPO, capture_output=True, text=True,
                              check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return
    before_path.parent.mkdir(exist_ok=True)
    before_path.write_text(text)
    if "DescribeClusterPolicy&{ClusterName}" not in text:
        return  # the branch point has no per-cluster policy to compare with
    before = _policy_chars(_expanded(before_path, 1000))
    figures.add("checker role policies at 1,000 listed clusters (before: a policy per cluster)", before, "chars")


def _blind_to_page(figures: Figures) -> None:
    from datetime import datetime, timezone

    from cpwatch.judging.check import blind_diagnosis
    from cpwatch.findings import Component, observe
    from cpwatch.telling.metrics import run_metric_documents
    from cpwatch.telling.report import to_dict
    from tests.aws.alarm_rule import AlarmRule
    from tests.template.cfn import expand

    from cpwatch.identity import ClusterIdentity
    from tests.template.cfn import PSEUDO, REGION

    template = expand({"ClusterNames": "prod-a"})
    rule = AlarmRule.from_template("BlindAlarmproda", template["Resources"]["BlindAlarmproda"]["Properties"])
    cluster = ClusterIdentity("prod-a", REGION, PSEUDO["AWS::AccountId"])  # as the template's alarm keys it
    blind = to_dict(blind_diagnosis("prod-a", (observe("CHECKER_AWS_DENIED", Component.APISERVER,
                                                       operation="eks:DescribeCluster", detail="AccessDenied"),)))
    blind["checked_at"] = datetime.now(timezone.utc).isoformat()
    minutes = [run_metric_documents(cluster, blind, 0) for _ in range(10)]
    (page,) = rule.pages(minutes)[""]
    figures.add("blind to page (3 blind runs + 1 min CloudWatch delay)", page + 1 + 1, "min", target="<= 5",
                met=page + 2 <= 5)


def _artifact(figures: Figures) -> None:
    if not ARTIFACT.is_dir():
        print("  artifact: not built (make package), not reported", flush=True)
        return
    # Measured as `make package` does: du's apparent size of the build directory.
    du = subprocess.run(["du", "-s", "--apparent-size", "-B1", str(ARTIFACT)], capture_output=True, text=True,
                        check=True, timeout=60)
    size = int(du.stdout.split()[0])
    figures.add("function artifact, unzipped (make package)", size / 1e6, "MB", target="<= 100", met=size / 1e6 <= 100)
