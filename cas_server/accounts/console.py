"""Rules of the administration console that are not about storage or the web.

* Who may do what: ``admin`` everything, ``helpdesk`` everything but the
  CSV import and role management, and each of them only **to accounts
  ranked strictly below them** (:func:`may_act_on`): the help desk never
  acts on an account holding a console role, an administrator never on
  another administrator (nor on their own account) from the console. Only
  the command line, run by whoever holds the server, acts on administrators.
  ``impersonate`` is a right on top of a rank (signing in as someone, #15),
  never a rank of its own.
* Search keys: names compared without case, accents, spaces or hyphens,
  so "eloise" finds "Éloïse Le Goff-Durand" and "legoff" finds "Le Goff".
* What the console shows of the recovery channels: partly masked.
* What an alias may look like (a login: it is typed on the login form).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from .i18n import N_
from .model import Account, normalize_login


class Role(StrEnum):
    ADMIN = "admin"
    HELPDESK = "helpdesk"
    #: An extra right, not a rank: with ``admin`` or ``helpdesk``, sign in as someone
    #: (impersonation, #15). Alone it opens nothing.
    IMPERSONATE = "impersonate"


CONSOLE_ROLES = frozenset(Role)
#: The second factor's actions (issue #14). ``mfa_remove`` (one factor, or all of
#: them: the "lost phone" call) is the help desk's and the administrator's, like
#: every action on an account; ``mfa_import`` (hardware tokens from a file) is the
#: command line's, and an administrator's only if a console ever offers it.
MFA_ACTIONS = frozenset({"mfa_remove", "mfa_import"})
#: What only an ``admin`` may do.
ADMIN_ONLY = frozenset({"import", "roles", "mfa_import"})
#: What needs an extra right besides a rank (``Role.IMPERSONATE``), even for an ``admin``.
EXTRA_RIGHTS = {"impersonate": Role.IMPERSONATE.value}
#: How far each console role reaches: an operator acts only on lower ranks.
#: ``impersonate`` has no rank: it reaches nobody by itself.
RANKS = {Role.HELPDESK.value: 1, Role.ADMIN.value: 2}
#: The command line: whoever runs it holds the server and its database.
SYSTEM_RANK = len(RANKS) + 1

ALIAS_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
MAX_QUERY = 100


def may(roles: frozenset[str], what: str) -> bool:
    """May someone holding ``roles`` do ``what`` (an action name or a page)?"""
    if what in EXTRA_RIGHTS:
        ranked = Role.ADMIN in roles or Role.HELPDESK in roles
        return ranked and EXTRA_RIGHTS[what] in roles
    if Role.ADMIN in roles:
        return True
    return Role.HELPDESK in roles and what not in ADMIN_ONLY


def rank(roles: frozenset[str]) -> int:
    """0 for an account without console role, then helpdesk, then admin."""
    return max((RANKS.get(role, 0) for role in roles), default=0)


def may_act_on(actor_rank: int, target_roles: frozenset[str]) -> bool:
    """May an operator of ``actor_rank`` act on an account holding ``target_roles``?

    Strictly below only: a help-desk operator who could reset an
    administrator's password could sign in as them (issue #11, item 1), and
    an administrator who could do it to a peer could take over the whole
    console without anyone else's consent.
    """
    return rank(target_roles) < actor_rank


def search_key(text: str) -> str:
    """Lowercase ASCII letters and digits only: ``"Le Goff-Dûrand"`` → ``"legoffdurand"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = stripped.casefold().replace("ß", "ss").replace("æ", "ae").replace("œ", "oe")
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum())[:255]


class AliasError(ValueError):
    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


def parse_alias(value: str) -> str:
    """A custom login: the same shape as a login, compared the same way."""
    alias = normalize_login(value)
    if not alias:
        raise AliasError(N_("Enter the alias."))
    if not ALIAS_RE.fullmatch(alias):
        raise AliasError(
            N_(
                "An alias is made of lowercase letters, digits, dots, hyphens and underscores, "
                "and starts with a letter or a digit."
            )
        )
    return alias


def mask_email(address: str | None) -> str | None:
    """``camille.martin@example.net`` → ``c***n@example.net``."""
    if not address:
        return None
    local, sep, domain = address.partition("@")
    if not sep:
        return "***"
    if len(local) <= 2:
        return f"{local[:1]}***@{domain}"
    return f"{local[0]}***{local[-1]}@{domain}"


def mask_mobile(number: str | None) -> str | None:
    """``+33612345678`` or ``06 12 34 56 78`` → ``06 ** ** ** 78``."""
    if not number:
        return None
    digits = re.sub(r"\D", "", number)
    if number.strip().startswith("+33") and len(digits) == 11:
        digits = "0" + digits[2:]
    if len(digits) == 10 and digits.startswith("0"):
        return f"{digits[:2]} ** ** ** {digits[-2:]}"
    if len(digits) < 5:
        return "*" * len(digits)
    prefix = "+" if number.strip().startswith("+") else ""
    return f"{prefix}{digits[:3]}{'*' * (len(digits) - 5)}{digits[-2:]}"


def clean_query(text: str) -> str:
    """What was typed in the search box, bounded and without control characters."""
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    return " ".join(kept.split())[:MAX_QUERY]


@dataclass(frozen=True)
class AccountSummary:
    """One line of a search result."""

    uuid: str
    login: str
    alias: str | None
    given_name: str
    family_name: str
    profile: str
    status: str
    student_number: str | None
    ine: str | None
    personnel_number: str | None


@dataclass(frozen=True)
class SearchPage:
    items: list[AccountSummary]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class LinkedAccount:
    uuid: str
    login: str
    display_name: str
    primary: bool  # True: the other account is the primary one of the link
    created_at: datetime
    created_by: str | None


@dataclass(frozen=True)
class AccountDetails:
    """What the record page shows beyond :class:`Account`; never a secret."""

    account: Account
    email_verified_at: datetime | None
    mobile_verified_at: datetime | None
    has_joker: bool
    has_password: bool
    has_activation_code: bool
    charters: list[tuple[str, str, datetime]] = field(default_factory=list)
    links: list[LinkedAccount] = field(default_factory=list)

    @property
    def masked_email(self) -> str | None:
        return mask_email(self.account.personal_email)

    @property
    def masked_mobile(self) -> str | None:
        return mask_mobile(self.account.mobile)


@dataclass(frozen=True)
class AuditFilter:
    login: str | None = None
    account_uuid: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    action: str
    outcome: str
    account_uuid: str | None
    login: str | None
    actor: str | None
    ip: str | None
    details: dict[str, object]
