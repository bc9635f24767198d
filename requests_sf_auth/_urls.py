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

import idna
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

__all__ = [
    "SALESFORCE_DOMAINS",
    "TOKEN_PATH",
    "Origin",
    "allowed_origins",
    "api_version",
    "is_login_domain",
    "is_loopback",
    "parse_domain",
    "require_safe_origin",
    "resolve_api_url",
    "trusted_instance",
    "versioned_base",
    "wire_host",
]

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a path, not a password
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOGIN_DOMAINS = frozenset({"login.salesforce.com", "test.salesforce.com"})
_API_VERSION = re.compile(r"v?([0-9]+)(?:\.([0-9]+))?")  # ASCII: \d takes any script's digits
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f\\]")
# What urljoin strips before it parses a reference (WHATWG: C0 controls and space around it,
# tab and newlines anywhere), so a check must look at the reference after the same steps.
_URLJOIN_STRIPS = "".join(chr(c) for c in range(0x21))


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


def wire_host(host: str) -> str:
    """``host`` as requests writes it into the request it sends: in lower case, and an
    internationalised name (``bücher.example``) in its ASCII form (``xn--bcher-kva.example``).

    Origins are compared in this form, so a name is the same origin however it is spelled.
    The encoding is the transport's own: urllib3, which requests parses URLs with, encodes each
    label by IDNA 2008, and requests applies UTS 46 to anything urllib3 left alone. Raises
    ``ValueError`` for a name they cannot encode (requests would refuse to send to it).
    """
    host = host.lower()
    if host.isascii():
        return host
    try:
        encoded = parse_url(f"http://{host}/").host or ""
        if not encoded.isascii():
            encoded = idna.encode(encoded, uts46=True).decode("ascii")
    except (LocationParseError, idna.IDNAError, UnicodeError):
        raise ValueError(
            f"the host {host!r} is not a valid internationalised domain name (IDNA), so "
            "requests cannot send to it; check it for characters such names may not hold "
            "(a full-width letter or dot, a leading hyphen, a symbol)"
        ) from None
    return encoded.lower()


@dataclass(frozen=True)
class Origin:
    """Scheme, host and port: the unit a token is scoped to, as browsers scope cookies.

    ``host`` is in the form requests sends (see :func:`wire_host`), and ``prefix`` is the
    canonical ``scheme://host[:port]`` spelling that requests produces, used for a cheap
    ``str.startswith`` test on the hot path before any URL parsing.
    """

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin | None:
        """The origin of an absolute http(s) URL, or ``None`` for anything else.

        A host name requests cannot encode is kept as it is written: such an origin equals
        none of ours, which :func:`require_safe_origin` checked, and requests refuses to send
        to it anyway.
        """
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        host = parts.hostname
        if scheme not in _DEFAULT_PORTS or not host:
            return None
        try:
            host = wire_host(host)
        except ValueError:
            host = host.lower()
        return cls(scheme, host, port or _DEFAULT_PORTS[scheme])

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
    if _UNSAFE_IN_URL.search(url):
        raise ValueError(
            f"{what} {url!r} contains white space, a control character or a backslash, which "
            "parsers read differently; pass the URL exactly, e.g. https://MYDOMAIN.my.salesforce.com"
        )
    origin = Origin.of(url)
    if origin is None:
        raise ValueError(
            f"{what} {url!r} is not an absolute http(s) URL; "
            "expected something like https://MYDOMAIN.my.salesforce.com"
        )
    if "%" in origin.host:
        # Versions of requests differ on whether they decode it before connecting.
        raise ValueError(
            f"{what} {url!r} has a percent-encoded host name, which HTTP libraries decode "
            "differently; write the host name plainly"
        )
    try:
        wire_host(origin.host)
    except ValueError as exc:
        raise ValueError(f"{what} {url!r}: {exc}") from None
    _require_one_reading(url, origin, what)
    if origin.scheme != "https" and not is_loopback(origin.host):
        raise ValueError(
            f"{what} {url!r} uses plain http; credentials are only sent over https "
            "(plain http is allowed for loopback hosts only)"
        )
    return origin


def _require_one_reading(url: str, origin: Origin, what: str) -> None:
    """The host urllib3 will connect to must be the host we scope the token to, and a valid
    DNS name: otherwise the transport would send credentials somewhere the checks never saw."""
    try:
        parsed = parse_url(url)
    except LocationParseError:
        parsed = None
    host = (parsed.host or "").strip("[]").lower() if parsed is not None else None
    if host != origin.host:
        raise ValueError(f"{what} {url!r} is read as another host by the HTTP transport")
    labels = origin.host.rstrip(".").split(".")
    a_name = not is_loopback(origin.host) and ":" not in origin.host
    if a_name and (len(origin.host) > 253 or not all(0 < len(label) <= 63 for label in labels)):
        raise ValueError(
            f"{what} {url!r} is not a valid host name (each label is 1 to 63 characters)"
        )


SALESFORCE_DOMAINS = (
    "salesforce.com",
    "force.com",
    "site.com",
    "cloudforce.com",
    "salesforce-sites.com",
    "visualforce.com",
    "lightning.com",
)
"""Domains under which Salesforce serves orgs, as its help article "Allow the Required Domains"
lists them for firewalls (our record of it: shared/SALESFORCE.md; its minimum list, as quoted
publicly: force.com, lightning.com, salesforce.com, visualforce.com). An ``instance_url``
under one of these, over https, is taken as the org's own. Government and other clouds have
suffixes of their own that we could not confirm: name such hosts in ``allowed_hosts``."""


def _is_bare(url: str) -> bool:
    """Whether ``url`` is ``scheme://host[:port]``, with a trailing ``/`` at most. An empty
    query, fragment, user info or port counts too: ``https://host?`` + ``/services/...`` puts
    the path in the query, and ``https://host#`` cuts it off, so requests reach ``/``."""
    parts = urlsplit(url)
    return (
        parts.path in ("", "/")
        and not any(mark in url for mark in "?#@")
        and not parts.netloc.endswith(":")
    )


def trusted_instance(url: str, domain: Origin, allowed: frozenset[Origin]) -> Origin:
    """The origin of a token answer's ``instance_url``, when it may receive the token: the
    domain's own, one of ``allowed``, or https under :data:`SALESFORCE_DOMAINS`, and never
    plain http when the domain is https. It must be a bare origin: relative URLs resolve
    against it, and a path, query, fragment or user info would send them elsewhere on the host
    or put text from the answer in front of every request. Raises ``ValueError`` with the fix
    otherwise."""
    origin = require_safe_origin(url, "instance_url")
    if not _is_bare(url):
        raise ValueError(
            f"instance_url {url!r} is not a bare scheme://host[:port]: it has a path, query, "
            "fragment or user info, which Salesforce never sends"
        )
    if origin == domain or origin in allowed:
        return origin
    if domain.scheme == "https" and origin.scheme != "https":
        raise ValueError(f"instance_url {url!r} uses plain http while the domain uses https")
    host = origin.host.rstrip(".")
    if origin.scheme == "https" and any(
        host == suffix or host.endswith("." + suffix) for suffix in SALESFORCE_DOMAINS
    ):
        return origin
    raise ValueError(
        f"instance_url {url!r} is neither the domain's host nor under Salesforce's own "
        "domains; if that host is your org's, add it to allowed_hosts"
    )


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
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # an unbalanced "[" or "]", say
        raise ValueError(
            f"domain {domain!r} cannot be read as a URL ({exc}); "
            "pass your org's My Domain, e.g. 'https://acme.my.salesforce.com'"
        ) from None
    if parts.username is not None or parts.password is not None:
        raise ValueError("domain must not contain user info ('user@'); pass credentials separately")
    if "?" in text or "#" in text:  # (an empty one too)
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
    # Look at the reference as urljoin will: leading C0 controls and spaces stripped, tabs and
    # newlines removed. What is left must not start a network path.
    seen = url.lstrip(_URLJOIN_STRIPS).replace("\t", "").replace("\r", "").replace("\n", "")
    base = versioned_base(instance_url, api_version)
    try:
        resolved = None if seen.startswith(("//", "\\\\", "/\\", "\\/")) else urljoin(base, url)
    except ValueError:  # urljoin found a host it cannot even read: not the instance's
        resolved = None
    if resolved is None:
        raise ValueError(
            f"{url!r} is a network-path reference that would leave the instance host; "
            "pass an absolute URL (https://host/...) to call another host"
        )
    if Origin.of(resolved) != Origin.of(base):
        raise ValueError(
            f"{url!r} resolves to {resolved!r}, which would leave the instance host; "
            "pass an absolute URL (https://host/...) to call another host"
        )
    return resolved


def api_version(value: object) -> str:
    """``"67.0"``, ``"v67.0"`` or ``"67"``, normalised to ``"67.0"``; ``ValueError`` otherwise."""
    match = _API_VERSION.fullmatch(str(value).strip())
    if match is None:
        raise ValueError(f"api_version {value!r} is not a version like '67.0'")
    return f"{match.group(1)}.{match.group(2) or '0'}"


def allowed_origins(hosts: object) -> list[Origin]:
    """The ``allowed_hosts`` argument as origins: host names (https on 443 is assumed) or
    ``scheme://host[:port]``; a single string is one host. ``ValueError`` for anything else."""
    if isinstance(hosts, str):
        hosts = [hosts]
    if isinstance(hosts, (bytes, bytearray)) or not isinstance(hosts, Iterable):
        raise ValueError(
            f"allowed_hosts must be a host name or a list of them, such as "
            f"['acme--c.vf.force.com'], not {hosts!r}; leave it out to allow none"
        )
    origins = []
    for host in hosts:
        if not isinstance(host, str) or not host.strip():
            raise ValueError(f"allowed_hosts entries must be host names or URLs, not {host!r}")
        if "*" in host or "," in host:
            raise ValueError(
                f"allowed_hosts entry {host!r} is not one host: wildcards and comma-separated "
                "lists are not read; pass a list with one host per entry"
            )
        text = host.strip() if "://" in host else "https://" + host.strip()
        origin = require_safe_origin(text, "allowed_hosts entry")
        if not _is_bare(text):
            raise ValueError(
                f"allowed_hosts entry {host!r} has a path, query, fragment or user info; give "
                "a host or scheme://host:port"
            )
        origins.append(origin)
    return origins
