"""``cas-server mfa import-totp``: hardware TOTP tokens for staff without a phone (issue #14).

The file: a first line naming the columns ``login,secret,label`` (any order;
``label`` may be left out), then one token per line: the login (or alias) of
its holder, its base32 seed as the token's sheet gives it, and the name the
person will see. Separated by ``,``, ``;`` or a tab, UTF-8 (with or without BOM).

All or nothing: every line is checked first (the account exists, the seed is
base32 of at least 112 bits, no seed twice, not already another person's, the
name is right, not too many factors); if any line is refused, nothing is
written and each refusal is reported with its line number. Otherwise every
factor is written in one transaction. A token already enrolled on the same
account is left alone (importing the same file twice changes nothing). The
seeds are sealed (``[mfa] encryption_keys``) before they reach the database and
never printed.
"""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert

from ..accounts.csv_import import Rejected
from ..accounts.i18n import N_
from ..accounts.mfa import totp
from ..accounts.mfa.model import Factor, FactorKind, MfaRefused
from ..accounts.mfa.ports import MfaStore
from ..accounts.mfa.sealing import SealingError
from ..accounts.model import Account
from ..runtime.container import container
from ..storage.sql.models import MfaFactorRow
from . import admin
from .acting import Acting, Refused

ACTION = "mfa_import"
COLUMNS = ("login", "secret", "label")
REQUIRED = ("login", "secret")
DEFAULT_LABEL = N_("Hardware token")  # in the default language: the person sees it


@dataclass
class TotpImportReport:
    dry_run: bool = True
    created: list[tuple[int, str, str]] = field(default_factory=list)  # line, login, label
    unchanged: list[tuple[int, str, str]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def written(self) -> bool:
        return not self.dry_run and not self.rejected

    @property
    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "unchanged": len(self.unchanged),
            "rejected": len(self.rejected),
        }


class _Pending:
    """The real store for reading; the new factors kept aside until all lines are good."""

    def __init__(self, store: MfaStore) -> None:
        self._store = store
        self.added: list[Factor] = []

    def factors(self, account_uuid: str) -> list[Factor]:
        mine = [f for f in self.added if f.account_uuid == account_uuid]
        return [*self._store.factors(account_uuid), *mine]

    def add_factor(self, factor: Factor) -> None:
        self.added.append(factor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _rows(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Refused(N_("The file is not UTF-8 text.")) from exc
    lines = text.splitlines()
    first = lines[0] if lines else ""
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = [(reader.line_num, row) for row in reader]
    if not rows:
        return [], []
    header = [name.strip().casefold() for name in rows[0][1]]
    return header, [(number, row) for number, row in rows[1:] if any(c.strip() for c in row)]


def _header_problem(header: list[str]) -> Rejected | None:
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    doubled = sorted({name for name in header if header.count(name) > 1})
    if missing or unknown or doubled:
        return Rejected(
            1,
            N_("The first line must name the columns login, secret and label (found: %(found)s)."),
            {"found": ", ".join(header) or "-"},
        )
    return None


def _known_seeds() -> dict[str, str]:
    """Every enrolled TOTP seed → its factor's id (opened with the configured keys)."""
    mfa = container().mfa
    seeds: dict[str, str] = {}
    for factor_id, sealed in mfa.store.sealed_secrets():
        try:
            seeds[mfa.sealer.open(sealed).decode("ascii")] = factor_id
        except (SealingError, UnicodeDecodeError):
            continue  # `cas-server mfa reseal` reports those
    return seeds


class _Bad(Exception):
    def __init__(self, reason: str, **params: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params = params


def _default_label() -> str:
    from flask_babel import force_locale, gettext

    with force_locale(container().settings.default_language):
        return str(gettext(DEFAULT_LABEL))


def _check_lines(
    rows: Iterable[tuple[int, list[str]]], header: list[str], report: TotpImportReport
) -> list[tuple[int, Account, Factor]]:
    mfa = container().mfa
    service = copy.copy(mfa)  # the same rules and keys, over the store that waits
    service.store = cast(MfaStore, _Pending(mfa.store))
    known, seen = _known_seeds(), dict[str, int]()
    default_label = _default_label()
    planned: list[tuple[int, Account, Factor]] = []
    for number, cells in rows:
        values = {
            name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header)
        }
        login, label = values.get("login", "")[:128], values.get("label", "") or default_label
        try:
            account = container().accounts.find_by_login(login) if login else None
            seed = totp.normalise_secret(values.get("secret", ""))
            if not login:
                raise _Bad(N_("No login."))
            if account is None:
                raise _Bad(N_("No account has the login or alias %(login)s."), login=login)
            if seed is None:
                raise _Bad(
                    N_("The secret of %(login)s is not base32 of at least 112 bits."), login=login
                )
            if seed in seen:
                raise _Bad(N_("The same secret is on line %(other)s."), other=seen[seed])
            seen[seed] = number
            if seed in known:
                if known[seed] not in {f.id for f in mfa.store.factors(account.uuid)}:
                    raise _Bad(N_("This secret is already enrolled for another account."))
                report.unchanged.append((number, account.login, label))
                continue
            try:
                factor = service.import_totp(account, label, seed)
            except MfaRefused as exc:
                raise _Bad(exc.message, **exc.params) from exc
        except _Bad as bad:
            report.rejected.append(Rejected(number, bad.reason, bad.params))
            continue
        planned.append((number, account, factor))
        report.created.append((number, account.login, factor.label))
    return planned


def _write(factors: list[Factor]) -> None:
    """Every new factor in one transaction: all of them, or none."""
    table = cast(Table, MfaFactorRow.__table__)
    with container().engine.begin() as connection:
        for factor in factors:
            connection.execute(
                insert(table).values(
                    id=factor.id,
                    account_uuid=factor.account_uuid,
                    kind=factor.kind.value,
                    label=factor.label,
                    secret=factor.secret,
                    credential_id=None,
                    public_key=None,
                    sign_count=0,
                    transports=[],
                    last_step=factor.last_step,
                    created_at=factor.created_at,
                    last_used_at=None,
                )
            )


def import_totp(
    actions: Acting, data: bytes, *, dry_run: bool, filename: str = ""
) -> TotpImportReport:
    """Check every line, then write every token (or, with ``dry_run`` or any refusal, none)."""
    actions.check(ACTION, None)
    name = filename[:255]
    if len(data) > admin().settings.import_max_bytes:
        actions.refuse(ACTION, None, N_("The file is too large."))
    report = TotpImportReport(dry_run=dry_run)
    header, rows = _rows(data)
    problem = _header_problem(header)
    if problem is not None:
        report.rejected.append(problem)
        planned = []
    else:
        planned = _check_lines(rows, header, report)
    if not report.rejected and not dry_run:
        _write([factor for _, _, factor in planned])
        for number, account, factor in planned:
            actions.audit(
                "mfa_enrol",
                "success",
                account,
                kind=FactorKind.TOTP.value,
                label=factor.label,
                source="import",
                file=name,
                line=number,
                operator=actions.actor.name,
            )
    outcome = "refused" if report.rejected else ("dry_run" if dry_run else "success")
    actions.audit(ACTION, outcome, None, file=name, dry_run=dry_run, **report.counts)
    return report
