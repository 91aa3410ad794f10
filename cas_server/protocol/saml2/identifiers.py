"""Subject identifiers: transient and persistent NameIDs (SAML core 8.3.7, 8.3.8) and the
``subject-id`` / ``pairwise-id`` attributes (SAML V2.0 Subject Identifier Attributes
Profile 1.0, sections 3.3 and 3.4).

``subject_key`` is the account's uuid, never its login: a login can be reused
by someone else later and tells who the person is. Persistent and pairwise
values are HMAC-SHA256 under the deployment's secret salt, each with its own
purpose label, so that two SPs (or the two kinds of identifier) get unrelated
values and no SP can compute another's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

# Profile 3.3.1 / 3.4.1: scope is "[a-zA-Z0-9][a-zA-Z0-9.-]{0,126}"; the unique part
# "[a-zA-Z0-9][a-zA-Z0-9=-]{0,126}"; values compare case-insensitively.
SCOPE_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9.-]{0,126}")
UNIQUE_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9=-]{0,126}")
TRANSIENT_BYTES = 24  # 192 bits (core 8.3.8: "randomly generated", ≥ 128 bits here)


def _mac(salt: bytes, purpose: str, *parts: str) -> bytes:
    if not salt:
        raise ValueError("the SAML salt is empty: identifiers would be guessable")
    # Length-prefixed: ("ab", "c") and ("a", "bc") never give the same input.
    message = purpose + "".join(f"|{len(p)}:{p}" for p in parts)
    return hmac.new(salt, message.encode(), hashlib.sha256).digest()


def _check(subject_key: str, scope: str | None = None) -> None:
    if not subject_key:
        raise ValueError("an identifier needs the account's uuid")
    if scope is not None and not SCOPE_RE.fullmatch(scope):
        raise ValueError(f"not a scope (a domain such as univ-exemple.fr): {scope[:130]!r}")


def transient_id() -> str:
    """A fresh transient NameID: random, single use, url-safe (core 8.3.8)."""
    return secrets.token_urlsafe(TRANSIENT_BYTES)


def persistent_id(salt: bytes, sp_entity_id: str, subject_key: str) -> str:
    """The persistent NameID of ``subject_key`` at ``sp_entity_id``: stable, opaque, base64
    (44 characters; core 8.3.7 allows 256)."""
    _check(subject_key)
    return base64.b64encode(_mac(salt, "persistent", sp_entity_id, subject_key)).decode()


def _base32(digest: bytes) -> str:
    return base64.b32encode(digest).decode().rstrip("=").lower()  # [a-z2-7], 52 chars


def pairwise_id(salt: bytes, sp_entity_id: str, subject_key: str, scope: str) -> str:
    """``<unique>@<scope>``, unique to the pair (person, SP) (profile 3.4)."""
    _check(subject_key, scope)
    return f"{_base32(_mac(salt, 'pairwise-id', sp_entity_id, subject_key))}@{scope}"


def subject_id(salt: bytes, subject_key: str, scope: str) -> str:
    """``<unique>@<scope>``, the same for every SP (profile 3.3)."""
    _check(subject_key, scope)
    return f"{_base32(_mac(salt, 'subject-id', subject_key))}@{scope}"


def identifiers_for(salt: bytes, sp_entity_id: str, subject_key: str, scope: str) -> dict[str, str]:
    """The computed identifiers :func:`~.attributes.resolve` takes, by friendly name."""
    return {
        "pairwise-id": pairwise_id(salt, sp_entity_id, subject_key, scope),
        "subject-id": subject_id(salt, subject_key, scope),
    }
