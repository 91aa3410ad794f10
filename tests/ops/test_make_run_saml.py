"""`make run` serves a demo SAML SP (pysaml2) beside the demo CAS services (#18).

scripts/run-demo.sh with config/demo.toml as shipped (its instance/ files under a
temporary folder, the IdP's signing pair made as `make demo-db` makes it): the demo SP
answers, a demo account signs in through it at the server's IdP with the R&S attributes
the demo SP's metadata earns, then reaches the demo ENT (CAS) without its password, and
Ctrl-C stops every process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support.paths import BIN, ROOT
from tests.support.ports import free_port, wait_port
from tests.support.saml_sp import (
    SIGN_IN_TITLE,
    SamlBrowser,
    demo_instance,
    require_xmlsec1,
    visible_text,
)

pytestmark = pytest.mark.e2e

LOGIN, PASSWORD = "etudiant", "Etudiant-2026!"  # a demo account (README, `make run`)


def _cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [str(BIN / "cas-server"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_demo_saml_sp_signs_in_and_reaches_the_ent(tmp_path: Path) -> None:
    require_xmlsec1()
    text, saml_env = demo_instance(
        (ROOT / "config" / "demo.toml")
        .read_text(encoding="utf-8")
        .replace("sqlite:///../instance/demo.sqlite3", f"sqlite:///{tmp_path / 'demo.sqlite3'}")
        .replace('"../instance/demo-outbox"', f'"{tmp_path / "outbox"}"')
        .replace(
            'paths = ["services", "demo-services"]', f'paths = ["{ROOT}/config/demo-services"]'
        ),
        tmp_path / "instance",
    )
    config = tmp_path / "demo.toml"
    config.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAS_", "GUNICORN"))} | {
        "CAS_SERVER_CONFIG": str(config),
        **saml_env,
    }
    _cli(env, "db", "init")
    _cli(env, "demo")
    port, client_port, sp_port = free_port(), free_port(), free_port()
    process = subprocess.Popen(
        ["bash", "scripts/run-demo.sh"],
        cwd=ROOT,
        env={
            **env,
            "BIN": str(BIN),
            "PORT": str(port),
            "DEMO_CLIENT_PORT": str(client_port),
            "DEMO_SAML_SP_PORT": str(sp_port),
            "DEMO_CONFIG": str(config),
            "GUNICORN_WORKERS": "1",
            "GUNICORN_ACCESSLOG": "/dev/null",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    browser = SamlBrowser()
    cas, sp = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sp_port}"
    try:
        for listening in (port, client_port, sp_port):
            assert wait_port(listening, 40), "make run did not start"
        deadline = time.monotonic() + 30
        while requests.get(cas + "/login", timeout=5).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        home = browser.get(sp + "/")
        assert home.status_code == 200 and "Se connecter" in home.text
        metadata = requests.get(sp + "/saml/metadata", timeout=10)
        assert "research-and-scholarship" in metadata.text
        assert 'use="encryption"' in metadata.text and "SingleLogoutService" in metadata.text
        assert requests.get(cas + "/idp/metadata", timeout=10).status_code == 200

        final = browser.sign_in_form(browser.get(sp + "/saml/login"), LOGIN, PASSWORD)
        assert final.url.startswith(sp), browser.explain(final)
        data = browser.session.get(sp + "/session.json", timeout=10).json()
        assert data["signed_in"] and data["encrypted"], data  # the demo SP has a key
        attributes = data["attributes"]
        assert attributes["eduPersonPrincipalName"] == [f"{LOGIN}@univ-demo.fr"]
        assert attributes["mail"] and attributes["displayName"]
        assert any(v.endswith("@univ-demo.fr") for v in attributes["pairwise-id"])
        assert "Connecté" in visible_text(final.text)

        # Single sign-on to the demo ENT (a CAS service): no password asked.
        ent = browser.get(f"http://127.0.0.1:{client_port}/ent/")
        assert SIGN_IN_TITLE not in ent.text, browser.explain(ent)
        assert f"Connecté en tant que {LOGIN}" in visible_text(ent.text), browser.explain(ent)
    finally:
        browser.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        try:
            output, _ = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    text_out = output.decode("utf-8", "replace")
    assert process.returncode == 0, text_out
    assert "Traceback" not in text_out, text_out
