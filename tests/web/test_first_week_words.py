"""Words and labels a university found in its first week (issue #12, items 10–15).

10. attribute labels on the profile and the console record (built in, configurable);
11. the word for each profile kind from the configuration or the theme;
12. plurals through the catalogs, and the allowed special characters in the checklist;
13. one word for one thing, the console speaks to the administrator, the institution
    named with its article in mails;
14. the audit trail's codes as translated labels (the codes stay in filters and CSV);
    the built-in service's description in the page's language;
15. country lists in dictionary order.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from cas_server import create_app
from cas_server.accounts.model import Profile
from cas_server.runtime.mail import render_message
from cas_server.storage.sql.models import AuditEventRow
from tests.support.app import PASSWORD, CasBrowser, make_account, test_overrides
from tests.support.console import act, console_client
from tests.support.html import text
from tests.support.outbound import SmtpSink, body
from tests.support.profile import ProfileBrowser, person
from tests.support.sesame import sesame_state

TRANSLATIONS = Path(__file__).resolve().parents[2] / "cas_server" / "translations"
UPHF_SPECIALS = '! " # $ % & ( ) * + , / : ; < = > ? @ [ ] ^ ` { } ~'

AppFactory = Callable[..., Flask]


@pytest.fixture
def build(db_path: Path, sesame_overrides: dict[str, dict[str, Any]]) -> Iterator[AppFactory]:
    """``build(section={key: value})``: an app with Sésame's servers and these overrides."""
    apps: list[Flask] = []

    def make(**extra: dict[str, Any]) -> Flask:
        merged = {k: dict(v) for k, v in sesame_overrides.items()}
        merged["charters"] = {"path": ""}  # charters have their own tests
        for section, values in extra.items():
            merged.setdefault(section, {}).update(values)
        app = create_app(overrides=test_overrides(db_path, **merged), environ={})
        apps.append(app)
        return app

    yield make
    for app in apps:
        sesame_state(app).close()
        app.extensions["cas"].single_logout.executor.shutdown(wait=True)
        app.extensions["cas"].engine.dispose()


def profile_text(app: Flask, lang: str, url: str = "/profile/", login: str = "alice") -> str:
    browser = ProfileBrowser(app.test_client(), lang)
    browser.sign_in(login)
    response = browser.get(url)
    assert response.status_code == 200, response.status_code
    return text(response)


def student(app: Flask, login: str = "alice", **fields: Any) -> Any:
    fields.setdefault(
        "attributes",
        {
            "mail": ["alice.liddell@univ-test.fr"],
            "supannEtuCursusAnnee": ["{SUPANN}L3"],
            "eduPersonPrimaryAffiliation": ["student"],
            "localCode": ["X42"],
        },
    )
    return person(app, login, **fields)


def french_record(admin: FlaskClient, uuid: str) -> str:
    return text(admin.get(f"/admin/accounts/{uuid}?lang=fr"))


# 10. Attribute labels ------------------------------------------------------------------


def test_profile_shows_attribute_labels_in_both_languages(build: AppFactory) -> None:
    app = build()
    student(app)
    fr = profile_text(app, "fr")
    assert "Adresse e-mail alice.liddell@univ-test.fr" in fr
    assert "Cursus et année d'études {SUPANN}L3" in fr
    assert "Affiliation principale student" in fr
    assert "localCode X42" in fr  # an unknown name is shown as it is
    for raw in ("supannEtuCursusAnnee", "eduPersonPrimaryAffiliation", " mail "):
        assert raw not in fr
    en = profile_text(app, "en")
    assert "E-mail address alice.liddell@univ-test.fr" in en
    assert "Course and year of study {SUPANN}L3" in en


def test_attribute_labels_can_be_set_in_the_configuration(build: AppFactory) -> None:
    app = build(
        wording={
            "attributes": {
                "fr": {"supannetucursusannee": "Année d'études", "localCode": "Code local"},
                "en": {"localCode": "Local code"},
            }
        }
    )
    alice = student(app)
    fr = profile_text(app, "fr")
    assert "Année d'études {SUPANN}L3" in fr and "Code local X42" in fr
    en = profile_text(app, "en")
    assert "Course and year of study {SUPANN}L3" in en and "Local code X42" in en

    admin = console_client(app)
    record = french_record(admin, alice.uuid)
    assert "Année d'études {SUPANN}L3" in record and "Code local X42" in record
    assert "Adresse e-mail alice.liddell@univ-test.fr" in record
    assert "supannEtuCursusAnnee" not in record


def test_console_record_shows_built_in_attribute_labels(build: AppFactory) -> None:
    app = build()
    alice = student(app)
    admin = console_client(app)
    record = text(admin.get(f"/admin/accounts/{alice.uuid}"))
    assert "Course and year of study {SUPANN}L3" in record
    assert "Primary affiliation student" in record and "localCode X42" in record
    assert "supannEtuCursusAnnee" not in record


# 11. The word for each profile kind -----------------------------------------------------


def test_the_default_student_word_fits_a_school_and_a_university(build: AppFactory) -> None:
    app = build()
    student(app)
    assert "Profil Élève ou étudiant" in profile_text(app, "fr")
    assert "Profile Student" in profile_text(app, "en")


def test_profile_kind_words_come_from_the_configuration(build: AppFactory) -> None:
    app = build(wording={"profiles": {"fr": {"student": "Étudiant", "staff": "Personnel BIATSS"}}})
    alice = student(app)
    make_account(app, "bob", profile=Profile.STAFF)
    fr = profile_text(app, "fr")
    assert "Profil Étudiant" in fr and "Élève" not in fr
    assert "Profile Student" in profile_text(app, "en")  # English keeps the catalog's word

    admin = console_client(app)
    assert "Étudiant" in french_record(admin, alice.uuid)
    found = text(admin.get("/admin/?q=liddell&lang=fr"))
    assert "Étudiant" in found and "Élève" not in found
    assert "Personnel BIATSS" in text(admin.get("/admin/?q=bob&lang=fr"))


@pytest.mark.parametrize(
    ("theme", "fr_word", "en_word"),
    [("univ-exemple", "Étudiant", "Student"), ("college-exemple", "Élève", "Pupil")],
)
def test_profile_kind_words_come_from_the_theme(
    build: AppFactory, theme: str, fr_word: str, en_word: str
) -> None:
    app = build(server={"default_theme": theme})
    student(app)
    fr = profile_text(app, "fr")
    assert f"Profil {fr_word} " in fr and "Élève ou étudiant" not in fr
    assert f"Profile {en_word} " in profile_text(app, "en")


def test_the_configuration_wins_over_the_theme(build: AppFactory) -> None:
    app = build(
        server={"default_theme": "college-exemple"},
        wording={"profiles": {"fr": {"student": "Apprenant"}}},
    )
    student(app)
    assert "Profil Apprenant " in profile_text(app, "fr")


# 12. Plurals; the allowed special characters --------------------------------------------


@pytest.fixture
def plural_policy(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "plurals.toml").write_text(
        "min_length = 12\n"
        "classes = { lower = 1, upper = 2, digit = 1, special = 2 }\n"
        "special_characters = '!#$'\n"
        "history = 1\n",
        encoding="utf-8",
    )
    return folder


def test_the_checklist_speaks_in_plurals(build: AppFactory, plural_policy: Path) -> None:
    app = build(passwords={"policy": "plurals", "policies_dir": str(plural_policy)})
    student(app)
    fr = profile_text(app, "fr", "/profile/password")
    for rule in (
        "Au moins 12 caractères",
        "Au moins 1 lettre minuscule",
        "Au moins 2 lettres majuscules",
        "Au moins 1 chiffre",
        "Au moins 2 caractères spéciaux parmi ! # $",
        "Doit être différent de votre dernier mot de passe",
    ):
        assert rule in fr
    assert "(s)" not in fr and "(aux)" not in fr
    en = profile_text(app, "en", "/profile/password")
    for rule in (
        "At least 1 lowercase letter",
        "At least 2 uppercase letters",
        "At least 1 digit",
        "At least 2 special characters among ! # $",
        "Must differ from your last password",
    ):
        assert rule in en
    assert "(s)" not in en


def test_refused_password_is_explained_in_plurals(build: AppFactory, plural_policy: Path) -> None:
    app = build(passwords={"policy": "plurals", "policies_dir": str(plural_policy)})
    student(app)
    browser = ProfileBrowser(app.test_client(), "fr")
    browser.sign_in()
    new = "Abcdefghijk1-"  # one uppercase, and "-" is not among the special characters
    refused = browser.submit(
        "/profile/password",
        {"current_password": PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert refused.status_code == 400
    page = text(refused)
    assert "Le mot de passe n'a pas été accepté" in page
    assert "Au moins 2 lettres majuscules" in page
    assert "Au moins 2 caractères spéciaux parmi ! # $" in page


def test_the_uphf_checklist_lists_the_allowed_special_characters(build: AppFactory) -> None:
    app = build(passwords={"policy": "uphf"})
    student(app)
    fr = profile_text(app, "fr", "/profile/password")
    assert f"Au moins 1 caractère spécial parmi {UPHF_SPECIALS}" in fr
    en = profile_text(app, "en", "/profile/password")
    assert f"At least 1 special character among {UPHF_SPECIALS}" in en


def test_console_counts_sessions_in_plurals(build: AppFactory) -> None:
    app = build()
    camille = make_account(app, "camille")
    admin = console_client(app)
    admin.get("/admin/?lang=fr")
    CasBrowser(app.test_client()).login("camille", PASSWORD)
    done = act(admin, camille.uuid, "end-sessions")
    assert "1 session SSO fermée." in text(admin.get(done.headers["Location"]))
    for _ in range(2):
        CasBrowser(app.test_client()).login("camille", PASSWORD)
    done = act(admin, camille.uuid, "lock")
    assert "Le compte est verrouillé ; 2 sessions SSO fermées." in text(
        admin.get(done.headers["Location"])
    )
    # The console's own sign-in is root's only session.
    assert "1 session active pour 1 compte." in text(admin.get("/admin/sessions"))
    admin.get("/admin/?lang=en")
    CasBrowser(app.test_client()).login("root", PASSWORD)
    assert "2 active sessions for 1 account." in text(admin.get("/admin/sessions"))
    assert "(s)" not in text(admin.get(f"/admin/accounts/{camille.uuid}/unlock"))


def test_durations_speak_in_plurals(build: AppFactory) -> None:
    app = build(profile={"export_audit_days": 1}, admin={"audit_retention_days": 1})
    student(app)
    data = profile_text(app, "fr", "/profile/data")
    assert "le journal des opérations sur votre compte du dernier jour" in data
    admin = console_client(app)
    trail = text(admin.get("/admin/audit?lang=fr"))
    assert "Les événements de plus de 1 jour sont supprimés" in trail
    with app.test_request_context("/"):
        app.preprocess_request()
        one = render_message(
            "reset_link", "a@example.net", "fr", login="alice", link="http://x/", minutes=1
        )
        many = render_message(
            "reset_link", "a@example.net", "en", login="alice", link="http://x/", minutes=30
        )
    assert "Le lien est valable 1 minute et ne fonctionne qu'une fois." in one.body
    assert "The link is valid for 30 minutes and works only once." in many.body


def test_the_login_and_self_service_durations_speak_in_plurals(build: AppFactory) -> None:
    app = build(login={"public_idle_timeout": 60, "private_idle_timeout": 3600})
    client = app.test_client()
    page = client.get("/login?lang=fr").get_data(as_text=True)
    assert "après 1 minute d'inactivité" in page and "connecté 1 heure sans" in page
    page = client.get("/login?lang=en").get_data(as_text=True)
    assert "after 1 minute without" in page and "for 1 hour without" in page


# 13. One word for one thing ----------------------------------------------------------


def french_catalog() -> Any:
    with (TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale="fr")


def test_french_says_one_word_for_one_thing() -> None:
    """A temporary password is "temporaire" (as on the console), never "provisoire"; a
    mail is an "e-mail" (as on the Sésame pages), never a "courriel"."""
    for message in french_catalog():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for word in ("provisoire", "courriel"):
            assert not any(word in s.casefold() for s in strings), message.id


def test_console_record_and_reset_link_wording(build: AppFactory) -> None:
    app = build()
    camille = make_account(app, "camille", personal_email="camille@example.net")
    admin = console_client(app)
    record = french_record(admin, camille.uuid)
    assert "Créé le " in record and "Créés" not in record
    reset = text(admin.get(f"/admin/accounts/{camille.uuid}/reset-link?lang=fr"))
    assert "Laissez-la vide" in reset and "Laissez-le vide" not in reset


def test_force_change_page_speaks_to_the_administrator(build: AppFactory) -> None:
    app = build(passwords={"policy": "uphf"})
    camille = make_account(app, "camille")
    admin = console_client(app)
    page = text(admin.get(f"/admin/accounts/{camille.uuid}/force-change?lang=fr"))
    assert "Pour être valide, le mot de passe doit respecter ces règles" in page
    assert "Ne doit pas contenir son identifiant" in page
    assert "Doit être différent de ses 3 derniers mots de passe" in page
    assert "votre identifiant" not in page and "votre mot de passe doit" not in page
    # The server's verdict on a typed temporary password says the same.
    refused = act(
        admin,
        camille.uuid,
        "force-change",
        {"mode": "typed", "new_password": "Camille-2026!xy", "confirm_password": "Camille-2026!xy"},
    )
    assert refused.status_code == 400
    assert "Ne doit pas contenir son identifiant" in text(refused)
    en = text(admin.get(f"/admin/accounts/{camille.uuid}/force-change?lang=en"))
    assert "Must not contain their login" in en and "your login" not in en


def test_mails_name_the_institution_with_its_article(
    build: AppFactory, smtp_sink: SmtpSink
) -> None:
    app = build(
        server={"institution_name": "Université Exemple"},
        wording={
            "institution": {
                "fr": {"at": "à l'Université Exemple", "of": "de l'Université Exemple"},
            }
        },
    )
    camille = make_account(app, "camille", personal_email="camille@example.net")
    admin = console_client(app)
    act(admin, camille.uuid, "reset-link")
    mail = smtp_sink.wait(1, to="camille@example.net")[0]
    assert "l'assistance de l'Université Exemple vous envoie ce lien" in body(mail)

    with app.test_request_context("/"):
        app.preprocess_request()  # the theme chain, as for a page
        identifier = render_message(
            "identifier",
            "a@example.net",
            "fr",
            accounts=[{"login": "camille", "name": "C", "activated": True}],
            login_url="http://x/",
        )
        activation = render_message(
            "activation_code", "a@example.net", "fr", code="123456", minutes=15, url="http://x/"
        )
        english = render_message(
            "identifier",
            "a@example.net",
            "en",
            accounts=[{"login": "camille", "name": "C", "activated": True}],
            login_url="http://x/",
        )
    assert "Voici votre identifiant à l'Université Exemple :" in identifier.body
    assert "Voici le code pour activer votre compte à l'Université Exemple :" in activation.body
    # English was not configured: built from the institution's name.
    assert "Here is your identifier at Université Exemple:" in english.body


# 14. The audit trail's codes, the built-in service ------------------------------------


def test_audit_trail_shows_labels_and_keeps_the_codes(build: AppFactory) -> None:
    app = build()
    make_account(app, "alice")
    admin = console_client(app)
    now = datetime.now(UTC)
    rows = [
        ("login", "invalid_credentials"),
        ("profile_joker", "success"),
        ("sesame_password_request", "rate_limited"),
        ("admin_force_change", "success"),
        ("someday_new", "odd_outcome"),
    ]
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(
            insert(AuditEventRow),
            [
                {"at": now, "action": a, "outcome": o, "login": "alice", "details": {}}
                for a, o in rows
            ],
        )
    html = admin.get("/admin/audit?login=alice&lang=fr").get_data(as_text=True)
    page = text(admin.get("/admin/audit?login=alice&lang=fr"))
    for label in (
        "Connexion Identifiant ou mot de passe incorrect",
        "Mon compte : Question joker Réussi",
        "Libre-service : Demande de récupération du mot de passe Limite d'envois atteinte",
        "Console : Changement de mot de passe imposé Réussi",
        "someday_new odd_outcome",  # unknown codes are shown as they are
    ):
        assert label in page
    for code in ("profile_joker", "rate_limited", "invalid_credentials"):
        assert code not in page
    # The filter still takes the codes; its options show the labels.
    assert re.search(
        r'<option value="profile_joker"[^>]*>Mon compte : Question joker</option>', html
    )
    only = text(admin.get("/admin/audit?action=profile_joker&lang=fr"))
    assert "Événements : 1" in only
    export = admin.get("/admin/audit.csv?login=alice").get_data(as_text=True)
    cells = list(csv.reader(io.StringIO(export.lstrip("\ufeff")), delimiter=";"))
    assert ("profile_joker", "success") in {(r[1], r[2]) for r in cells}
    assert ("sesame_password_request", "rate_limited") in {(r[1], r[2]) for r in cells}


def test_record_recent_events_show_labels(build: AppFactory) -> None:
    app = build()
    alice = make_account(app, "alice")
    CasBrowser(app.test_client()).login("alice", "wrong")
    admin = console_client(app)
    record = french_record(admin, alice.uuid)
    assert "Connexion Identifiant ou mot de passe incorrect" in record
    assert "invalid_credentials" not in record


def test_services_page_describes_the_built_in_service_in_french(build: AppFactory) -> None:
    app = build()
    admin = console_client(app)
    fr = text(admin.get("/admin/services?lang=fr"))
    assert "Intégré : pages du profil et de la console d'administration" in fr
    assert "Built in: profile and administration pages" not in fr
    en = text(admin.get("/admin/services?lang=en"))
    assert "Built in: profile and administration pages" in en


# 15. Country lists ---------------------------------------------------------------------


def country_names(app: Flask, lang: str) -> list[str]:
    from cas_server.web.sesame.links import countries

    with app.test_request_context(f"/?lang={lang}"):
        return [name for _, name in countries()]


def test_countries_follow_the_french_dictionary_order(build: AppFactory) -> None:
    names = country_names(build(), "fr")

    def before(a: str, b: str) -> bool:
        return names.index(a) < names.index(b)

    assert before("Danemark", "Égypte") and before("Égypte", "Espagne")
    assert before("Estonie", "États-Unis") and before("États-Unis", "Éthiopie")
    assert before("Hongrie", "Îles Caïmans") and before("Îles Caïmans", "Inde")
    assert before("Île de Man", "Îles Caïmans")
    assert names[-1] == "Zimbabwe"


def test_countries_follow_the_english_dictionary_order(build: AppFactory) -> None:
    names = country_names(build(), "en")
    assert names.index("Afghanistan") < names.index("Åland Islands") < names.index("Albania")
    assert names.index("Côte d’Ivoire") < names.index("Croatia")
    assert names[-1] == "Zimbabwe"


# The catalogs (run last: everyone's strings) -----------------------------------------


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_message_is_translated(lang: str) -> None:
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f, locale=lang)
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.id, tuple) else (message.string,)
        plural_incomplete = isinstance(message.id, tuple) and len(strings) != 2
        if plural_incomplete or not all(strings) or message.fuzzy:
            missing.append(message.id)
    assert missing == []


def test_no_parenthesised_plural_is_left() -> None:
    for message in french_catalog():
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for s in (*ids, *strings):
            assert not re.search(r"\w\((s|e|es|aux)\)", s or ""), s


def test_one_msgid_has_one_french_text_in_every_source_file() -> None:
    """The French sources (one json file per part) never give a msgid two texts: the
    second would reword every page using it (it once turned the sign-in form's
    "Ordinateur privé" into the sessions page's "Ordinateur personnel")."""
    import importlib.util

    from tests.support.paths import ROOT

    spec = importlib.util.spec_from_file_location(
        "translations", ROOT / "scripts" / "translations.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    texts = module.french_texts()  # raises SystemExit on a conflict
    assert texts["Private computer"] == "Ordinateur privé"
