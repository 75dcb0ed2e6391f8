"""Egress policy: deliveries and test connections reach public addresses only.

Every destination a tenant can name (SFTP and FTP hosts, an S3 endpoint) and the
operator's SMTP relay is resolved here and each address checked: loopback, private,
link-local, CGNAT, reserved, unspecified and multicast addresses are refused unless
the operator admits their network in DELIVERY_ALLOWED_NETWORKS (comma-separated
CIDRs; empty by default). The check runs when settings are saved and again right
before connecting, and the transports connect to the address that was checked, never
to the name again: a DNS answer that changes in between (rebinding) changes nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app, has_app_context

from app.errors import DeliveryError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
SETTING = "DELIVERY_ALLOWED_NETWORKS"
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
HINT = f"deliveries reach private networks only when the operator lists them in {SETTING}"


class EgressRefused(DeliveryError):
    """A destination the policy refuses; permanent: retrying reaches the same address."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


@dataclass(frozen=True)
class Destination:
    """A checked destination: the name people configured and the address to connect to."""

    host: str
    port: int
    address: str

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


@lru_cache(maxsize=16)
def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """`10.1.0.0/16, fd00::/8` -> networks; ValueError naming an entry that is not a CIDR."""
    networks = []
    for entry in (part.strip() for part in (text or "").split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{SETTING}: {entry!r} is not an IP network such as 10.20.0.0/16") from None
    return tuple(networks)


def allowed_networks() -> tuple[IPNetwork, ...]:
    """The operator's allowlist (config DELIVERY_ALLOWED_NETWORKS; a string or a list of CIDRs)."""
    value = current_app.config.get(SETTING) if has_app_context() else ""
    if isinstance(value, list | tuple):
        value = ",".join(value)
    return parse_networks(value or "")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_public(ip: IPAddress) -> bool:
    special = ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback or ip.is_link_local
    return not (special or ip.is_private or ip in _CGNAT or not ip.is_global)


def is_allowed(address: str | IPAddress, networks: tuple[IPNetwork, ...] | None = None) -> bool:
    """Whether a delivery may connect to this address (public, or admitted by the allowlist).

    `networks` defaults to the app's allowlist; code running outside the app context (the
    S3 client's resolver thread) passes the one it captured.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    candidates = [ip] if embedded is None else [ip, embedded]
    allowlist = allowed_networks() if networks is None else networks
    if any(c in net for c in candidates for net in allowlist if c.version == net.version):
        return True
    # An IPv6 address that reaches an IPv4 one must pass as both.
    return all(_is_public(c) for c in candidates)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _lookup(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def resolve(host: str, port: int, *, what: str = "", networks: tuple[IPNetwork, ...] | None = None) -> Destination:
    """Resolve and check a destination; EgressRefused, or DeliveryError when the name does not resolve.

    Every address the name has must pass (a name that also points inside is refused,
    whichever address a client would have picked), and the first is the one to use.
    """
    return Destination(host, port, resolve_all(host, port, what=what, networks=networks)[0])


def resolve_all(host: str, port: int, *, what: str = "", networks: tuple[IPNetwork, ...] | None = None) -> list[str]:
    """Every address of a destination, each checked (see resolve)."""
    prefix = f"{what}: " if what else ""
    where = f"{host}:{port}"
    literal = _literal(host)
    if literal is not None:
        if not is_allowed(literal, networks):
            raise EgressRefused(f"{prefix}{host} is not a public address; {HINT}")
        return [str(literal)]
    try:
        addresses = _lookup(host, port)
    except (socket.gaierror, UnicodeError):
        raise DeliveryError(f"{prefix}cannot resolve host of {where}", transient=True) from None
    if not addresses or not all(is_allowed(a, networks) for a in addresses):
        # The address itself is not shown: it would map a private network for the asker.
        raise EgressRefused(f"{prefix}{host} resolves to an address that is not public; {HINT}")
    return addresses


def check_on_save(host: str, port: int) -> str | None:
    """The problem with a destination being saved, or None.

    A name that does not resolve (yet) is accepted: the check runs again when connecting.
    """
    try:
        resolve(host, port)
    except EgressRefused as exc:
        return exc.message
    except DeliveryError:
        return None
    return None


def connect(destination: Destination, timeout: float) -> socket.socket:
    """A TCP connection to the checked address (never to the name again)."""
    return socket.create_connection((destination.address, destination.port), timeout=timeout)
