"""Bearer tokens (API tokens, host tokens): only their SHA-256 digest is ever stored.

Tokens are long random strings (``secrets``), so a plain digest is enough; passwords, which
people choose, use scrypt instead (``core/users.py``).
"""

from __future__ import annotations

import hashlib
import hmac


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256 hex digest."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, token_hash: str) -> bool:
    """Whether ``token`` is the one ``token_hash`` was made from (constant-time compare)."""
    return bool(token) and bool(token_hash) and hmac.compare_digest(token_hash, hash_token(token))
