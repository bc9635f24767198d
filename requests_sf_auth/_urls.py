"""URL rules: what a valid Salesforce domain is, which origins may see a token, and how
relative API paths resolve against the org's instance URL.

Everything here is pure string work with no I/O and no shared state, so it is safe from any
thread.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

__all__ = [
    "TOKEN_PATH",
    "Origin",
    "allowed_origins",
    "api_version",
    "is_login_domain",
    "is_loopback",
    "parse_domain",
    "require_safe_origin",
    "resolve_api_url",
    "versioned_base",
]

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a path, not a password
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOGIN_DOMAINS = frozenset({"login.salesforce.com", "test.salesforce.com"})
_API_VERSION = re.compile(r"v?(\d+)(?:\.(\d+))?")


def is_loopback(host: str) -> bool:
    """True for ``localhost``, any 127.0.0.0/8 address and ``::1``: hosts where plain http is
    acceptable because the traffic never leaves the machine."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_login_domain(host: str) -> bool:
    """True for login.salesforce.com and test.salesforce.com, which refuse the
    client-credentials flow: it works only on the org's My Domain host."""
    return host.lower().rstrip(".") in _LOGIN_DOMAINS


@dataclass(frozen=True)
class Origin:
    """Scheme, host and port: the unit a token is scoped to, as browsers scope cookies.

    ``prefix`` is the canonical ``scheme://host[:port]`` spelling that requests produces, used
    for a cheap ``str.startswith`` test on the hot path before any URL parsing.
    """

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin | None:
        """The origin of an absolute http(s) URL, or ``None`` for anything else."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        return cls(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme])

    @property
    def prefix(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"

    def __str__(self) -> str:
        return self.prefix


def require_safe_origin(url: str, what: str) -> Origin:
    """Parse ``url`` as an origin that may receive credentials: https, or http on loopback.

    Raises ``ValueError`` naming ``what`` (for example "instance_url") and the fix otherwise.
    """
    origin = Origin.of(url)
    if origin is None:
        raise ValueError(
            f"{what} {url!r} is not an absolute http(s) URL; "
            "expected something like https://MYDOMAIN.my.salesforce.com"
        )
    if origin.scheme != "https" and not is_loopback(origin.host):
        raise ValueError(
            f"{what} {url!r} uses plain http; credentials are only sent over https "
            "(plain http is allowed for loopback hosts only)"
        )
    return origin


def parse_domain(domain: str) -> tuple[Origin, str]:
    """Validate a user-supplied domain and return its origin and token endpoint URL.

    Accepts ``https://acme.my.salesforce.com``, ``acme.my.salesforce.com`` (https is assumed)
    and the token URL itself. Raises ``ValueError`` with the fix for anything else: an empty
    value, plain http to a non-loopback host, or a URL that carries user info, a query, a
    fragment or a path other than the token endpoint.
    """
    if not isinstance(domain, str) or not domain.strip():
        raise ValueError(
            "domain is empty; pass your org's My Domain, e.g. 'https://acme.my.salesforce.com'"
        )
    text = domain.strip()
    if any(ch.isspace() for ch in text):
        raise ValueError(f"domain {text!r} contains white space")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.username is not None or parts.password is not None:
        raise ValueError("domain must not contain user info ('user@'); pass credentials separately")
    if parts.query or parts.fragment:
        raise ValueError(f"domain {domain!r} must not have a query or fragment")
    path = parts.path.rstrip("/")
    if path not in ("", TOKEN_PATH):
        raise ValueError(
            f"domain {domain!r} has the path {parts.path!r}; pass the bare My Domain URL "
            f"(https://MYDOMAIN.my.salesforce.com) or its token URL ({TOKEN_PATH})"
        )
    origin = require_safe_origin(text, "domain")
    return origin, origin.prefix + TOKEN_PATH


def versioned_base(instance_url: str, api_version: str) -> str:
    """``{instance_url}/services/data/v{api_version}/``: the base relative API paths join to."""
    return f"{instance_url.rstrip('/')}/services/data/v{api_version}/"


def resolve_api_url(url: str, instance_url: str, api_version: str) -> str:
    """Resolve ``url`` as an RFC 3986 reference against the versioned REST base.

    * absolute ``http(s)://`` URLs are returned untouched;
    * ``/services/...`` (any path starting with ``/``) keeps its own path on the instance host;
    * ``sobjects/Account`` lands under ``/services/data/vNN.N/``; ``..`` segments are removed as
      RFC 3986 says, so they can climb to the root of the instance but never off its host;
    * a network-path reference (``//host/path``, or ``\\\\host``) would change the host, so it
      raises ``ValueError``: pass an absolute URL if you mean another host.
    """
    if Origin.of(url) is not None:
        return url
    if url.startswith(("//", "\\\\", "/\\", "\\/")):
        raise ValueError(
            f"{url!r} is a network-path reference that would leave the instance host; "
            "pass an absolute URL (https://host/...) to call another host"
        )
    return urljoin(versioned_base(instance_url, api_version), url)


def api_version(value: object) -> str:
    """``"67.0"``, ``"v67.0"`` or ``"67"``, normalised to ``"67.0"``; ``ValueError`` otherwise."""
    match = _API_VERSION.fullmatch(str(value).strip())
    if match is None:
        raise ValueError(f"api_version {value!r} is not a version like '67.0'")
    return f"{match.group(1)}.{match.group(2) or '0'}"


def allowed_origins(hosts: Iterable[str]) -> list[Origin]:
    """The ``allowed_hosts`` argument as origins: host names (https on 443 is assumed) or
    ``scheme://host[:port]``; a single string is one host. ``ValueError`` for anything else."""
    if isinstance(hosts, str):
        hosts = [hosts]
    origins = []
    for host in hosts:
        if not isinstance(host, str) or not host.strip():
            raise ValueError(f"allowed_hosts entries must be host names or URLs, not {host!r}")
        text = host.strip() if "://" in host else "https://" + host.strip()
        origin = require_safe_origin(text, "allowed_hosts entry")
        if urlsplit(text).path not in ("", "/"):
            raise ValueError(
                f"allowed_hosts entry {host!r} has a path; give a host or scheme://host:port"
            )
        origins.append(origin)
    return origins
