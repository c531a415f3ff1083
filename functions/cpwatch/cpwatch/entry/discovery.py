"""Fleet discovery: which EKS clusters of one account and region cpwatch should check.

Called by reconcile.py once per (account, region) of the fleet, with an EKS client holding that
account's credentials (the stack's own, or a member account's role). Paginated ListClusters,
then DescribeCluster per cluster for its tags and status (DescribeCluster carries the tags, so no
ListTagsForResource call is needed). Errors: the AwsError family (errors.py), mapped once by
aws/call_errors.aws_error; a failed listing is reported for its (account, region) and nothing of that
partition is deleted (reconcile.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..aws.call_errors import AWS_CALL_ERRORS, aws_error
from ..aws.eks_cluster import SERVING_STATUSES
from ..errors import AwsNotFoundError
from .invocation import Target

# EKS answers at most 100 names per ListClusters page.
LIST_PAGE_SIZE = 100
# DescribeCluster calls in flight per partition (boto3 clients are thread-safe).
DESCRIBE_CONCURRENCY = 8
OPT_IN_VALUE = "true"
OPT_OUT_VALUE = "false"


@dataclass(frozen=True)
class TagRule:
    """Opt in or out by one tag. opt_in: only clusters tagged `<key>=true`; otherwise every
    cluster except those tagged `<key>=false` (values compared without case)."""

    key: str = "cpwatch"
    opt_in: bool = False

    def selects(self, tags: dict[str, str]) -> bool:
        value = str(tags.get(self.key, "")).strip().lower()
        if self.opt_in:
            return value == OPT_IN_VALUE
        return value != OPT_OUT_VALUE


@dataclass(frozen=True)
class Partition:
    """Where clusters are discovered: an account (through `role_arn`, or the stack's own when
    None) and one of its regions."""

    account: str
    region: str
    role_arn: str | None = None
    external_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.account}-{self.region}"

    def __repr__(self) -> str:  # the external id is the trust policy's shared secret
        return f"Partition(account={self.account!r}, region={self.region!r}, role_arn={self.role_arn!r})"


def list_cluster_names(eks_client, page_size: int = LIST_PAGE_SIZE) -> list[str]:
    """Every cluster name of the client's account and region (all pages of ListClusters)."""
    names: list[str] = []
    kwargs: dict = {"maxResults": page_size}
    while True:
        try:
            page = eks_client.list_clusters(**kwargs)
        except AWS_CALL_ERRORS as error:
            raise aws_error(error, "eks", "ListClusters", eks_client.meta.region_name) from None
        names += page.get("clusters") or []
        token = page.get("nextToken")
        if not token:
            return names
        kwargs["nextToken"] = token


def discover(eks_client, partition: Partition, rule: TagRule) -> tuple[Target, ...]:
    """The clusters of `partition` to check: serving (ACTIVE or UPDATING) and selected by `rule`.

    A cluster still CREATING, or already DELETING, is left out: its checks would only report
    that EKS serves no endpoint (a blind page for a lifecycle step). A cluster deleted between
    ListClusters and DescribeCluster is skipped.
    """
    def selected(name: str) -> Target | None:
        try:
            cluster = eks_client.describe_cluster(name=name)["cluster"]
        except AWS_CALL_ERRORS as error:
            mapped = aws_error(error, "eks", "DescribeCluster", name)
            if isinstance(mapped, AwsNotFoundError):
                return None
            raise mapped from None
        if cluster.get("status") not in SERVING_STATUSES or not rule.selects(cluster.get("tags") or {}):
            return None
        return Target(cluster=name, region=partition.region, role_arn=partition.role_arn,
                      external_id=partition.external_id)

    names = list_cluster_names(eks_client)
    with ThreadPoolExecutor(max_workers=DESCRIBE_CONCURRENCY, thread_name_prefix="describe") as pool:
        return tuple(t for t in pool.map(selected, names) if t is not None)
