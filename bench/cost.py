"""Cost model: monthly cost of watching one cluster at the default settings, from measured figures.

Inputs measured by bench/warm.py in the same run: the handler's warm wall and CPU time per run,
log bytes per run (EMF documents and log lines as written), DynamoDB calls and item sizes per run.
Prices (us-east-1 list prices, as given in the issue): Lambda arm64 $0.0000133334 per GB-s and
$0.20 per million requests; DynamoDB on demand $1.25 per million write and $0.25 per million read
request units, storage $0.25 per GB-month; CloudWatch Logs ingestion $0.50 per GB, storage $0.03
per GB-month; custom metrics $0.30 per series-month (first 10,000); standard alarms $0.10 each;
a dashboard $3 per month beyond the account's first 3; SNS a few messages a month (negligible);
GetMetricData $0.01 per 1,000 metrics requested (the AWS/EKS early warnings, second_opinion.py).
"""

from __future__ import annotations

import math

from cpwatch.entry.second_opinion import EARLY_WARNING_SERIES, SCHEDULER_SERIES
from cpwatch.settings import Settings

from .common import Figures

RUNS_PER_MONTH = 43_200  # one a minute, 30 days
MEMORY_GB = 0.5  # template.yaml MemorySize 512
# Lambda gives a function 1 vCPU at 1,769 MB, proportionally less below: at 512 MB CPU-bound
# work takes 1769/512 = 3.5 times as long as on one full core; waiting does not.
LAMBDA_CPU_SLOWDOWN = 1769 / 512
LAMBDA_GB_S = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1e6
DDB_WRU, DDB_RRU, DDB_GB_MONTH = 1.25 / 1e6, 0.25 / 1e6, 0.25
LOGS_INGEST_GB, LOGS_STORE_GB_MONTH = 0.50, 0.03
LOG_RETENTION_DAYS = 30  # template.yaml LogRetentionDays
# START, END and REPORT lines Lambda itself writes per invocation (REPORT ~ 250 bytes).
PLATFORM_LOG_BYTES = 400
METRIC_SERIES, METRIC_SERIES_MONTH = 4, 0.30  # metrics.py: 4 continuous series per healthy cluster
# template.yaml, per cluster: components-down (status only), heartbeat-missing, blind. In discovery
# mode the same three are Metrics Insights alarms, billed per series analyzed: one per cluster each.
ALARMS, ALARM_MONTH = 3, 0.10
DASHBOARD_MONTH, FREE_DASHBOARDS = 3.00, 3
PASSING_RUN_DAYS, CLAIM_DAYS = 7, 1  # store.py TTLs
TARGET = 3.00
# CloudWatch GetMetricData: $0.01 per 1,000 metrics requested (no free tier).
GET_METRIC_DATA_PER_METRIC = 0.01 / 1000
DEFAULTS = Settings()


def run(figures: Figures, warm: dict, fleet_size: int = 200) -> list[tuple[str, float, str]]:
    wall, cpu = warm["canary_p50_s"], warm["canary_cpu_p50_s"]
    lambda_s = max(wall, wall - cpu + cpu * LAMBDA_CPU_SLOWDOWN)
    rows: list[tuple[str, float, str]] = []
    rows.append(("Lambda compute", lambda_s * MEMORY_GB * RUNS_PER_MONTH * LAMBDA_GB_S,
                 f"{lambda_s:.3f} s x 0.5 GB x 43,200 runs (measured {wall:.3f} s wall, {cpu:.3f} s CPU here; CPU x3.5 at 512 MB)"))
    rows.append(("Lambda requests", RUNS_PER_MONTH * LAMBDA_REQUEST, "43,200 invocations"))
    calls = warm["dynamodb_calls"]
    puts = [c["item_bytes"] for c in calls if c["operation"] == "PutItem"]
    wru = sum(max(1, math.ceil(size / 1024)) for size in puts)
    state_bytes = min((size for size in puts if size > 200), default=1024)  # the state item (read back each run)
    gets = sum(1 for c in calls if c["operation"] == "GetItem")
    rru = gets * max(1, math.ceil(state_bytes / 4096))  # strongly consistent: 1 RRU per 4 KB
    run_item = max(puts, default=0)
    rows.append(("DynamoDB writes", wru * RUNS_PER_MONTH * DDB_WRU,
                 f"{wru} WRU per run ({', '.join(f'{s} B' for s in puts)}) x 43,200"))
    rows.append(("DynamoDB reads", rru * RUNS_PER_MONTH * DDB_RRU, f"{rru} RRU per run (consistent read of the state item)"))
    stored_gb = (run_item * 1440 * PASSING_RUN_DAYS + 100 * 1440 * CLAIM_DAYS + state_bytes) / 1e9
    rows.append(("DynamoDB storage", stored_gb * DDB_GB_MONTH, f"{stored_gb * 1000:.0f} MB (passing runs kept {PASSING_RUN_DAYS} days)"))
    log_bytes = warm["log_bytes_per_run"] + PLATFORM_LOG_BYTES
    ingest_gb = log_bytes * RUNS_PER_MONTH / 1e9
    rows.append(("CloudWatch Logs ingestion", ingest_gb * LOGS_INGEST_GB,
                 f"{log_bytes:.0f} B per run ({warm['emf_bytes_per_run']} B EMF + log lines + ~{PLATFORM_LOG_BYTES} B Lambda START/END/REPORT)"))
    rows.append(("CloudWatch Logs storage", ingest_gb * LOG_RETENTION_DAYS / 30 * LOGS_STORE_GB_MONTH,
                 f"{LOG_RETENTION_DAYS} days retained (uncompressed size; AWS bills compressed)"))
    rows.append(("CloudWatch metrics", METRIC_SERIES * METRIC_SERIES_MONTH, f"{METRIC_SERIES} continuous series x $0.30"))
    rows.append(("CloudWatch alarms", ALARMS * ALARM_MONTH, "components down + dead-man's switch + blind"))
    rows.append(("CloudWatch dashboard", DASHBOARD_MONTH / fleet_size,
                 f"$3 per deployment shared by {fleet_size} clusters (free within the account's first {FREE_DASHBOARDS})"))
    rows.append(("SNS", 0.0, "a few notifications a month (first 1,000 emails and 1M publishes free)"))
    reads = RUNS_PER_MONTH * 60 / DEFAULTS.vended_metrics_interval_s
    metrics = reads * len(EARLY_WARNING_SERIES)
    rows.append(("CloudWatch GetMetricData (AWS/EKS early warnings)", metrics * GET_METRIC_DATA_PER_METRIC,
                 f"{len(EARLY_WARNING_SERIES)} metrics x {reads:,.0f} reads (one per {DEFAULTS.vended_metrics_interval_s / 3600:g} h) "
                 f"= {metrics:,.0f} metrics x $0.01 per 1,000"))
    total = sum(cost for _, cost, _ in rows)
    for name, cost, basis in rows:
        figures.add(f"cost per cluster-month: {name}", cost, "USD", basis=basis)
    figures.add("cost per cluster-month: total", total, "USD", target=f"<= ${TARGET:.2f}", met=total <= TARGET)
    single = total - DASHBOARD_MONTH / fleet_size
    figures.add("cost per cluster-month: total, one-cluster deployment within the free dashboards", single, "USD")
    per_run = {"Lambda compute", "Lambda requests", "DynamoDB writes", "DynamoDB reads", "DynamoDB storage",
               "CloudWatch Logs ingestion", "CloudWatch Logs storage"}
    variable = sum(cost for name, cost, _ in rows if name in per_run)
    figures.add("cost per cluster-month: of which per-run costs (scale with the schedule)", variable, "USD")
    figures.add("cost per cluster-month: total with ScheduleExpression rate(2 minutes)", total - variable / 2, "USD")
    # Second opinions are read only when a verdict needs one, so they are not in the default total.
    scheduler_all_month = RUNS_PER_MONTH * 60 / DEFAULTS.vended_second_opinion_interval_s * len(SCHEDULER_SERIES)
    figures.add("cost per cluster-month: extra if pods wait to be scheduled all month (scheduler second opinion)",
                scheduler_all_month * GET_METRIC_DATA_PER_METRIC, "USD",
                basis=f"{len(SCHEDULER_SERIES)} metrics every {DEFAULTS.vended_second_opinion_interval_s / 60:g} min")
    # The warning class (issue 17) adds no continuous cost: on a healthy cluster it writes nothing
    # (Warnings only while a warning is open) and sends nothing; the state item stays under 1 KB.
    figures.add("cost per cluster-month: warning class on a healthy cluster", 0.0, "USD",
                basis="Warnings is written only while a warning is open; no notification; the state item's size "
                      f"({state_bytes} B) keeps it at 1 WRU")
    figures.add("cost per cluster-month: extra while a warning stays open all month", METRIC_SERIES_MONTH, "USD",
                basis="the Warnings series ($0.30); one reminder a day is 30 SNS messages (within the free tier)")
    # Counting a stall seen only in AWS/EKS reads the scheduler's series every run until it is a
    # page: at most wedged_after_runs - 1 reads more per stall.
    from cpwatch.settings import DeploymentSettings

    extra_reads = (DeploymentSettings().wedged_after_runs - 1) * len(SCHEDULER_SERIES)
    figures.add("cost per stall counted from AWS/EKS metrics alone", extra_reads * GET_METRIC_DATA_PER_METRIC, "USD",
                basis=f"{extra_reads} metrics more than the 15-minute pacing")
    writes = next(cost for name, cost, _ in rows if name == "DynamoDB writes")
    figures.add("cost per cluster-month: total at DynamoDB's $0.625 per million WRU (on-demand price since Nov 2024)",
                total - writes / 2, "USD")
    return rows
