"""Prometheus text exposition, parsed with prometheus_client's parser; used by etcd_db_size.py
(the apiserver's /metrics) and eksmetrics.py (EKS's control-plane metrics).

The parser is imported on first use: it is the function's largest import after boto3, and most
runs read neither (etcd_db_size runs once per metrics_interval_s; EKS's endpoints are read only on
EKS 1.28 and later), so the cold start does not pay for it.
"""

from __future__ import annotations

from typing import Iterator


def metric_families(text: str) -> Iterator:
    from prometheus_client.parser import text_string_to_metric_families
    return text_string_to_metric_families(text)
