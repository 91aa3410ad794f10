"""``cas-server mfa …``: second factors (issue #14) from the command line.

* ``import-totp FILE.csv [--dry-run]``: hardware TOTP tokens (``login,secret,label``),
  all lines or none (:mod:`cas_server.admin.mfa_import`);
* ``reseal``: after putting a new key first in ``[mfa] encryption_keys``, every
  sealed TOTP secret sealed again under it;
* ``show LOGIN``: a person's factors (never a secret);
* ``remove LOGIN (--all | FACTOR_ID)``: the "lost phone" removal, as the actor ``cli``
  through the same checked, audited action as the console (it reaches administrators).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import with_appcontext

from ..accounts.mfa.sealing import SealingError
from ..admin import admin, factors
from ..admin.acting import CLI, Acting
from ..admin.mfa_import import TotpImportReport, import_totp
from ..runtime.container import container
from .users import find_account, run_action


@click.group("mfa", help="Second factors: import hardware tokens, rotate the key, show, remove.")
def mfa_group() -> None:
    pass


def _text(reason: str, params: Mapping[str, object]) -> str:
    return reason % dict(params) if params else reason


def print_totp_report(report: TotpImportReport) -> None:
    for line, login, label in report.created:
        verb = "would add" if report.dry_run or report.rejected else "added"
        click.echo(f"line {line}: {verb} a TOTP token for {login} ({label})")
    for line, login, label in report.unchanged:
        click.echo(f"line {line}: unchanged, {login} already has this token ({label})")
    for rejected in report.rejected:
        click.echo(f"line {rejected.line}: rejected: {_text(rejected.reason, rejected.params)}")
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
    if report.rejected:
        click.echo(f"nothing imported (fix the rejected lines and run again): {counts}")
    elif report.dry_run:
        click.echo(f"dry run, nothing changed: {counts}")
    else:
        click.echo(f"imported: {counts}")


@mfa_group.command("import-totp", help="Import hardware TOTP tokens (CSV: login,secret,label).")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every line; change nothing.")
@with_appcontext
def mfa_import_totp(path: Path, dry_run: bool) -> None:
    with path.open("rb") as f:
        data = f.read(admin().settings.import_max_bytes + 1)
    report = run_action(lambda a: import_totp(a, data, dry_run=dry_run, filename=path.name))
    print_totp_report(report)
    if report.rejected:
        raise SystemExit(1)


@mfa_group.command("reseal", help="Seal every TOTP secret again under the first key.")
@with_appcontext
def mfa_reseal() -> None:
    mfa = container().mfa
    resealed, unopened, changed = 0, [], 0
    for factor_id, sealed in mfa.store.sealed_secrets():
        try:
            fresh = mfa.sealer.reseal(sealed)
        except SealingError:
            unopened.append(factor_id)
            continue
        if mfa.store.replace_secret(factor_id, sealed, fresh):
            resealed += 1
        else:
            changed += 1  # removed or re-enrolled meanwhile: nothing to do
    Acting(CLI).audit(
        "mfa_reseal",
        "failure" if unopened else "success",
        None,
        resealed=resealed,
        unopened=len(unopened),
        changed_meanwhile=changed,
    )
    click.echo(f"{resealed} secret(s) sealed again with the first key")
    if unopened:
        click.echo(
            f"{len(unopened)} secret(s) that no configured key opens (put the old key back "
            f"in [mfa] encryption_keys): factor(s) {', '.join(unopened)}",
            err=True,
        )
        raise SystemExit(1)


def _date(value: float | None) -> str:
    if value is None:
        return "never"
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")


@mfa_group.command("show", help="Show a person's second factors (never a secret).")
@click.argument("login")
@with_appcontext
def mfa_show(login: str) -> None:
    state = factors.state_of(find_account(login))
    if not state.enabled:
        click.echo("second factors are off on this server ([mfa] enabled = false)")
    for f in state.factors:
        click.echo(
            f"{f.id}  {f.kind:<8}  {f.label}  (added {_date(f.created_at)}, "
            f"last used {_date(f.last_used_at)})"
        )
    if not state.factors:
        click.echo("no second factor")
    required = "yes" if state.required else "no"
    if state.required and not state.factors:
        required += f" ({state.grace_left} sign-in(s) left before enrolment is forced)"
    click.echo(f"required: {required}")
    click.echo(f"recovery codes left: {state.recovery_codes_left}")
    click.echo(f"trusted devices: {state.trusted_devices}")


@mfa_group.command("remove", help="Remove one second factor (FACTOR_ID), or --all of them.")
@click.argument("login")
@click.argument("factor_id", required=False, default="")
@click.option("--all", "everything", is_flag=True, help="Every factor, code and trusted device.")
@with_appcontext
def mfa_remove(login: str, factor_id: str, everything: bool) -> None:
    if everything == bool(factor_id):
        raise click.UsageError("give a FACTOR_ID (see `cas-server mfa show LOGIN`), or --all")
    account = find_account(login)
    if everything:
        removed = run_action(lambda a: a.remove_all_factors(account))
        click.echo(
            f"{removed} second factor(s) of {account.login} removed, with the recovery codes "
            "and trusted devices"
        )
        return
    gone = run_action(lambda a: a.remove_factor(account, factor_id))
    click.echo(f"second factor {gone.label!r} ({gone.kind}) of {account.login} removed")
