"""Browser origins (``scheme://host[:port]``) and the one rule that matches an ``Origin`` header
against an entry's ``allowed_origins``.

An allowed-origin pattern is an origin with ``http`` or ``https``, a host (a DNS name, an IPv4
address or a bracketed IPv6 address) and an optional port; nothing else (no path, query, user or
fragment). Two wildcards exist, both strict:

- ``*`` as the whole leading host label: ``https://*.example.com`` matches ``https://shop.example.com``
  (exactly one label in place of the ``*``), not ``https://example.com`` nor ``https://a.b.example.com``.
  At least two labels must follow it and the host must be a name, not an address.
- ``*`` as the port: ``http://localhost:*`` matches ``http://localhost`` on any port, including none.

Default ports are the same as none (``https://x:443`` is ``https://x``). Scheme and host compare
case-insensitively; the browser's literal ``Origin: null`` never matches.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

DEFAULT_PORTS = {"http": 80, "https": 443}
ANY_PORT = 0  # the port of a ``:*`` pattern
MAX_HOST_CHARS = 253

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_IPV6 = re.compile(r"\[[0-9a-f:.]+\]")
_ORIGIN = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>\[[^\]/]*\]|[^:/?#@\[\]]*)(?::(?P<port>[^/?#]*))?")


@dataclass(frozen=True, slots=True)
class Origin:
    """A parsed origin: lower-case scheme and host, the effective port (``ANY_PORT`` for ``:*``)."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        port = "" if self.port == DEFAULT_PORTS[self.scheme] else ":*" if self.port == ANY_PORT else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}"


def _parse(text: str, wildcards: bool) -> Origin:
    """The origin ``text`` names, or ValueError saying what is wrong with it."""
    value = text.strip().lower()
    match = _ORIGIN.fullmatch(value)
    if match is None:
        raise ValueError("must be scheme://host[:port] (no path, query, fragment or user)")
    scheme, host, port_text = match.group("scheme"), match.group("host"), match.group("port")
    if scheme not in DEFAULT_PORTS:
        raise ValueError("the scheme must be http or https")
    if not host:
        raise ValueError("a host is required")
    if port_text is None:
        port = DEFAULT_PORTS[scheme]
    elif port_text == "*" and wildcards:
        port = ANY_PORT
    elif port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise ValueError("the port must be a number from 1 to 65535" + (" or *" if wildcards else ""))
    if host.startswith("["):
        if not _IPV6.fullmatch(host):
            raise ValueError("an IPv6 host must be hex digits and colons in brackets")
    else:
        wild = wildcards and host.startswith("*.")
        name = host[2:] if wild else host
        if "*" in name:
            raise ValueError("'*' may only be the whole first label of the host (https://*.example.com)")
        if len(host) > MAX_HOST_CHARS or not _NAME.fullmatch(name):
            raise ValueError("the host must be a DNS name or an IP address")
        if wild:
            labels = name.split(".")
            if len(labels) < 2 or labels[-1].isdigit():
                raise ValueError("'*.' must be followed by a domain of at least two labels (https://*.example.com)")
    return Origin(scheme, host, port)


def parse_origin(text: str) -> Origin | None:
    """The origin of an ``Origin`` header value; None for ``null`` or anything malformed."""
    try:
        return _parse(text, wildcards=False)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1024)
def _pattern(text: str) -> Origin:
    return _parse(text, wildcards=True)


def check_origin_pattern(text: str) -> str:
    """Validate one ``allowed_origins`` entry; returns it normalised (lower case, no default port).

    Raises ValueError with the reason; the configuration reader prefixes the field's path.
    """
    if text.strip() == "*":
        raise ValueError("'*' would let every website act as the visitor; list the sites' origins")
    return str(_pattern(text))


def _matches(origin: Origin, pattern: Origin) -> bool:
    if origin.scheme != pattern.scheme or (pattern.port != ANY_PORT and origin.port != pattern.port):
        return False
    if pattern.host.startswith("*."):
        first, _, rest = origin.host.partition(".")
        return bool(first) and not origin.host.startswith("[") and rest == pattern.host[2:]
    return origin.host == pattern.host


def origin_allowed(origin: str, patterns: Iterable[str]) -> bool:
    """Whether the ``Origin`` header value ``origin`` matches one of ``patterns`` (each already
    validated by ``check_origin_pattern``). This is the only place the rule is written."""
    parsed = parse_origin(origin)
    if parsed is None:
        return False
    return any(_matches(parsed, _pattern(p)) for p in patterns)


def same_origin(origin: str, scheme: str, host_header: str | None) -> bool:
    """Whether ``origin`` is the request's own origin: its scheme with the Host it was sent to."""
    if not host_header:
        return False
    parsed = parse_origin(origin)
    return parsed is not None and parsed == parse_origin(f"{scheme}://{host_header}")


class OriginVerdict(Enum):
    """How the customer API treats a request's ``Origin`` (docs/customer-api.md, "CORS model")."""

    ABSENT = "absent"  # no Origin: SDKs, bridges, <img> loads and link navigations
    TRUSTED = "trusted"  # the server's own origin or an allowed one: credentialed CORS, the visitor cookie
    FOREIGN = "foreign"  # any other site (or ``null``): no credentials, never the visitor cookie


def judge_origin(origin: str | None, scheme: str, host_header: str | None, patterns: Iterable[str]) -> OriginVerdict:
    """The verdict on a request's ``Origin`` header given the allowed-origin patterns that apply."""
    if origin is None:
        return OriginVerdict.ABSENT
    if same_origin(origin, scheme, host_header) or origin_allowed(origin, patterns):
        return OriginVerdict.TRUSTED
    return OriginVerdict.FOREIGN
