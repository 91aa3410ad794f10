"""``[sessions]`` (#15): defaults, the network label table, and clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from cas_server.settings.server import ConfigError
from cas_server.settings.sessions import load_sessions_settings


def load(**section: Any) -> Any:
    return load_sessions_settings({"sessions": section})


def test_defaults_are_those_of_default_toml() -> None:
    import tomllib

    from tests.support.paths import ROOT

    shipped = tomllib.loads((ROOT / "config" / "default.toml").read_text())["sessions"]
    settings = load_sessions_settings({"sessions": shipped})
    assert settings == load_sessions_settings({})
    assert (settings.history_days, settings.new_device_days) == (60, 90)
    assert settings.new_device_notice is True
    assert settings.impersonation is False
    assert settings.impersonation_minutes == 30
    assert settings.networks == ()


def test_networks_first_match_wins_and_both_families() -> None:
    settings = load(
        networks=[
            {"cidr": "10.1.0.0/16", "key": "library", "fr": "Bibliothèque"},
            {"cidr": "10.0.0.0/8", "key": "campus", "en": "Campus", "fr": "Campus"},
            {"cidr": "2001:db8::/32", "key": "campus"},
        ]
    )
    assert settings.network_for("10.1.2.3").key == "library"  # type: ignore[union-attr]
    assert settings.network_for("10.2.2.3").key == "campus"  # type: ignore[union-attr]
    assert settings.network_for("2001:db8::1").key == "campus"  # type: ignore[union-attr]
    assert settings.network_for("::ffff:10.1.2.3") is None
    assert settings.network_for(None) is None
    library = settings.networks[0]
    assert library.label("fr") == "Bibliothèque"
    assert library.label("en") == "library"  # no English label: the key


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"history_days": 0}, "sessions.history_days"),
        ({"history_days": "60"}, "sessions.history_days"),
        ({"new_device_notice": "yes"}, "sessions.new_device_notice"),
        ({"impersonation_minutes": 100_000}, "sessions.impersonation_minutes"),
        ({"impersonation": 1}, "sessions.impersonation"),
        ({"networks": {"cidr": "10.0.0.0/8"}}, "sessions.networks"),
        ({"networks": ["10.0.0.0/8"]}, "sessions.networks[0]"),
        ({"networks": [{"cidr": "10.0.0.0/33", "key": "x"}]}, "sessions.networks[0].cidr"),
        ({"networks": [{"cidr": "10.0.0.0/8"}]}, "sessions.networks[0].key"),
        ({"networks": [{"cidr": "10.0.0.0/8", "key": "x", "fr": ""}]}, "sessions.networks[0].fr"),
        ({"histroy_days": 60}, "sessions.histroy_days"),
    ],
)
def test_wrong_values_name_the_key(section: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(**section)
    assert caught.value.key == key
