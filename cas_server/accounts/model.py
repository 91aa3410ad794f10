"""Accounts as the rest of the server sees them, and the attributes they release."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Profile(StrEnum):
    STUDENT = "student"
    TEACHER = "teacher"
    PARENT = "parent"
    STAFF = "staff"
    EXTERNAL = "external"


class Status(StrEnum):
    ACTIVE = "active"
    NOT_ACTIVATED = "not_activated"
    LOCKED = "locked"
    DISABLED = "disabled"


class Source(StrEnum):
    LOCAL = "local"
    CSV = "csv"
    LDAP = "ldap"


# eduPerson affiliations per profile (eduPersonAffiliation, as SUPANN uses it).
AFFILIATIONS: Mapping[Profile, tuple[str, ...]] = {
    Profile.STUDENT: ("student", "member"),
    Profile.TEACHER: ("faculty", "teacher", "member"),
    Profile.STAFF: ("staff", "employee", "member"),
    Profile.PARENT: ("affiliate",),
    Profile.EXTERNAL: ("affiliate",),
}

MAX_LOGIN_LENGTH = 128


def normalize_login(login: str) -> str:
    """Logins compare case-insensitively and in NFC: "Jean.Dupont" is "jean.dupont"."""
    return unicodedata.normalize("NFC", login).strip().casefold()


@dataclass(frozen=True)
class Account:
    uuid: str
    login: str
    profile: Profile
    status: Status
    given_name: str = ""
    family_name: str = ""
    alias: str | None = None
    external_id: str | None = None
    source: Source = Source.LOCAL
    birth_date: date | None = None
    student_number: str | None = None
    ine: str | None = None
    personnel_number: str | None = None
    personal_email: str | None = None
    mobile: str | None = None
    password_hash: str | None = None
    must_change_password: bool = False
    roles: frozenset[str] = frozenset()
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    created_at: datetime | None = None
    modified_at: datetime | None = None
    last_login_at: datetime | None = None
    password_changed_at: datetime | None = None
    password_expires_at: datetime | None = None

    @property
    def full_name(self) -> str:
        """Given and family names, as the password rules and forms use them ("" if none)."""
        return f"{self.given_name} {self.family_name}".strip()

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.family_name) if p) or self.login

    def principal_attributes(self) -> dict[str, tuple[str, ...]]:
        """Every attribute a service could be released, by its usual LDAP/SUPANN name.

        Services only see those their release policy names.
        """
        attrs: dict[str, tuple[str, ...]] = {
            "uid": (self.login,),
            "casUuid": (self.uuid,),
            "displayName": (self.display_name,),
            "eduPersonAffiliation": AFFILIATIONS[self.profile],
            "profile": (self.profile.value,),
        }
        optional = {
            "givenName": self.given_name,
            "sn": self.family_name,
            "supannAliasLogin": self.alias,
            "supannEtuId": self.student_number,
            "supannCodeINE": self.ine,
            "supannEmpId": self.personnel_number,
        }
        for name, value in optional.items():
            if value:
                attrs[name] = (value,)
        for name, values in self.attributes.items():
            if values:
                attrs[name] = tuple(values)
        return attrs
