"""The ``htu`` a DPoP proof must name: a request URI normalised as RFC 3986 §6.2.2 and
§6.2.3 say, so a proof for ``HTTPS://Host:443/a/../b`` matches ``https://host/b``
(RFC 9449 §4.3 step 9). Pure."""

from __future__ import annotations

import re
import string
from urllib.parse import urlsplit

# --- htu normalisation (RFC 9449 §4.3 step 9; RFC 3986 §6.2.2, §6.2.3) -----------------

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
# Characters that may appear literally in a URI path (RFC 3986 §3.3) plus "%" of an escape.
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@/%")
_PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def _normalize_percent_encoding(text: str) -> str:
    # §6.2.2.1: hex digits of escapes are upper-case; §6.2.2.2: escapes of unreserved
    # characters are decoded.
    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _PERCENT_ESCAPE.sub(fix, text)


def _encode_unsafe(text: str) -> str:
    # Characters that cannot appear in a URI (a space, non-ASCII text) are percent-encoded as
    # UTF-8, as a browser does (WHATWG URL), so "/a b" and "/a%20b" compare equal.
    out = []
    for char in text:
        if char in _PATH_SAFE:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 §5.2.4, applied as syntax-based normalisation (§6.2.2.3).
    output: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith("./"):
            path = path[2:]
        elif path.startswith("/./"):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../"):
            path = path[3:]
            if output:
                output.pop()
        elif path == "/..":
            path = "/"
            if output:
                output.pop()
        elif path in {".", ".."}:
            path = ""
        else:
            start = 1 if path.startswith("/") else 0
            end = path.find("/", start)
            if end == -1:
                end = len(path)
            output.append(path[:end])
            path = path[end:]
    return "".join(output)


def normalize_htu(url: str) -> str:
    """``url`` as compared for ``htu``: scheme and host lower-cased, the scheme's default
    port dropped, an empty path made "/", dot segments removed, percent-encoding normalised
    (RFC 3986 §6.2.2, §6.2.3), and query and fragment dropped (RFC 9449 §4.3).

    Accepts absolute http, https, ws and wss URLs (ws/wss for the websocket handshake).
    Raises ValueError for anything else, for userinfo (RFC 9110 §4.2.4) and for a bad port.
    Servers must pass the URL as the client sent it: the public scheme and host (behind a
    proxy) and the raw, still percent-encoded path.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("htu must be an absolute http(s) or ws(s) URL")
    if "@" in parts.netloc:
        raise ValueError("htu must not carry userinfo")
    host = parts.hostname  # lower-cased, IPv6 brackets removed
    if not host:
        raise ValueError("htu has no host")
    host = _normalize_percent_encoding(host).lower()
    host = _PERCENT_ESCAPE.sub(lambda m: "%" + m.group(1).upper(), host)
    if ":" in host:
        host = f"[{host}]"
    port = parts.port  # raises ValueError when not a number in 0-65535
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _remove_dot_segments(_normalize_percent_encoding(_encode_unsafe(parts.path))) or "/"
    return f"{scheme}://{netloc}{path}"
