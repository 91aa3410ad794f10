"""Sésame's plumbing: login links, the CAPTCHA, mail backends, the demo outbox,
configuration checks, help pages and bad requests (never a 500)."""

from __future__ import annotations

import base64
import logging
import random
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server import captcha, create_app
from cas_server.outbound.mail import ConsoleLog, LoggedMessage, Message, make_outbox
from cas_server.outbound.sms import render_body
from cas_server.settings.server import ConfigError
from cas_server.settings.sesame import load_sesame_settings
from tests.support.app import make_account, test_overrides
from tests.support.outbound import SmtpSink, body
from tests.support.sesame import SesameBrowser


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return sesame_overrides


def test_login_page_links_in_both_languages(sesame_client: FlaskClient) -> None:
    french = sesame_client.get("/login?lang=fr").get_data(as_text=True)
    for label in ("Mot de passe oublié ?", "Activer mon compte", "Identifiants oubliés", "Aide"):
        assert label in french
    english = sesame_client.get("/login?lang=en").get_data(as_text=True)
    for label in ("Forgotten password?", "Activate my account", "Forgotten identifier", "Help"):
        assert label in english
    for url in ("/sesame/password", "/sesame/activate", "/sesame/identifier", "/sesame/"):
        assert f'href="{url}"' in english
        page = sesame_client.get(url)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert text.count("<h1") == 1 and "sesame.css" in text


def test_every_path_page_renders(sesame_client: FlaskClient) -> None:
    for url in (
        "/sesame/password/joker",
        "/sesame/password/email",
        "/sesame/password/sms",
        "/sesame/password/temporary",
        "/sesame/password/facts",
        "/sesame/charter/general",
    ):
        page = sesame_client.get(url)
        assert page.status_code == 200, url
        text = page.get_data(as_text=True)
        assert text.count("<h1") == 1
        assert "<script>" not in text and "style=" not in text  # CSP: nothing inline
    assert sesame_client.get("/sesame/charter/nope").status_code == 404


def test_image_captcha_is_drawn_without_text_and_checked_once(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixed = captcha.image_challenge(5, random.Random(7))
    monkeypatch.setattr(captcha, "image_challenge", lambda length, rng=None: fixed)
    page = sesame_client.get("/sesame/password/email").get_data(as_text=True)
    image = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert image is not None
    svg = base64.b64decode(image.group(1)).decode()
    assert "<path" in svg and "<text" not in svg and fixed.answer not in svg
    assert "captcha=question" in page  # the accessible alternative, one link away
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    data = {"csrf_token": token, "identifier": "x", "captcha_answer": fixed.answer.lower()}
    assert sesame_client.post("/sesame/password/email", data=data).status_code == 200
    assert sesame_client.post("/sesame/password/email", data=data).status_code == 400


def test_captcha_question_accepts_digits_or_words() -> None:
    # More in tests/captcha/test_captcha.py: the bank, its answers, the attackers.
    assert captcha.normalize("question", " Sept. ") == "sept"
    assert captcha.normalize("image", "ab c") == "ABC"
    challenge = captcha.question_challenge(random.Random(1))
    assert challenge.answer == challenge.accepted[0] and set(challenge.text) == {"fr", "en"}


def test_console_backend_keeps_the_last_fifty(tmp_path: Path, caplog: Any) -> None:
    settings = load_sesame_settings(
        {**_raw(), "mail": {**_raw()["mail"], "backend": "console"}}
    ).mail
    console = ConsoleLog(tmp_path / "outbox")
    outbox = make_outbox(settings, "https://cas.example.org", console)
    with caplog.at_level(logging.INFO, logger="cas_server.outbound.mail"):
        futures = [
            outbox.send(Message(f"u{i}@example.org", f"Subject {i}", "Body")) for i in range(55)
        ]
        assert all(f.result(timeout=5) for f in futures)
    outbox.close()
    latest = console.latest()
    assert len(latest) == 50 and all(isinstance(m, LoggedMessage) for m in latest)
    assert "Subject" in caplog.text
    # Another worker reading the same folder sees them too.
    assert len(ConsoleLog(tmp_path / "outbox").latest()) == 50


def _raw() -> dict[str, dict[str, Any]]:
    from cas_server.settings.server import load_raw

    return load_raw(environ={})


def test_configuration_mistakes_name_the_key() -> None:
    raw = _raw()
    for section, key, value in [
        ("sesame", "password_paths", ["joker", "pigeon"]),
        ("sesame", "link_ttl", 0),
        ("sesame", "code_ttl", 86400),
        ("mail", "security", "tls1.0"),
        ("sms", "backend", "carrier-pigeon"),
        ("captcha", "forms", ["nowhere"]),
        ("sesame", "default_country", "France"),
    ]:
        broken = {**raw, section: {**raw[section], key: value}}
        with pytest.raises(ConfigError) as error:
            load_sesame_settings(broken)
        assert f"{section}.{key}" in str(error.value)
    http = {**raw, "sms": {**raw["sms"], "backend": "http", "url": ""}}
    with pytest.raises(ConfigError, match=r"sms\.url"):
        load_sesame_settings(http)


def test_sms_body_is_escaped_for_its_content_type() -> None:
    json_body = render_body(
        '{"to": "{to}", "text": "{message}"}', "application/json", "+33", 'a "b"'
    )
    assert json_body == '{"to": "+33", "text": "a \\"b\\""}'
    form = render_body("to={to}&msg={message}", "application/x-www-form-urlencoded", "+33", "a b&c")
    assert form == "to=%2B33&msg=a+b%26c"


def test_demo_outbox_only_in_demo_mode(db_path: Path, app: Flask) -> None:
    assert app.test_client().get("/demo/outbox").status_code == 404
    demo = create_app(
        overrides=test_overrides(
            db_path,
            server={"mode": "demo"},
            mail={"backend": "console"},
            captcha={"enabled": False},
        ),
        environ={},
    )
    try:
        make_account(demo, "dora", personal_email="dora@example.org")
        client = demo.test_client()
        browser = SesameBrowser(client, "en")
        assert browser.submit("/sesame/password/email", {"identifier": "dora"}).status_code == 200
        demo.extensions["sesame"].close()
        page = client.get("/demo/outbox")
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and "dora@example.org" in text
        assert re.search(r'<a href="http://127\.0\.0\.1:8080/sesame/password/reset/[^"]+"', text)
    finally:
        demo.extensions["cas"].engine.dispose()


def test_disabled_module_and_paths_answer_404(app: Flask) -> None:
    from dataclasses import replace

    state = app.extensions["sesame"]
    state.settings = replace(state.settings, password_paths=("joker",), activation=False)
    client = app.test_client()
    assert client.get("/sesame/password/email").status_code == 404
    assert client.get("/sesame/activate").status_code == 404
    assert "Activer mon compte" not in client.get("/login").get_data(as_text=True)
    state.settings = replace(state.settings, enabled=False)
    assert client.get("/sesame/password").status_code == 404
    assert "Mot de passe oublié" not in client.get("/login").get_data(as_text=True)


def test_bad_requests_are_4xx_never_500(sesame_client: FlaskClient, app: Flask) -> None:
    browser = SesameBrowser(sesame_client)
    # No CSRF token, unknown or malformed tokens, oversized bodies.
    assert sesame_client.post("/sesame/password/email", data={"identifier": "x"}).status_code == 400
    assert sesame_client.get("/sesame/password/reset/short").status_code == 410
    assert sesame_client.get("/sesame/password/reset/" + "A" * 300).status_code == 410
    assert sesame_client.get("/sesame/password/facts/%00%01").status_code in (404, 410)
    assert sesame_client.post("/sesame/password/new", data={}).status_code == 400
    assert sesame_client.get("/sesame/password/new").status_code == 410
    assert sesame_client.get("/sesame/activate/account").status_code == 410
    big = browser.submit("/sesame/password/email", {"identifier": "x" * 2_000_000})
    assert big.status_code == 413
    weird = browser.submit("/sesame/password/email", {"identifier": "al\u202eice\x1b"})
    assert weird.status_code == 400
    assert "non autorisés" in weird.get_data(as_text=True)


def test_mail_headers_and_language(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, app: Flask
) -> None:
    make_account(app, "zoe", personal_email="zoe@example.org")
    SesameBrowser(sesame_client, "en").submit("/sesame/password/email", {"identifier": "zoe"})
    mail = smtp_sink.wait()[0]
    assert mail["Message-ID"].endswith("@cas.univ-test.fr>")
    assert mail.get_content_type() == "text/plain" and mail.get_content_charset() == "utf-8"
    assert "Someone, probably you" in body(mail)
