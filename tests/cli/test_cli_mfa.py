"""``cas-server mfa …`` (issue #14): hardware tokens imported all or nothing, the key
rotation, show, remove (as ``cli``, on anyone), and ``services check``'s ``mfa: required``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyotp
import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from cas_server.accounts.mfa.sealing import Sealer
from cas_server.storage.sql.models import AuditEventRow, MfaFactorRow
from tests.support.app import make_account

SEED_A = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ"
SEED_B = "KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TF"
SEED_C = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def run(runner: Any, *args: str, ok: bool = True) -> str:
    result = runner.invoke(args=list(args))
    assert (result.exit_code == 0) is ok, result.output
    return str(result.output)


def csv_file(tmp_path: Path, text: str, name: str = "tokens.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def factor_rows(app: Flask) -> list[MfaFactorRow]:
    with Session(app.extensions["cas"].engine) as s:
        return list(s.scalars(select(MfaFactorRow)))


def audit(app: Flask, action: str) -> list[AuditEventRow]:
    with Session(app.extensions["cas"].engine) as s:
        return list(s.scalars(select(AuditEventRow).where(AuditEventRow.action == action)))


@pytest.fixture
def staff(app: Flask) -> None:
    make_account(app, "jdupont")
    make_account(app, "mleroy")


GOOD = f"login,secret,label\njdupont,{SEED_A},Jeton 1\nmleroy,{SEED_B.lower()},\n"


# import-totp ----------------------------------------------------------------------------


def test_a_dry_run_changes_nothing(app: Flask, runner: Any, tmp_path: Path, staff: None) -> None:
    out = run(runner, "mfa", "import-totp", csv_file(tmp_path, GOOD), "--dry-run")
    assert "line 2: would add a TOTP token for jdupont (Jeton 1)" in out
    assert "line 3: would add a TOTP token for mleroy" in out
    assert "dry run, nothing changed: created 2, unchanged 0, rejected 0" in out
    assert factor_rows(app) == []
    assert [e.outcome for e in audit(app, "admin_mfa_import")] == ["dry_run"]


def test_an_import_creates_factors_whose_codes_verify(
    app: Flask, runner: Any, tmp_path: Path, staff: None
) -> None:
    out = run(runner, "mfa", "import-totp", csv_file(tmp_path, GOOD))
    assert "imported: created 2, unchanged 0, rejected 0" in out
    assert SEED_A not in out and SEED_B not in out
    c = app.extensions["cas"]
    jdupont = c.accounts.find_by_login("jdupont")
    mleroy = c.accounts.find_by_login("mleroy")
    assert c.mfa.verify_totp(jdupont, pyotp.TOTP(SEED_A).now()) is not None
    assert c.mfa.verify_totp(mleroy, pyotp.TOTP(SEED_B).now()) is not None
    labels = {r.account_uuid: r.label for r in factor_rows(app)}
    assert (
        labels[jdupont.uuid] == "Jeton 1" and labels[mleroy.uuid] == "Jeton matériel"
    )  # default language
    assert all(SEED_A.encode() not in bytes(r.secret) for r in factor_rows(app))  # sealed
    enrolled = audit(app, "admin_mfa_enrol")
    assert sorted(e.login for e in enrolled) == ["jdupont", "mleroy"]
    assert {e.actor for e in enrolled} == {"cli"}
    # The same file again: nothing changes.
    again = run(runner, "mfa", "import-totp", csv_file(tmp_path, GOOD))
    assert "unchanged 2" in again and len(factor_rows(app)) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"login,secret,label\njdupont,{SEED_A},a\nmleroy,NOT-BASE32-1890!,b\n",
            "line 3: rejected: The secret of mleroy is not base32 of at least 112 bits.",
        ),
        (
            f"login,secret,label\njdupont,{SEED_A},a\nmleroy,JBSWY3DP,b\n",  # 40 bits
            "line 3: rejected: The secret of mleroy is not base32",
        ),
        (
            f"login,secret,label\njdupont,{SEED_A},a\nnobody,{SEED_B},b\n",
            "line 3: rejected: No account has the login or alias nobody.",
        ),
        (
            f"login,secret,label\njdupont,{SEED_A},a\nmleroy,{SEED_C},b\nmleroy,{SEED_A},c\n",
            "line 4: rejected: The same secret is on line 2.",
        ),
        (
            f"jdupont,{SEED_A},a\nmleroy,{SEED_B},b\n",
            "line 1: rejected: The first line must name the columns login, secret and label",
        ),
        (
            f"login,secret,label\njdupont,{SEED_A},a\nmleroy,{SEED_B},{'x' * 80}\n",
            "line 3: rejected: The name is too long",
        ),
        (
            f"login,secret,label\njdupont,{SEED_A},a\n,{SEED_B},b\n",
            "line 3: rejected: No login.",
        ),
    ],
    ids=["bad-base32", "too-short", "unknown-login", "duplicate", "no-header", "label", "no-login"],
)
def test_a_bad_line_is_reported_and_nothing_is_written(
    app: Flask, runner: Any, tmp_path: Path, staff: None, text: str, expected: str
) -> None:
    out = run(runner, "mfa", "import-totp", csv_file(tmp_path, text), ok=False)
    assert expected in out
    assert "nothing imported" in out
    assert factor_rows(app) == []
    assert audit(app, "admin_mfa_enrol") == []
    assert [e.outcome for e in audit(app, "admin_mfa_import")] == ["refused"]


def test_a_secret_of_another_account_is_refused(
    app: Flask, runner: Any, tmp_path: Path, staff: None
) -> None:
    run(runner, "mfa", "import-totp", csv_file(tmp_path, f"login,secret\njdupont,{SEED_A}\n"))
    out = run(
        runner,
        "mfa",
        "import-totp",
        csv_file(tmp_path, f"secret;login\n{SEED_A};mleroy\n"),
        ok=False,
    )
    assert "line 2: rejected: This secret is already enrolled for another account." in out
    assert len(factor_rows(app)) == 1


# reseal ---------------------------------------------------------------------------------


def test_reseal_with_a_rotated_key_keeps_codes_verifying(
    app: Flask, runner: Any, tmp_path: Path, staff: None
) -> None:
    run(runner, "mfa", "import-totp", csv_file(tmp_path, GOOD))
    c = app.extensions["cas"]
    before = {r.id: bytes(r.secret) for r in factor_rows(app)}
    new_key = Fernet.generate_key().decode()
    c.mfa.sealer = Sealer([new_key, *_configured_keys(app)])  # the new key put first
    out = run(runner, "mfa", "reseal")
    assert "2 secret(s) sealed again with the first key" in out
    after = {r.id: bytes(r.secret) for r in factor_rows(app)}
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in after)
    # The old key can go: the new one alone opens every secret.
    c.mfa.sealer = Sealer([new_key])
    jdupont = c.accounts.find_by_login("jdupont")
    assert c.mfa.verify_totp(jdupont, pyotp.TOTP(SEED_A).now()) is not None
    assert [e.outcome for e in audit(app, "admin_mfa_reseal")] == ["success"]


def test_reseal_says_which_secrets_no_key_opens(
    app: Flask, runner: Any, tmp_path: Path, staff: None
) -> None:
    run(runner, "mfa", "import-totp", csv_file(tmp_path, GOOD))
    c = app.extensions["cas"]
    c.mfa.sealer = Sealer([Fernet.generate_key().decode()])  # the old key dropped too soon
    result = runner.invoke(args=["mfa", "reseal"])
    assert result.exit_code == 1
    assert "0 secret(s) sealed again" in result.output
    assert "2 secret(s) that no configured key opens" in result.output


def _configured_keys(app: Flask) -> list[str]:
    """The keys the application seals with (the test mode's stand-in, none being set)."""
    from cas_server.settings.mfa import load_mfa_settings

    settings = app.extensions["cas"].settings
    mfa = load_mfa_settings(settings.raw, mode=settings.mode, institution_name="x")
    return list(mfa.encryption_keys)


# show and remove ------------------------------------------------------------------------


def test_show_lists_factors_without_secrets(
    app: Flask, runner: Any, tmp_path: Path, staff: None
) -> None:
    run(runner, "mfa", "import-totp", csv_file(tmp_path, GOOD))
    out = run(runner, "mfa", "show", "jdupont")
    (row,) = [r for r in factor_rows(app) if r.label == "Jeton 1"]
    assert row.id in out and "totp" in out and "Jeton 1" in out and "last used never" in out
    assert "recovery codes left: 0" in out and "trusted devices: 0" in out
    assert SEED_A not in out and bytes(row.secret).decode() not in out
    make_account(app, "sans")
    assert "no second factor" in run(runner, "mfa", "show", "sans")
    assert "no account 'nobody'" in run(runner, "mfa", "show", "nobody", ok=False)


def test_remove_as_cli_works_on_an_admin(app: Flask, runner: Any, tmp_path: Path) -> None:
    make_account(app, "boss", roles=["admin"])
    make_account(app, "desk", roles=["helpdesk"])
    text = f"login,secret,label\nboss,{SEED_A},a\nboss,{SEED_B},b\ndesk,{SEED_C},c\n"
    run(runner, "mfa", "import-totp", csv_file(tmp_path, text))
    (first,) = [r for r in factor_rows(app) if r.label == "a"]
    assert "second factor 'a' (totp) of boss removed" in run(
        runner, "mfa", "remove", "boss", first.id
    )
    assert "1 second factor(s) of boss removed" in run(runner, "mfa", "remove", "boss", "--all")
    assert [r.label for r in factor_rows(app)] == ["c"]
    # Another person's factor id, through this account: not found, nothing removed.
    (desk_factor,) = factor_rows(app)
    out = run(runner, "mfa", "remove", "boss", desk_factor.id, ok=False)
    assert "does not exist" in out and len(factor_rows(app)) == 1
    assert "give a FACTOR_ID" in run(runner, "mfa", "remove", "desk", ok=False)
    assert "give a FACTOR_ID" in run(runner, "mfa", "remove", "desk", "x", "--all", ok=False)
    removals = audit(app, "admin_mfa_remove")
    assert [(e.actor, e.outcome) for e in removals] == [
        ("cli", "success"),
        ("cli", "success"),
        ("cli", "refused"),
    ]


# services check -------------------------------------------------------------------------


@pytest.fixture
def app_overrides(tmp_path: Path) -> dict[str, Any]:
    services = tmp_path / "services.toml"
    services.write_text(
        "[[services]]\n"
        'id = "paie"\nname = "Paie"\n'
        "url_pattern = '^https://paie\\.example\\.org/.*$'\n"
        'mfa = "required"\n'
        "[[services]]\n"
        'id = "ent"\nname = "ENT"\n'
        "url_pattern = '^https://ent\\.example\\.org/.*$'\n",
        encoding="utf-8",
    )
    return {"services": {"paths": [str(services)]}}


def test_services_check_shows_mfa_required(runner: Any) -> None:
    out = run(runner, "services", "check")
    paie, ent = out.split(" paie (Paie)")[1], out.split(" ent (ENT)")[1]
    assert "mfa: required" in paie.split(" ent (ENT)")[0]
    assert "mfa: required" not in ent.split(" paie (Paie)")[0]
