"""MfaService: every rule of the second factor, on an in-memory store and a fake clock."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from cryptography.fernet import Fernet

from cas_server.accounts.mfa import totp
from cas_server.accounts.mfa.model import (
    CounterRegressed,
    FactorExists,
    FactorKind,
    MfaRefused,
    Replayed,
)
from cas_server.accounts.mfa.recovery import recovery_code_hash
from cas_server.accounts.mfa.rules import MfaRules
from cas_server.accounts.mfa.sealing import Sealer
from cas_server.accounts.mfa.service import MAX_FACTORS, MfaService
from cas_server.accounts.model import Account, Profile, Status
from cas_server.accounts.tokens import Purpose, TokenSettings
from tests.support.fakes import FakeClock
from tests.support.mfa_store import MemoryMfaStore
from tests.support.soft_authenticator import SoftAuthenticator

RP, ORIGIN = "cas.univ.example", "https://cas.univ.example"
KEY = b"r" * 32
ALICE = Account(uuid="u-alice", login="alice", profile=Profile.STAFF, status=Status.ACTIVE)
ADMIN = replace(ALICE, uuid="u-admin", login="root", roles=frozenset({"admin"}))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_800_000_005.0)


@pytest.fixture
def store() -> MemoryMfaStore:
    return MemoryMfaStore()


def make(
    store: MemoryMfaStore, clock: FakeClock, rules: MfaRules | None = None, **kw: object
) -> MfaService:
    sealer = Sealer([Fernet.generate_key().decode()])
    rules = rules or MfaRules(required_roles=frozenset({"admin"}), trust_days=30)
    key = kw.pop("recovery_key", KEY)
    return MfaService(store, sealer, rules, clock, key, "Université", **kw)  # type: ignore[arg-type]


@pytest.fixture
def mfa(store: MemoryMfaStore, clock: FakeClock) -> MfaService:
    return make(store, clock)


def now_code(secret: str, clock: FakeClock, offset: int = 0) -> str:
    return totp.code_at(secret, totp.step_at(clock.now()) + offset)


def enrol_totp(mfa: MfaService, clock: FakeClock, who: Account = ALICE, label: str = "Phone"):
    secret = mfa.begin_totp()
    factor, codes = mfa.confirm_totp(who, label, secret, now_code(secret, clock))
    return secret, factor, codes


# --- TOTP ----------------------------------------------------------------------------------


def test_enrolment_needs_a_right_code_and_brings_ten_recovery_codes(
    mfa: MfaService, store: MemoryMfaStore, clock: FakeClock
) -> None:
    secret = mfa.begin_totp()
    wrong = next(
        c for c in ("000000", "111111", "222222") if not totp.matching_steps(secret, c, clock.now())
    )
    with pytest.raises(MfaRefused):
        mfa.confirm_totp(ALICE, "Phone", secret, wrong)
    factor, codes = mfa.confirm_totp(ALICE, "  My\tphone  ", secret, now_code(secret, clock))
    assert factor.kind is FactorKind.TOTP and factor.label == "My phone"
    assert codes is not None and len(codes) == 10
    assert factor.secret is not None and secret.encode() not in factor.secret  # sealed
    assert mfa.methods_of(ALICE) == ["totp", "recovery_code"]
    assert mfa.totp_uri(ALICE, secret).startswith("otpauth://totp/Universit%C3%A9:alice?")
    # The code that confirmed the enrolment cannot sign in.
    assert mfa.check_totp(ALICE, now_code(secret, clock)).outcome == "replay"
    # A second app: no new codes (ten are still there), and the same secret twice is refused.
    _, _, more = enrol_totp(mfa, clock, label="Tablet")
    assert more is None
    with pytest.raises(MfaRefused):
        mfa.confirm_totp(ALICE, "Again", secret, now_code(secret, clock, 1))


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_sign_in_codes_within_one_step_are_accepted_once(
    mfa: MfaService, clock: FakeClock, offset: int
) -> None:
    secret, factor, _ = enrol_totp(mfa, clock)
    clock.advance(120)
    code = now_code(secret, clock, offset)
    found = mfa.verify_totp(ALICE, code)
    assert found is not None and found.id == factor.id and found.last_used_at == clock.now()
    assert mfa.verify_totp(ALICE, code) is None  # replay
    assert mfa.check_totp(ALICE, code).outcome == "replay"


@pytest.mark.parametrize("offset", [-2, 2])
def test_codes_two_steps_away_are_refused(mfa: MfaService, clock: FakeClock, offset: int) -> None:
    secret, _, _ = enrol_totp(mfa, clock)
    clock.advance(120)
    assert mfa.check_totp(ALICE, now_code(secret, clock, offset)).outcome == "failure"


def test_an_earlier_code_is_refused_after_a_later_one(mfa: MfaService, clock: FakeClock) -> None:
    secret, _, _ = enrol_totp(mfa, clock)
    clock.advance(120)
    assert mfa.verify_totp(ALICE, now_code(secret, clock, 1)) is not None
    assert mfa.check_totp(ALICE, now_code(secret, clock, 0)).outcome == "replay"
    assert mfa.check_totp(ALICE, now_code(secret, clock, -1)).outcome == "replay"
    clock.advance(60)
    assert mfa.verify_totp(ALICE, now_code(secret, clock)) is not None


def test_two_factors_of_one_person_are_independent(mfa: MfaService, clock: FakeClock) -> None:
    phone, first, _ = enrol_totp(mfa, clock, label="Phone")
    token, second, _ = enrol_totp(mfa, clock, label="Token")
    clock.advance(90)
    assert mfa.verify_totp(ALICE, now_code(phone, clock)).id == first.id  # type: ignore[union-attr]
    assert mfa.verify_totp(ALICE, now_code(token, clock)).id == second.id  # type: ignore[union-attr]
    # Bob's code does not open Alice's account.
    bob = replace(ALICE, uuid="u-bob", login="bob")
    bob_secret, _, _ = enrol_totp(mfa, clock, who=bob)
    clock.advance(60)
    assert mfa.verify_totp(ALICE, now_code(bob_secret, clock)) is None


def test_a_factor_whose_key_is_gone_is_skipped_not_fatal(
    store: MemoryMfaStore, clock: FakeClock
) -> None:
    first = make(store, clock)
    secret, _, _ = enrol_totp(first, clock)
    clock.advance(60)
    other = make(store, clock)  # another key: the seed no longer opens
    assert other.check_totp(ALICE, now_code(secret, clock)).outcome == "failure"


def test_imported_hardware_tokens_need_no_confirmation(mfa: MfaService, clock: FakeClock) -> None:
    factor = mfa.import_totp(ALICE, "Token 042", "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp")
    assert factor.kind is FactorKind.TOTP and mfa.recovery_codes_left(ALICE) == 0
    assert mfa.verify_totp(ALICE, now_code("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", clock))
    with pytest.raises(MfaRefused):
        mfa.import_totp(ALICE, "Bad", "not base32!")
    with pytest.raises(MfaRefused):
        mfa.import_totp(ALICE, "Short", "JBSWY3DPEHPK3PXP")  # 80 bits


@pytest.mark.parametrize("label", ["", "   ", "\x00\x01", "x" * 65])
def test_labels_must_be_given_and_short(mfa: MfaService, clock: FakeClock, label: str) -> None:
    secret = mfa.begin_totp()
    with pytest.raises(MfaRefused):
        mfa.confirm_totp(ALICE, label, secret, now_code(secret, clock))


def test_a_person_cannot_pile_up_factors(mfa: MfaService, clock: FakeClock) -> None:
    for n in range(MAX_FACTORS):
        mfa.import_totp(ALICE, f"Token {n}", totp.new_secret())
    with pytest.raises(MfaRefused, match="too many"):
        enrol_totp(mfa, clock)


# --- recovery codes ------------------------------------------------------------------------


def test_recovery_codes_are_single_use_and_stored_hashed(
    mfa: MfaService, store: MemoryMfaStore, clock: FakeClock
) -> None:
    _, _, codes = enrol_totp(mfa, clock)
    assert codes is not None
    stored = {c.code_hash for c in store.codes}
    assert stored == {recovery_code_hash(KEY, c) for c in codes}
    assert not any(c.replace("-", "") in h for c in codes for h in stored)
    typed = codes[3].upper().replace("-", " ")
    assert mfa.use_recovery_code(ALICE, typed)
    assert not mfa.use_recovery_code(ALICE, codes[3])  # second use
    assert mfa.recovery_codes_left(ALICE) == 9
    assert not mfa.use_recovery_code(ALICE, "abcd-efgh-jkmn")  # not one of them
    assert not mfa.use_recovery_code(ALICE, "")
    other = replace(ALICE, uuid="u-other")
    assert not mfa.use_recovery_code(other, codes[4])  # Alice's code, not the other's


def test_regenerating_voids_the_old_set(mfa: MfaService, clock: FakeClock) -> None:
    with pytest.raises(MfaRefused):
        mfa.regenerate_recovery_codes(ALICE)  # no factor yet
    _, _, old = enrol_totp(mfa, clock)
    new = mfa.regenerate_recovery_codes(ALICE)
    assert len(new) == 10 and not set(new) & set(old or [])
    assert not any(mfa.use_recovery_code(ALICE, c) for c in old or [])
    assert mfa.use_recovery_code(ALICE, new[0])


def test_codes_hashed_under_a_rotated_out_key_still_work(
    store: MemoryMfaStore, clock: FakeClock
) -> None:
    before = make(store, clock)
    _, _, codes = enrol_totp(before, clock)
    after = make(store, clock, recovery_key=b"n" * 32, old_recovery_keys=[KEY])
    assert codes is not None and after.use_recovery_code(ALICE, codes[0])
    assert not after.use_recovery_code(ALICE, codes[0])


def test_when_every_factor_is_used_up_a_new_factor_brings_new_codes(
    mfa: MfaService, clock: FakeClock
) -> None:
    _, _, codes = enrol_totp(mfa, clock)
    for code in codes or []:
        assert mfa.use_recovery_code(ALICE, code)
    assert mfa.methods_of(ALICE) == ["totp"]
    _, _, fresh = enrol_totp(mfa, clock, label="Tablet")
    assert fresh is not None and len(fresh) == 10


# --- removing, renaming --------------------------------------------------------------------


def test_the_last_factor_of_someone_who_needs_one_stays_unless_an_operator_removes_it(
    mfa: MfaService, clock: FakeClock
) -> None:
    _, first, _ = enrol_totp(mfa, clock, who=ADMIN, label="Phone")
    _, second, _ = enrol_totp(mfa, clock, who=ADMIN, label="Token")
    assert mfa.remove(ADMIN, first.id).id == first.id  # another one is left
    with pytest.raises(MfaRefused, match="last second factor"):
        mfa.remove(ADMIN, second.id)
    assert mfa.remove(ADMIN, second.id, by_operator=True).id == second.id
    assert mfa.factors(ADMIN) == [] and mfa.recovery_codes_left(ADMIN) == 0
    with pytest.raises(MfaRefused):
        mfa.remove(ADMIN, second.id)


def test_someone_who_needs_none_may_remove_the_last_one(mfa: MfaService, clock: FakeClock) -> None:
    _, factor, _ = enrol_totp(mfa, clock)
    mfa.remove(ALICE, factor.id)
    assert mfa.methods_of(ALICE) == []  # the codes went with the last factor


def test_nobody_removes_or_renames_someone_elses_factor(mfa: MfaService, clock: FakeClock) -> None:
    _, factor, _ = enrol_totp(mfa, clock)
    bob = replace(ALICE, uuid="u-bob")
    with pytest.raises(MfaRefused):
        mfa.remove(bob, factor.id, by_operator=True)
    with pytest.raises(MfaRefused):
        mfa.rename(bob, factor.id, "Mine")
    assert mfa.rename(ALICE, factor.id, " Old phone ").label == "Old phone"
    assert mfa.factors(ALICE)[0].label == "Old phone"


def test_remove_all_clears_factors_codes_devices_and_grace(
    mfa: MfaService, store: MemoryMfaStore, clock: FakeClock
) -> None:
    enrol_totp(mfa, clock, who=ADMIN)
    mfa.import_totp(ADMIN, "Token", totp.new_secret())
    token, _ = mfa.trust_device(ADMIN, "Firefox")
    store.use_grace(ADMIN.uuid)
    assert mfa.remove_all(ADMIN) == 2
    assert mfa.factors(ADMIN) == [] and mfa.recovery_codes_left(ADMIN) == 0
    assert mfa.trusted_device(ADMIN, token) is None and mfa.grace_left(ADMIN) == 3


# --- codes by e-mail or SMS -----------------------------------------------------------------


def test_a_channel_factor_needs_a_verified_channel(
    mfa: MfaService, store: MemoryMfaStore, clock: FakeClock
) -> None:
    with pytest.raises(MfaRefused, match="e-mail"):
        mfa.add_channel_factor(ALICE, FactorKind.EMAIL)
    with pytest.raises(MfaRefused, match="mobile"):
        mfa.add_channel_factor(ALICE, FactorKind.SMS)
    store.channels[ALICE.uuid] = {
        FactorKind.EMAIL: "camille.martin@example.net",
        FactorKind.SMS: "+33612345678",
    }
    email, codes = mfa.add_channel_factor(ALICE, FactorKind.EMAIL)
    assert email.label == "c***n@example.net" and codes is not None
    sms, _ = mfa.add_channel_factor(ALICE, FactorKind.SMS)
    assert sms.label == "06 ** ** ** 78"
    with pytest.raises(MfaRefused, match="already"):
        mfa.add_channel_factor(ALICE, FactorKind.EMAIL)
    assert mfa.methods_of(ALICE) == ["email", "sms", "recovery_code"]
    assert mfa.channel_destination(ALICE, FactorKind.SMS) == "+33612345678"
    # The mobile no longer verified (changed elsewhere): SMS is no longer offered.
    del store.channels[ALICE.uuid][FactorKind.SMS]
    assert mfa.methods_of(ALICE) == ["email", "recovery_code"]
    with pytest.raises(ValueError):
        mfa.add_channel_factor(ALICE, FactorKind.TOTP)
    # Codes by e-mail switched off in [mfa]: neither offered nor added.
    off = make(store, clock, MfaRules(email_codes=False))
    # Alice's factors are now unusable; her recovery codes still get her in.
    assert off.methods_of(ALICE) == ["recovery_code"]
    assert off.channel_destination(ALICE, FactorKind.EMAIL) is None


def test_the_code_purpose_lives_like_the_other_codes() -> None:
    assert Purpose.MFA_CODE.value == "mfa_code"
    assert TokenSettings(code_ttl=300).ttl(Purpose.MFA_CODE) == 300


# --- WebAuthn -------------------------------------------------------------------------------


def register(mfa: MfaService, key: SoftAuthenticator, who: Account = ALICE, label: str = "Key"):
    _, challenge = mfa.begin_webauthn_registration(who, RP, "Université")
    return mfa.finish_webauthn_registration(
        who, label, key.register(challenge), challenge, RP, ORIGIN
    )


def test_webauthn_registration_excludes_known_keys_and_signs_in(
    mfa: MfaService, clock: FakeClock
) -> None:
    key = SoftAuthenticator(rp_id=RP, origin=ORIGIN)
    factor, codes = register(mfa, key)
    assert factor.kind is FactorKind.WEBAUTHN and codes is not None
    options, _ = mfa.begin_webauthn_registration(ALICE, RP, "Université")
    data = json.loads(options)
    assert data["rp"]["id"] == RP
    assert data["authenticatorSelection"]["userVerification"] == "preferred"
    assert len(data["excludeCredentials"]) == 1
    with pytest.raises(FactorExists):
        register(mfa, key, label="Same key again")
    options, challenge = mfa.begin_webauthn_authentication(ALICE, RP)
    assert json.loads(options)["userVerification"] == "preferred"
    clock.advance(10)
    used = mfa.verify_webauthn(ALICE, key.sign(challenge), challenge, RP, ORIGIN)
    assert used.id == factor.id and used.sign_count == 1 and used.last_used_at == clock.now()
    assert mfa.methods_of(ALICE) == ["webauthn", "recovery_code"]


def test_a_webauthn_counter_going_backwards_is_refused(mfa: MfaService) -> None:
    key = SoftAuthenticator(rp_id=RP, origin=ORIGIN)
    register(mfa, key)
    _, challenge = mfa.begin_webauthn_authentication(ALICE, RP)
    mfa.verify_webauthn(ALICE, key.sign(challenge, count=7), challenge, RP, ORIGIN)
    with pytest.raises(CounterRegressed):
        mfa.verify_webauthn(ALICE, key.sign(challenge, count=3), challenge, RP, ORIGIN)


def test_a_race_on_the_counter_is_refused_as_a_replay(
    mfa: MfaService, store: MemoryMfaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = SoftAuthenticator(rp_id=RP, origin=ORIGIN)
    register(mfa, key)
    _, challenge = mfa.begin_webauthn_authentication(ALICE, RP)
    # Another request moved the counter between this one's read and its write.
    monkeypatch.setattr(store, "use_webauthn", lambda *args: False)
    with pytest.raises(Replayed) as refused:
        mfa.verify_webauthn(ALICE, key.sign(challenge), challenge, RP, ORIGIN)
    assert refused.value.reason == "replay"


def test_someone_elses_key_or_no_key_is_refused(mfa: MfaService) -> None:
    key = SoftAuthenticator(rp_id=RP, origin=ORIGIN)
    register(mfa, key, who=ADMIN)
    with pytest.raises(MfaRefused, match="No security key"):
        mfa.begin_webauthn_authentication(ALICE, RP)
    with pytest.raises(MfaRefused, match="not registered"):
        mfa.verify_webauthn(ALICE, key.sign(b"c" * 32), b"c" * 32, RP, ORIGIN)
    with pytest.raises(MfaRefused):
        mfa.verify_webauthn(ALICE, "garbage", b"c" * 32, RP, ORIGIN)
    with pytest.raises(MfaRefused):
        mfa.finish_webauthn_registration(ALICE, "Key", "{}", b"c" * 32, RP, ORIGIN)


# --- grace and trusted devices --------------------------------------------------------------


def test_grace_sign_ins_run_out(mfa: MfaService) -> None:
    assert mfa.grace_left(ADMIN) == 3
    assert [mfa.take_grace(ADMIN) for _ in range(4)] == [True, True, True, False]
    assert mfa.grace_left(ADMIN) == 0


def test_trusted_devices_expire_and_are_revocable(
    mfa: MfaService, store: MemoryMfaStore, clock: FakeClock
) -> None:
    token, device = mfa.trust_device(ALICE, "Firefox on Linux")
    assert device.expires_at == clock.now() + 30 * 86400
    assert token not in str(store.devices)  # only its hash is kept
    assert mfa.trusted_device(ALICE, token) is not None
    assert mfa.trusted_device(replace(ALICE, uuid="u-bob"), token) is None
    assert mfa.trusted_device(ALICE, "x" * 43) is None
    clock.advance(30 * 86400)
    assert mfa.trusted_device(ALICE, token) is None
    token, device = mfa.trust_device(ALICE, "Firefox")
    assert store.revoke_trusted_device(ALICE.uuid, device.id, clock.now())
    assert mfa.trusted_device(ALICE, token) is None
    with pytest.raises(MfaRefused):
        make(store, clock, MfaRules(trust_days=0)).trust_device(ALICE, "Firefox")


def test_nothing_is_offered_when_the_second_factor_is_off(
    store: MemoryMfaStore, clock: FakeClock
) -> None:
    enrol_totp(make(store, clock), clock)
    off = make(store, clock, MfaRules(enabled=False))
    assert off.methods_of(ALICE) == []
    with pytest.raises(MfaRefused, match="not in use"):
        enrol_totp(off, clock, label="Tablet")
    with pytest.raises(MfaRefused, match="not in use"):
        off.import_totp(ALICE, "Token", totp.new_secret())
