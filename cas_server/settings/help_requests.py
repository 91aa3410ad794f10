"""The ``[help_requests]`` section: the public help form and the console's queue (#16)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..accounts.identity import InputError, parse_email
from .server import ConfigError

DEFAULTS: Mapping[str, Any] = {
    "enabled": False,
    "retention_days": 90,
    "per_ip": 5,
    "per_contact": 3,
    "window": 3600,
    "notify_address": "",
}


@dataclass(frozen=True)
class HelpRequestSettings:
    enabled: bool = False  # the form under /sesame/help-request and the console's queue
    retention_days: int = 90  # closed requests are purged this many days after closing
    per_ip: int = 5  # requests from one address per window
    per_contact: int = 3  # requests giving one e-mail address or phone number per window
    window: float = 3600.0  # seconds
    notify_address: str | None = None  # the help desk's inbox, told of each new request


def _int(section: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = section.get(key, DEFAULTS[key])
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"help_requests.{key}", f"must be an integer between {low} and {high}")
    return value


def _bool(section: Mapping[str, Any], key: str) -> bool:
    value = section.get(key, DEFAULTS[key])
    if not isinstance(value, bool):
        raise ConfigError(f"help_requests.{key}", "must be true or false")
    return value


def load_help_request_settings(raw: Mapping[str, Mapping[str, Any]]) -> HelpRequestSettings:
    section = raw.get("help_requests", {})
    if not isinstance(section, Mapping):
        raise ConfigError("help_requests", "must be a table")
    unknown = set(section) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"help_requests.{sorted(unknown)[0]}", "unknown key")
    address = section.get("notify_address", "")
    if not isinstance(address, str):
        raise ConfigError("help_requests.notify_address", "must be an e-mail address or empty")
    try:
        notify = parse_email("notify_address", address, optional=True)
    except InputError:
        raise ConfigError(
            "help_requests.notify_address", "must be an e-mail address or empty"
        ) from None
    return HelpRequestSettings(
        enabled=_bool(section, "enabled"),
        retention_days=_int(section, "retention_days", 1, 3650),
        per_ip=_int(section, "per_ip", 1, 100_000),
        per_contact=_int(section, "per_contact", 1, 100_000),
        window=float(_int(section, "window", 60, 7 * 86400)),
        notify_address=notify,
    )
