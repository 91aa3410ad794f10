"""Shadow accounts for every person of the directory, not only those who signed in.

``cas-server ldap sync`` walks the directory (the base DN and the sign-in
filter, matching every login, a page at a time) and creates or refreshes
each person's shadow account with the mapping and the conflict rules of a
sign-in (:meth:`LdapUserSource.person`, :meth:`SqlShadowAccounts.apply`):
a directory entry never takes over a local account's login, a student or
personnel number that another account holds is logged and not copied.

A person who never signed in gets a *not activated* shadow (by default), so
that the Sésame activation (number + birth date) finds them and sets their
first password, written to the directory; their first directory sign-in
makes the shadow active. An existing shadow keeps its status, its password
and its must-change flag. Shadows whose entry has left the directory are
listed, never deleted; on request they are disabled.

No Flask here: the command (:mod:`cas_server.cli.ldap`) builds the objects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ...accounts.directory import ShadowConflict
from ...accounts.model import Status, normalize_login
from ...storage.sql.shadow_accounts import Outcome, ShadowRow, SqlShadowAccounts
from .pool import PAGE_SIZE, DirectoryUnavailable, LdapPool
from .source import LdapUserSource

log = logging.getLogger(__name__)


class SyncRefused(Exception):
    """The people were synced, but a step was refused as unsafe; ``report`` says the rest."""

    def __init__(self, message: str, report: SyncReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class SyncReport:
    dry_run: bool = False
    entries: int = 0  # directory entries read
    created: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    unchanged: int = 0
    conflicts: list[str] = field(default_factory=list)  # logins of local accounts: left alone
    duplicates: list[str] = field(default_factory=list)  # logins on several entries: first kept
    clashes: list[str] = field(default_factory=list)  # "login: field" not copied (unique)
    gone: list[str] = field(default_factory=list)  # shadows without a directory entry
    disabled: list[str] = field(default_factory=list)  # of those, disabled by this run

    def lines(self) -> list[str]:
        prefix = "dry run, nothing changed: " if self.dry_run else ""
        out = [
            f"{prefix}{self.entries} directory entr{'y' if self.entries == 1 else 'ies'} read",
            f"created: {len(self.created)}",
            f"refreshed: {len(self.refreshed)}",
            f"unchanged: {self.unchanged}",
            f"conflicts (login of a local account, left alone): {len(self.conflicts)}",
        ]
        out += [f"  conflict: {login}" for login in self.conflicts]
        if self.duplicates:
            out.append(f"logins on several entries (first one kept): {len(self.duplicates)}")
            out += [f"  duplicate: {login}" for login in self.duplicates]
        if self.clashes:
            out.append(f"numbers held by another account (not copied): {len(self.clashes)}")
            out += [f"  clash: {clash}" for clash in self.clashes]
        out.append(f"gone from the directory: {len(self.gone)}")
        out += [f"  gone: {login}" for login in self.gone]
        if self.disabled:
            out.append(f"disabled: {len(self.disabled)}")
        return out


def people_filter(source: LdapUserSource) -> str:
    """The sign-in filter matching every login: ``{login}`` → ``*``, and a login present."""
    c = source.config
    return f"(&{c.user_filter.replace('{login}', '*')}({c.login_attribute}=*))"


def sync_directory(
    pool: LdapPool,
    source: LdapUserSource,
    shadows: SqlShadowAccounts,
    *,
    dry_run: bool = False,
    disable_gone: bool = False,
    new_status: Status = Status.NOT_ACTIVATED,
    on_disabled: Callable[[ShadowRow], None] | None = None,
    page_size: int = PAGE_SIZE,
) -> SyncReport:
    """Walk the directory and sync every person; raises :class:`DirectoryUnavailable`
    (nothing is reported gone nor disabled then) or :class:`SyncRefused`."""
    report = SyncReport(dry_run=dry_run)
    seen: set[str] = set()
    attributes = source.config.wanted_attributes()
    for page in pool.search_pages(people_filter(source), attributes, page_size):
        for entry in page:
            report.entries += 1
            person = source.person(entry)
            if person is None:  # no login value (logged)
                continue
            key = normalize_login(person.login)
            if key in seen:
                log.warning("LDAP sync: several entries have the login %r: first kept", key)
                report.duplicates.append(key)
                continue
            seen.add(key)
            try:
                result = shadows.apply(person, new_status=new_status, dry_run=dry_run)
            except ShadowConflict:
                log.error("LDAP sync: the login %r belongs to a local account: left alone", key)
                report.conflicts.append(key)
                continue
            report.clashes += [f"{key}: {name}" for name in result.clashes]
            if result.outcome is Outcome.CREATED:
                report.created.append(key)
            elif result.outcome is Outcome.REFRESHED:
                report.refreshed.append(key)
            else:
                report.unchanged += 1
    gone = [row for row in shadows.shadows() if row.login not in seen]
    report.gone = [row.login for row in gone]
    if disable_gone and gone:
        if not seen:
            # A wrong filter or an emptied directory must not disable everybody.
            raise SyncRefused(
                f"the directory returned nobody: {len(gone)} shadow account(s) not disabled",
                report,
            )
        for row in gone:
            if row.status is Status.DISABLED:
                continue
            if not dry_run and not shadows.disable(row.uuid):
                continue
            report.disabled.append(row.login)
            if not dry_run and on_disabled is not None:
                on_disabled(row)
    return report


__all__ = ["DirectoryUnavailable", "SyncRefused", "SyncReport", "people_filter", "sync_directory"]
