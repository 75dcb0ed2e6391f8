"""Test connection never echoes what a remote server said: it may be an internal service's banner.

The servers are loopback services that greet and answer with a banner (tests/servers/banner.py),
reached because the tests' allowlist admits loopback, as an operator's would admit a partner
network."""

from __future__ import annotations

import pytest

from app.services import credentials, integrations
from app.services.actors import SYSTEM
from tests.servers.banner import BANNER, BannerServer

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
# Our words for what failed: one of them must be in every reply.
OUR_WORDS = (
    "refused",
    "timed out",
    "authentication failed",
    "host key",
    "TLS",
    "unexpected",
    "closed",
    "handshake",
    "unavailable",
)
CASES = [
    ("sftp", "pop3"),
    ("sftp", "ssh-like"),
    ("ftp", "pop3"),
    ("ftp", "ftp-like"),
    ("ftp", "refusing"),
    ("ftp", "busy"),
    ("ftps", "pop3"),
    ("ftps", "ftp-like"),
    ("email", "pop3"),
    ("email", "ftp-like"),
    ("email", "refusing"),
    ("email", "busy"),
    ("s3", "http"),
]


def _delivery(world, method: str, server: BannerServer) -> dict:
    enterprise = world.a.enterprise.id
    if method == "email":
        return {"method": "email", "recipients": ["ops@example.com"]}
    if method == "s3":
        keys = {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "not-a-real-secret"}
        cred = credentials.create_credential(enterprise, "s3", "s3_keys", keys)
        return {
            "method": "s3",
            "bucket": "leads",
            "endpointUrl": f"http://127.0.0.1:{server.port}",
            "credentialId": cred.id,
        }
    cred = credentials.create_credential(enterprise, method, "password", "pw-123")
    settings = {"host": "127.0.0.1", "port": server.port, "username": "u", "credentialId": cred.id}
    if method == "sftp":
        return {"method": "sftp", **settings, "hostKey": HOST_KEY}
    return {"method": "ftp", **settings, "tls": method == "ftps"}


@pytest.mark.parametrize(("method", "style"), CASES, ids=[f"{m}-{s}" for m, s in CASES])
def test_test_connection_says_what_failed_in_our_words_only(app, client, world, method, style):
    app.config["DELIVERY_TIMEOUT"] = 3
    server = BannerServer(style)
    server.start()
    try:
        app.config["SMTP_URL"] = f"smtp://127.0.0.1:{server.port}"
        body = {
            "campaignId": world.a.campaign.id,
            "label": f"{method} to a {style} service",
            "fields": [{"source": "lead.id", "header": "ID"}],
            "delivery": _delivery(world, method, server),
        }
        integration = integrations.create_integration(world.a.enterprise.id, body, SYSTEM)
        url = f"/api/v4/batch-integrations/{integration.id}/test-connection"
        reply = client.post(url, headers={"Authorization": f"Bearer {world.a.tokens['admin']}"})
    finally:
        server.stop()
    assert reply.status_code == 200
    result = reply.json
    assert server.connections >= 1  # it really talked to the service
    assert result["ok"] is False
    assert BANNER not in reply.get_data(as_text=True), result
    assert any(word in result["message"] for word in OUR_WORDS), result
