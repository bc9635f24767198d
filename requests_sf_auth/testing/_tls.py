"""The local org's throwaway certificate authority, and the CA bundle that lets ``requests``
trust it without distrusting anything else. Needs ``trustme`` (the ``testing`` extra)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

__all__ = ["issue_certificate", "trust_bundle"]


def issue_certificate(names: list[str], directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for ``names`` from a new CA, and the path of that
    CA's certificate (PEM), written into ``directory``."""
    try:
        import trustme
    except ImportError:
        raise RuntimeError(
            "LocalOrg(tls=True) needs trustme: pip install 'requests-sf-auth[testing]'"
        ) from None
    ca = trustme.CA()
    cert = ca.issue_cert(*names)
    ca_path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context, ca_path


def trust_bundle(ca_path: Path, directory: Path) -> Path:
    """Write a bundle of the CA at ``ca_path`` followed by every certificate ``requests``
    trusts now (``REQUESTS_CA_BUNDLE``, else ``CURL_CA_BUNDLE``, else certifi's), and return
    its path. Pointing ``REQUESTS_CA_BUNDLE`` at it adds the CA and takes nothing away."""
    import certifi

    current = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    source = Path(current) if current else Path(certifi.where())
    files = sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else [source]
    parts = [ca_path.read_bytes()]
    for file in files:
        try:
            text = file.read_bytes()
        except OSError:
            continue  # an unreadable bundle trusted nothing before either
        if b"-----BEGIN CERTIFICATE-----" in text:
            parts.append(text)
    bundle = directory / "trust.pem"
    bundle.write_bytes(b"\n".join(parts))
    return bundle
