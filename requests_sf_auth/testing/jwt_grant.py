"""The JWT bearer grant as :class:`~requests_sf_auth.testing.LocalOrg` checks it: key pairs for
tests, and Salesforce's verdict on an assertion. Needs the ``jwt`` extra (PyJWT with
cryptography).

Salesforce's rules (``shared/SALESFORCE.md``, "JWT bearer flow"): the assertion is RS256,
signed with the key whose certificate the app holds; ``iss`` is the app's Consumer Key, ``sub``
a user pre-authorised for it, ``aud`` the login server, and ``exp`` within 3 minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["JWT_GRANT_TYPE", "KeyPair", "check_assertion", "generate_key_pair"]

JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_MAX_AHEAD = 180  # seconds: "within 3 minutes"
_CLOCK_SLACK = 5  # the little skew Salesforce forgives


@dataclass(frozen=True, repr=False)
class KeyPair:
    """An RSA key pair as PEM text: ``private_key`` for the client, ``public_key`` to register
    with :meth:`LocalOrg.trust_jwt_key`. The repr leaves the private key out."""

    private_key: str
    public_key: str

    def __repr__(self) -> str:
        return "<KeyPair RSA, private key redacted>"


def generate_key_pair(bits: int = 2048) -> KeyPair:
    """A new RSA key pair, as a test would make one (``openssl genrsa`` for a real app)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private.decode("ascii"), public.decode("ascii"))


_INVALID = ("invalid_grant", "invalid assertion")


def check_assertion(
    assertion: str,
    *,
    client_id: str,
    public_keys: Mapping[str, str],
    audience: str,
    now: float,
) -> tuple[str, str] | None:
    """Salesforce's refusal of ``assertion`` as ``(error, error_description)``, or ``None`` when
    it earns a token. ``public_keys`` maps each pre-authorised username to its public key
    (PEM); ``now`` is the org's clock."""
    import jwt

    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return _INVALID
    if claims.get("iss") != client_id:
        return "invalid_client_id", "client identifier invalid"
    key = public_keys.get(str(claims.get("sub")))
    if key is None:
        return "invalid_grant", "user hasn't approved this consumer"
    try:
        jwt.decode(
            assertion,
            key,
            algorithms=["RS256"],
            audience=audience,
            options={"require": ["exp", "iss", "sub", "aud"], "verify_exp": False},
        )
    except jwt.InvalidAudienceError:
        return "invalid_grant", "audience is invalid"
    except jwt.PyJWTError:
        return _INVALID
    return _timing(claims["exp"], now)


def _timing(exp: object, now: float) -> tuple[str, str] | None:
    if not isinstance(exp, int) or exp > now + _MAX_AHEAD + _CLOCK_SLACK:
        return _INVALID
    if exp < now - _CLOCK_SLACK:
        return "invalid_grant", "expired"
    return None
