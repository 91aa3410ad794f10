"""The cas-server command line, through Flask's CLI runner."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from cas_server.accounts.model import Account
from cas_server.auth import Success
from cas_server.storage.sql.migrate import current_revision, head_revision


def test_db_init_is_idempotent(app: Flask, runner: object) -> None:
    for _ in range(2):
        result = runner.invoke(args=["db", "init"])  # type: ignore[attr-defined]
        assert result.exit_code == 0, result.output
        assert "revision" in result.output
    assert current_revision(app.extensions["cas"].engine) == head_revision()


def test_users_add_with_multivalued_attributes(app: Flask, runner: object) -> None:
    result = runner.invoke(  # type: ignore[attr-defined]
        args=[
            "users",
            "add",
            "Bob.Martin",
            "--password-stdin",
            "--profile",
            "teacher",
            "--given-name",
            "Bob",
            "--family-name",
            "Martin",
            "--attribute",
            "memberOf=maths",
            "--attribute",
            "memberOf=physique",
            "--attribute",
            "mail=bob@example.org",
            "--role",
            "helpdesk",
        ],
        input="S3cret-enough-and-long!\n",
    )
    assert result.exit_code == 0, result.output
    c = app.extensions["cas"]
    account = c.accounts.find_by_login("bob.martin")
    assert account is not None
    assert account.attributes["memberOf"] == ("maths", "physique")
    assert account.roles == frozenset({"helpdesk"})
    assert isinstance(c.user_source.authenticate("bob.martin", "S3cret-enough-and-long!"), Success)
    again = runner.invoke(args=["users", "add", "bob.martin", "--no-password"])  # type: ignore[attr-defined]
    assert again.exit_code != 0 and "already taken" in again.output


def test_users_add_rejects_bad_input(runner: object) -> None:
    no_stdin = runner.invoke(args=["users", "add", "carol"])  # type: ignore[attr-defined]
    assert no_stdin.exit_code != 0 and "--password-stdin" in no_stdin.output
    bad_attr = runner.invoke(  # type: ignore[attr-defined]
        args=["users", "add", "carol", "--password-stdin", "--attribute", "novalue"], input="pw\n"
    )
    assert bad_attr.exit_code != 0 and "NAME=VALUE" in bad_attr.output
    empty = runner.invoke(args=["users", "add", "carol", "--password-stdin"], input="\n")  # type: ignore[attr-defined]
    assert empty.exit_code != 0


def test_set_password(app: Flask, runner: object) -> None:
    runner.invoke(
        args=["users", "add", "dan", "--password-stdin"], input="old-Password-1-is-long\n"
    )  # type: ignore[attr-defined]
    result = runner.invoke(  # type: ignore[attr-defined]
        args=["users", "set-password", "dan", "--password-stdin"], input="new-Password-2-is-long\n"
    )
    assert result.exit_code == 0, result.output
    source = app.extensions["cas"].user_source
    assert isinstance(source.authenticate("dan", "new-Password-2-is-long"), Success)
    assert not isinstance(source.authenticate("dan", "old-Password-1-is-long"), Success)
    missing = runner.invoke(
        args=["users", "set-password", "nobody", "--password-stdin"], input="x\n"
    )  # type: ignore[attr-defined]
    assert missing.exit_code != 0 and "no account" in missing.output


def test_services_check_lists_in_match_order(runner: object) -> None:
    result = runner.invoke(args=["services", "check"])  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.output
    ids = [
        line.split()[2]
        for line in result.output.splitlines()
        if line[:4].strip().rstrip(".").isdigit()
    ]
    assert ids == ["cas-console", "cas-internal", "blocked", "app", "staff-only", "backend", "slo"]
    assert "DISABLED" in result.output and "7 service(s) OK" in result.output


def test_demo_is_idempotent(app: Flask, runner: object) -> None:
    first = runner.invoke(args=["demo"])  # type: ignore[attr-defined]
    assert first.exit_code == 0 and "etudiant: created" in first.output
    second = runner.invoke(args=["demo"])  # type: ignore[attr-defined]
    assert "etudiant: already there" in second.output
    assert isinstance(
        app.extensions["cas"].user_source.authenticate("etudiant", "Etudiant-2026!"), Success
    )


def test_tickets_purge(app: Flask, runner: object) -> None:
    from cas_server.protocol.cas.tickets import Principal

    c = app.extensions["cas"]
    tgt = c.login.create_session(Principal("alice"))
    result = runner.invoke(args=["tickets", "purge"])  # type: ignore[attr-defined]
    assert result.exit_code == 0 and "0 expired" in result.output
    assert c.login.current_session(tgt.id) is not None


def test_purge_removes_only_what_is_dead(app: Flask, runner: object, alice: Account) -> None:
    from cas_server.accounts.tokens import Purpose
    from cas_server.protocol.cas.tickets import Principal
    from cas_server.storage.sql.tokens import SqlTokenStore

    c = app.extensions["cas"]
    now = c.clock.now()
    live_session = c.login.create_session(Principal("alice"))
    tokens = SqlTokenStore(c.engine)
    for secret, ttl, issued in (("old", 60, now - 3 * 86400), ("fresh", 3600, now)):
        tokens.issue(alice.uuid, Purpose.RESET_LINK, secret, now=issued, ttl=ttl)
    c.counters.hit("login:old", now - 8 * 86400, 600)
    c.counters.hit("login:locked", now - 8 * 86400, 600)
    c.counters.lock("login:locked", now + 3600)
    c.counters.hit("login:recent", now, 600)

    result = runner.invoke(args=["purge"])  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.output
    assert "0 expired ticket(s)" in result.output
    assert "1 expired one-time token(s)" in result.output
    assert "1 idle throttling counter(s)" in result.output
    assert c.login.current_session(live_session.id) is not None
    assert tokens.peek("fresh", Purpose.RESET_LINK, now=now) is not None
    assert c.counters.locked_until("login:locked", now) == now + 3600
    assert c.counters.hit("login:recent", now, 600) == 2


def test_console_script_reports_bad_configuration(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nmode = "production"\n')
    result = subprocess.run(
        [sys.executable, "-m", "cas_server.cli", "services", "check"],
        env={"CAS_SERVER_CONFIG": str(bad), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "server.secret_key" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
