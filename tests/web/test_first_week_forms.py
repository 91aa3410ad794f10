"""Forms a university found wrong in its first week (issue #12), in the HTML they send.

16. the error summary names each field ("<label>: <message>") and links to it, with
    the label the field itself shows, on the self-service, profile and console forms;
    on the personal-facts reset page, facts that do not match are not blamed on the
    e-mail field;
18. the audit filter's dates: the hint says the format the field takes, and that
    format is read;
19. a theme names its institution once: header, footer and title say that name;
21. a page sent back with errors: the title starts with "Erreur :" / "Error:", and
    the error summary takes the focus;
22. the live checklist lists the rules the script checks as the user types; the
    rules only the server checks are listed apart, said to be checked on sending.

The browser side (focus, layout, what is announced) is in
tests/browser/test_first_week_pages.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server import create_app
from cas_server.accounts.model import Account, Profile
from tests.support.app import make_account, test_overrides
from tests.support.console import act, console_client
from tests.support.outbound import SmtpSink, link_in
from tests.support.profile import ProfileBrowser, person
from tests.support.sesame import PUBLIC_URL, SesameBrowser, sesame_state

REQUIRED_FR = "Ce champ est obligatoire."
NEW = "Metamots-New-Password-2027"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    """Every self-service path, real mail and SMS servers; no charter (not the point here)."""
    return {**sesame_overrides, "charters": {"path": ""}}


def parse(response: Any) -> Any:
    return lxml.html.fromstring(response.get_data(as_text=True))


def words(element: Any) -> str:
    return " ".join(element.text_content().split())


def summary_entries(doc: Any) -> list[tuple[str, str]]:
    """(href, text) of each link of the error summary."""
    return [(a.get("href"), words(a)) for a in doc.xpath("//*[@class='error-summary']//li/a")]


def label_of(doc: Any, field_id: str) -> str:
    """What the page calls the field: its <label>, or the legend of its fieldset."""
    labels = doc.xpath("//label[@for=$id]", id=field_id)
    if labels:
        return words(labels[0])
    legends = doc.xpath("//fieldset[@id=$id]/legend", id=field_id)
    assert legends, f"no label for #{field_id}"
    return words(legends[0])


def field_message(doc: Any, field_id: str) -> str:
    """The message shown beside the field, without its visually hidden "Error:"."""
    found = doc.xpath("//*[@id=$id]", id=f"{field_id}-error")
    assert found, f"no message beside #{field_id}"
    hidden = found[0].xpath(".//*[contains(@class, 'visually-hidden')]")
    text = words(found[0])
    return text.removeprefix(words(hidden[0])).strip() if hidden else text


def assert_summary_names_fields(
    doc: Any, lang: str, short: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """Every entry is "<the field's label>: <the field's message>", linked to the field.

    ``short``: the name the summary gives a field whose label is a whole sentence (a
    confirmation box, the CAPTCHA's question).
    """
    entries = summary_entries(doc)
    assert entries, "no error summary"
    colon = " : " if lang == "fr" else ": "
    for href, text in entries:
        assert href.startswith("#"), href
        field_id = href[1:]
        assert doc.xpath("//*[@id=$id]", id=field_id), f"{href} leads nowhere"
        label = (short or {}).get(field_id) or label_of(doc, field_id)
        expected = f"{label}{colon}{field_message(doc, field_id)}"
        assert text == expected, (text, expected)
    return entries


# --- 16. the error summary names its fields ------------------------------------------------


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_self_service_summary_names_each_field(sesame_client: FlaskClient, lang: str) -> None:
    browser = SesameBrowser(sesame_client, lang)
    response = browser.submit(
        "/sesame/password/facts",
        {
            "email": "nope",
            "given_name": " ",
            "family_name": " ",
            "country": "XX",
            "organisation_type": "spy",
        },
    )
    assert response.status_code == 400
    doc = parse(response)
    entries = assert_summary_names_fields(doc, lang)
    assert [href for href, _ in entries] == [
        "#email",
        "#given_name",
        "#family_name",
        "#country",
        "#organisation_type",
    ]
    if lang == "fr":
        # The same message twice, told apart by the field it is about.
        assert [t for _, t in entries if t.endswith(REQUIRED_FR)] == [
            f"Prénom : {REQUIRED_FR}",
            f"Nom : {REQUIRED_FR}",
        ]


def test_the_summary_names_the_number_kind_and_the_security_check(
    sesame_client: FlaskClient,
) -> None:
    """Fieldsets by their legend; the CAPTCHA by a short name, not its whole question."""
    browser = SesameBrowser(sesame_client, "en")
    _, fields = browser.page("/sesame/password/email")
    response = sesame_client.post(
        "/sesame/password/email",
        data={**fields, "identifier": "", "captcha_answer": "not the answer"},
    )
    assert response.status_code == 400
    entries = dict(summary_entries(parse(response)))
    assert entries["#captcha_answer"].startswith("Security check: ")
    assert entries["#captcha_answer"].count(":") == 1

    response = SesameBrowser(sesame_client, "en").submit(
        "/sesame/activate", {"kind": "nonsense", "identifier": "1", "birth_date": "1/1/2000"}
    )
    assert response.status_code == 400
    doc = parse(response)
    assert_summary_names_fields(doc, "en")
    assert any(href == "#kind" for href, _ in summary_entries(doc))


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_profile_summary_names_each_field(app: Flask, lang: str) -> None:
    person(app, "alice")
    browser = ProfileBrowser(app.test_client(), lang)
    browser.sign_in("alice")
    response = browser.submit(
        "/profile/joker",
        {"joker_question": "first_pet", "joker_answer": "", "current_password": ""},
    )
    assert response.status_code == 400
    entries = assert_summary_names_fields(parse(response), lang)
    assert {href for href, _ in entries} == {"#joker_answer", "#current_password"}


def test_console_summary_names_each_field(app: Flask) -> None:
    client = console_client(app)
    target = make_account(app, "bob", profile=Profile.STAFF)
    response = act(client, target.uuid, "lock", {"reason": "x" * 600}, confirm=False)
    assert response.status_code == 400
    entries = assert_summary_names_fields(parse(response), "en", {"confirm": "Confirmation"})
    assert [href for href, _ in entries] == ["#reason", "#confirm"]

    response = client.get("/admin/audit", query_string={"since": "31/02/2026", "until": "x"})
    assert response.status_code == 400
    entries = assert_summary_names_fields(parse(response), "en")
    assert [href for href, _ in entries] == ["#since", "#until"]


# --- 16. facts that do not match are not blamed on the e-mail -------------------------------


FACTS = {
    "email": "hugo@example.com",
    "given_name": "Hugo",
    "family_name": "Bernard",
    "country": "FR",
    "organisation_type": "company",
}


@pytest.fixture
def hugo(app: Flask) -> Account:
    account = make_account(
        app,
        "hugo.bernard",
        profile=Profile.EXTERNAL,
        given_name="Hugo",
        family_name="Bernard",
        personal_email="hugo@example.com",
        attributes={"c": ["FR"], "o": ["company"]},
    )
    app.extensions["cas"].accounts.accept_charter(account.uuid, "general", "2026-09")
    return account


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_wrong_last_name_is_not_reported_under_the_email(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, hugo: Account, lang: str
) -> None:
    browser = SesameBrowser(sesame_client, lang)
    assert browser.submit("/sesame/password/facts", FACTS).status_code == 200
    link = link_in(smtp_sink.wait()[0]).removeprefix(PUBLIC_URL)
    form = sesame_client.get(link).get_data(as_text=True)
    wrong = browser.post(
        link,
        {
            **FACTS,
            "family_name": "Martin",
            "new_password": NEW,
            "confirm_password": NEW,
            "charter": "1",
        },
        form,
    )
    assert wrong.status_code == 400
    doc = parse(wrong)
    # Nothing says the e-mail address is wrong: it is right.
    email = doc.xpath("//input[@id='email']")[0]
    assert email.get("aria-invalid") is None
    assert not doc.xpath("//*[@id='email-error']")
    # The facts as a whole do not match (which one is not told: that would help guessing),
    # in the summary, linked to the group, and at the top of the group.
    entries = assert_summary_names_fields(doc, lang)
    assert [href for href, _ in entries] == ["#facts"]
    group = doc.xpath("//fieldset[@id='facts']")[0]
    assert "facts-error" in (group.get("aria-describedby") or "").split()
    assert group.get("tabindex") == "-1"
    # Right facts still go through.
    form = sesame_client.get(link).get_data(as_text=True)
    done = browser.post(
        link, {**FACTS, "new_password": NEW, "confirm_password": NEW, "charter": "1"}, form
    )
    assert done.status_code == 200, done.get_data(as_text=True)


# --- 21. title and focus of a page sent back with errors -----------------------------------


@pytest.mark.parametrize(("lang", "prefix"), [("fr", "Erreur : "), ("en", "Error: ")])
def test_a_self_service_page_with_errors_says_so_first_and_focuses_the_summary(
    sesame_client: FlaskClient, lang: str, prefix: str
) -> None:
    browser = SesameBrowser(sesame_client, lang)
    before = parse(sesame_client.get("/sesame/password/joker"))
    title = words(before.xpath("//title")[0])
    assert not title.startswith(prefix)
    response = browser.submit(
        "/sesame/password/joker", {"kind": "student_number", "identifier": "", "birth_date": ""}
    )
    assert response.status_code == 400
    doc = parse(response)
    assert words(doc.xpath("//title")[0]) == prefix + title
    summary = doc.xpath("//*[@class='error-summary']")[0]
    assert summary.get("tabindex") == "-1"
    assert summary.get("autofocus") is not None
    # Only the summary asks for the focus.
    assert len(doc.xpath("//*[@autofocus]")) == 1


def test_profile_and_console_titles_say_error_once(app: Flask) -> None:
    person(app, "alice")
    browser = ProfileBrowser(app.test_client(), "fr")
    browser.sign_in("alice")
    response = browser.submit("/profile/joker", {"joker_question": "first_pet"})
    title = words(parse(response).xpath("//title")[0])
    assert title.startswith("Erreur : Question joker – "), title
    assert title.count("Erreur") == 1

    client = console_client(app)
    response = client.get("/admin/audit", query_string={"since": "nonsense"})
    title = words(parse(response).xpath("//title")[0])
    assert title.startswith("Error: Audit trail – Administration – "), title
    assert title.count("Error") == 1


# --- 18. the audit filter's dates ------------------------------------------------------------


DATE_EXAMPLE = re.compile(r"\b\d{2}/\d{2}/\d{4}\b")


def test_the_audit_dates_hint_says_the_format_the_field_reads(app: Flask) -> None:
    client = console_client(app)
    doc = parse(client.get("/admin/audit"))
    examples = []
    for name in ("since", "until"):
        field = doc.xpath("//input[@id=$id]", id=name)[0]
        # A text field: no date picker showing a format of its own.
        assert field.get("type") == "text"
        hint_ids = (field.get("aria-describedby") or "").split()
        assert f"{name}-hint" in hint_ids
        hint = words(doc.xpath("//*[@id=$id]", id=f"{name}-hint")[0])
        example = DATE_EXAMPLE.search(hint)
        assert example, f"the hint gives no dd/mm/yyyy example: {hint}"
        examples.append(example.group(0))
    # The hint's own example is read, and so is the format of older links.
    for since, until in ((examples[0], "30/12/2026"), ("2026-09-01", "2026-12-30")):
        response = client.get("/admin/audit", query_string={"since": since, "until": until})
        assert response.status_code == 200, summary_entries(parse(response))
        shown = parse(response)
        assert shown.xpath("//input[@id='since']")[0].get("value") == since
    # A date that does not exist is named, in the hint's format.
    response = client.get("/admin/audit", query_string={"since": "31/02/2026"})
    assert response.status_code == 400
    [(href, text)] = summary_entries(parse(response))
    assert href == "#since" and DATE_EXAMPLE.search(text), text


def test_the_audit_dates_are_both_included(app: Flask) -> None:
    from cas_server.web.admin.trail import read_filter

    with app.test_request_context("/admin/audit?since=01/09/2026&until=02/09/2026"):
        found, form = read_filter()
    assert form.ok
    assert (str(found.since), str(found.until)) == ("2026-09-01", "2026-09-02")


# --- 19. one name per theme -----------------------------------------------------------------


@pytest.fixture
def themed(db_path: Path) -> Iterator[Any]:
    apps: list[Flask] = []

    def make(theme: str) -> FlaskClient:
        app = create_app(
            overrides=test_overrides(
                db_path,
                server={"default_theme": theme, "institution_name": "Université de Démonstration"},
            ),
            environ={},
        )
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["cas"].single_logout.executor.shutdown(wait=True)


@pytest.mark.parametrize(
    ("theme", "name"),
    [
        ("univ-exemple", "Université Exemple"),
        ("college-exemple", "Collège Exemple"),
        ("default", "Université de Démonstration"),
    ],
)
def test_a_theme_names_its_institution_once(themed: Any, theme: str, name: str) -> None:
    for path in ("/login", "/sesame/password", "/no-such-page"):
        doc = parse(themed(theme).get(path))
        header = words(doc.xpath("//header//*[contains(@class, 'brand__name')]")[0])
        footer = words(doc.xpath("//footer")[0])
        title = words(doc.xpath("//title")[0])
        assert header == name, (path, header)
        assert f"{name} · " in footer, (path, footer)
        assert title.endswith(f" – {name}"), (path, title)


def test_a_theme_name_must_be_text(tmp_path: Path) -> None:
    from cas_server.runtime.themes import Themes

    for folder in ("default", "broken"):
        (tmp_path / folder).mkdir()
    (tmp_path / "broken" / "theme.toml").write_text("institution_name = 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="institution_name"):
        Themes(tmp_path, "default")


# --- 22. the live checklist and the rules checked on sending --------------------------------


@pytest.fixture
def uphf_app(db_path: Path, sesame_overrides: dict[str, Any]) -> Iterator[Flask]:
    """Sésame's servers and the UPHF policy (12–30, four classes, not the last 3, blocklist)."""
    overrides = {k: dict(v) for k, v in sesame_overrides.items()}
    overrides["charters"] = {"path": ""}
    overrides["passwords"] = {"policy": "uphf"}
    app = create_app(overrides=test_overrides(db_path, **overrides), environ={})
    yield app
    sesame_state(app).close()
    app.extensions["cas"].single_logout.executor.shutdown(wait=True)


def test_the_checklist_lists_apart_the_rules_checked_on_sending(uphf_app: Flask) -> None:
    person(uphf_app, "alice")
    browser = ProfileBrowser(uphf_app.test_client(), "fr")
    browser.sign_in("alice")
    doc = lxml.html.fromstring(browser.text("/profile/password"))
    live = doc.xpath("//ul[contains(@class, 'policy-checklist')]/li/@data-rule")
    later = doc.xpath("//ul[contains(@class, 'policy-server-rules')]/li/@data-rule")
    assert live == [
        "min_length",
        "max_length",
        "class_lower",
        "class_upper",
        "class_digit",
        "class_special",
        "forbidden_characters",
        "not_login",
    ]
    assert sorted(later) == ["blocklist", "history"]
    # The second list is introduced as checked when the form is sent, and the field
    # is described by both.
    intro = doc.xpath("//*[@id='password-rules-later']")[0]
    assert "envo" in words(intro).lower()
    described = doc.xpath("//input[@id='new_password']")[0].get("aria-describedby").split()
    assert {"password-rules", "password-rules-later"} <= set(described)
