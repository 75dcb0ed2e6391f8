"""S3-compatible delivery against moto's server on loopback, with IAM credentials checked."""

from __future__ import annotations

import pytest

from app.errors import DeliveryError, ValidationError
from app.services.transports import Secret, get_transport
from tests.servers.common import make_source, sample_bytes

s3 = get_transport("s3")


@pytest.fixture
def app(delivery_app):
    """These tests need the app's config, not database rows."""
    return delivery_app


def keys(destination, **overrides) -> Secret:
    return Secret("s3_keys", {**destination.secret_value, **overrides})


def test_delivered_object_is_byte_identical_under_the_prefix(app, s3_server):
    data = sample_bytes()

    receipt = s3.deliver(make_source(data, "acme_1.csv"), s3_server.settings(prefix="/in/daily/"), keys(s3_server))

    assert s3_server.objects() == {"in/daily/acme_1.csv": data}
    assert receipt.remote == f"s3://{s3_server.bucket}/in/daily/acme_1.csv"
    assert receipt.remote_size == len(data)


def test_redelivery_replaces_the_object_never_duplicates(app, s3_server):
    s3.deliver(make_source(b"first\r\n"), s3_server.settings(), keys(s3_server))
    s3.deliver(make_source(b"second version\r\n"), s3_server.settings(), keys(s3_server))

    assert s3_server.objects() == {"incoming/leads.csv": b"second version\r\n"}


@pytest.mark.parametrize(
    "override",
    [{"secretAccessKey": "wrong-secret-value"}, {"accessKeyId": "AKIAUNKNOWNKEY000000"}],
    ids=["wrong-secret", "unknown-key"],
)
def test_wrong_keys_are_a_permanent_failure(app, s3_server, override):
    with pytest.raises(DeliveryError) as caught:
        s3.deliver(make_source(b"x"), s3_server.settings(), keys(s3_server, **override))

    assert caught.value.transient is False
    assert caught.value.message == (
        f"s3://{s3_server.bucket}/incoming at {s3_server.server.endpoint_url} refused access: "
        "wrong access key / secret, or the key may not write there"
    )
    assert "wrong-secret-value" not in str(caught.value)
    assert s3_server.objects() == {}


def test_missing_bucket_is_a_permanent_failure(app, s3_server):
    with pytest.raises(DeliveryError) as caught:
        s3.deliver(make_source(b"x"), s3_server.settings(bucket="no-such-bucket"), keys(s3_server))
    assert caught.value.transient is False
    assert "bucket 'no-such-bucket' does not exist" in caught.value.message


def test_endpoint_down_is_transient_and_delivery_works_once_it_is_back(app, s3_server):
    s3_server.stop()
    with pytest.raises(DeliveryError) as caught:
        s3.deliver(make_source(b"x"), s3_server.settings(), keys(s3_server))
    assert caught.value.transient is True
    assert (
        caught.value.message == f"cannot connect to s3://{s3_server.bucket}/incoming at {s3_server.server.endpoint_url}"
    )

    s3_server.start()
    s3.deliver(make_source(b"back\r\n"), s3_server.settings(), keys(s3_server))
    assert s3_server.objects() == {"incoming/leads.csv": b"back\r\n"}


def test_missing_credential_is_permanent(app, s3_server):
    with pytest.raises(DeliveryError, match="needs a credential") as caught:
        s3.deliver(make_source(b"x"), s3_server.settings(), None)
    assert caught.value.transient is False


def test_test_connection_ok_and_not_ok(app, s3_server):
    ok = s3.test_connection(s3_server.settings(), keys(s3_server))
    assert ok.ok is True
    assert (
        ok.message
        == f"Wrote and removed a test object in s3://{s3_server.bucket}/incoming at {s3_server.server.endpoint_url}."
    )
    assert s3_server.objects() == {}

    wrong = s3.test_connection(s3_server.settings(), keys(s3_server, secretAccessKey="nope"))
    assert wrong.ok is False and "refused access" in wrong.message


def test_settings_are_validated_and_normalised(app):
    assert s3.validate_settings({"method": "s3", "credentialId": 3, "bucket": "leads.acme", "prefix": "/a/b/"}) == {
        "bucket": "leads.acme",
        "prefix": "a/b",
        "endpointUrl": "",
        "region": "us-east-1",
    }
    with pytest.raises(ValidationError) as caught:
        s3.validate_settings(
            {"bucket": "Bad_Bucket", "prefix": "a/../b", "endpointUrl": "ftp://x", "region": "EU West"}
        )
    assert set(caught.value.details) == {
        "delivery.bucket",
        "delivery.prefix",
        "delivery.endpointUrl",
        "delivery.region",
    }
