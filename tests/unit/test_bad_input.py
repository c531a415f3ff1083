"""Bad input, property-based: scheduler payloads, settings from the environment and kubeconfig files
give either a valid result or cpwatch's own error (EventError, ConfigError) with a message, never
another exception, and never echo a secret (external id, token) back.

Generated values are near misses of the real shapes (fields of the wrong type, names one
character off, JSON of the wrong kind), not only random text. No network (tests/unit).
"""

from __future__ import annotations

import base64
import json
import math
import re
import ssl
import string
from dataclasses import fields

import yaml
from hypothesis import HealthCheck, example, given, settings, strategies as st

from cpwatch.cluster.connect import api_from_kubeconfig
from cpwatch.errors import ConfigError
from cpwatch.entry.invocation import EventError, Invocation, Target, parse_event
from cpwatch.settings import (
    ENV_PREFIX,
    DeploymentSettings,
    Settings,
    _DEPLOYMENT_ENV,
    deployment_settings_from_env,
    settings_from_env,
)
from tests.fakecluster.tls import make_credentials

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
CLUSTER = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
REGION = re.compile(r"^[a-z]{2,4}(-[a-z0-9]+)+-\d+$")
SECRET_ALPHABET = string.ascii_letters + string.digits


def near(examples: list, base: st.SearchStrategy) -> st.SearchStrategy:
    """Real-looking values, near misses, other text, and JSON of any other type."""
    return st.sampled_from(examples) | base | JSON


# --- scheduler payloads ------------------------------------------------------------------------

clusters = near(["prod-a", "a", "prod_b", "9lives", "x" * 100, "x" * 101, "", "prod a", "-bad", "prod-ü",
                 "prod a; rm -rf /"], st.text(max_size=12))
regions = near(["eu-west-1", "us-gov-west-1", "cn-north-1", "eu-central-1", "moon-1", "", "EU-WEST-1",
                "eu-west-1 ", "eu-west-"], st.text(max_size=12))
roles = near(["arn:aws:iam::210987654321:role/cpwatch-checker", "arn:aws-cn:iam::123456789012:role/a/b",
              "arn:aws:iam::1:role/x", "arn:aws:iam::210987654321:user/me", "admin"], st.text(max_size=30))
external_ids = near(["cpwatch-payments-7f3b", "x", "y" * 1225], st.text(SECRET_ALPHABET, min_size=12, max_size=40))
targets = st.fixed_dictionaries({}, optional={
    "cluster": clusters, "region": regions, "role_arn": roles, "external_id": external_ids,
    "read_only": near([True, False, "true", 0], st.booleans()), "colour": JSON,
})
target_lists = st.lists(targets, max_size=4) | JSON
ids = near(["5c9e2f1a-7f3b-4c1e-9a51-3f6a2b8d9e01", "", "i" * 256, "i" * 257], st.text(max_size=20))
details = st.builds(lambda d: json.dumps(d), st.fixed_dictionaries({}, optional={"targets": target_lists})) \
    | st.sampled_from(["", "  ", "{", "[]", "null", "{\"targets\": 1}"]) | JSON
events = st.fixed_dictionaries({}, optional={
    "targets": target_lists, "execution_id": ids, "scheduled_time": ids, "detail": details, "id": ids,
    "time": ids, "source": JSON,
}) | JSON


def _external_ids(event: object) -> list[str]:
    """The external ids in an event that an error message could only contain by leaking them:
    an id that also stands in another field (a region or a cluster name "000000000000") may be
    echoed as that field, so it is left out."""
    found: list[str] = []
    others: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                others.append(str(key))
                if key == "external_id" and isinstance(item, str):
                    if len(item) >= 12:
                        found.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and value.startswith("{"):
            try:
                walk(json.loads(value))
            except ValueError:
                others.append(value)
        else:
            others.append(str(value))

    walk(event)
    return [secret for secret in found if not any(secret in other for other in others)]


@settings(max_examples=300, deadline=None)
@given(event=events, defaults=st.sampled_from([(), (Target("prod-a", "eu-west-1"),)]),
       default_region=st.sampled_from([None, "eu-west-1", "moon"]))
@example(event={"detail": "[" * 5_000}, defaults=(), default_region=None)
@example(event={"detail": "{\"targets\": " + "[" * 5_000 + "]}"}, defaults=(), default_region=None)
# Found by this test: a region equal to the external id is echoed as the region, not leaked.
@example(event={"targets": [{"cluster": "prod-a", "region": "000000000000", "external_id": "000000000000",
                             "role_arn": "arn:aws:iam::210987654321:role/cpwatch-checker"}]},
         defaults=(), default_region=None)
# A distinctive external id next to a bad region: the message names the region, never the id.
@example(event={"targets": [{"cluster": "prod-a", "region": "moon-1", "external_id": "cpwatch-payments-7f3b",
                             "role_arn": "arn:aws:iam::210987654321:role/cpwatch-checker"}]},
         defaults=(), default_region=None)
def test_scheduler_payload_is_parsed_or_rejected_with_a_message(event, defaults, default_region):
    secrets = _external_ids(event)
    try:
        invocation = parse_event(event, defaults, default_region)
    except EventError as error:
        message = str(error)
        assert message
        assert not any(secret in message for secret in secrets), "an external id is a shared secret"
        return
    assert isinstance(invocation, Invocation) and invocation.targets
    for target in invocation.targets:
        assert CLUSTER.match(target.cluster) and REGION.match(target.region)
        assert target.external_id is None or target.role_arn is not None
        assert target.read_only in (None, True, False)
        assert not any(secret in repr(target) for secret in secrets)
    assert invocation.execution_id is None or 1 <= len(invocation.execution_id) <= 256


# --- settings ----------------------------------------------------------------------------------

SETTING_VARIABLES = [ENV_PREFIX + f.name.upper() for f in fields(Settings)]
DEPLOYMENT_VARIABLES = list(_DEPLOYMENT_ENV.values())
raw_values = st.sampled_from([
    "", " ", "0", "-0", "1", "-1", "0.5", "1e309", "-1e309", "nan", "NaN", "inf", "-inf", "1_000", "0x10", "１２",
    "5s", "true", "TRUE", "yes", "ops-cpwatch", "Cpwatch", "a" * 64, "a" * 63, "-a", "arn:aws:sns:eu-west-1:1:t",
    "[{\"cluster\": \"prod-a\"}]", "[", "\t3\n",
]) | st.floats(allow_nan=True, allow_infinity=True).map(repr) | st.integers(-10**6, 10**12).map(str) \
    | st.text(max_size=10)


@settings(max_examples=300, deadline=None)
@given(env=st.dictionaries(st.sampled_from(SETTING_VARIABLES), raw_values, max_size=6))
@example(env={"CPWATCH_NAMESPACE": "²"})  # str.isdigit() is True for it; Kubernetes wants ASCII
@example(env={"CPWATCH_NAMESPACE": "café"})
def test_settings_from_the_environment_are_valid_or_one_exact_config_error(env):
    try:
        settings_ = settings_from_env(env)
    except ConfigError as error:
        message = str(error)
        names = {v for v in env} | {f.name for f in fields(Settings)}
        assert any(name in message for name in names), message
        return
    for field in fields(Settings):
        value = getattr(settings_, field.name)
        if field.type in ("float", "int"):
            assert math.isfinite(value) and value > 0, (field.name, value)
    assert settings_.request_timeout_s <= settings_.run_timeout_s
    assert settings_.canary_poll_s <= settings_.canary_wait_s
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", settings_.namespace)


@settings(max_examples=300, deadline=None)
@given(env=st.dictionaries(st.sampled_from(DEPLOYMENT_VARIABLES), raw_values, max_size=6))
def test_deployment_settings_are_valid_or_one_exact_config_error(env):
    try:
        deployment = deployment_settings_from_env(env)
    except ConfigError as error:
        assert any(name in str(error) for name in env), str(error)
        return
    assert isinstance(deployment, DeploymentSettings)
    for field in fields(DeploymentSettings):
        value = getattr(deployment, field.name)
        if field.type in ("float", "int"):
            assert math.isfinite(value) and value > 0
        if field.type == "bool":
            assert value in (True, False)
    assert deployment.topic_arn is None or deployment.topic_arn.startswith("arn:")


# --- kubeconfigs -------------------------------------------------------------------------------

TLS = make_credentials()
GOOD_CA = base64.b64encode(TLS.ca_pem.encode()).decode()
TOKENS = st.text(SECRET_ALPHABET, min_size=14, max_size=33).map(lambda text: "token-" + text)
servers = near(["https://127.0.0.1:6443", "https://kubernetes.default.svc:443/", "http://127.0.0.1:1", "",
                "https://", "https://[::1", "https://exa mple", "ftp://x", "https://host:99999", "127.0.0.1:6443"],
               st.text(max_size=20))
ca_data = near([GOOD_CA, "", "not base64!!", base64.b64encode(b"not a certificate").decode(),
                base64.b64encode(TLS.cert_pem.encode()[:100]).decode()], st.text(max_size=20))
paths = near(["/nonexistent/ca.crt", "/etc/hostname", "", ".", "/"], st.text(max_size=10))
def mostly(valid: st.SearchStrategy, misses: st.SearchStrategy) -> st.SearchStrategy:
    """The valid value three times in four, else a near miss: most documents then fail in one
    field only, which is where a loader is most likely to raise something unexpected."""
    return st.one_of(valid, valid, valid, misses)


cluster_entries = st.fixed_dictionaries({
    "server": mostly(st.just("https://127.0.0.1:6443"), servers),
    "certificate-authority-data": mostly(st.just(GOOD_CA), ca_data),
}, optional={
    "certificate-authority": paths,
    "insecure-skip-tls-verify": near([True, False, "true"], st.booleans()),
    "tls-server-name": near(["kubernetes"], st.text(max_size=8)),
    "proxy-url": near(["http://127.0.0.1:3128", "socks5://127.0.0.1:1080", "::"], st.text(max_size=8)),
})
user_entries = st.fixed_dictionaries({"token": mostly(TOKENS, JSON)}, optional={
    "tokenFile": paths, "client-certificate-data": ca_data, "client-key-data": ca_data,
    "client-certificate": paths, "client-key": paths, "username": JSON, "password": TOKENS,
})  # never `exec` or `auth-provider`: those would run commands or call identity providers
names = near(["c"], st.text(max_size=3))


def _named(entries: st.SearchStrategy, key: str) -> st.SearchStrategy:
    valid = st.lists(st.fixed_dictionaries({"name": st.just("c"), key: entries}), min_size=1, max_size=1)
    return mostly(valid, st.lists(st.fixed_dictionaries({"name": names, key: entries | JSON}), max_size=2) | JSON)


kubeconfigs = st.fixed_dictionaries({
    "apiVersion": mostly(st.just("v1"), JSON),
    "kind": mostly(st.just("Config"), JSON),
    "clusters": _named(cluster_entries, "cluster"),
    "users": _named(user_entries, "user"),
    "contexts": _named(st.fixed_dictionaries({"cluster": mostly(st.just("c"), names),
                                              "user": mostly(st.just("c"), names)},
                                             optional={"namespace": JSON}), "context"),
    "current-context": mostly(st.just("c"), names),
})
documents = kubeconfigs.map(lambda c: yaml.safe_dump(c)) | st.text(max_size=60) | st.sampled_from([
    "", "clusters: [unclosed\n", "- a\n- b\n", "!!python/object:os.system {}\n", "a: &x [*x]\n", "\x00\x01",
    "clusters:\n- name: c\n  cluster: {server: https://127.0.0.1:6443}\n" * 3,
])


def _tokens_in(text: str) -> list[str]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    found: list[str] = []
    for user in (loaded.get("users") or []) if isinstance(loaded, dict) and isinstance(loaded.get("users"), list) else []:
        entry = user.get("user") if isinstance(user, dict) else None
        if isinstance(entry, dict):
            for key in ("token", "password"):
                value = entry.get(key)
                # A token that also stands in another field (server: '0000...') may be echoed there.
                if isinstance(value, str) and len(value) >= 20 and text.count(value) == 1:
                    found.append(value)
    return found


def _one_cluster(cluster: dict, user: dict | None = None) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": GOOD_CA,
                                               **cluster}}],
        "users": [{"name": "c", "user": user or {"token": "token-abcdefghijklmnop"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "c"}}],
    })


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=documents, context=st.sampled_from([None, None, None, "c", "nope"]))
# Found by this test: urllib3 raised (not ConfigError) for these proxy URLs, and these servers
# failed only at the first request, as "no answer" (an apiserver down) instead of a config error.
@example(text=_one_cluster({"proxy-url": "socks5://127.0.0.1:1080"}), context=None)
@example(text=_one_cluster({"proxy-url": "::"}), context=None)
@example(text=_one_cluster({"server": "https://exa mple"}), context=None)
# Found by this test once derandomized: a proxy-url that is a YAML list raised TypeError.
@example(text=_one_cluster({"proxy-url": [None]}), context=None)
@example(text=_one_cluster({"server": "https://"}), context=None)
@example(text=_one_cluster({"server": "https://host:99999"}), context=None)
# Found by this test: the loader's message quoted the whole user entry, token included.
@example(text=_one_cluster({}, {"token": "token-abcdefghijklmnop"}).replace("name: c\n  user:", "name: null\n  user:"),
         context=None)
def test_any_kubeconfig_gives_a_verifying_kubeapi_or_a_config_error(tmp_path, text, context):
    path = tmp_path / "kubeconfig"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    tokens = _tokens_in(text)
    try:
        api, target = api_from_kubeconfig(str(path), context, 5.0)
    except ConfigError as error:
        message = str(error)
        assert message.startswith("kubeconfig") or "kubeconfig" in message, message
        assert not any(token in message for token in tokens), "a token appeared in an error message"
        return
    try:
        assert api.server.startswith("https://")
        tls = api._pool.connection_pool_kw["ssl_context"]
        assert tls.verify_mode is ssl.CERT_REQUIRED and tls.check_hostname is True
        assert not any(token in repr(target) for token in tokens)
    finally:
        api.close()


def test_secret_check_keeps_distinct_ids_and_drops_ids_that_stand_in_another_field():
    event = {"targets": [{"region": "000000000000", "external_id": "000000000000"},
                         {"region": "eu-west-1", "external_id": "cpwatch-payments-7f3b"}],
             "detail": json.dumps({"targets": [{"external_id": "cpwatch-orders-9a1c"}]})}
    assert _external_ids(event) == ["cpwatch-payments-7f3b", "cpwatch-orders-9a1c"]
