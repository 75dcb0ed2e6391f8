"""Egress policy: private destinations are refused when saved and when connecting, with nothing
connected; the loopback allowlist of the tests is what admits the test servers. No test here
ever connects anywhere but loopback: non-loopback addresses are only saved, never tried."""

from __future__ import annotations

import socket

import pytest

from app import create_app
from app.services import credentials, egress, integrations
from app.services.actors import SYSTEM
from app.services.transports import get_transport
from tests.admin_support import login
from tests.servers.common import make_source

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
# Each reaches the loopback trap below if the policy lets it through.
LOOPBACK = ["127.0.0.1", "localhost", "127.1", "2130706433", "::1", "::ffff:127.0.0.1"]
# Never connected to, only saved: the save must refuse them without trying.
PRIVATE = ["169.254.169.254", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "0.0.0.0", "224.0.0.1"]
PRIVATE += ["fd00::1", "fe80::1", "::", "ff02::1", "64:ff9b::a00:1", "2002:a00:1::1"]
REFUSAL = ("is not a public address", "resolves to an address that is not public")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class Trap:
    """Listening loopback sockets (IPv4 and IPv6, one port): did anything connect?"""

    def __init__(self) -> None:
        self.v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.v4.bind(("127.0.0.1", 0))
        self.port = self.v4.getsockname()[1]
        self.v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.v6.bind(("::1", self.port))
        for sock in (self.v4, self.v6):
            sock.listen(16)
            sock.setblocking(False)

    def connections(self) -> int:
        count = 0
        for sock in (self.v4, self.v6):
            while True:
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    break
                conn.close()
                count += 1
        return count

    def close(self) -> None:
        self.v4.close()
        self.v6.close()


@pytest.fixture
def trap(app):
    app.config["DELIVERY_TIMEOUT"] = 2  # were a connection let through, it would hang on the trap
    trap = Trap()
    yield trap
    trap.close()


@pytest.fixture
def no_allowlist(app):
    """Production's default: no private network admitted."""
    app.config["DELIVERY_ALLOWED_NETWORKS"] = ""


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def delivery(method: str, host: str, port: int, credential_id: int) -> dict:
    if method == "sftp":
        settings = {"host": host, "port": port, "username": "u", "remoteDir": "/in", "hostKey": HOST_KEY}
    elif method == "ftp":
        settings = {"host": host, "port": port, "username": "u"}
    else:
        settings = {"bucket": "leads", "endpointUrl": f"http://{_url_host(host)}:{port}"}
    return {"method": method, **settings, "credentialId": credential_id}


@pytest.fixture
def creds(world) -> dict[str, int]:
    enterprise = world.a.enterprise.id
    keys = {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "not-a-real-secret"}
    return {
        "sftp": credentials.create_credential(enterprise, "sftp-pw", "password", "pw-123").id,
        "ftp": credentials.create_credential(enterprise, "ftp-pw", "password", "pw-123").id,
        "s3": credentials.create_credential(enterprise, "s3-keys", "s3_keys", keys).id,
    }


def _body(world, label: str, settings: dict) -> dict:
    return {
        "campaignId": world.a.campaign.id,
        "label": label,
        "fields": [{"source": "lead.id", "header": "ID"}],
        "delivery": settings,
    }


def _refused(messages: list[str]) -> bool:
    return any(reason in message for message in messages for reason in REFUSAL)


@pytest.mark.parametrize("method", ["sftp", "ftp", "s3"])
def test_private_destinations_are_refused_when_saved(client, world, creds, trap, no_allowlist, method):
    field = "delivery.endpointUrl" if method == "s3" else "delivery.host"
    for host in LOOPBACK + PRIVATE:
        port = trap.port if host in LOOPBACK else 2222
        body = _body(world, f"to {host}", delivery(method, host, port, creds[method]))
        response = client.post("/api/v4/batch-integrations", json=body, headers=bearer(world.a.tokens["admin"]))
        assert response.status_code == 422, (host, response.json)
        assert _refused(response.json["error"]["details"][field]), (host, response.json)
        assert "DELIVERY_ALLOWED_NETWORKS" in response.json["error"]["details"][field][0]
    assert trap.connections() == 0


@pytest.mark.parametrize("method", ["sftp", "ftp", "s3"])
def test_the_configure_forms_test_connection_refuses_before_connecting(
    client, world, creds, trap, no_allowlist, method
):
    current = world.a.integration
    login(client, world.a.users["admin"])
    client.application.config["WTF_CSRF_ENABLED"] = False  # test_admin_csrf.py covers CSRF
    form_names = {"host": "host", "port": "port", "username": "username", "remoteDir": "remote_dir"}
    form_names |= {"hostKey": "host_key", "bucket": "bucket", "endpointUrl": "endpoint_url"}
    for host in LOOPBACK:
        settings = delivery(method, host, trap.port, creds[method])
        form = {form_names[k]: str(v) for k, v in settings.items() if k in form_names}
        form |= {
            "delivery_method": method,
            "credential_id": str(creds[method]),
            "campaign_id": str(current.campaign_id),
        }
        result = client.post("/admin/integrations/test-connection", data=form).get_json()
        assert result["ok"] is False and any(reason in result["message"] for reason in REFUSAL), (host, result)
    assert trap.connections() == 0


def _saved_while_admitted(app, world, creds, method: str, host: str, port: int):
    """An integration saved before the policy (or while the operator admitted loopback)."""
    app.config["DELIVERY_ALLOWED_NETWORKS"] = "0.0.0.0/0,::/0"
    body = _body(world, f"old {method} {host}", delivery(method, host, port, creds[method]))
    integration = integrations.create_integration(world.a.enterprise.id, body, SYSTEM)
    app.config["DELIVERY_ALLOWED_NETWORKS"] = ""
    return integration


@pytest.mark.parametrize("method", ["sftp", "ftp", "s3"])
def test_saved_private_destinations_are_refused_when_connecting(app, client, world, creds, trap, method):
    for host in LOOPBACK:
        integration = _saved_while_admitted(app, world, creds, method, host, trap.port)
        url = f"/api/v4/batch-integrations/{integration.id}/test-connection"
        result = client.post(url, headers=bearer(world.a.tokens["admin"])).json
        assert result["ok"] is False and any(reason in result["message"] for reason in REFUSAL), (host, result)

        secret = credentials.reveal(integration.credential)
        with pytest.raises(egress.EgressRefused) as caught:
            get_transport(method).deliver(make_source(b"x"), integration.delivery, secret)
        assert caught.value.transient is False  # retrying reaches the same address
    assert trap.connections() == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_smtp_relay_is_checked_too(app, trap, host):
    app.config["SMTP_URL"] = f"smtp://{host}:{trap.port}"
    app.config["DELIVERY_ALLOWED_NETWORKS"] = ""
    email = get_transport("email")
    result = email.test_connection({"recipients": ["ops@example.com"]}, None)
    assert result.ok is False and any(reason in result.message for reason in REFUSAL), result
    with pytest.raises(egress.EgressRefused):
        email.deliver(make_source(b"x"), {"recipients": ["ops@example.com"]}, None)
    assert trap.connections() == 0


def test_the_allowlist_admits_only_the_networks_it_names(app, trap):
    app.config["DELIVERY_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    assert egress.resolve("localhost", trap.port).address == "127.0.0.1"
    assert egress.resolve("::ffff:127.0.0.1", trap.port).address == "::ffff:7f00:1"
    for host in ["::1", "10.0.0.1", "169.254.169.254", "fd00::1"]:
        with pytest.raises(egress.EgressRefused):
            egress.resolve(host, 22)
    app.config["DELIVERY_ALLOWED_NETWORKS"] = "10.20.0.0/16, fd00::/8"
    assert egress.is_allowed("10.20.3.4") and egress.is_allowed("fd12::1")
    assert not egress.is_allowed("10.21.0.1") and not egress.is_allowed("127.0.0.1")
    # Public addresses need no allowlist (checked as values: nothing connects to them).
    for public in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"]:
        assert egress.is_allowed(public)
    assert trap.connections() == 0


def test_a_mistyped_allowlist_stops_the_app_at_start_up(session_dir, database_url, redis_url):
    from tests.conftest import make_config

    with pytest.raises(RuntimeError, match=r"'10\.0\.0\.0/33' is not an IP network"):
        create_app(make_config(session_dir, database_url, redis_url, DELIVERY_ALLOWED_NETWORKS="10.0.0.0/33"))
