"""``cas-server users lock|unlock|alias|force-change|end-sessions|roles|link|unlink|send-reset|
send-sms|resend-activation LOGIN``: the console's actions on someone's access.

Each goes through the same checked, audited action as the console
(:mod:`cas_server.admin.actions`), as the actor ``cli``.
"""

from __future__ import annotations

import sys

import click

from ..admin import messages
from .users import account_command, find_account, run_action


@account_command("lock", "Lock an account and end its SSO sessions.")
@click.option("--reason", default="", help="Kept in the audit trail.")
def users_lock(login: str, reason: str) -> None:
    ended = run_action(lambda a: a.lock(find_account(login), reason))
    click.echo(f"{login} locked; {ended} SSO session(s) ended")


@account_command("unlock", "Unlock an account (and lift a suspension after failures).")
def users_unlock(login: str) -> None:
    status = run_action(lambda a: a.unlock(find_account(login)))
    click.echo(f"{login} unlocked (status {status.value})")


@account_command("alias", "Set an account's alias (custom login), or clear it.")
@click.argument("alias", required=False, default="")
@click.option("--clear", is_flag=True, help="Remove the alias.")
def users_alias(login: str, alias: str, clear: bool) -> None:
    if not alias and not clear:
        raise click.UsageError("give the alias, or --clear")
    result = run_action(lambda a: a.set_alias(find_account(login), "" if clear else alias))
    click.echo(f"alias of {login}: {result or 'none'}")


@account_command("force-change", "Ask for a new password at the next sign-in.")
@click.option(
    "--temporary-password-stdin", "stdin", is_flag=True, help="Also set this temporary password."
)
@click.option("--generate", is_flag=True, help="Also set a temporary password drawn at random.")
def users_force_change(login: str, stdin: bool, generate: bool) -> None:
    if stdin and generate:
        raise click.UsageError("--temporary-password-stdin or --generate, not both")
    password = sys.stdin.readline().rstrip("\r\n") if stdin else None
    if stdin and not password:
        raise click.UsageError("empty password on standard input")
    generated = run_action(
        lambda a: a.force_change(find_account(login), password, generate=generate)
    )
    if generated:
        click.echo(f"temporary password of {login}: {generated}")
    elif password:
        click.echo(f"temporary password of {login} set; it must be changed at the next sign-in")
    else:
        click.echo(f"{login} must choose a new password at the next sign-in")


@account_command("end-sessions", "End every SSO session of an account (single logout).")
def users_end_sessions(login: str) -> None:
    ended = run_action(lambda a: a.end_sessions(find_account(login)))
    click.echo(f"{ended} SSO session(s) of {login} ended")


@account_command("roles", "Show, grant or revoke console roles (admin, helpdesk, impersonate).")
@click.option("--add", "add", multiple=True, help="Role to grant (repeatable).")
@click.option("--remove", "remove", multiple=True, help="Role to revoke (repeatable).")
def users_roles(login: str, add: tuple[str, ...], remove: tuple[str, ...]) -> None:
    if add or remove:
        roles = run_action(lambda a: a.set_roles(find_account(login), set(add), set(remove)))
    else:
        roles = find_account(login).roles
    click.echo(f"roles of {login}: {', '.join(sorted(roles)) or 'none'}")


@account_command("link", "Link OTHER (another account of the same person) to LOGIN.")
@click.argument("other")
def users_link(login: str, other: str) -> None:
    linked = run_action(lambda a: a.link(find_account(login), other))
    click.echo(f"{linked.login} is now linked to {login}")


@account_command("unlink", "Undo the link between LOGIN and OTHER.")
@click.argument("other")
def users_unlink(login: str, other: str) -> None:
    run_action(lambda a: a.unlink(find_account(login), find_account(other)))
    click.echo(f"{login} and {other} are no longer linked")


@account_command("send-reset", "Mail a password-reset link (to the address on file or --to).")
@click.option("--to", "to", default=None, help="Send to this address instead.")
@click.option("--save", is_flag=True, help="Also save --to as the personal e-mail.")
def users_send_reset(login: str, to: str | None, save: bool) -> None:
    masked = run_action(lambda a: messages.send_reset_link(a, find_account(login), to, save=save))
    click.echo(f"password-reset link for {login} sent to {masked}")


@account_command("send-sms", "Text a password-reset link to the mobile on file.")
def users_send_sms(login: str) -> None:
    masked = run_action(lambda a: messages.send_sms_link(a, find_account(login)))
    click.echo(f"password-reset link for {login} sent by SMS to {masked}")


@account_command("resend-activation", "Issue a new activation code.")
@click.option(
    "--channel", type=click.Choice(["mail", "sms", "show"]), default="mail", show_default=True
)
def users_resend_activation(login: str, channel: str) -> None:
    result = run_action(lambda a: messages.resend_activation(a, find_account(login), channel))
    if channel == "show":
        click.echo(f"activation code of {login}: {result}")
    else:
        click.echo(f"activation code for {login} sent to {result}")
