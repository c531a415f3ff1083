"""The kubeconfig client certificate's expiry as a checker finding."""

from datetime import datetime, timedelta, timezone

from cpwatch.cluster.clientcert import ClientCertificate, observations, read

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def test_expiring_expired_and_far():
    soon = observations(ClientCertificate("admin", NOW + timedelta(days=5, hours=1)), 30, NOW)
    assert [o.code for o in soon] == ["CHECKER_CLIENT_CERT_EXPIRING"] and "in 5 day(s)" in soon[0].message()
    gone = observations(ClientCertificate("admin", NOW - timedelta(days=2)), 30, NOW)
    assert "expired on 2026-11-29" in gone[0].message()
    assert observations(ClientCertificate("admin", NOW + timedelta(days=31)), 30, NOW) == ()
    assert observations(None, 30, NOW) == ()


def test_unparsable_pem_gives_no_certificate():
    assert read(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n") is None
