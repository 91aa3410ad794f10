"""The ``[saml]`` section: the SAML 2.0 identity provider (#18), checked once at start.

Like the rest of the configuration, a wrong value stops the start with the key at
fault. Off by default. When on it needs a signing pair (``key_file``,
``cert_file``), the institution's ``scope`` (its domain) and, outside the demo
and test modes, a secret ``salt`` for the persistent and pairwise identifiers:
give it as ``CAS_SAML__SALT``, never in a file under version control (changing it
changes every persistent identifier SPs know their users by).

Release policies: the built-in ``minimal``, ``research-and-scholarship`` and
``code-of-conduct`` (``[saml.policies.<name>]`` adds or replaces one), chosen by
entity id (``[saml.release]``), then by entity category (``[saml.categories]``,
merged over the built-in R&S and Code of Conduct rules), then ``default_policy``
("" or "refused": other SPs are refused).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..protocol.saml2.identifiers import SCOPE_RE
from ..protocol.saml2.policy import ReleaseRules
from ..protocol.saml2.requests import MAX_ENTITY_ID
from .saml_release import (
    DEFAULT_ATTRIBUTE_MAP,
    NAME_RE,
    attribute_map,
    built_in_rules,
    checked_text,
    key_of,
    release_rules,
)
from .server import ROOT, ConfigError

DEFAULTS: Mapping[str, Any] = {
    "enabled": False,
    "entity_id": "",
    "key_file": "",
    "cert_file": "",
    "encryption_key_file": "",
    "encryption_cert_file": "",
    "next_key_file": "",
    "next_cert_file": "",
    "metadata_key_file": "",
    "metadata_cert_file": "",
    "scope": "",
    "salt": "",
    "assertion_lifetime": 300,
    "clock_skew": 180,
    "metadata_validity": 7 * 86400,
    "metadata_cache_dir": "",
    "consent": True,
    "display_name": {},
    "organization_url": "",
    "technical_contact": "",
    "support_contact": "",
    "sp_files": [],
    "federations": [],
    "attributes": {},
    "policies": {},
    "release": {},
    "categories": {},
    "default_policy": "minimal",
}
PAIRS = {  # SamlSettings field: (key file key, certificate key)
    "signing": ("key_file", "cert_file"),
    "encryption": ("encryption_key_file", "encryption_cert_file"),
    "next_signing": ("next_key_file", "next_cert_file"),
    "metadata_signing": ("metadata_key_file", "metadata_cert_file"),
}
#: Demo and test modes only, when no salt is configured: public, so it protects nothing.
TEST_ONLY_SALT = b"cas-server-test-only-saml-salt-not-for-production"
SALTLESS_MODES = ("demo", "test")
MIN_SALT = 32
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
FEDERATION_KEYS = {"name", "url", "cert_file", "refresh_interval", "max_size"}
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_TEXT = 200


@dataclass(frozen=True)
class KeyPair:
    key_file: str
    cert_file: str


@dataclass(frozen=True)
class FederationSource:
    name: str
    url: str
    cert_file: str  # the aggregate's pinned signing certificate
    refresh_interval: float = 3600.0
    max_size: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class SamlSettings:
    enabled: bool = False
    entity_id: str = ""  # default: public_url + "/idp/metadata"
    signing: KeyPair | None = None  # required when enabled
    encryption: KeyPair | None = None  # default: signing
    next_signing: KeyPair | None = None  # rollover: published in metadata, not used
    metadata_signing: KeyPair | None = None  # default: signing
    scope: str = ""  # the institution's domain (required when enabled)
    salt: bytes = b""  # persistent/pairwise salt (CAS_SAML__SALT)
    assertion_lifetime: float = 300.0
    clock_skew: float = 180.0
    metadata_validity: float = 7 * 86400.0
    metadata_cache_dir: str = ""  # default instance/saml-metadata
    consent: bool = True
    display_name: Mapping[str, str] = field(default_factory=dict)  # {"fr": …, "en": …}
    organization_url: str = ""
    technical_contact: str = ""
    support_contact: str = ""
    sp_files: tuple[str, ...] = ()  # paths or globs of SP metadata files
    federations: tuple[FederationSource, ...] = ()
    attribute_map: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ATTRIBUTE_MAP))
    rules: ReleaseRules = field(default_factory=built_in_rules)
    # True when no salt was configured and the published test salt is used (demo, test).
    stand_in_salt: bool = False


def _bool(section: Mapping[str, Any], key: str) -> bool:
    value = section[key]
    if not isinstance(value, bool):
        raise ConfigError(key_of(key), f"must be true or false, not {value!r}")
    return value


def _seconds(section: Mapping[str, Any], key: str, low: float, high: float) -> float:
    return _number(section[key], key_of(key), low, high)


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(where, f"must be a number of seconds, not {value!r}")
    if not low <= value <= high:
        raise ConfigError(where, f"must be between {low:g} and {high:g}")
    return float(value)


def _file(value: str, where: str, must_exist: bool) -> str:
    if must_exist and not Path(value).is_file():
        raise ConfigError(where, f"no such file {value}")
    return value


def _pair(section: Mapping[str, Any], name: str, enabled: bool) -> KeyPair | None:
    key_key, cert_key = PAIRS[name]
    key_file = checked_text(section[key_key], key_of(key_key))
    cert_file = checked_text(section[cert_key], key_of(cert_key))
    if not key_file and not cert_file:
        return None
    missing = cert_key if key_file else key_key
    if not key_file or not cert_file:
        raise ConfigError(key_of(missing), f"give both {key_key} and {cert_key}, or neither")
    return KeyPair(
        _file(key_file, key_of(key_key), enabled), _file(cert_file, key_of(cert_key), enabled)
    )


def _url(value: Any, where: str, *, https_only: bool = False) -> str:
    text = checked_text(value, where, limit=MAX_ENTITY_ID)
    schemes = ("https://",) if https_only else ("https://", "http://")
    if not text.startswith(schemes) or any(c.isspace() for c in text) or len(text) < 10:
        raise ConfigError(where, f"must be an absolute {' or '.join(schemes)} URL")
    return text


def _entity_id(section: Mapping[str, Any], public_url: str) -> str:
    given = checked_text(section["entity_id"], key_of("entity_id"), limit=MAX_ENTITY_ID)
    if not given:
        return public_url.rstrip("/") + "/idp/metadata"
    if not given.startswith(("https://", "http://", "urn:")) or any(c.isspace() for c in given):
        raise ConfigError(key_of("entity_id"), "must be an absolute URI (https://… or urn:…)")
    return given


def _salt(section: Mapping[str, Any], enabled: bool, mode: str) -> tuple[bytes, bool]:
    text = section["salt"]
    if not isinstance(text, str):
        raise ConfigError(key_of("salt"), "must be a text (give it as CAS_SAML__SALT)")
    if text:
        if len(text) < MIN_SALT and mode not in SALTLESS_MODES:
            raise ConfigError(key_of("salt"), f"at least {MIN_SALT} characters: {GENERATE}")
        return text.encode(), False
    if enabled and mode not in SALTLESS_MODES:
        raise ConfigError(
            key_of("salt"),
            "required with [saml] enabled: set a random secret of at least "
            f"{MIN_SALT} characters as CAS_SAML__SALT, e.g. {GENERATE}",
        )
    return TEST_ONLY_SALT, True


def _scope(section: Mapping[str, Any], enabled: bool) -> str:
    scope = checked_text(section["scope"], key_of("scope"), limit=127).lower()
    if not scope:
        if enabled:
            raise ConfigError(key_of("scope"), "required: the institution's domain, e.g. univ.fr")
        return ""
    if not SCOPE_RE.fullmatch(scope) or "." not in scope:
        raise ConfigError(key_of("scope"), f"not a domain such as univ-exemple.fr: {scope!r}")
    return scope


def _contact(section: Mapping[str, Any], key: str) -> str:
    text = checked_text(section[key], key_of(key), limit=254).removeprefix("mailto:")
    if text and not EMAIL_RE.fullmatch(text):
        raise ConfigError(key_of(key), f"must be an e-mail address, not {text!r}")
    return text


def _display_name(section: Mapping[str, Any], institution: str) -> dict[str, str]:
    given = section["display_name"]
    if not isinstance(given, Mapping):
        raise ConfigError(key_of("display_name"), 'must be a table such as { fr = "…", en = "…" }')
    names: dict[str, str] = {}
    for language, text in given.items():
        where = key_of(f"display_name.{language}")
        if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{1,8})?", str(language)):
            raise ConfigError(where, "not a language code such as fr or en")
        value = checked_text(text, where, limit=MAX_TEXT)
        if not value:
            raise ConfigError(where, "empty")
        names[str(language)] = value
    if not names and institution:
        names = {"fr": institution, "en": institution}
    return names


def _string_list(section: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = section[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(key_of(key), "must be a list of texts")
    return tuple(v.strip() for v in value)


def _federations(section: Mapping[str, Any], enabled: bool) -> tuple[FederationSource, ...]:
    entries = section["federations"]
    if not isinstance(entries, list):
        raise ConfigError(key_of("federations"), "must be a list of [[saml.federations]] tables")
    out: list[FederationSource] = []
    for i, entry in enumerate(entries):
        where = key_of(f"federations[{i}]")
        if not isinstance(entry, Mapping):
            raise ConfigError(where, "must be a table with name, url and cert_file")
        unknown = sorted(set(entry) - FEDERATION_KEYS)
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}", "unknown key")
        for key in ("name", "url", "cert_file"):
            if key not in entry:
                raise ConfigError(f"{where}.{key}", "missing")
        name = checked_text(entry["name"], f"{where}.name", limit=64)
        if not NAME_RE.fullmatch(name):
            raise ConfigError(f"{where}.name", "lower-case letters, digits, - and _ only")
        if any(f.name == name for f in out):
            raise ConfigError(f"{where}.name", f"a second federation named {name!r}")
        cert = checked_text(entry["cert_file"], f"{where}.cert_file")
        if not cert:
            raise ConfigError(f"{where}.cert_file", "the aggregate's signing certificate")
        max_size = entry.get("max_size", 256 * 1024 * 1024)
        if isinstance(max_size, bool) or not isinstance(max_size, int):
            raise ConfigError(f"{where}.max_size", "must be a number of bytes")
        if not 1024 <= max_size <= 4 * 1024**3:
            raise ConfigError(f"{where}.max_size", "must be between 1024 and 4294967296")
        out.append(
            FederationSource(
                name=name,
                url=_url(entry["url"], f"{where}.url"),
                cert_file=_file(cert, f"{where}.cert_file", enabled),
                refresh_interval=_number(
                    entry.get("refresh_interval", 3600), f"{where}.refresh_interval", 60, 7 * 86400
                ),
                max_size=max_size,
            )
        )
    return tuple(out)


def load_saml_settings(
    raw: Mapping[str, Any],
    *,
    public_url: str,
    mode: str,
    instance_path: str | None = None,
) -> SamlSettings:
    """``[saml]`` from the merged configuration (defaults for missing keys).

    Files are only required to exist when the identity provider is enabled.
    """
    given = raw.get("saml", {})
    if not isinstance(given, Mapping):
        raise ConfigError("saml", "must be a table")
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ConfigError(key_of(unknown[0]), "unknown key")
    section = {**DEFAULTS, **given}
    enabled = _bool(section, "enabled")
    signing = _pair(section, "signing", enabled)
    if enabled and signing is None:
        raise ConfigError(key_of("key_file"), "required with [saml] enabled (and cert_file)")
    pairs = {name: _pair(section, name, enabled) for name in PAIRS if name != "signing"}
    salt, stand_in = _salt(section, enabled, mode)
    institution = raw.get("server", {}).get("institution_name", "")
    cache = checked_text(section["metadata_cache_dir"], key_of("metadata_cache_dir"))
    if not cache:
        base = Path(instance_path) if instance_path else ROOT / "instance"
        cache = str(base / "saml-metadata")
    lifetime = _seconds(section, "assertion_lifetime", 10, 3600)
    organization_url = section["organization_url"]
    return SamlSettings(
        enabled=enabled,
        entity_id=_entity_id(section, public_url),
        signing=signing,
        encryption=pairs["encryption"] or signing,
        next_signing=pairs["next_signing"],
        metadata_signing=pairs["metadata_signing"] or signing,
        scope=_scope(section, enabled),
        salt=salt,
        assertion_lifetime=lifetime,
        clock_skew=_seconds(section, "clock_skew", 0, 900),
        metadata_validity=_seconds(section, "metadata_validity", 3600, 365 * 86400),
        metadata_cache_dir=cache,
        consent=_bool(section, "consent"),
        display_name=_display_name(section, institution if isinstance(institution, str) else ""),
        organization_url=(
            _url(organization_url, key_of("organization_url"))
            if organization_url
            else public_url.rstrip("/")
        ),
        technical_contact=_contact(section, "technical_contact"),
        support_contact=_contact(section, "support_contact"),
        sp_files=_string_list(section, "sp_files"),
        federations=_federations(section, enabled),
        attribute_map=attribute_map(section),
        rules=release_rules(section),
        stand_in_salt=stand_in,
    )
