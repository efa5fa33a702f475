"""Which Web Push endpoints the server may POST to (pure): the SSRF rules.

A push endpoint is a URL a browser hands in and the server later connects to, so without
rules any staff member could make the server open connections inside the city's network
(``https://127.0.0.1:6379/…``, ``https://10.0.0.5/…``). An endpoint must be ``https``,
carry no credentials, name its host by a DNS name or an IP literal in canonical form,
and that address (or every address the name resolves to: ``chat.webpush`` resolves and
checks again at send time, and connects to the very address it checked) must be public.

Spellings browsers or resolvers read as an address but that are not canonical are
refused outright, never "normalised": decimal ``2130706433``, hex ``0x7f000001``, octal
``0177.0.0.1``, short ``127.1`` (the WHATWG URL standard's "ends in a number"), a
percent-encoded or non-ASCII host, a zone id, a backslash. ``localhost`` names are
refused by name (RFC 6761 §6.3). IPv6 addresses that embed IPv4 (IPv4-mapped, 6to4,
Teredo, NAT64 64:ff9b::/96) are judged by the embedded address as well.

Why the standard library's ``ipaddress`` and no SSRF library: ``ipaddress`` carries the
IANA special-purpose registries (``is_global``) and is maintained with Python; the
SSRF packages for Python (advocate and its forks) are unmaintained and tied to
``requests``, while delivery goes through aiohttp (``chat.webpush``). The rules left to
write are the few lines below, and tests/unit/test_push_endpoints.py pins them with a
table of spellings.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The host the test-only setting lets through (a push service run by the tests).
TEST_LOOPBACK_HOST = "127.0.0.1"
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")        # RFC 6052 well-known prefix
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")      # deprecated, still private
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")      # RFC 6598 carrier-grade NAT


class EndpointRefused(ValueError):
    """The endpoint must not be connected to; the message says why (never the URL)."""


@dataclass(frozen=True)
class Endpoint:
    """A parsed endpoint: its host without brackets or trailing dot, lowercase; ``ip``
    when the host is an address literal."""

    scheme: str
    host: str
    port: int
    ip: IPAddress | None
    test_loopback: bool = False


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` must not be connected to, or None when it is a public unicast
    address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            why = refusal(embedded)
            return f"embeds {why}" if why else None
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv6Address) and (
            address in _SITE_LOCAL or address.is_private):
        return "a private or unique-local address"
    if isinstance(address, ipaddress.IPv4Address) and (
            address.is_private or address in _SHARED):
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]     # the client's address; the server is public anyway
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def parse_allowed_hosts(text: str) -> tuple[str, ...]:
    """``CHAT_PUSH_ALLOWED_HOSTS``: comma-separated names, ``*.suffix`` for any name
    under a domain."""
    return tuple(h.strip().lower().rstrip(".") for h in text.split(",") if h.strip())


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """True when no allow-list is set, or ``host`` is on it (``*.push.apple.com``
    matches ``web.push.apple.com``, not ``push.apple.com`` itself)."""
    patterns = tuple(allowed)
    if not patterns:
        return True
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


def parse_endpoint(url: str, *, allowed_hosts: Iterable[str] = (),
                   allow_test_loopback: bool = False) -> Endpoint:
    """Check an endpoint's spelling and, for an address literal, the address; raise
    :class:`EndpointRefused`. A name still has to be resolved and its addresses passed
    through :func:`check_resolved`. ``allow_test_loopback`` (tests only) lets
    ``http(s)://127.0.0.1:PORT`` through, spelled exactly so."""
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in url):
        raise EndpointRefused("the endpoint has whitespace, control characters or '\\'")
    if not url.isascii():
        raise EndpointRefused("the endpoint must be ASCII")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise EndpointRefused("the endpoint is not a valid URL") from None
    if "@" in parts.netloc:
        raise EndpointRefused("the endpoint must not carry credentials")
    if "%" in parts.netloc:
        raise EndpointRefused("the endpoint's host must not be percent-encoded")
    try:
        port = parts.port
    except ValueError:
        raise EndpointRefused("the endpoint's port is not valid") from None
    raw = parts.hostname or ""
    if allow_test_loopback and raw == TEST_LOOPBACK_HOST and parts.scheme in {"http",
                                                                              "https"}:
        return Endpoint(parts.scheme, raw, port or (443 if parts.scheme == "https" else 80),
                        ipaddress.IPv4Address(raw), test_loopback=True)
    if parts.scheme != "https":
        raise EndpointRefused("the endpoint must be an https URL")
    if port == 0:
        raise EndpointRefused("the endpoint's port is not valid")
    if not raw:
        raise EndpointRefused("the endpoint has no host")
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    host = raw[:-1] if raw.endswith(".") and not bracketed else raw
    ip = _literal(host, bracketed)
    if ip is not None:
        why = refusal(ip)
        if why:
            raise EndpointRefused(f"the endpoint's host is {why}")
        if tuple(allowed_hosts):
            raise EndpointRefused("the endpoint's host is not an allowed push service")
        return Endpoint("https", str(ip), port or 443, ip)
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise EndpointRefused("the endpoint's host is not a valid name")
    if _NUMERIC_LABEL.match(labels[-1]):
        raise EndpointRefused("the endpoint's host is a numeric address spelling")
    if labels[-1] == "localhost":
        raise EndpointRefused("the endpoint's host is a loopback name")
    if not host_allowed(host, allowed_hosts):
        raise EndpointRefused("the endpoint's host is not an allowed push service")
    return Endpoint("https", host, port or 443, None)


def _literal(host: str, bracketed: bool) -> IPAddress | None:
    if bracketed:
        if "%" in host:
            raise EndpointRefused("the endpoint's host must not carry a zone id")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise EndpointRefused("the endpoint's host is not a valid address") from None
    try:
        return ipaddress.IPv4Address(host)   # dotted decimal only, no leading zeros
    except ValueError:
        return None


def check_resolved(addresses: Iterable[str]) -> list[IPAddress]:
    """The addresses a name resolved to, each checked: one refused address refuses the
    name (an attacker's DNS may mix a public address with an internal one)."""
    checked: list[IPAddress] = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise EndpointRefused("the endpoint's host resolved to a non-address") from None
        why = refusal(address)
        if why:
            raise EndpointRefused(f"the endpoint's host resolves to {why}")
        checked.append(address)
    if not checked:
        raise EndpointRefused("the endpoint's host did not resolve")
    return checked
