"""Words an institution chooses: its profile kinds, its attribute names, its own name in a
sentence. One place, both languages (the audit trail's labels: web/admin/audit_labels.py).

A profile kind ("Étudiant" at a university, "Élève" at a school), an attribute's label
(``supannEtuCursusAnnee`` → "Cursus et année d'études") and the phrases that name the
institution inside a sentence ("à l'Université Exemple", "de l'Université Exemple") come,
for the page's language, from the first source that gives them:

1. the configuration, ``[wording.profiles.<lang>]``, ``[wording.attributes.<lang>]``,
   ``[wording.institution.<lang>]`` (``at``, ``of``);
2. the themes of the request's chain, in its order: the same tables in
   ``themes/<name>/theme.toml``;
3. the built-in defaults below, translated by the catalogs (unknown attribute names are
   shown as they are; the phrases are built from ``server.institution_name``).

Both sources are read and checked once, when the application starts: a typo stops the
start with the key that is wrong, as for every other configuration key.

Also here: :func:`sort_key`, the order of a list of names in the reader's language (no
ICU on the servers: accents, case and ligatures are set aside, then used to break ties).
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g
from flask_babel import get_locale, gettext

from ..accounts.i18n import N_
from ..settings.server import ConfigError

EXTENSION = "cas_wording"
THEME_FILE = "theme.toml"
PROFILE_KINDS = ("student", "teacher", "parent", "staff", "external")
INSTITUTION_PHRASES = ("at", "of")

# Built-in labels (msgids; translated when shown). "Student" reads "Élève ou étudiant" in
# French: right at a school and at a university; each institution says which it is.
PROFILE_LABELS: Mapping[str, str] = {
    "student": N_("Student"),
    "teacher": N_("Teacher"),
    "parent": N_("Parent"),
    "staff": N_("Staff"),
    "external": N_("External"),
}

# The usual eduPerson (internet2) and SupAnn 2021 (French higher education) attribute
# names, and a few LDAP ones, as a person reads them.
ATTRIBUTE_LABELS: Mapping[str, str] = {
    "uid": N_("Identifier"),
    "mail": N_("E-mail address"),
    "givenName": N_("Given name"),
    "sn": N_("Family name"),
    "cn": N_("Full name"),
    "displayName": N_("Display name"),
    "title": N_("Job title"),
    "telephoneNumber": N_("Phone number"),
    "mobile": N_("Mobile"),
    "postalAddress": N_("Postal address"),
    "preferredLanguage": N_("Preferred language"),
    "employeeNumber": N_("Employee number"),
    "ou": N_("Organisational unit"),
    "o": N_("Organisation"),
    "memberOf": N_("Groups"),
    "eduPersonAffiliation": N_("Affiliations"),
    "eduPersonPrimaryAffiliation": N_("Primary affiliation"),
    "eduPersonScopedAffiliation": N_("Affiliations with their domain"),
    "eduPersonPrincipalName": N_("Federation identifier (eppn)"),
    "eduPersonEntitlement": N_("Entitlements"),
    "eduPersonNickname": N_("Nickname"),
    "eduPersonOrgDN": N_("Organisation"),
    "eduPersonOrgUnitDN": N_("Organisational unit"),
    "eduPersonPrimaryOrgUnitDN": N_("Main organisational unit"),
    "eduPersonUniqueId": N_("Unique identifier"),
    "eduPersonOrcid": N_("ORCID identifier"),
    "supannCivilite": N_("Form of address"),
    "supannAliasLogin": N_("Login alias"),
    "supannMailPerso": N_("Personal e-mail"),
    "supannAutreMail": N_("Other e-mail address"),
    "supannAutreTelephone": N_("Other phone number"),
    "supannListeRouge": N_("Ex-directory"),
    "supannEtablissement": N_("Institution"),
    "supannOrganisme": N_("Organisation"),
    "supannEntiteAffectation": N_("Assigned unit"),
    "supannEntiteAffectationPrincipale": N_("Main assigned unit"),
    "supannTypeEntiteAffectation": N_("Type of the assigned unit"),
    "supannRoleGenerique": N_("Generic role"),
    "supannRoleEntite": N_("Role in a unit"),
    "supannActivite": N_("Activity"),
    "supannEmpId": N_("Personnel number"),
    "supannEmpCorps": N_("Staff grade"),
    "supannEtuId": N_("Student number"),
    "supannCodeINE": N_("INE number"),
    "supannEtuCursusAnnee": N_("Course and year of study"),
    "supannEtuEtape": N_("Programme stage"),
    "supannEtuDiplome": N_("Diploma prepared"),
    "supannEtuTypeDiplome": N_("Type of diploma"),
    "supannEtuInscription": N_("Registration"),
    "supannEtuAnneeInscription": N_("Year of registration"),
    "supannEtuRegimeInscription": N_("Registration status"),
    "supannEtuSecteurDisciplinaire": N_("Field of study"),
    "supannEtuElementPedagogique": N_("Course unit"),
    "supannParrainDN": N_("Sponsor"),
    "supannRefId": N_("Reference identifiers"),
    "supannNomDeNaissance": N_("Birth family name"),
    "supannPrenomsEtatCivil": N_("Legal given names"),
    "supannOIDCDateDeNaissance": N_("Birth date"),
    "supannOIDCGenre": N_("Gender"),
}

_FOLDED_ATTRIBUTES = {name.casefold(): msgid for name, msgid in ATTRIBUTE_LABELS.items()}

# Where the institution is named inside a sentence; %(name)s is server.institution_name.
# French needs the article ("à l'Université", "au Rectorat"): set [wording.institution.fr].
DEFAULT_PHRASES: Mapping[str, str] = {"at": N_("at %(name)s"), "of": N_("of %(name)s")}


@dataclass(frozen=True)
class Wording:
    """What one source (the configuration, a theme) says, language by language."""

    profiles: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    institution: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def get(self, table: str, lang: str, key: str) -> str | None:
        words: Mapping[str, str] = getattr(self, table).get(lang, {})
        return words.get(key)


def _texts(value: Any, where: str, allowed: Sequence[str] | None) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError(where, "expected a table of texts")
    texts: dict[str, str] = {}
    for key, text in value.items():
        if allowed is not None and key not in allowed:
            raise ConfigError(
                f"{where}.{key}", f"unknown key, expected one of {', '.join(allowed)}"
            )
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where}.{key}", "must be a non-empty string")
        texts[str(key)] = text.strip()
    return texts


def read_wording(table: Any, where: str, languages: Sequence[str]) -> Wording:
    """A ``[wording]`` table, checked: ``{profiles|attributes|institution: {lang: {…}}}``."""
    if table is None:
        return Wording()
    if not isinstance(table, Mapping):
        raise ConfigError(where, "expected a table")
    allowed_keys = {
        "profiles": PROFILE_KINDS,
        "attributes": None,  # any attribute name
        "institution": INSTITUTION_PHRASES,
    }
    parts: dict[str, dict[str, dict[str, str]]] = {}
    for name, per_language in table.items():
        if name not in allowed_keys:
            raise ConfigError(
                f"{where}.{name}", "unknown key, expected profiles, attributes or institution"
            )
        if not isinstance(per_language, Mapping):
            raise ConfigError(f"{where}.{name}", "expected one table per language, e.g. .fr")
        for lang, texts in per_language.items():
            if lang not in languages:
                raise ConfigError(
                    f"{where}.{name}.{lang}", f"not one of the languages {', '.join(languages)}"
                )
            said = _texts(texts, f"{where}.{name}.{lang}", allowed_keys[name])
            if name == "attributes":  # LDAP names compare without case
                said = {key.casefold(): text for key, text in said.items()}
            parts.setdefault(name, {})[lang] = said
    return Wording(
        profiles=parts.get("profiles", {}),
        attributes=parts.get("attributes", {}),
        institution=parts.get("institution", {}),
    )


def read_theme_wording(
    themes_dir: Path, names: Iterable[str], languages: Sequence[str]
) -> dict[str, Wording]:
    """The ``[wording]`` of each theme's ``theme.toml`` (a theme without one says nothing)."""
    found: dict[str, Wording] = {}
    for name in sorted(names):
        path = themes_dir / name / THEME_FILE
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
        found[name] = read_wording(data.get("wording"), f"{path}: wording", languages)
    return found


@dataclass(frozen=True)
class WordingSources:
    config: Wording
    themes: Mapping[str, Wording]
    deployment_chain: tuple[str, ...]


def _sources() -> WordingSources:
    sources: WordingSources = current_app.extensions[EXTENSION]
    return sources


def _chain(sources: WordingSources) -> tuple[str, ...]:
    """The request's themes; outside a request (the CLI's mails), the deployment's."""
    chain: tuple[str, ...] | None = g.get("theme_chain") if g else None
    if chain is None and g and g.get("themes") is not None:
        chain = g.themes.chain()
    return chain or sources.deployment_chain


def _lang() -> str:
    return str(get_locale() or current_app.extensions["cas"].settings.default_language)


def _chosen(table: str, key: str, lang: str | None = None) -> str | None:
    """What the configuration, then the themes of the chain, say for ``key``."""
    sources = _sources()
    lang = lang or _lang()
    said = sources.config.get(table, lang, key)
    if said is not None:
        return said
    for theme in _chain(sources):
        wording = sources.themes.get(theme)
        said = wording.get(table, lang, key) if wording else None
        if said is not None:
            return said
    return None


def profile_label(kind: str) -> str:
    """The institution's word for a profile kind, in the page's language."""
    chosen = _chosen("profiles", kind)
    if chosen is not None:
        return chosen
    return str(gettext(PROFILE_LABELS[kind])) if kind in PROFILE_LABELS else kind


def attribute_label(name: str) -> str:
    """An attribute's label (configuration, theme, built-in SupAnn/eduPerson), else its name."""
    # LDAP attribute names are case-insensitive: "supannetuid" is "supannEtuId".
    chosen = _chosen("attributes", name.casefold())
    if chosen is not None:
        return chosen
    msgid = ATTRIBUTE_LABELS.get(name) or _FOLDED_ATTRIBUTES.get(name.casefold())
    return str(gettext(msgid)) if msgid else name


def attribute_rows(attributes: Mapping[str, Sequence[str]]) -> list[tuple[str, str, list[str]]]:
    """``(name, label, values)`` of the attributes that have a value, in the label's order."""
    rows = [
        (name, attribute_label(name), list(values)) for name, values in attributes.items() if values
    ]
    return sorted(rows, key=lambda row: sort_key(row[1]))


def institution_phrase(which: str, lang: str | None = None) -> str:
    """The institution named inside a sentence: ``at`` ("à l'Université Exemple") or ``of``."""
    chosen = _chosen("institution", which, lang)
    if chosen is not None:
        return chosen
    name = current_app.extensions["cas"].settings.institution_name
    return str(gettext(DEFAULT_PHRASES[which], name=name))


# Collation ---------------------------------------------------------------------------

# Letters NFKD leaves whole, as a French (or English) reader files them.
_EXPANSIONS = str.maketrans(
    {"æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ı": "i", "ħ": "h"}
)


def sort_key(text: str) -> tuple[str, str, str]:
    """Alphabetical order as a dictionary has it: "Égypte" after "Danemark", "Îles" with I.

    First the letters without accents, case or ligatures, any other sign as a space (so
    "Île de l’Ascension" files as "ile de l ascension"); then the accented text, then the
    text itself, so that the order is total and stable. Good for Latin-script names in
    French and English; not a full Unicode collation (no ICU on the servers).
    """
    folded = text.casefold()
    bare = "".join(
        ch for ch in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(ch)
    ).translate(_EXPANSIONS)
    primary = "".join(ch if ch.isalnum() else " " for ch in bare)
    return primary, folded, text


# Registration ------------------------------------------------------------------------


def init_app(app: Flask, themes: Any) -> None:
    """Read and check the configuration's and the themes' wording; give templates their words.

    ``themes`` is the :class:`~cas_server.runtime.themes.Themes` of the application.
    """
    settings = app.extensions["cas"].settings
    languages = tuple(settings.languages)
    app.extensions[EXTENSION] = WordingSources(
        config=read_wording(settings.raw.get("wording"), "wording", languages),
        themes=read_theme_wording(themes.themes_dir, themes.available, languages),
        deployment_chain=themes.chain(),
    )
    app.jinja_env.globals.update(
        profile_label=profile_label,
        attribute_label=attribute_label,
        attribute_rows=attribute_rows,
    )

    @app.context_processor
    def _institution_phrases() -> dict[str, str]:
        # Rendered in the message's language (mails run under force_locale).
        return {
            "at_institution": institution_phrase("at"),
            "of_institution": institution_phrase("of"),
        }
