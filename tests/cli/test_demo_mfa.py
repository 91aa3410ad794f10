"""The demo's second factor (issue #14): `cas-server demo` enrols the demo admin with a
published TOTP secret, once; the demo payroll requires a second factor; the README says
how to compute a code."""

from __future__ import annotations

import importlib.util
from typing import Any

import pyotp
from flask import Flask

from cas_server.demo.mfa import DEMO_TOTP_SECRET
from cas_server.settings.services import load_registry
from tests.support.paths import ROOT


def test_demo_twice_is_idempotent_and_the_admins_code_verifies(app: Flask, runner: Any) -> None:
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert f"admin: second factor added, TOTP secret {DEMO_TOTP_SECRET}" in first.output
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert f"admin: second factor already there, TOTP secret {DEMO_TOTP_SECRET}" in second.output
    c = app.extensions["cas"]
    admin = c.accounts.find_by_login("admin")
    (factor,) = c.mfa.factors(admin)
    assert factor.kind.value == "totp"
    assert c.mfa.verify_totp(admin, pyotp.TOTP(DEMO_TOTP_SECRET).now()) is not None


def test_the_demo_payroll_requires_a_second_factor_and_the_client_serves_it() -> None:
    registry = load_registry([ROOT / "config" / "demo-services"])
    paie = registry.match("http://127.0.0.1:8081/paie/")
    assert paie is not None and paie.id == "demo-paie" and paie.mfa_required
    ent = registry.match("http://127.0.0.1:8081/ent/")
    assert ent is not None and not ent.mfa_required  # the portal stays password only
    spec = importlib.util.spec_from_file_location(
        "demo_client", ROOT / "scripts" / "demo_client.py"
    )
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    answer = demo.app.test_client().get("/paie/")
    assert answer.status_code == 302 and "/login?service=" in answer.headers["Location"]


def test_the_readme_publishes_the_demo_secret() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Try the second factor", 1)[1].split("\n## ", 1)[0]
    assert DEMO_TOTP_SECRET in section and "pyotp.TOTP" in section and "/paie/" in section
