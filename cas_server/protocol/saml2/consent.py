"""Attribute release consent, remembered per SP (as the Shibboleth IdP's consent module).

A remembered consent covers a set of attribute *names*: when a policy starts
releasing another attribute (or stops releasing one), the digest changes and
the person is asked again. Values changing (a new e-mail) do not ask again.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def consent_digest(sp_entity_id: str, attribute_names: Iterable[str]) -> str:
    """SHA-256 (hex) over the SP and the sorted, distinct attribute names."""
    names = sorted(set(attribute_names))
    text = "\n".join([f"{len(sp_entity_id)}:{sp_entity_id}", *names])
    return hashlib.sha256(text.encode()).hexdigest()


def consent_needed(policy_consent: bool, enabled: bool, stored: str | None, digest: str) -> bool:
    """Whether to show the consent page: consent on ([saml] and the SP's policy) and no
    remembered consent for exactly this set of attributes."""
    if not (enabled and policy_consent):
        return False
    return stored is None or not hmac.compare_digest(stored, digest)
