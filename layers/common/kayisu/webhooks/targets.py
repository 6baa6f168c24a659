"""Where a webhook may be sent (CONTRACT §13): https to a public address only, checked when the
endpoint is made and again at every delivery, on the addresses the delivery then connects to
(so a name that resolves elsewhere later, DNS rebinding, reaches nothing private). The local
stack also allows http and https to 127.0.0.1 and `localhost`, and only those."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from kayisu.errors import Problem

MAX_URL_LENGTH = 2048
LOCAL_NAMES = {"localhost", "127.0.0.1"}
# Cloud metadata services beyond the link-local range (AWS's IPv6 one, and the ECS task one).
METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("169.254.170.2")}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def bad_url(detail: str) -> Problem:
    return Problem(422, "BAD_WEBHOOK_URL", "Webhook URL not allowed", detail)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (the TLS server name and Host header)
    port: int
    path: str  # path and query, as sent in the request line


def parse(url: str, allow_loopback: bool) -> Target:
    """The URL's parts if it is one we may send to, or 422 BAD_WEBHOOK_URL; no DNS here."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 0x20 for c in url):
        raise bad_url("The URL is too long or has spaces or control characters.")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise bad_url("The URL cannot be parsed.") from None
    local = allow_loopback and host in LOCAL_NAMES
    if parts.scheme != "https" and not (local and parts.scheme == "http"):
        raise bad_url("Webhook URLs must use https.")
    if not host or parts.username or parts.password:
        raise bad_url("The URL needs a host name and no user name or password.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise bad_url("The URL's port is not a number from 1 to 65535.") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path)


def refused_address(address: IPAddress) -> str | None:
    """Why an address may not be a webhook target, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refused_address(address.ipv4_mapped)
    if address in METADATA or (address.version == 4 and address in ipaddress.ip_network("169.254.0.0/16")):
        return "a link-local or metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_private or address.is_link_local or address.is_reserved or address.is_multicast:
        return "a private or reserved address"
    if address.is_unspecified or not address.is_global:
        return "an address that is not public"
    return None


def addresses(target: Target, allow_loopback: bool) -> list[IPAddress]:
    """The addresses to connect to, each allowed; 422 if the name resolves to none or to any
    that is not (one bad answer is enough: a resolver may hand either out)."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(target.host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise bad_url(f"The host {target.host!r} does not resolve.") from None
        found = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    if not found:
        raise bad_url(f"The host {target.host!r} does not resolve.")
    for address in found:
        if allow_loopback and target.host in LOCAL_NAMES and address.is_loopback:
            continue
        reason = refused_address(address)
        if reason:
            raise bad_url(f"The host {target.host!r} is {reason}: webhooks go to public addresses only.")
    return found


def check(url: str, allow_loopback: bool) -> tuple[Target, list[IPAddress]]:
    target = parse(url, allow_loopback)
    return target, addresses(target, allow_loopback)
