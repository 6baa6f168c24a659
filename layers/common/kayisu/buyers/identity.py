"""One buyer, however the address is spelled: the key that pending-order limits (and the
blocklist, CONTRACT §12) compare, never the address an order shows or mails.

`email_identity` folds the spellings that reach one mailbox: case (`A@X` = `a@x`), a plus tag
(`a+1@x` = `a@x`, honoured by Gmail, Outlook, iCloud, Fastmail, ...), and for Gmail the dots of
the local part and the `googlemail.com` alias (`J.Doe@googlemail.com` = `jdoe@gmail.com`). It
errs towards folding: two mailboxes that fold together only share a limit.
"""

from __future__ import annotations

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
