"""etcd's database size against its space quota, from the apiserver's /metrics.

When the database reaches --quota-backend-bytes (etcd's default 2 GiB; 8 GiB on EKS) etcd raises
the NOSPACE alarm and refuses every write, so the size is a warning long before the cluster
locks. The apiserver reports the size per etcd endpoint or storage cluster, under a name that
changed over releases: etcd_db_total_size_in_bytes (to 1.25), then
apiserver_storage_db_total_size_in_bytes, then apiserver_storage_size_bytes (1.28 and later).
/metrics is large (hundreds of KB), so the registry runs this probe once every
metrics_interval_s, not every run; only the lines of those metrics are parsed, with
prometheus_client's parser (prometheus_text.py).
"""

from __future__ import annotations

from ..errors import BadResponseError
from ..findings import Component, Observation, observe
from .context import ProbeContext
from .prometheus_text import metric_families

SIZE_METRICS = ("apiserver_storage_size_bytes", "apiserver_storage_db_total_size_in_bytes",
                "etcd_db_total_size_in_bytes")
_EKS_VERSION_MARK = "-eks-"


def probe(ctx: ProbeContext) -> list[Observation]:
    response = ctx.api.request("GET", "/metrics", accept="text/plain", compressed=True)
    metric, size = _largest_size(response.text())
    if metric is None:
        return [observe("PROBE_FAILED", Component.ETCD, probe="etcd_db_size",
                        detail=f"/metrics has none of {', '.join(SIZE_METRICS)}")]
    quota = _quota_bytes(ctx)
    percent = round(100 * size / quota, 1)
    evidence = dict(size=human_bytes(size), quota=human_bytes(quota), percent=percent, metric=metric,
                    size_bytes=int(size), quota_bytes=int(quota), metrics_bytes=len(response.body))
    # metrics_bytes: the exposition's size once decompressed; what crossed the wire is in the run's stats.
    if percent >= ctx.settings.etcd_db_warn_percent:
        return [observe("ETCD_DB_NEAR_QUOTA", Component.ETCD, warn_percent=ctx.settings.etcd_db_warn_percent,
                        **evidence)]
    return [observe("ETCD_DB_SIZE_OK", Component.ETCD, **evidence)]


def _largest_size(text: str) -> tuple[str | None, float]:
    """The largest size reported by any etcd endpoint, of the newest metric name present."""
    wanted = [line for line in text.splitlines() if line.startswith(SIZE_METRICS)
              or line.startswith(tuple(f"# TYPE {name} " for name in SIZE_METRICS))]
    sizes: dict[str, float] = {}
    try:
        for family in metric_families("\n".join(wanted) + "\n"):
            for sample in family.samples:
                if sample.name in SIZE_METRICS and sample.value == sample.value:  # not NaN
                    sizes[sample.name] = max(sizes.get(sample.name, 0.0), sample.value)
    except ValueError as error:
        raise BadResponseError("GET", "/metrics", f"not Prometheus text: {str(error)[:120]}") from None
    for name in SIZE_METRICS:
        if name in sizes:
            return name, sizes[name]
    return None, 0.0


def _quota_bytes(ctx: ProbeContext) -> float:
    """EKS runs etcd with an 8 GiB quota; its gitVersion reads like v1.30.4-eks-a737599."""
    version = ctx.api.get_json("/version")
    on_eks = _EKS_VERSION_MARK in str(version.get("gitVersion"))
    return ctx.settings.eks_etcd_quota_bytes if on_eks else ctx.settings.etcd_quota_bytes


def human_bytes(size: float) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{int(size)} B"
