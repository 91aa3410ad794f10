"""The ``[sessions]`` section ("My sign-ins", the session explorer, impersonation; #15).

Checked once at start, like the rest of the configuration: a wrong value stops
the start with the key at fault. ``networks`` is a GeoIP-free table of address
ranges with a label in each language, e.g.
``{ cidr = "10.0.0.0/8", key = "campus", fr = "Réseau de l'université",
en = "University network" }``; the first range holding an address names it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .server import ConfigError

DEFAULTS: Mapping[str, Any] = {
    "history_days": 60,
    "new_device_notice": True,
    "new_device_days": 90,
    "impersonation": False,
    "impersonation_minutes": 30,
    "networks": [],
}
NETWORK_KEYS = ("cidr", "key")
MAX_LABEL = 200
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class NetworkLabel:
    """An address range with its name in each language (``{"fr": …, "en": …}``)."""

    key: str
    network: IPNetwork
    labels: Mapping[str, str] = field(default_factory=dict)

    def label(self, language: str) -> str:
        """The label in ``language``, else English, else the key."""
        return self.labels.get(language) or self.labels.get("en") or self.key


@dataclass(frozen=True)
class SessionsSettings:
    history_days: int = 60
    new_device_notice: bool = True
    new_device_days: int = 90
    impersonation: bool = False
    impersonation_minutes: int = 30
    networks: tuple[NetworkLabel, ...] = ()

    def network_for(self, ip: str | None) -> NetworkLabel | None:
        """The first configured range holding ``ip``, or None (also for a malformed address)."""
        if not ip or not self.networks:
            return None
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for entry in self.networks:
            if address.version == entry.network.version and address in entry.network:
                return entry
        return None

    def network_label(self, key: str | None, language: str) -> str | None:
        """The label of the range named ``key`` in ``language`` (None: unknown key)."""
        for entry in self.networks:
            if entry.key == key:
                return entry.label(language)
        return None


def _int(section: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"sessions.{key}", f"must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"sessions.{key}", f"must be between {low} and {high}")
    return value


def _bool(section: Mapping[str, Any], key: str) -> bool:
    value = section[key]
    if not isinstance(value, bool):
        raise ConfigError(f"sessions.{key}", f"must be true or false, not {value!r}")
    return value


def _network(index: int, entry: Any) -> NetworkLabel:
    where = f"sessions.networks[{index}]"
    if not isinstance(entry, Mapping):
        raise ConfigError(where, 'must be a table such as { cidr = "10.0.0.0/8", key = "campus" }')
    for key in NETWORK_KEYS:
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ConfigError(f"{where}.{key}", "missing or empty")
    try:
        network = ipaddress.ip_network(entry["cidr"].strip(), strict=False)
    except ValueError as exc:
        raise ConfigError(f"{where}.cidr", f"not an address range: {exc}") from None
    labels: dict[str, str] = {}
    for language, text in entry.items():
        if language in NETWORK_KEYS:
            continue
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_LABEL:
            raise ConfigError(
                f"{where}.{language}", f"a label must be a text of 1 to {MAX_LABEL} characters"
            )
        labels[str(language)] = text.strip()
    key = entry["key"].strip()
    if len(key) > 64:
        raise ConfigError(f"{where}.key", "at most 64 characters")
    return NetworkLabel(key, network, labels)


def load_sessions_settings(raw: Mapping[str, Any]) -> SessionsSettings:
    """``[sessions]`` from the merged configuration (defaults for missing keys)."""
    given = raw.get("sessions", {})
    if not isinstance(given, Mapping):
        raise ConfigError("sessions", "must be a table")
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"sessions.{unknown[0]}", "unknown key")
    section = {**DEFAULTS, **given}
    networks = section["networks"]
    if not isinstance(networks, list):
        raise ConfigError("sessions.networks", "must be a list of tables")
    labels = tuple(_network(i, entry) for i, entry in enumerate(networks))
    return SessionsSettings(
        history_days=_int(section, "history_days", 1, 3660),
        new_device_notice=_bool(section, "new_device_notice"),
        new_device_days=_int(section, "new_device_days", 1, 3660),
        impersonation=_bool(section, "impersonation"),
        impersonation_minutes=_int(section, "impersonation_minutes", 1, 24 * 60),
        networks=labels,
    )
