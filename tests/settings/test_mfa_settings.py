"""``[mfa]`` and ``[admin] require_mfa``: defaults, refusals that name their key, overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from cas_server.accounts.mfa.sealing import Sealer
from cas_server.settings.console import load_admin_settings
from cas_server.settings.mfa import TEST_ONLY_KEY, load_mfa_settings
from cas_server.settings.server import ConfigError, load_raw

KEY = Fernet.generate_key().decode()
ROOT = Path(__file__).resolve().parents[2]


def mfa(mode: str = "production", environ: dict[str, str] | None = None, **keys: Any) -> Any:
    raw = load_raw(environ=environ or {}, overrides={"mfa": keys} if keys else None)
    return load_mfa_settings(raw, mode=mode, institution_name="Université: Exemple")


def test_the_defaults() -> None:
    settings = mfa(encryption_keys=[KEY])
    rules = settings.rules
    assert settings.enabled and settings.encryption_keys == (KEY,) and not settings.stand_in_key
    assert settings.issuer == "Université Exemple"  # no colon: apps split at it
    assert rules.required_roles == frozenset() and rules.required_profiles == frozenset()
    assert rules.required_attributes == {}
    assert (rules.grace_sign_ins, rules.trust_days) == (3, 0)
    assert rules.email_codes and rules.sms_codes
    assert (rules.code_ttl, rules.attempts, rules.attempt_window) == (600, 5, 900)
    assert settings.limit.attempts == 5 and settings.limit.lock == 900


def test_keys_are_required_in_production_and_debug_when_enabled() -> None:
    for mode in ("production", "debug"):
        with pytest.raises(ConfigError) as refused:
            mfa(mode)
        assert refused.value.key == "mfa.encryption_keys"
        assert "Fernet.generate_key()" in str(refused.value)
        assert "CAS_MFA__ENCRYPTION_KEYS" in str(refused.value)
    # Off: no key needed, a throwaway one stands in.
    off = mfa(enabled=False)
    assert off.stand_in_key and off.encryption_keys != (TEST_ONLY_KEY,)
    Sealer(off.encryption_keys)


@pytest.mark.parametrize("mode", ["demo", "test"])
def test_demo_and_test_modes_fall_back_to_the_published_key(mode: str) -> None:
    settings = mfa(mode)
    assert settings.encryption_keys == (TEST_ONLY_KEY,) and settings.stand_in_key


def test_the_demo_configuration_has_its_own_fixed_key() -> None:
    raw = load_raw(ROOT / "config" / "demo.toml", environ={})
    settings = load_mfa_settings(raw, mode="demo", institution_name="Démo")
    assert not settings.stand_in_key and len(settings.encryption_keys) == 1
    Sealer(settings.encryption_keys)


def test_keys_from_the_environment_first_one_seals() -> None:
    other = Fernet.generate_key().decode()
    settings = mfa(environ={"CAS_MFA__ENCRYPTION_KEYS": f"{KEY},{other}"})
    assert settings.encryption_keys == (KEY, other)
    sealed = Sealer([other]).seal(b"old")
    assert Sealer(settings.encryption_keys).open(sealed) == b"old"
    overridden = mfa(
        environ={
            "CAS_MFA__ENCRYPTION_KEYS": KEY,
            "CAS_MFA__TRUST_DAYS": "30",
            "CAS_MFA__REQUIRED_ROLES": "admin,helpdesk",
            "CAS_MFA__REQUIRED_ATTRIBUTES": '{eduPersonAffiliation = "staff"}',
            "CAS_MFA__SMS_CODES": "false",
        }
    )
    assert overridden.rules.trust_days == 30 and not overridden.rules.sms_codes
    assert overridden.rules.required_roles == {"admin", "helpdesk"}
    assert overridden.rules.required_attributes == {"eduPersonAffiliation": {"staff"}}


@pytest.mark.parametrize(
    ("keys", "key"),
    [
        ({"encryption_keys": ["not-a-key"]}, "mfa.encryption_keys"),
        ({"encryption_keys": [KEY, KEY]}, "mfa.encryption_keys"),
        ({"encryption_keys": KEY}, "mfa.encryption_keys"),  # a string, not a list
        ({"enabled": "yes"}, "mfa.enabled"),
        ({"issuer": "A:B"}, "mfa.issuer"),
        ({"issuer": 3}, "mfa.issuer"),
        ({"required_roles": ["admin", ""]}, "mfa.required_roles"),
        ({"required_profiles": ["wizard"]}, "mfa.required_profiles"),
        ({"required_attributes": {"memberOf": 3}}, "mfa.required_attributes.memberOf"),
        ({"required_attributes": {"memberOf": []}}, "mfa.required_attributes.memberOf"),
        ({"required_attributes": ["memberOf"]}, "mfa.required_attributes"),
        ({"grace_sign_ins": -1}, "mfa.grace_sign_ins"),
        ({"grace_sign_ins": True}, "mfa.grace_sign_ins"),
        ({"trust_days": 400}, "mfa.trust_days"),
        ({"email_codes": 1}, "mfa.email_codes"),
        ({"sms_codes": "off"}, "mfa.sms_codes"),
        ({"code_ttl": 10}, "mfa.code_ttl"),
        ({"attempts": 0}, "mfa.attempts"),
        ({"attempt_window": 10.5}, "mfa.attempt_window"),
    ],
)
def test_each_wrong_value_names_its_key(keys: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        mfa(**{"encryption_keys": [Fernet.generate_key().decode()], **keys})
    assert refused.value.key == key
    assert "not-a-key" not in str(refused.value) and KEY not in str(refused.value)


def test_a_bad_key_is_named_by_position_never_shown() -> None:
    with pytest.raises(ConfigError) as refused:
        mfa(encryption_keys=[KEY, "c2VjcmV0LWJ1dC13cm9uZw=="])
    assert "item 2" in str(refused.value)
    assert "c2VjcmV0" not in str(refused.value) and KEY not in str(refused.value)


def test_populations_and_attributes_are_read() -> None:
    settings = mfa(
        encryption_keys=[KEY],
        issuer="  CAS Exemple ",
        required_roles=["admin"],
        required_profiles=["staff", "teacher"],
        required_attributes={"eduPersonAffiliation": ["staff", "faculty"], "memberOf": "payroll"},
        grace_sign_ins=0,
        trust_days=30,
    )
    assert settings.issuer == "CAS Exemple"
    assert settings.rules.required_profiles == {"staff", "teacher"}
    assert settings.rules.required_attributes == {
        "eduPersonAffiliation": {"staff", "faculty"},
        "memberOf": {"payroll"},
    }
    assert settings.rules.trust_seconds == 30 * 86400


def test_the_console_requires_a_second_factor_unless_turned_off(tmp_path: Path) -> None:
    assert load_admin_settings(load_raw(environ={}), str(tmp_path)).require_mfa is True
    raw = load_raw(environ={"CAS_ADMIN__REQUIRE_MFA": "false"})
    assert load_admin_settings(raw, str(tmp_path)).require_mfa is False
    with pytest.raises(ConfigError) as refused:
        load_admin_settings({"admin": {"require_mfa": "no"}}, str(tmp_path))
    assert refused.value.key == "admin.require_mfa"


def test_create_app_wires_the_service_over_sql(app: Any) -> None:
    from cas_server.accounts.mfa import totp
    from cas_server.accounts.mfa.sealing import RECOVERY_CODES_PURPOSE, derive_key
    from cas_server.accounts.mfa.service import MfaService
    from cas_server.storage.sql.mfa import SqlMfaStore
    from tests.support.app import make_account

    c = app.extensions["cas"]
    service = c.mfa
    assert isinstance(service, MfaService) and isinstance(service.store, SqlMfaStore)
    # The recovery codes' key comes from the encryption key, never from the Flask secret.
    assert service._recovery_keys == (derive_key(TEST_ONLY_KEY, RECOVERY_CODES_PURPOSE),)
    assert c.settings.secret_key.encode() not in service._recovery_keys
    assert not service.rules.sms_codes  # the test configuration has no SMS backend
    alice = make_account(app)
    secret = service.begin_totp()
    step = totp.step_at(c.clock.now())
    _, codes = service.confirm_totp(alice, "Phone", secret, totp.code_at(secret, step))
    assert codes is not None and service.methods_of(alice) == ["totp", "recovery_code"]
    assert service.verify_totp(alice, totp.code_at(secret, step + 1)) is not None
    assert service.use_recovery_code(alice, codes[0])
    assert not service.use_recovery_code(alice, codes[0])
