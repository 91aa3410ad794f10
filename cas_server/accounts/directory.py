"""Accounts whose password lives in a directory (LDAP): what the rules need from it.

A person found in the directory gets a local *shadow* account (source
``ldap``) at each sign-in, so the charter, the self-service pages and the
administration console work on them as on local accounts. Their password
is written back to the directory; its history stays in our own table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from .model import Account, Profile

# Account fields a directory attribute may fill (``[ldap.account]``).
SHADOW_FIELDS = (
    "given_name",
    "family_name",
    "student_number",
    "ine",
    "personnel_number",
    "birth_date",
    "personal_email",
    "mobile",
)


@dataclass(frozen=True)
class DirectoryPerson:
    """A directory entry, as the directory describes it (read at each sign-in)."""

    dn: str
    login: str
    profile: Profile
    given_name: str = ""
    family_name: str = ""
    # Other SHADOW_FIELDS that the deployment maps (empty ones are left alone).
    fields: Mapping[str, str] = field(default_factory=dict)
    birth_date: date | None = None
    # Released CAS attributes, already renamed by the deployment's mapping.
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class ShadowConflict(ValueError):
    """The login belongs to a local account: a directory entry may not take it over."""


class ShadowAccounts(Protocol):
    def sync(self, person: DirectoryPerson, *, must_change: bool) -> Account:
        """Create or update the shadow account of ``person``; raises :class:`ShadowConflict`.

        ``must_change`` (from the directory's password policy) is added to
        a flag the server set itself; it never clears one. Called at
        sign-in: the person holds a working directory password, so a shadow
        still ``not_activated`` (made by ``cas-server ldap sync``) becomes
        active.
        """
        ...


class DirectoryPasswords(Protocol):
    """Writes passwords of one account source into its directory."""

    def write_password(self, account: Account, password: str, *, must_change: bool) -> None:
        """Set the password; raises ``PasswordRejected`` if the directory refuses it,
        ``StoreUnavailable`` if it cannot be reached."""
        ...
