"""The demo (`make run`'s `config/demo.toml`) lets a newcomer create an external account
and sign in with it (#16 "done when"): gunicorn on the demo configuration, the link
read from `/demo/outbox` as the README's walkthrough says."""

from __future__ import annotations

import re
import time
from html import unescape
from pathlib import Path

from tests.support.captcha_solver import answer_in
from tests.support.cli import run_cas_server
from tests.support.gunicorn import server_env, start_gunicorn, stop, tail, wait_until_up
from tests.support.html import csrf
from tests.support.http import new_session
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.saml_sp import demo_instance

PASSWORD = "Visiteur-Demo-2027!"
LINK_RE = re.compile(r'href="(http://[^"]+/sesame/register/confirm/[^"]+)"')


def demo_config(tmp_path: Path, url: str) -> Path:
    text = (
        (ROOT / "config" / "demo.toml")
        .read_text(encoding="utf-8")
        .replace("sqlite:///../instance/demo.sqlite3", f"sqlite:///{tmp_path / 'demo.sqlite3'}")
        .replace('"../instance/demo-outbox"', f'"{tmp_path / "outbox"}"')
        .replace(
            'paths = ["services", "demo-services"]', f'paths = ["{ROOT}/config/demo-services"]'
        )
        .replace('public_url = "http://127.0.0.1:8080"', f'public_url = "{url}"')
    )
    text, _ = demo_instance(text, tmp_path / "instance")  # [saml]'s signing pair
    config = tmp_path / "demo.toml"
    config.write_text(text, encoding="utf-8")
    return config


def test_a_visitor_creates_an_account_in_the_demo_and_signs_in(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(demo_config(tmp_path, url))
    for args in (("db", "init"), ("demo",)):
        done = run_cas_server(env, *args, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    log = tmp_path / "gunicorn.log"
    server = start_gunicorn(
        {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1"}, log
    )
    try:
        wait_until_up(server, url + "/login", 200, log, "gunicorn")
        http = new_session()
        login_page = http.get(f"{url}/login?lang=fr").text
        assert 'href="/sesame/register"' in login_page and "Créer un compte" in login_page
        form = http.get(f"{url}/sesame/register?captcha=question").text
        answer = answer_in(form)
        assert answer is not None
        sent = http.post(
            f"{url}/sesame/register",
            data={
                "csrf_token": csrf(form),
                "captcha": "question",
                "captcha_answer": answer,
                "email": "visiteur@exemple.org",
                "given_name": "Véra",
                "family_name": "Visiteur",
                "country": "FR",
                "organisation_type": "company",
                "new_password": PASSWORD,
                "confirm_password": PASSWORD,
                "charter": "1",
            },
        )
        assert sent.status_code == 200, tail(log)
        assert "Demande prise en compte" in sent.text
        links: list[str] = []
        for _ in range(50):
            links = LINK_RE.findall(http.get(f"{url}/demo/outbox").text)
            if links:
                break
            time.sleep(0.1)
        assert links, tail(log)
        confirm_url = unescape(links[0])
        page = http.get(confirm_url)
        assert page.status_code == 200
        done = http.post(confirm_url, data={"csrf_token": csrf(page.text)})
        assert done.status_code == 200 and "vera.visiteur" in done.text, done.text[-2000:]

        fresh = new_session()
        login_form = fresh.get(f"{url}/login?lang=fr").text
        signed = fresh.post(
            f"{url}/login",
            data={
                "username": "vera.visiteur",
                "password": PASSWORD,
                "csrf_token": csrf(login_form),
            },
            allow_redirects=True,
        )
        assert signed.status_code == 200
        # The charter was accepted on the form: the sign-in goes straight through.
        assert "Connexion réussie" in signed.text, signed.text[-1500:]
    finally:
        stop(server)
