"""The second factor's pure pieces: TOTP, recovery codes, sealing, rules, the WebAuthn wrapper.

No clock is read: every check takes ``now``. WebAuthn answers come from a
software authenticator (tests/support/soft_authenticator.py) signing for real.
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.fernet import Fernet

from cas_server.accounts.mfa import totp
from cas_server.accounts.mfa import webauthn as wa
from cas_server.accounts.mfa.model import CounterRegressed, MfaRefused
from cas_server.accounts.mfa.recovery import (
    ALPHABET,
    new_recovery_codes,
    normalise_recovery_code,
    recovery_code_hash,
)
from cas_server.accounts.mfa.rules import MfaRules
from cas_server.accounts.mfa.sealing import (
    RECOVERY_CODES_PURPOSE,
    Sealer,
    SealingError,
    check_key,
    derive_key,
)
from cas_server.accounts.model import Account, Profile, Status
from tests.support.soft_authenticator import SoftAuthenticator, tampered

NOW = 1_800_000_015.0  # inside a 30-second step
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
STEP = totp.step_at(NOW)

# --- TOTP ---------------------------------------------------------------------------------


def test_new_secrets_are_160_bit_base32_and_unique() -> None:
    secrets = {totp.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(secret) == 32 and totp.normalise_secret(secret) == secret
        assert len(base64.b32decode(secret)) == 20


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_a_code_is_accepted_one_step_either_side(offset: int) -> None:
    code = totp.code_at(SECRET, STEP + offset)
    assert totp.matching_step(SECRET, code, NOW, last_step=0) == STEP + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_a_code_two_steps_away_is_refused(offset: int) -> None:
    code = totp.code_at(SECRET, STEP + offset)
    assert totp.matching_step(SECRET, code, NOW, last_step=0) is None


def test_a_code_is_accepted_once_and_never_an_earlier_one() -> None:
    code = totp.code_at(SECRET, STEP)
    assert totp.matching_step(SECRET, code, NOW, last_step=0) == STEP
    # Replay within its own window: refused.
    assert totp.matching_step(SECRET, code, NOW, last_step=STEP) is None
    # A code of the step before, after this one was used: refused too.
    earlier = totp.code_at(SECRET, STEP - 1)
    assert totp.matching_step(SECRET, earlier, NOW, last_step=STEP) is None
    # The next step's code is fine.
    later = totp.code_at(SECRET, STEP + 1)
    assert totp.matching_step(SECRET, later, NOW + 30, last_step=STEP) == STEP + 1


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "12 34 5"])
def test_malformed_codes_match_nothing(typed: str) -> None:
    assert totp.matching_steps(SECRET, typed, NOW) == []


def test_typed_codes_with_spaces_and_dashes_are_accepted() -> None:
    code = totp.code_at(SECRET, STEP)
    assert totp.matching_step(SECRET, f"{code[:3]} {code[3:]}", NOW, 0) == STEP
    assert totp.matching_step(SECRET, f"{code[:3]}-{code[3:]}", NOW, 0) == STEP


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("jbsw y3dp-ehpk 3pxp jbsw y3dp ehpk 3pxp", SECRET),
        ("JBSWY3DPEHPK3PXPJBSWY3DP====", "JBSWY3DPEHPK3PXPJBSWY3DP"),  # 120 bits
        ("JBSWY3DPEHPK3PXP", None),  # 80 bits: too short
        ("JBSWY3DPEHPK3PX1JBSWY3DPEHPK3PXP", None),  # 1 is not base32
        ("", None),
    ],
)
def test_imported_secrets_are_normalised_or_refused(typed: str, expected: str | None) -> None:
    assert totp.normalise_secret(typed) == expected


def test_the_provisioning_uri_names_issuer_and_login() -> None:
    uri = totp.provisioning_uri(SECRET, "alice", "Université Exemple")
    assert uri.startswith("otpauth://totp/Universit%C3%A9%20Exemple:alice?")
    assert f"secret={SECRET}" in uri and "issuer=Universit%C3%A9%20Exemple" in uri


# --- recovery codes -----------------------------------------------------------------------


def test_ten_distinct_codes_without_look_alikes() -> None:
    codes = new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        groups = code.split("-")
        assert [len(g) for g in groups] == [4, 4, 4]
        assert all(ch in ALPHABET for ch in "".join(groups))
    assert not set("01ilo") & set(ALPHABET)


def test_codes_are_normalised_before_hashing() -> None:
    key = b"k" * 32
    code = "k7m2-q9xd-4hpt"
    assert normalise_recovery_code(" K7M2 Q9XD-4hpt ") == "k7m2q9xd4hpt"
    expected = recovery_code_hash(key, code)
    for typed in ("K7M2-Q9XD-4HPT", "k7m2q9xd4hpt", " k7m2 q9xd 4hpt", "k7m2–q9xd—4hpt"):
        assert recovery_code_hash(key, typed) == expected
    assert len(expected) == 64 and code not in expected
    assert recovery_code_hash(b"other-key" * 4, code) != expected


# --- sealing -------------------------------------------------------------------------------


def test_seal_and_open_and_a_second_key_opens_old_data() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = Sealer([old]).seal(b"JBSWY3DP")
    assert b"JBSWY3DP" not in sealed
    rotated = Sealer([new, old])
    assert rotated.open(sealed) == b"JBSWY3DP"
    resealed = rotated.reseal(sealed)
    assert Sealer([new]).open(resealed) == b"JBSWY3DP"  # the old key can now go
    with pytest.raises(SealingError):
        Sealer([new]).open(sealed)


def test_a_wrong_key_or_altered_data_fails_cleanly() -> None:
    sealed = Sealer([Fernet.generate_key().decode()]).seal(b"seed")
    other = Sealer([Fernet.generate_key().decode()])
    with pytest.raises(SealingError):
        other.open(sealed)
    with pytest.raises(SealingError):
        other.reseal(sealed)
    with pytest.raises(SealingError):
        other.open(b"not a token")


@pytest.mark.parametrize("key", ["", "short", "x" * 44, "!" * 43 + "=", "é" * 44])
def test_keys_that_are_not_fernet_keys_are_refused(key: str) -> None:
    assert not check_key(key)
    with pytest.raises(ValueError, match="number 1"):
        Sealer([key])
    with pytest.raises(ValueError):
        Sealer([])


def test_derived_keys_depend_on_key_and_purpose() -> None:
    one, two = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    derived = derive_key(one, RECOVERY_CODES_PURPOSE)
    assert len(derived) == 32 and derived == derive_key(one, RECOVERY_CODES_PURPOSE)
    assert derived != derive_key(two, RECOVERY_CODES_PURPOSE)
    assert derived != derive_key(one, "another purpose")
    assert derived != base64.urlsafe_b64decode(one)


# --- rules ---------------------------------------------------------------------------------


def person(**fields: object) -> Account:
    values: dict[str, object] = {
        "uuid": "u-1",
        "login": "alice",
        "profile": Profile.STUDENT,
        "status": Status.ACTIVE,
    }
    values.update(fields)
    return Account(**values)  # type: ignore[arg-type]


def test_rules_by_role_profile_and_attribute() -> None:
    rules = MfaRules(
        required_roles=frozenset({"admin", "helpdesk"}),
        required_profiles=frozenset({"teacher"}),
        required_attributes={"memberOf": frozenset({"Payroll"})},
    )
    assert not rules.required_for(person())
    assert rules.required_for(person(roles=frozenset({"helpdesk"})))
    assert rules.required_for(person(profile=Profile.TEACHER))
    assert rules.required_for(person(attributes={"memberOf": ("maths", "payroll")}))
    assert not rules.required_for(person(attributes={"memberOf": ("maths",)}))
    # Derived attributes count: every staff member through eduPersonAffiliation.
    staff = MfaRules(required_attributes={"eduPersonAffiliation": frozenset({"staff"})})
    assert staff.required_for(person(profile=Profile.STAFF))
    assert not staff.required_for(person(profile=Profile.STUDENT))
    # Off: nobody.
    off = MfaRules(required_roles=frozenset({"admin"}), enabled=False)
    assert not off.required_for(person(roles=frozenset({"admin"})))


# --- WebAuthn wrapper ---------------------------------------------------------------------

RP, ORIGIN = "cas.univ.example", "https://cas.univ.example"


def test_registration_options_carry_rp_user_verification_and_exclusions() -> None:
    excluded = [b"\x01" * 16, b"\x02" * 32]
    options, challenge = wa.registration_options(
        RP,
        "Université",
        b"u-1",
        "alice",
        "Alice Liddell",
        excluded,
        transports={b"\x01" * 16: ("usb", "bogus")},
    )
    data = json.loads(options)
    assert data["rp"] == {"id": RP, "name": "Université"}
    assert data["user"]["name"] == "alice" and data["user"]["displayName"] == "Alice Liddell"
    assert data["authenticatorSelection"]["userVerification"] == "preferred"
    assert data["attestation"] == "none"
    assert len(challenge) >= 16 and data["challenge"] == wa.bytes_to_base64url(challenge)
    ids = [wa.base64url_to_bytes(c["id"]) for c in data["excludeCredentials"]]
    assert ids == excluded
    assert data["excludeCredentials"][0]["transports"] == ["usb"]


def test_authentication_options_list_the_keys_and_prefer_verification() -> None:
    options, challenge = wa.authentication_options(RP, [b"\x07" * 20])
    data = json.loads(options)
    assert data["rpId"] == RP and data["userVerification"] == "preferred"
    assert [wa.base64url_to_bytes(c["id"]) for c in data["allowCredentials"]] == [b"\x07" * 20]
    assert data["challenge"] == wa.bytes_to_base64url(challenge)


def registered(key: SoftAuthenticator) -> wa.NewCredential:
    _, challenge = wa.registration_options(RP, "U", b"u-1", "alice", "Alice", [])
    return wa.verify_registration(key.register(challenge), challenge, RP, ORIGIN)


def test_a_real_registration_and_assertion_verify() -> None:
    key = SoftAuthenticator(rp_id=RP, origin=ORIGIN)
    new = registered(key)
    assert new.credential_id == key.credential_id and new.sign_count == 0
    assert new.transports == ("usb", "nfc") and new.public_key
    _, challenge = wa.authentication_options(RP, [new.credential_id])
    answer = key.sign(challenge)
    assert wa.credential_id_of(answer) == key.credential_id
    assert wa.verify_authentication(answer, challenge, RP, ORIGIN, new.public_key, 0) == 1
    assert (
        wa.verify_authentication(key.sign(challenge), challenge, RP, ORIGIN, new.public_key, 1) == 2
    )


def test_a_counter_that_goes_backwards_is_refused_as_such() -> None:
    key = SoftAuthenticator(rp_id=RP, origin=ORIGIN)
    new = registered(key)
    _, challenge = wa.authentication_options(RP, [new.credential_id])
    for count in (5, 4):  # equal or lower than the stored 5
        with pytest.raises(CounterRegressed) as refused:
            wa.verify_authentication(
                key.sign(challenge, count=count), challenge, RP, ORIGIN, new.public_key, 5
            )
        assert refused.value.reason == "counter"
    # A counter-less authenticator (0 and 0) is fine.
    assert (
        wa.verify_authentication(
            key.sign(challenge, count=0), challenge, RP, ORIGIN, new.public_key, 0
        )
        == 0
    )


def test_a_forged_signature_never_raises_the_counter_alarm() -> None:
    key, impostor = SoftAuthenticator(rp_id=RP, origin=ORIGIN), SoftAuthenticator()
    new = registered(key)
    impostor.credential_id = key.credential_id
    _, challenge = wa.authentication_options(RP, [new.credential_id])
    with pytest.raises(MfaRefused) as refused:
        wa.verify_authentication(
            impostor.sign(challenge, count=1), challenge, RP, ORIGIN, new.public_key, 9
        )
    assert not isinstance(refused.value, CounterRegressed)


def bad_answers() -> list[str]:
    valid = SoftAuthenticator(rp_id=RP, origin=ORIGIN).register(b"c" * 32)
    return [
        "",
        "not json",
        "[]",
        "{}",
        "x" * (wa.MAX_JSON + 1),
        tampered(valid, rawId="!!!"),
        tampered(valid, rawId=None),
        tampered(valid, id="AAAA"),  # id and rawId disagree
        tampered(valid, response="nope"),
        tampered(valid, response={"clientDataJSON": "e30", "attestationObject": "oA"}),
        tampered(valid, type="password"),
    ]


@pytest.mark.parametrize("answer", bad_answers())
def test_malformed_registration_answers_are_refusals(answer: str) -> None:
    with pytest.raises(MfaRefused) as refused:
        wa.verify_registration(answer, b"c" * 32, RP, ORIGIN)
    assert refused.value.message == wa.NOT_ACCEPTED


@pytest.mark.parametrize(
    ("challenge", "rp_id", "origin"),
    [
        (b"other" * 8, RP, ORIGIN),  # another ceremony's challenge
        (b"c" * 32, "evil.example", ORIGIN),  # another relying party
        (b"c" * 32, RP, "https://evil.example"),  # another origin
    ],
)
def test_mismatched_registrations_are_refusals(challenge: bytes, rp_id: str, origin: str) -> None:
    answer = SoftAuthenticator(rp_id=RP, origin=ORIGIN).register(b"c" * 32)
    with pytest.raises(MfaRefused):
        wa.verify_registration(answer, challenge, rp_id, origin)


def test_mismatched_or_malformed_assertions_are_refusals() -> None:
    key = SoftAuthenticator(rp_id=RP, origin=ORIGIN)
    new = registered(key)
    challenge = b"a" * 32
    good = key.sign(challenge)
    for answer, expected, rp_id, origin in [
        (good, b"b" * 32, RP, ORIGIN),
        (good, challenge, "evil.example", ORIGIN),
        (good, challenge, RP, "https://evil.example"),
        (key.sign(challenge, origin="https://evil.example"), challenge, RP, ORIGIN),
        (tampered(good, response={"clientDataJSON": "e30"}), challenge, RP, ORIGIN),
        ("{", challenge, RP, ORIGIN),
    ]:
        with pytest.raises(MfaRefused):
            wa.verify_authentication(answer, expected, rp_id, origin, new.public_key, 0)
    # A registration answer is no assertion, and a public key that is not one fails cleanly.
    with pytest.raises(MfaRefused):
        wa.verify_authentication(key.register(challenge), challenge, RP, ORIGIN, new.public_key, 0)
    with pytest.raises(MfaRefused):
        wa.verify_authentication(key.sign(challenge), challenge, RP, ORIGIN, b"junk", 0)
