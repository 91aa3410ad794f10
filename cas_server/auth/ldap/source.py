"""An LDAP directory as a user source (ldap3): search the entry, bind as it.

The login is escaped into the configured filter; the entry found is bound
with the user's password through a pooled connection, with the password
policy control, whose answer (or Active Directory's diagnostic code) gives
the account state. An unknown login costs the same as a wrong password: a
search, a reservation (``reserve``: the caller throttles per entry, whatever
spelling of the login found it), then a bind (on a DN that does not exist);
so does an entry whose reservation is refused. A directory that cannot
be reached answers :class:`~cas_server.auth.Unavailable`, never "wrong
password". A successful sign-in creates or refreshes the person's local
shadow account (source ``ldap``).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ldap3.utils.conv import escape_filter_chars

from ...accounts.directory import DirectoryPerson, ShadowAccounts, ShadowConflict
from ...accounts.model import MAX_LOGIN_LENGTH, Account, Profile, Status
from .. import (
    AuthResult,
    Failure,
    Rejected,
    Reserve,
    Success,
    Unavailable,
    entry_key,
    no_reserve,
    nobody_key,
)
from ..hashing import MAX_PASSWORD_CHARS
from .pool import BindResult, DirectoryUnavailable, LdapConfig, LdapPool

log = logging.getLogger(__name__)

# ppolicy errors (draft-behera-ldap-password-policy, PasswordPolicyResponseValue)
PASSWORD_EXPIRED, ACCOUNT_LOCKED, CHANGE_AFTER_RESET = 0, 1, 2
# Active Directory's "data <code>" in the diagnostic message of a failed bind.
AD_LOCKED, AD_EXPIRED, AD_MUST_CHANGE = "775", "532", "773"
AD_DISABLED = {"533", "701"}  # disabled, account expired
AD_DATA_RE = re.compile(r"data ([0-9a-f]{3,4})", re.IGNORECASE)


@dataclass(frozen=True)
class PasswordPolicyResponse:
    time_before_expiration: int | None = None
    grace_logins_remaining: int | None = None
    error: int | None = None


def _tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """One BER element: (tag, content, next position)."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:  # long form
        n = length & 0x7F
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    return tag, data[pos : pos + length], pos + length


def decode_ppolicy(value: bytes | None) -> PasswordPolicyResponse:
    """Decode the response control; anything malformed reads as "nothing to say"."""
    if not value:
        return PasswordPolicyResponse()
    try:
        tag, body, _ = _tlv(value, 0)
        if tag != 0x30:
            return PasswordPolicyResponse()
        before = grace = error = None
        pos = 0
        while pos < len(body):
            tag, content, pos = _tlv(body, pos)
            if tag == 0xA0:  # warning [0] CHOICE
                inner, number, _ = _tlv(content, 0)
                if inner == 0x80:
                    before = int.from_bytes(number, "big")
                elif inner == 0x81:
                    grace = int.from_bytes(number, "big")
            elif tag == 0x81:  # error [1] ENUMERATED
                error = int.from_bytes(content, "big")
        return PasswordPolicyResponse(before, grace, error)
    except IndexError:
        return PasswordPolicyResponse()


def _values(entry: Mapping[str, Any], name: str) -> list[str]:
    raw = entry.get(name.casefold()) or []
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in raw]


def _parse_date(value: str) -> date | None:
    digits = value.replace("-", "")[:8]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


class LdapUserSource:
    name = "ldap"

    def __init__(self, pool: LdapPool, shadows: ShadowAccounts) -> None:
        self.pool = pool
        self.config: LdapConfig = pool.config
        self.shadows = shadows
        self._attributes = self.config.wanted_attributes()
        # A DN nobody has: an unknown login is bound there, at the cost of a real bind.
        self._nobody = (
            f"{self.config.login_attribute}=cas-nobody-{secrets.token_hex(8)},{self.config.base_dn}"
        )

    def authenticate(self, login: str, password: str, reserve: Reserve = no_reserve) -> AuthResult:
        # An empty password would be an anonymous ("unauthenticated") bind: never.
        if not login.strip() or not password:
            return Rejected(Failure.INVALID_CREDENTIALS)
        if len(login) > MAX_LOGIN_LENGTH or len(password) > MAX_PASSWORD_CHARS:
            return Rejected(Failure.INVALID_CREDENTIALS)
        query = self.config.user_filter.replace("{login}", escape_filter_chars(login.strip()))
        try:
            # The DN only ("1.1": no attribute), so that a known and an unknown
            # login cost the same until the password is proven.
            entries = self.pool.search(query, ["1.1"])
            if len(entries) != 1:
                if entries:
                    log.warning("LDAP: several entries match the login %r: refused", login[:64])
                reserve(nobody_key(self.name, login))
                self.pool.bind(self._nobody, password)
                return Rejected(Failure.INVALID_CREDENTIALS)
            dn = str(entries[0]["dn"])
            # The entry, not what was typed (uid, mail, a fullwidth spelling the
            # directory matches too): one budget of guesses per person.
            if not reserve(entry_key(dn)):
                self.pool.bind(self._nobody, password)  # what a wrong password costs
                return Rejected(Failure.INVALID_CREDENTIALS)
            result = self.pool.bind(dn, password)
            return self._outcome(dn, result)
        except DirectoryUnavailable as exc:
            return Unavailable(self.name, str(exc))

    def _entry(self, dn: str) -> Mapping[str, Any]:
        """The person's attributes, read once the password is proven."""
        entries = self.pool.search("(objectClass=*)", self._attributes, limit=1, base=dn)
        if not entries:
            raise DirectoryUnavailable(f"{dn} vanished")
        return dict(entries[0])

    def _outcome(self, dn: str, result: BindResult) -> AuthResult:
        policy = decode_ppolicy(result.ppolicy)
        ad_code = m.group(1).lower() if (m := AD_DATA_RE.search(result.message)) else None
        if result.code == 0:
            # A grace login means the password expired: it must change now.
            must_change = (
                policy.error == CHANGE_AFTER_RESET or policy.grace_logins_remaining is not None
            )
            return self._signed_in(self._entry(dn), must_change)
        if result.code != 49:
            log.warning("LDAP bind answered %s (%s)", result.code, result.message[:200])
            return Rejected(Failure.INVALID_CREDENTIALS)
        # OpenLDAP and Active Directory tell a locked account whatever the
        # password: no account here, so callers answer as for a wrong password
        # (the reason is for the audit trail). The other states only follow a
        # right password (so the account may be named).
        if policy.error == ACCOUNT_LOCKED or ad_code == AD_LOCKED:
            return Rejected(Failure.LOCKED)
        if policy.error == PASSWORD_EXPIRED or ad_code == AD_EXPIRED:
            return self._refused(self._entry(dn), Failure.EXPIRED)
        if ad_code == AD_MUST_CHANGE:
            return self._signed_in(self._entry(dn), must_change=True)
        if ad_code in AD_DISABLED:
            return self._refused(self._entry(dn), Failure.DISABLED)
        return Rejected(Failure.INVALID_CREDENTIALS)

    def person(self, entry: Mapping[str, Any]) -> DirectoryPerson | None:
        """The entry as the account model needs it (None without a login value)."""
        c = self.config
        raw = {str(k).casefold(): v for k, v in (entry.get("raw_attributes") or {}).items()}
        logins = _values(raw, c.login_attribute)
        if not logins:
            log.error("LDAP entry %s has no %s: refused", entry.get("dn"), c.login_attribute)
            return None
        profile_name = c.default_profile
        for value in _values(raw, c.profile_attribute) if c.profile_attribute else []:
            if value.casefold() in c.profiles:
                profile_name = c.profiles[value.casefold()]
                break
        fields = {}
        for name, attribute in c.account_fields.items():
            values = _values(raw, attribute) if attribute else []
            if values:
                fields[name] = values[0]
        released: dict[str, tuple[str, ...]] = {}
        for cas_name, attribute in c.attributes.items():
            values = _values(raw, attribute)
            if values:
                released[cas_name] = tuple(values)
        birth = fields.pop("birth_date", None)
        return DirectoryPerson(
            dn=str(entry.get("dn", "")),
            login=logins[0],
            profile=Profile(profile_name),
            given_name=fields.pop("given_name", ""),
            family_name=fields.pop("family_name", ""),
            fields=fields,
            birth_date=_parse_date(birth) if birth else None,
            attributes=released,
        )

    def _sync(self, entry: Mapping[str, Any], must_change: bool) -> Account | None:
        person = self.person(entry)
        if person is None:
            return None
        try:
            return self.shadows.sync(person, must_change=must_change)
        except ShadowConflict:
            log.error(
                "LDAP: the login %r belongs to a local account; directory sign-in refused",
                person.login,
            )
            return None

    def _signed_in(self, entry: Mapping[str, Any], must_change: bool) -> AuthResult:
        account = self._sync(entry, must_change)
        if account is None:
            return Rejected(Failure.INVALID_CREDENTIALS)
        # States set in the console apply to directory accounts too.
        if account.status is Status.DISABLED:
            return Rejected(Failure.DISABLED, account)
        if account.status is Status.LOCKED:
            return Rejected(Failure.LOCKED, account)
        return Success(account, must_change_password=account.must_change_password)

    def _refused(self, entry: Mapping[str, Any], reason: Failure) -> AuthResult:
        account = self._sync(entry, must_change=False)
        return Rejected(reason, account)
