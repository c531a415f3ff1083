from datetime import datetime, timezone

from hypothesis import given, strategies as st

from cpwatch.timeutil import format_k8s_time, parse_http_date, parse_k8s_time


def test_microtime_and_time_forms():
    assert parse_k8s_time("2026-11-27T09:29:06.083703Z") == datetime(2026, 11, 27, 9, 29, 6, 83703, tzinfo=timezone.utc)
    assert parse_k8s_time("2026-11-27T09:28:47Z") == datetime(2026, 11, 27, 9, 28, 47, tzinfo=timezone.utc)


def test_microtime_without_fraction_and_with_offset():
    assert parse_k8s_time("2026-11-27T10:28:47+01:00") == datetime(2026, 11, 27, 9, 28, 47, tzinfo=timezone.utc)
    assert parse_k8s_time("2026-11-27T09:28:47.5Z").microsecond == 500000
    assert parse_k8s_time("2026-11-27T09:28:47.123456789Z").microsecond == 123456


def test_invalid_values_are_none():
    for value in (None, 17, "", "yesterday", "2026-13-01T00:00:00Z", "2026-11-27 09:28"):
        assert parse_k8s_time(value) is None


def test_http_date():
    assert parse_http_date("Fri, 27 Nov 2026 09:31:55 GMT") == datetime(2026, 11, 27, 9, 31, 55, tzinfo=timezone.utc)
    assert parse_http_date("not a date") is None
    assert parse_http_date(None) is None


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1)))
def test_format_parse_round_trip(moment):
    moment = moment.replace(tzinfo=timezone.utc, microsecond=0)
    assert parse_k8s_time(format_k8s_time(moment)) == moment


@given(st.text(max_size=40))
def test_parse_never_raises(text):
    result = parse_k8s_time(text)
    assert result is None or result.tzinfo is not None
