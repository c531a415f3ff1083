"""The etcd size probe's reading of /metrics (probes/etcd_db_size.py), without a server (issue 12)."""

from __future__ import annotations

import pytest

from cpwatch.errors import BadResponseError
from cpwatch.probes import etcd_db_size


def size_text(*series: tuple[str, dict[str, str], str]) -> str:
    """Prometheus text with HELP and TYPE lines per name, and other metrics around it."""
    lines = ["# HELP apiserver_request_total Counter of apiserver requests.", "# TYPE apiserver_request_total counter",
             'apiserver_request_total{code="200",verb="GET"} 1234']
    for name in dict.fromkeys(name for name, _, _ in series):
        lines += [f"# HELP {name} Size of the storage database file physically allocated in bytes.",
                  f"# TYPE {name} gauge"]
        lines += [f"{name}{{{','.join(f'{k}={chr(34)}{v}{chr(34)}' for k, v in labels.items())}}} {value}"
                  for n, labels, value in series if n == name]
    return "\n".join(lines + ["# TYPE process_open_fds gauge", "process_open_fds 42"]) + "\n"


def test_the_largest_endpoint_of_the_size_series_is_taken():
    text = size_text(("etcd_db_total_size_in_bytes", {"endpoint": "https://10.0.0.1:2379"}, "4096"),
                     ("etcd_db_total_size_in_bytes", {"endpoint": "https://10.0.0.2:2379"}, "8.192e+06"),
                     ("etcd_db_total_size_in_bytes", {"endpoint": "https://10.0.0.3:2379"}, "NaN"))
    assert etcd_db_size._largest_size(text) == ("etcd_db_total_size_in_bytes", 8192000.0)


def test_the_newest_size_series_wins_over_older_ones_present():
    """1.28 exposes the new name while the deprecated one lingers; the new one is read even when
    the old one is larger."""
    text = size_text(("etcd_db_total_size_in_bytes", {"endpoint": "e"}, "9000000"),
                     ("apiserver_storage_db_total_size_in_bytes", {"endpoint": "e"}, "8000000"),
                     ("apiserver_storage_size_bytes", {"cluster": "etcd-0"}, "7000000"))
    assert etcd_db_size._largest_size(text) == ("apiserver_storage_size_bytes", 7000000.0)
    older = size_text(("etcd_db_total_size_in_bytes", {"endpoint": "e"}, "9000000"),
                      ("apiserver_storage_db_total_size_in_bytes", {"endpoint": "e"}, "8000000"))
    assert etcd_db_size._largest_size(older) == ("apiserver_storage_db_total_size_in_bytes", 8000000.0)


def test_a_series_of_only_nan_or_a_longer_name_is_no_size():
    text = size_text(("apiserver_storage_size_bytes", {"cluster": "etcd-0"}, "NaN"),
                     ("apiserver_storage_size_bytes_total", {"cluster": "etcd-0"}, "5"))
    assert etcd_db_size._largest_size(text) == (None, 0.0)


def test_a_size_line_that_is_not_prometheus_text_is_a_bad_response():
    with pytest.raises(BadResponseError) as raised:
        etcd_db_size._largest_size('apiserver_storage_size_bytes{cluster="etcd-0"} lots\n')
    assert (raised.value.method, raised.value.path) == ("GET", "/metrics")
    assert raised.value.detail.startswith("not Prometheus text: could not convert string to float: 'lots'")


def test_a_long_parse_error_is_cut_to_120_characters():
    with pytest.raises(BadResponseError) as raised:
        etcd_db_size._largest_size('apiserver_storage_size_bytes{cluster="etcd-0"} ' + "x" * 300 + "\n")
    assert raised.value.detail == "not Prometheus text: " + f"could not convert string to float: '{'x' * 300}'"[:120]


@pytest.mark.parametrize(("size", "text"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (2**20 - 1, "1024.0 KiB"), (2**20, "1.0 MiB"),
    (int(1.5 * 2**20), "1.5 MiB"), (2**30, "1.0 GiB"), (8 * 2**30 + 2**29, "8.5 GiB"), (999.9, "999 B"),
])
def test_sizes_are_shown_in_binary_units(size, text):
    assert etcd_db_size.human_bytes(size) == text
