"""GET /metrics: the apiserver's Prometheus text exposition, with the etcd database size.

Who calls it: the API layer (a nonResourceURL, so RBAC needs `nonResourceURLs: ["/metrics"]`).
The size series is the one of the simulated Kubernetes version (k8s.io/apiserver
pkg/storage/etcd3/metrics/metrics.go):
- up to 1.25: `etcd_db_total_size_in_bytes{endpoint="<etcd client URL>"}`, one per member;
- 1.26 and 1.27: `apiserver_storage_db_total_size_in_bytes{endpoint=...}`, one per member
  (1.28 still shows it, deprecated; later versions hide it);
- 1.28 and 1.29: `apiserver_storage_size_bytes{cluster="etcd-0"}`; from 1.30, STABLE,
  `apiserver_storage_size_bytes{storage_cluster_id="etcd-0"}`: one series per storage backend,
  the size one member reports (the real monitor asks a random member; the fake the first).
The rest is the usual bulk of a small cluster's apiserver metrics (request counters and
latency/size histograms per resource and verb, etcd latency, stored object counts, Go and
process metrics), deterministic, about 600 KB, so that a checker pays a realistic price.
promhttp gzips the answer when the client accepts it; so does the fake.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from typing import Iterable, Mapping, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SIZE_METRICS = ("apiserver_storage_size_bytes", "etcd_db_total_size_in_bytes",
                "apiserver_storage_db_total_size_in_bytes")
# A plausible database for a small, young cluster (etcd files grow in 4 KiB pages).
DEFAULT_DB_SIZE = 4096 * 1200

_LATENCY_BUCKETS = ("0.005", "0.025", "0.05", "0.1", "0.2", "0.4", "0.6", "0.8", "1", "1.25", "1.5", "2", "3", "4",
                    "5", "6", "8", "10", "15", "20", "30", "45", "60")
_SIZE_BUCKETS = ("1000", "10000", "100000", "1e+06", "1e+07", "1e+08", "1e+09")
_VERBS = ("GET", "LIST", "WATCH", "POST", "PATCH", "DELETE")


def minor_version(version: Mapping[str, str]) -> int:
    """The minor version of a /version answer (gitVersion when minor is empty, as in dev builds)."""
    minor = re.sub(r"\D", "", version.get("minor") or "")
    if minor:
        return int(minor)
    match = re.match(r"v?\d+\.(\d+)", version.get("gitVersion") or "")
    if not match:
        raise ValueError(f"cannot tell the Kubernetes minor version from {dict(version)!r}")
    return int(match.group(1))


def default_size_metric(minor: int) -> str:
    if minor <= 25:
        return "etcd_db_total_size_in_bytes"
    if minor <= 27:
        return "apiserver_storage_db_total_size_in_bytes"
    return "apiserver_storage_size_bytes"


def size_lines(metric: str, sizes: Sequence[int], endpoints: Sequence[str], minor: int) -> list[str]:
    if metric == "apiserver_storage_size_bytes":
        stable = minor >= 30
        label = "storage_cluster_id" if stable else "cluster"
        return [f"# HELP {metric} [{'STABLE' if stable else 'ALPHA'}] Size of the storage database file physically "
                "allocated in bytes.",
                f"# TYPE {metric} gauge",
                f'{metric}{{{label}="etcd-0"}} {sizes[0]}']
    if metric == "etcd_db_total_size_in_bytes":
        help_text = "[ALPHA] Total size of the etcd database file physically allocated in bytes."
    elif metric == "apiserver_storage_db_total_size_in_bytes":
        deprecated = "(Deprecated since 1.28.0) " if minor >= 28 else ""
        help_text = f"[ALPHA] {deprecated}Total size of the storage database file physically allocated in bytes."
    else:
        raise ValueError(f"size metric must be one of {', '.join(SIZE_METRICS)}, not {metric!r}")
    return [f"# HELP {metric} {help_text}", f"# TYPE {metric} gauge",
            *(f'{metric}{{endpoint="{endpoint}"}} {size}' for endpoint, size in zip(endpoints, sizes))]


def render(metric: str | None, sizes: Sequence[int], endpoints: Sequence[str], minor: int,
           resources: Iterable[tuple[str, str, str, bool]], object_counts: Mapping[str, int]) -> bytes:
    """The whole exposition. resources: (group, version, plural, namespaced) served; metric None:
    no database size series (disabled)."""
    resources = sorted(resources)
    families: list[list[str]] = [
        _request_total(resources),
        _histogram("apiserver_request_duration_seconds", "[STABLE] Response latency distribution in seconds for "
                   "each verb, dry run value, group, version, resource, subresource, scope and component.",
                   _LATENCY_BUCKETS, _request_labels(resources)),
        _histogram("apiserver_response_sizes", "[STABLE] Response size distribution in bytes for each group, "
                   "version, verb, resource, subresource, scope and component.", _SIZE_BUCKETS,
                   [labels for labels in _request_labels(resources) if 'verb="GET"' in labels or 'verb="LIST"' in labels]),
        _histogram("etcd_request_duration_seconds", "[ALPHA] Etcd request latency in seconds for each operation "
                   "and object type.", _LATENCY_BUCKETS,
                   [f'operation="{operation}",type="{plural}"' for _, _, plural, _ in resources
                    for operation in ("create", "get", "list", "update")]),
        _stored_objects(resources, object_counts),
        size_lines(metric, sizes, endpoints, minor) if metric is not None else [],
        _go_process(),
    ]
    families = [lines for lines in families if lines]
    families.sort(key=lambda lines: lines[0].split()[2])
    return ("\n".join(line for lines in families for line in lines) + "\n").encode()


def compress(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=6, mtime=0)


def _number(*key: object, low: int = 0, high: int = 1000) -> int:
    digest = hashlib.blake2b("|".join(map(str, key)).encode(), digest_size=4).digest()
    return low + int.from_bytes(digest, "big") % max(1, high - low)


def _request_labels(resources: list[tuple[str, str, str, bool]]) -> list[str]:
    labels = []
    for group, version, plural, namespaced in resources:
        for verb in _VERBS:
            scope = "namespace" if namespaced and verb not in ("LIST", "WATCH") else (
                "resource" if verb in ("GET", "PUT", "PATCH", "DELETE") else "cluster")
            labels.append(f'component="apiserver",dry_run="",group="{group}",resource="{plural}",scope="{scope}",'
                          f'subresource="",verb="{verb}",version="{version}"')
    return labels


def _request_total(resources: list[tuple[str, str, str, bool]]) -> list[str]:
    name = "apiserver_request_total"
    lines = [f"# HELP {name} [STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, "
             "version, resource, scope, component, and HTTP response code.", f"# TYPE {name} counter"]
    for labels in _request_labels(resources):
        for code in ("200", "201", "404"):
            lines.append(f'{name}{{code="{code}",{labels}}} {_number(name, labels, code, high=5000)}')
    return lines


def _histogram(name: str, help_text: str, buckets: Sequence[str], label_sets: Iterable[str]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for labels in label_sets:
        count = _number(name, labels, low=1, high=4000)
        cumulative = 0
        for index, bucket in enumerate(buckets):
            cumulative = min(count, cumulative + _number(name, labels, bucket, high=count // (index + 1) + 1))
            lines.append(f'{name}_bucket{{{labels},le="{bucket}"}} {cumulative}')
        lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {count}')
        lines.append(f"{name}_sum{{{labels}}} {_number(name, labels, 'sum', high=10 ** 6) / 1000:.6g}")
        lines.append(f"{name}_count{{{labels}}} {count}")
    return lines


def _stored_objects(resources: list[tuple[str, str, str, bool]], counts: Mapping[str, int]) -> list[str]:
    name = "apiserver_storage_objects"
    lines = [f"# HELP {name} [STABLE] Number of stored objects at the time of last check split by kind. In case "
             "of a fetching error, the value will be -1.", f"# TYPE {name} gauge"]
    for group, _, plural, _ in resources:
        qualified = f"{plural}.{group}" if group else plural
        lines.append(f'{name}{{resource="{qualified}"}} {counts.get(plural, 0)}')
    return lines


def _go_process() -> list[str]:
    return [
        "# HELP go_goroutines Number of goroutines that currently exist.", "# TYPE go_goroutines gauge",
        "go_goroutines 1873",
        "# HELP go_memstats_alloc_bytes Number of bytes allocated and still in use.",
        "# TYPE go_memstats_alloc_bytes gauge", "go_memstats_alloc_bytes 1.21566784e+08",
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
        "# TYPE process_cpu_seconds_total counter", "process_cpu_seconds_total 812.43",
        "# HELP process_resident_memory_bytes Resident memory size in bytes.",
        "# TYPE process_resident_memory_bytes gauge", "process_resident_memory_bytes 3.91864320e+08",
    ]
