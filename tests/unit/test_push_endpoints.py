"""The SSRF rules for Web Push endpoints (chat.domain.push_endpoints) over a table of
spellings of inside addresses, and the ones that pass."""

from __future__ import annotations

import pytest

from chat.domain.push_endpoints import (
    EndpointRefused,
    check_resolved,
    host_allowed,
    parse_allowed_hosts,
    parse_endpoint,
)

REFUSED = [
    # loopback, every spelling
    "https://127.0.0.1/x", "https://127.0.0.1:8293/x", "https://127.1/x",
    "https://127.0.1/x", "https://2130706433/x", "https://0x7f000001/x",
    "https://0x7f.0.0.1/x", "https://0177.0.0.1/x", "https://017700000001/x",
    "https://127.000.000.001/x", "https://localhost/x", "https://LOCALHOST/x",
    "https://localhost./x", "https://a.localhost/x", "https://127.0.0.1./x",
    "https://[::1]/x", "https://[::1]:8293/x", "https://[0:0:0:0:0:0:0:1]/x",
    "https://[::ffff:127.0.0.1]/x", "https://[::ffff:7f00:1]/x", "https://[::127.0.0.1]/x",
    "https://[64:ff9b::7f00:1]/x", "https://[64:ff9b::a00:1]/x", "https://[2002:7f00:1::]/x",
    "https://[2002:c0a8:101::1]/x",
    # private, shared, link-local, unique-local, multicast, reserved, unspecified
    "https://10.0.0.5/x", "https://172.16.0.1/x", "https://192.168.1.1/x",
    "https://100.64.0.1/x", "https://169.254.169.254/latest/meta-data",
    "https://[fe80::1]/x", "https://[fc00::1]/x", "https://[fd12:3456::1]/x",
    "https://[fec0::1]/x", "https://224.0.0.1/x", "https://239.255.255.250/x",
    "https://[ff02::1]/x", "https://240.0.0.1/x", "https://255.255.255.255/x",
    "https://0.0.0.0/x", "https://0/x", "https://[::]/x", "https://192.0.2.1/x",
    "https://198.18.0.1/x", "https://[2001:db8::1]/x", "https://[64:ff9b:1::1]/x",
    # credentials, encodings, schemes and other tricks
    "https://a@127.0.0.1/x", "https://push.example.com@127.0.0.1/x",
    "https://user:pw@push.example.com/x", "https://%31%32%37.0.0.1/x",
    "https://127%2e0.0.1/x", "https://[fe80::1%25eth0]/x",
    "https://127.0.0.1\\@push.example.com/x",
    "https://push.example.com /x", "https://pu\tsh.example.com/x",
    "https://ｌｏｃａｌｈｏｓｔ/x", "https://push.example..com/x", "https://push.example.com../x",
    "http://push.example.com/x", "ftp://push.example.com/x", "file:///etc/passwd",
    "https:///x", "https://push.example.com:0/x", "https://push.example.com:99999/x",
    "https://[::1/x", "//push.example.com/x", "push.example.com/x",
]

ACCEPTED = [
    ("https://fcm.googleapis.com/fcm/send/abc:def", "fcm.googleapis.com"),
    ("https://updates.push.services.mozilla.com/wpush/v2/gAAA",
     "updates.push.services.mozilla.com"),
    ("https://web.push.apple.com/QGuQ", "web.push.apple.com"),
    ("https://FCM.GoogleAPIs.com./fcm/send/x", "fcm.googleapis.com"),
    ("https://wns2-par02p.notify.windows.com:443/w/?token=x", "wns2-par02p.notify.windows.com"),
    ("https://8.8.8.8/x", "8.8.8.8"),
    ("https://[2606:4700::1111]/x", "2606:4700::1111"),
    ("https://[64:ff9b::808:808]/x", "64:ff9b::808:808"),
]


@pytest.mark.parametrize("url", REFUSED)
def test_an_endpoint_inside_the_network_in_any_spelling_is_refused(url: str) -> None:
    with pytest.raises(EndpointRefused):
        parse_endpoint(url)


@pytest.mark.parametrize(("url", "host"), ACCEPTED)
def test_a_public_push_service_is_accepted(url: str, host: str) -> None:
    assert parse_endpoint(url).host == host


def test_the_test_setting_lets_only_the_literal_127_0_0_1_through() -> None:
    endpoint = parse_endpoint("http://127.0.0.1:8293/push/a", allow_test_loopback=True)
    assert endpoint.test_loopback and endpoint.port == 8293
    assert parse_endpoint("https://127.0.0.1:8293/push/a", allow_test_loopback=True).test_loopback
    for url in ("http://localhost:8293/x", "https://127.1:8293/x", "https://[::1]:8293/x",
                "http://2130706433:8293/x", "http://10.0.0.1/x", "https://vm:8293/x"):
        with pytest.raises(EndpointRefused):
            endpoint = parse_endpoint(url, allow_test_loopback=True)
            if endpoint.ip is None:     # a name: its addresses decide
                check_resolved(["127.0.0.1"])


@pytest.mark.parametrize("addresses", [
    ["127.0.0.1"], ["8.8.8.8", "10.0.0.1"], ["2606:4700::1111", "::1"],
    ["::ffff:192.168.0.1"], ["fe80::1%eth0"], [], ["not-an-address"],
])
def test_a_name_is_refused_when_any_address_it_resolves_to_is(addresses: list[str]) -> None:
    with pytest.raises(EndpointRefused):
        check_resolved(addresses)


def test_a_name_resolving_to_public_addresses_passes() -> None:
    assert len(check_resolved(["142.250.72.10", "2607:f8b0:4005:80b::200a"])) == 2


def test_the_allow_list_matches_names_and_domains() -> None:
    allowed = parse_allowed_hosts(" fcm.googleapis.com, *.push.apple.com ,"
                                  "*.notify.windows.com,updates.push.services.mozilla.com.")
    assert allowed[-1] == "updates.push.services.mozilla.com"
    assert host_allowed("fcm.googleapis.com", allowed)
    assert host_allowed("web.push.apple.com", allowed)
    assert not host_allowed("push.apple.com", allowed)
    assert not host_allowed("evilpush.apple.com.attacker.example", allowed)
    assert not host_allowed("fcm.googleapis.com.attacker.example", allowed)
    assert host_allowed("anything.example", ())
    parse_endpoint("https://web.push.apple.com/x", allowed_hosts=allowed)
    for url in ("https://push.attacker.example/x", "https://8.8.8.8/x"):
        with pytest.raises(EndpointRefused, match="allowed"):
            parse_endpoint(url, allowed_hosts=allowed)
