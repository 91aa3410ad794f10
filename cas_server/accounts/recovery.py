"""Rules of the forgotten-password paths that are not about tokens or the joker.

* Who may recover: only an active account; a request never changes the
  account (T10), and the same answer is given whatever the account (T1).
* Metamots' path: personal facts asked on the request and again on the
  reset page, compared case-, accent- and space-insensitively.
* ENT Midi-Pyrénées' path: a temporary password drawn to satisfy the
  policy, which must change at the next sign-in and expires (T14).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .i18n import N_
from .identity import fold, normalize_email
from .model import Account, Status

COUNTRY_ATTRIBUTE = "c"  # ISO 3166 alpha-2, as LDAP's countryName
ORGANISATION_TYPE_ATTRIBUTE = "o"

ORGANISATION_TYPES: dict[str, str] = {
    "company": N_("Company"),
    "school": N_("School"),
    "university": N_("University or higher education"),
    "public_body": N_("Public administration"),
    "association": N_("Association"),
    "individual": N_("Individual"),
}


def may_recover(account: Account | None) -> bool:
    """Only an active account gets a link, a code or a joker question."""
    return account is not None and account.status is Status.ACTIVE


def may_activate(account: Account | None) -> bool:
    return account is not None and account.status is Status.NOT_ACTIVATED


@dataclass(frozen=True)
class Facts:
    """What Metamots asks: e-mail, first name, last name, country, organisation type."""

    email: str
    given_name: str
    family_name: str
    country: str
    organisation_type: str


def account_facts(account: Account) -> Facts | None:
    if not account.personal_email:
        return None
    return Facts(
        email=account.personal_email,
        given_name=account.given_name,
        family_name=account.family_name,
        country=next(iter(account.attributes.get(COUNTRY_ATTRIBUTE, ())), ""),
        organisation_type=next(iter(account.attributes.get(ORGANISATION_TYPE_ATTRIBUTE, ())), ""),
    )


def facts_match(account: Account, given: Facts) -> bool:
    """Every fact must match; names and addresses compare loosely, codes exactly."""
    stored = account_facts(account)
    if stored is None or not stored.country or not stored.organisation_type:
        return False
    checks = (
        normalize_email(stored.email) == normalize_email(given.email),
        fold(stored.given_name) == fold(given.given_name),
        fold(stored.family_name) == fold(given.family_name),
        stored.country.upper() == given.country.upper(),
        stored.organisation_type == given.organisation_type,
    )
    return all(checks)


SPECIALS = "!#$%&*+-=?@_"
# No look-alikes (0/O, 1/l/I) in a password someone must retype from a mail.
LOWER = "".join(c for c in string.ascii_lowercase if c not in "lo")
UPPER = "".join(c for c in string.ascii_uppercase if c not in "IO")
DIGITS = "23456789"


def temporary_password(
    accepts: Callable[[str], bool], min_length: int, max_length: int, attempts: int = 20
) -> str:
    """A random password of every class that ``accepts`` (the policy, history included)."""
    length = max(16, min_length)
    length = min(length, max_length) if max_length >= min_length else length
    alphabet = LOWER + UPPER + DIGITS + SPECIALS
    for _ in range(attempts):
        chars = [secrets.choice(pool) for pool in (LOWER, UPPER, DIGITS, SPECIALS)]
        chars += [secrets.choice(alphabet) for _ in range(max(0, length - len(chars)))]
        secrets.SystemRandom().shuffle(chars)
        candidate = "".join(chars)
        if accepts(candidate):
            return candidate
    raise RuntimeError("could not draw a temporary password that the policy accepts")


def mask_email(address: str) -> str:
    """``camille.martin@example.net`` → ``c…n@example.net`` (shown to the owner only)."""
    local, _, domain = address.partition("@")
    if len(local) <= 2:
        return f"{local[:1]}…@{domain}"
    return f"{local[0]}…{local[-1]}@{domain}"


def allowed_keys(configured: Sequence[str], known: dict[str, str]) -> tuple[str, ...]:
    return tuple(key for key in configured if key in known)
