"""One mailbox, one limit: the spellings that reach the same mailbox fold to one key, and
different mailboxes stay apart."""

from __future__ import annotations

import pytest

from kayisu.buyers.identity import email_identity, network_identity


@pytest.mark.parametrize(
    "spelling",
    [
        "jdoe@gmail.com",
        "JDoe@Gmail.COM",
        "j.doe@gmail.com",
        "J.D.O.E+shop@googlemail.com",
        "jdoe+a+b@gmail.com",
        "  jdoe@gmail.com. ",
    ],
)
def test_every_spelling_of_one_gmail_mailbox_is_one_buyer(spelling: str) -> None:
    assert email_identity(spelling) == "jdoe@gmail.com"


def test_case_and_plus_tags_fold_everywhere_but_dots_only_at_gmail() -> None:
    assert email_identity("A+1@X.example") == email_identity("a@x.example") == "a@x.example"
    assert email_identity("a.b@example.com") == "a.b@example.com"  # a dot matters outside Gmail
    assert email_identity("a.b@example.com") != email_identity("ab@example.com")


def test_different_mailboxes_stay_apart() -> None:
    assert email_identity("alice@gmail.com") != email_identity("alice@example.com")
    assert email_identity("alice@gmail.com") != email_identity("alicia@gmail.com")


def test_an_address_that_is_only_a_tag_keeps_its_local_part() -> None:
    assert email_identity("+tag@example.com") == "+tag@example.com"


@pytest.mark.parametrize(
    "address",
    ["2001:db8:1:2::1", "2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:0db8:0001:0002:1234:5678:9abc:def0"],
)
def test_every_address_of_one_ipv6_slash_64_is_one_network(address: str) -> None:
    assert network_identity(address) == "2001:db8:1:2::/64"


def test_networks_stay_apart() -> None:
    assert network_identity("2001:db8:1:3::1") != network_identity("2001:db8:1:2::1")  # the next /64
    assert network_identity("192.0.2.1") != network_identity("192.0.2.2")  # IPv4: each address its own
    assert network_identity("::ffff:192.0.2.1") == network_identity("192.0.2.1") == "192.0.2.1"
    assert network_identity("not an address") == "not an address"
