import pytest

from cpwatch.errors import ConfigError
from cpwatch.settings import Settings, settings_from_env


def test_defaults_are_valid():
    assert Settings().validated() == Settings()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CPWATCH_RUN_TIMEOUT_S": "soon"}, "CPWATCH_RUN_TIMEOUT_S must be a number, got 'soon'"),
        ({"CPWATCH_PAGE_SIZE": "1.5"}, "CPWATCH_PAGE_SIZE must be a whole number, got '1.5'"),
        ({"CPWATCH_CANARY_WAIT_S": "0"}, "setting canary_wait_s must be greater than 0, got 0.0"),
        ({"CPWATCH_LATENCY_WARN_MS": "nan"}, "setting latency_warn_ms must be a number, got nan"),
        ({"CPWATCH_NAMESPACE": "Not_A_Label"}, "setting namespace must be a DNS label (a-z, 0-9, '-'), got 'Not_A_Label'"),
        ({"CPWATCH_REQUEST_TIMEOUT_S": "60"}, "setting request_timeout_s (60.0) must not exceed run_timeout_s (30.0)"),
        ({"CPWATCH_CANARY_POLL_S": "20"}, "setting canary_poll_s (20.0) must not exceed canary_wait_s (10.0)"),
        ({"CPWATCH_EKS_METRICS_SECOND_LOOK_S": "30"},
         "setting eks_metrics_second_look_s (30.0) must be less than run_timeout_s (30.0)"),
        ({"CPWATCH_VENDED_5XX_WARN_PERCENT": "101"}, "setting vended_5xx_warn_percent must be at most 100, got 101.0"),
        ({"CPWATCH_VENDED_429_WARN_PERCENT": "150"}, "setting vended_429_warn_percent must be at most 100, got 150.0"),
        ({"CPWATCH_VENDED_WINDOW_S": "300"},
         "setting vended_window_s (300.0) must be at least vended_scheduler_silent_s + 120 s (540.0): "
         "AWS/EKS publishes each minute with a delay"),
        ({"CPWATCH_CONTROL_PLANE_LOG_PAGE_LIMIT": "20000"},
         "setting control_plane_log_page_limit must be at most 10000 (FilterLogEvents' limit), got 20000"),
    ],
)
def test_each_mistake_has_its_exact_message(environ, message):
    with pytest.raises(ConfigError) as raised:
        settings_from_env(environ)
    assert str(raised.value) == message


def test_environment_overrides_apply():
    settings = settings_from_env({"CPWATCH_NODE_HEARTBEAT_STALE_S": "300", "CPWATCH_NAMESPACE": "ops-cpwatch"})
    assert settings.node_heartbeat_stale_s == 300.0
    assert settings.namespace == "ops-cpwatch"


def test_unknown_override_is_rejected():
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings().with_overrides(nonsense=1)


@pytest.mark.parametrize(("expression", "seconds"), [
    ("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("rate(1 day)", 86400),
    ("cron(0/5 * * * ? *)", 60),
])
def test_schedule_expression_gives_the_run_interval(expression, seconds):
    from cpwatch.settings import deployment_settings_from_env

    assert deployment_settings_from_env({"CPWATCH_SCHEDULE_EXPRESSION": expression}).run_interval_s == seconds


@pytest.mark.parametrize("expression", ["rate(0 minutes)", "every minute", "rate(5 seconds)", "at(2026-12-01T00:00:00)"])
def test_unreadable_schedule_expression_is_a_config_error(expression):
    from cpwatch.errors import ConfigError
    from cpwatch.settings import deployment_settings_from_env

    with pytest.raises(ConfigError, match="CPWATCH_SCHEDULE_EXPRESSION must be rate"):
        deployment_settings_from_env({"CPWATCH_SCHEDULE_EXPRESSION": expression})


@pytest.mark.parametrize(("raw", "message"), [
    ("0", "CPWATCH_CHECKER_ALARM_AFTER_RUNS must be greater than 0, got '0'"),
    ("2.5", "CPWATCH_CHECKER_ALARM_AFTER_RUNS must be a whole number, got '2.5'"),
    ("three", "CPWATCH_CHECKER_ALARM_AFTER_RUNS must be a whole number, got 'three'"),
])
def test_checker_alarm_after_runs_mistakes(raw, message):
    from cpwatch.settings import deployment_settings_from_env

    with pytest.raises(ConfigError) as error:
        deployment_settings_from_env({"CPWATCH_CHECKER_ALARM_AFTER_RUNS": raw})
    assert str(error.value) == message


def test_checker_alarm_after_runs_defaults_to_three():
    from cpwatch.settings import deployment_settings_from_env

    assert deployment_settings_from_env({}).checker_alarm_after_runs == 3
    assert deployment_settings_from_env({"CPWATCH_CHECKER_ALARM_AFTER_RUNS": "5"}).checker_alarm_after_runs == 5


@pytest.mark.parametrize(("environ", "message"), [
    ({"CPWATCH_WEDGED_AFTER_RUNS": "1"}, "CPWATCH_WEDGED_AFTER_RUNS must be at least 2 (one run is a stall seen once, "
     "not a leader that keeps renewing without working), got 1"),
    ({"CPWATCH_WEDGED_AFTER_RUNS": "0"}, "CPWATCH_WEDGED_AFTER_RUNS must be greater than 0, got '0'"),
    ({"CPWATCH_WEDGED_AFTER_RUNS": "2.5"}, "CPWATCH_WEDGED_AFTER_RUNS must be a whole number, got '2.5'"),
    ({"CPWATCH_WARNING_AFTER_MINUTES": "0"}, "CPWATCH_WARNING_AFTER_MINUTES must be greater than 0, got '0'"),
    ({"CPWATCH_WARNING_AFTER_MINUTES": "ten"}, "CPWATCH_WARNING_AFTER_MINUTES must be a number, got 'ten'"),
    ({"CPWATCH_WARNING_REMINDER_HOURS": "-1"}, "CPWATCH_WARNING_REMINDER_HOURS must be greater than 0, got '-1'"),
    ({"CPWATCH_WARNING_REMINDER_HOURS": "2"}, "CPWATCH_WARNING_REMINDER_HOURS (2) must not be less than "
     "CPWATCH_REMINDER_HOURS (4): a warning is never recalled more often than a page"),
])
def test_warning_and_wedged_setting_mistakes(environ, message):
    from cpwatch.settings import deployment_settings_from_env

    with pytest.raises(ConfigError) as error:
        deployment_settings_from_env(environ)
    assert str(error.value) == message


def test_warning_and_wedged_settings_default_and_apply():
    from cpwatch.settings import deployment_settings_from_env

    default = deployment_settings_from_env({})
    assert (default.warning_after_minutes, default.warning_reminder_hours, default.wedged_after_runs) == (10.0, 24.0, 3)
    given = deployment_settings_from_env({"CPWATCH_WARNING_AFTER_MINUTES": "15", "CPWATCH_WARNING_REMINDER_HOURS": "48",
                                          "CPWATCH_WEDGED_AFTER_RUNS": "5", "CPWATCH_REMINDER_HOURS": "8"})
    assert (given.warning_after_minutes, given.warning_reminder_hours, given.wedged_after_runs) == (15.0, 48.0, 5)
