"""One buyer, however the address is spelled: the key that pending-order limits (and the
blocklist, CONTRACT §12) compare, never the address an order shows or mails.

`email_identity` folds the spellings that reach one mailbox: case (`A@X` = `a@x`), a plus tag
(`a+1@x` = `a@x`, honoured by Gmail, Outlook, iCloud, Fastmail, ...), and for Gmail the dots of
the local part and the `googlemail.com` alias (`J.Doe@googlemail.com` = `jdoe@gmail.com`). It
errs towards folding: two mailboxes that fold together only share a limit.

`network_identity` does the same for a source address: an IPv6 subscriber is handed a whole
/64 (RFC 6177; every host picks its own addresses in it, and privacy extensions change them
daily), so counting each address as its own network would let one buyer hold any number of
pending orders. An IPv6 address counts as its /64, an IPv4-mapped one as its IPv4 address.
"""

from __future__ import annotations

import ipaddress

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def email_identity(address: str) -> str:
    """The canonical form of an email address for limits and blocklists.

    >>> email_identity("J.Doe+shop@GoogleMail.com")
    'jdoe@gmail.com'
    >>> email_identity("A+1@Example.COM")
    'a@example.com'
    """
    local, _, domain = address.strip().lower().rpartition("@")
    domain = domain.rstrip(".")
    untagged = local.split("+", 1)[0]
    local = untagged or local  # "+x@…" has no untagged part: keep it whole
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", "") or local, "gmail.com"
    return f"{local}@{domain}"


def network_identity(source_ip: str) -> str:
    """The network a source address counts as, for the pending-order limits per source IP.

    >>> network_identity("2001:db8:1:2:a:b:c:d")
    '2001:db8:1:2::/64'
    >>> network_identity("::ffff:192.0.2.7")
    '192.0.2.7'
    >>> network_identity("192.0.2.7")
    '192.0.2.7'
    """
    try:
        address = ipaddress.ip_address(source_ip.strip())
    except ValueError:
        return source_ip  # not an address (API Gateway always sends one): counted as it is
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
