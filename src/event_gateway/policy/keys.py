"""API key format: ``egk_<key id>_<secret>``.

The prefix makes a leaked key recognisable to secret scanners; the key id finds the
stored record without a scan; the secret is 256 random bits of which only the SHA-256
is stored (a hash is enough for a random secret of that size; no salt or KDF needed).
The plaintext is shown once, by `keys create`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "egk"
_KEY_ID_BYTES = 8
_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    plaintext: str  # shown to the user once, never stored
    secret_hash: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_key() -> NewKey:
    key_id = base64.b32encode(secrets.token_bytes(_KEY_ID_BYTES)).decode().rstrip("=").lower()
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    return NewKey(key_id, f"{PREFIX}_{key_id}_{secret}", hash_secret(secret))


def parse_key(plaintext: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    prefix, _, rest = plaintext.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret or not key_id.isalnum():
        return None
    return key_id, secret


def secret_matches(secret: str, secret_hash: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(hash_secret(secret), secret_hash)
