"""Passwords of directory accounts, written to the directory as the service account.

OpenLDAP and most directories: the Password Modify extended operation
(RFC 3062) without the old password, so resets and activations work too;
then ``pwdReset`` is set or cleared so the directory's "must change" follows
ours. Active Directory: ``unicodePwd`` (needs LDAPS or StartTLS) and
``pwdLastSet``. The history is kept and checked by
:class:`~cas_server.accounts.passwords.PasswordService` in our own table.
"""

from __future__ import annotations

import logging

from ldap3 import MODIFY_DELETE, MODIFY_REPLACE, Connection
from ldap3.utils.conv import escape_filter_chars

from ...accounts.i18n import N_
from ...accounts.model import Account
from ...accounts.passwords import PasswordRejected
from ...accounts.policy import Violation
from .pool import DirectoryUnavailable, LdapPool

log = logging.getLogger(__name__)

CONSTRAINT_VIOLATION, NO_SUCH_ATTRIBUTE, UNDEFINED_TYPE, UNWILLING = 19, 16, 17, 53
DIRECTORY_REFUSED = Violation(
    "directory_policy", N_("The directory's own password policy refused this password")
)


class LdapPasswordWriter:
    def __init__(self, pool: LdapPool) -> None:
        self.pool = pool
        self.config = pool.config

    def _dn(self, account: Account) -> str:
        attribute = self.config.login_attribute
        query = f"({attribute}={escape_filter_chars(account.login)})"
        entries = self.pool.search(query, ["1.1"])  # "1.1": no attributes, the DN only
        if len(entries) != 1:
            log.error("LDAP: %s is not (or not once) in the directory", account.login)
            raise DirectoryUnavailable(f"{account.login} not found in the directory")
        return str(entries[0]["dn"])

    def write_password(self, account: Account, password: str, *, must_change: bool) -> None:
        dn = self._dn(account)
        if self.config.password_write == "ad":  # noqa: S105 - a mode, not a secret
            self.pool.run("service", lambda conn: _write_ad(conn, dn, password, must_change))
        else:
            ppolicy = self.config.password_policy
            self.pool.run(
                "service", lambda conn: _write_exop(conn, dn, password, must_change, ppolicy)
            )
        log.info("LDAP password written for %s", account.login)


def _refused(conn: Connection, dn: str) -> PasswordRejected:
    log.info("LDAP refused a new password for %s: %s", dn, (conn.result or {}).get("message"))
    return PasswordRejected([DIRECTORY_REFUSED])


def _check(conn: Connection, dn: str, what: str) -> None:
    code = (conn.result or {}).get("result")
    if code in (CONSTRAINT_VIOLATION, UNWILLING):
        raise _refused(conn, dn)
    if code != 0:
        log.error("LDAP %s for %s failed: %s", what, dn, conn.result)
        raise DirectoryUnavailable(f"{what} failed ({code})")


def _write_exop(conn: Connection, dn: str, password: str, must_change: bool, ppolicy: bool) -> None:
    conn.extend.standard.modify_password(dn, None, password)
    _check(conn, dn, "password modify")
    if not ppolicy:
        return  # a directory without the password policy overlay has no pwdReset
    change = (MODIFY_REPLACE, ["TRUE"]) if must_change else (MODIFY_DELETE, [])
    conn.modify(dn, {"pwdReset": [change]})
    code = (conn.result or {}).get("result")
    if code == NO_SUCH_ATTRIBUTE:
        return  # nothing to clear
    if code == UNDEFINED_TYPE:
        log.warning("LDAP: no pwdReset in this directory's schema; set password_policy = false")
        return
    _check(conn, dn, "pwdReset")


def unicode_pwd(password: str) -> bytes:
    """Active Directory's unicodePwd value: the quoted password in UTF-16LE."""
    return f'"{password}"'.encode("utf-16-le")


def _write_ad(conn: Connection, dn: str, password: str, must_change: bool) -> None:
    conn.modify(
        dn,
        {
            "unicodePwd": [(MODIFY_REPLACE, [unicode_pwd(password)])],
            # 0: must change at next logon; -1: the password counts as just set.
            "pwdLastSet": [(MODIFY_REPLACE, ["0" if must_change else "-1"])],
        },
    )
    _check(conn, dn, "unicodePwd")
