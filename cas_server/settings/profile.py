"""The ``[profile]`` section and the privacy notice, checked once at start.

Like the rest of the configuration, a wrong value stops the start with the
key at fault. The privacy notice is a text file per language (paragraphs
separated by blank lines; a line starting with ``## `` is a heading), found
by replacing ``{lang}`` in ``privacy_notice``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .server import ConfigError

DEFAULTS: Mapping[str, Any] = {
    "enabled": True,
    "end_other_sessions": True,
    "max_password_failures": 5,
    "password_failure_window": 900,
    "account_linking": True,
    "max_linked_accounts": 5,
    "privacy_notice": "",
    "dpo_contact": "",
    "export_audit_days": 365,
    "timezone": "Europe/Paris",
}
MAX_NOTICE_BYTES = 200_000


@dataclass(frozen=True)
class ProfileSettings:
    enabled: bool  # the /profile pages and the "My account" links
    end_other_sessions: bool  # a password change ends the account's other SSO sessions
    max_password_failures: int  # wrong current passwords per account…
    password_failure_window: float  # …in this many seconds lock the forms as long
    account_linking: bool  # "rapprochement de comptes"
    max_linked_accounts: int
    dpo_contact: str  # shown on the privacy notice
    export_audit_days: int  # audit events in "download my data"
    timezone: str  # dates on the pages
    privacy: Mapping[str, str] = field(default_factory=dict)  # language → text

    def privacy_text(self, language: str) -> str:
        return self.privacy.get(language) or next(iter(self.privacy.values()), "")


def _get(section: Mapping[str, Any], key: str, kind: type) -> Any:
    value = section.get(key, DEFAULTS[key])
    if kind is not bool and isinstance(value, bool):
        raise ConfigError(f"profile.{key}", "must not be a boolean")
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        raise ConfigError(f"profile.{key}", f"has the wrong type: {value!r}")
    return value


def _int(section: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value: int = _get(section, key, int)
    if not low <= value <= high:
        raise ConfigError(f"profile.{key}", f"must be between {low} and {high}")
    return value


def load_privacy(template: str, languages: Iterable[str]) -> dict[str, str]:
    """The notice per language; at least one file must exist when a path is set."""
    if not template:
        return {}
    texts = {}
    for language in languages:
        path = Path(template.replace("{lang}", language))
        if path.is_file():
            if path.stat().st_size > MAX_NOTICE_BYTES:
                raise ConfigError("profile.privacy_notice", f"{path} is too large")
            texts[language] = path.read_text(encoding="utf-8")
    if not texts:
        raise ConfigError("profile.privacy_notice", f"no file found for {template}")
    return texts


def load_profile_settings(
    raw: Mapping[str, Mapping[str, Any]], languages: Iterable[str]
) -> ProfileSettings:
    section = raw.get("profile", {})
    zone = _get(section, "timezone", str)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError("profile.timezone", f"unknown time zone {zone!r}") from exc
    window = _get(section, "password_failure_window", float)
    if not 0 < window <= 86400:
        raise ConfigError("profile.password_failure_window", "must be between 1 and 86400")
    return ProfileSettings(
        enabled=_get(section, "enabled", bool),
        end_other_sessions=_get(section, "end_other_sessions", bool),
        max_password_failures=_int(section, "max_password_failures", 1, 100),
        password_failure_window=window,
        account_linking=_get(section, "account_linking", bool),
        max_linked_accounts=_int(section, "max_linked_accounts", 1, 50),
        dpo_contact=_get(section, "dpo_contact", str).strip(),
        export_audit_days=_int(section, "export_audit_days", 0, 3660),
        timezone=zone,
        privacy=load_privacy(_get(section, "privacy_notice", str), languages),
    )
