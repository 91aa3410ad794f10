"""LDAP as a user source, against a real slapd: bind, ppolicy states, shadow accounts."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
from flask import Flask
from ldap3 import Connection, Server

from cas_server import create_app
from cas_server.accounts.model import Profile, Source, Status
from cas_server.accounts.passwords import PasswordChange, PasswordRejected
from cas_server.auth import Failure, Rejected, Success, Unavailable
from cas_server.auth.ldap.passwords import unicode_pwd
from cas_server.auth.ldap.source import decode_ppolicy
from tests.auth.ldap.conftest import PEOPLE, ldap_settings
from tests.support.app import make_account, test_overrides
from tests.support.ports import free_port
from tests.support.servers import LdapServer


def source(app: Flask) -> object:
    return app.extensions["cas"].user_source


def authenticate(app: Flask, login: str, password: str) -> object:
    return app.extensions["cas"].user_source.authenticate(login, password)


def binds(ldap_server: LdapServer, uid: str, password: str) -> bool:
    conn = Connection(Server(ldap_server.url), f"uid={uid},{PEOPLE}", password)
    try:
        return bool(conn.bind())
    finally:
        conn.unbind()


def test_a_directory_person_signs_in_and_gets_a_shadow_account(app: Flask) -> None:
    result = authenticate(app, "alice", "alicepass")
    assert isinstance(result, Success) and not result.must_change_password
    account = result.account
    assert account.login == "alice"
    assert (account.source, account.profile) == (Source.LDAP, Profile.STUDENT)
    assert (account.given_name, account.family_name, account.student_number) == (
        "Alice",
        "Example",
        "20240001",
    )
    assert account.attributes["supannEtuId"] == ("20240001",)
    assert account.principal_attributes()["mail"] == ("alice@example.org",)
    assert app.extensions["cas"].accounts.find_by_login("alice").uuid == account.uuid
    # Signing in again refreshes the same shadow account.
    again = authenticate(app, "ALICE", "alicepass")
    assert isinstance(again, Success) and again.account.uuid == account.uuid


def test_the_alias_attribute_signs_in_as_the_login(app: Flask) -> None:
    result = authenticate(app, "alice@example.org", "alicepass")
    assert isinstance(result, Success) and result.account.login == "alice"


def test_profiles_and_accented_names_come_from_the_directory(app: Flask) -> None:
    bob = authenticate(app, "bob", "bobpass")
    henri = authenticate(app, "henri", "henripass")
    assert isinstance(bob, Success) and bob.account.profile is Profile.TEACHER
    assert isinstance(henri, Success) and henri.account.family_name == "Lefèvre"


@pytest.mark.parametrize(
    ("login", "password"),
    [
        ("alice", "wrong"),
        ("nobody", "alicepass"),
        ("*", "alicepass"),
        ("alice)(uid=*", "alicepass"),
        ("al*", "alicepass"),
        ("alice", ""),  # never an anonymous bind
        ("", "alicepass"),
    ],
)
def test_wrong_unknown_and_injected_logins_are_refused_alike(
    app: Flask, login: str, password: str
) -> None:
    result = authenticate(app, login, password)
    assert result == Rejected(Failure.INVALID_CREDENTIALS)


def test_an_unknown_login_costs_the_same_as_a_wrong_password(app: Flask) -> None:
    ldap = next(s.source for s in source(app).source.sources if s.name == "ldap")  # type: ignore[attr-defined]

    def timed(login: str) -> float:
        started = time.perf_counter()
        assert isinstance(ldap.authenticate(login, "wrong-password"), Rejected)
        return time.perf_counter() - started

    timed("ivan")  # warm the pools
    timed("nobody-at-all")
    # Pairs measured side by side, so that the machine's load weighs on both alike.
    pairs = [(timed("ivan"), timed("nobody-at-all")) for _ in range(60)]
    known = statistics.median(k for k, _ in pairs)
    unknown = statistics.median(u for _, u in pairs)
    ratio = statistics.median(u / k for k, u in pairs)
    print(f"\nLDAP: wrong password {known * 1000:.2f} ms, unknown login {unknown * 1000:.2f} ms")
    # Skipping the bind for an unknown login would make it about half as long.
    assert 0.7 < ratio < 1.43, (known, unknown, ratio)


def test_password_policy_states(app: Flask) -> None:
    # OpenLDAP reports a locked account whatever the password.
    assert authenticate(app, "erin", "erinpass") == Rejected(Failure.LOCKED)
    expired = authenticate(app, "dave", "davepass")
    assert isinstance(expired, Rejected) and expired.reason is Failure.EXPIRED
    assert expired.account is not None and expired.account.login == "dave"
    # A wrong password says nothing about the expiry.
    assert authenticate(app, "dave", "wrong") == Rejected(Failure.INVALID_CREDENTIALS)
    reset = authenticate(app, "frank", "frankpass")
    assert isinstance(reset, Success) and reset.must_change_password
    grace = authenticate(app, "gina", "ginapass")
    assert isinstance(grace, Success) and grace.must_change_password


def test_states_set_in_the_console_apply_to_directory_accounts(app: Flask) -> None:
    result = authenticate(app, "carol", "carolpass")
    assert isinstance(result, Success)
    app.extensions["cas"].accounts.set_status(result.account.uuid, Status.DISABLED)
    disabled = authenticate(app, "carol", "carolpass")
    assert isinstance(disabled, Rejected) and disabled.reason is Failure.DISABLED
    assert authenticate(app, "carol", "wrong") == Rejected(Failure.INVALID_CREDENTIALS)


def test_local_accounts_come_first_and_keep_their_login(app: Flask) -> None:
    make_account(app, "bob", password="a local passphrase for bob")
    local = authenticate(app, "bob", "a local passphrase for bob")
    assert isinstance(local, Success) and local.account.source is Source.LOCAL
    # The directory's bob may not take over the local account's login.
    assert authenticate(app, "bob", "bobpass") == Rejected(Failure.INVALID_CREDENTIALS)


def test_passwords_of_directory_accounts_go_to_the_directory(
    app: Flask, ldap_server: LdapServer
) -> None:
    c = app.extensions["cas"]
    result = authenticate(app, "henri", "henripass")
    assert isinstance(result, Success)
    c.passwords.set_password(
        result.account, "a brand new passphrase for him", change=PasswordChange("profile")
    )
    assert binds(ldap_server, "henri", "a brand new passphrase for him")
    assert not binds(ldap_server, "henri", "henripass")
    # The history is ours (nist: the last 5), checked before the directory is asked.
    with pytest.raises(PasswordRejected) as refused:
        c.passwords.set_password(
            result.account, "a brand new passphrase for him", change=PasswordChange("profile")
        )
    assert [v.rule for v in refused.value.violations] == ["history"]
    # The hash kept with the history never signs in on its own: the local
    # source skips directory accounts, the directory decides.
    assert c.accounts.find_by_login("henri").password_hash
    local = c.user_source.source.sources[0].source
    assert local.authenticate("henri", "a brand new passphrase for him") == Rejected(
        Failure.INVALID_CREDENTIALS
    )
    assert isinstance(authenticate(app, "henri", "a brand new passphrase for him"), Success)


def test_a_forced_change_is_mirrored_in_the_directory(app: Flask) -> None:
    c = app.extensions["cas"]
    bob = authenticate(app, "bob", "bobpass")
    assert isinstance(bob, Success)
    # An admin reset with "must change": pwdReset is set in the directory…
    c.passwords.set_password(
        bob.account,
        "a passphrase the admin chose",
        change=PasswordChange("admin", by_operator=True),
        must_change=True,
    )
    forced = authenticate(app, "bob", "a passphrase the admin chose")
    assert isinstance(forced, Success) and forced.must_change_password
    # …and cleared by the user's own change.
    c.passwords.set_password(
        forced.account, "his own secret passphrase now", change=PasswordChange("login")
    )
    done = authenticate(app, "bob", "his own secret passphrase now")
    assert isinstance(done, Success) and not done.must_change_password


def test_ppolicy_response_decoding() -> None:
    assert decode_ppolicy(b"0\x00").error is None
    assert decode_ppolicy(b"0\x03\x81\x01\x01").error == 1
    assert decode_ppolicy(b"0\x05\xa0\x03\x81\x01\x02").grace_logins_remaining == 2
    assert decode_ppolicy(b"0\x06\xa0\x04\x80\x02\x0e\x10").time_before_expiration == 3600
    assert decode_ppolicy(b"0\x05\xa0\x03") == decode_ppolicy(None)  # truncated: nothing
    assert unicode_pwd("Ab1") == b'"\x00A\x00b\x001\x00"\x00'


@pytest.mark.parametrize("sources", [["local", "ldap"], ["ldap", "local"], ["ldap"]])
def test_an_unreachable_directory_is_unavailable_never_a_wrong_password(
    db_path: Path, caplog: pytest.LogCaptureFixture, sources: list[str]
) -> None:
    dead = f"ldap://127.0.0.1:{free_port()}"
    app = create_app(
        overrides=test_overrides(db_path, auth={"sources": sources}, ldap=ldap_settings(dead)),
        environ={},
    )
    if "local" in sources:
        make_account(app, "zoe", password="zoe's local passphrase")
        # A local account still signs in while the directory is down.
        assert isinstance(authenticate(app, "zoe", "zoe's local passphrase"), Success)
    started = time.perf_counter()
    result = authenticate(app, "alice", "alicepass")
    assert isinstance(result, Unavailable) and result.source == "ldap"
    assert isinstance(authenticate(app, "zoe", "wrong password"), Unavailable)
    elapsed = time.perf_counter() - started
    print(f"\nLDAP down ({sources}): two answers in {elapsed * 1000:.0f} ms")
    assert elapsed < 5
    assert "LDAP directory unavailable" in caplog.text
    app.extensions["cas"].engine.dispose()


def test_failover_to_the_next_directory_server(db_path: Path, ldap_server: LdapServer) -> None:
    dead = f"ldap://127.0.0.1:{free_port()}"
    settings = ldap_settings(dead, ldap_server.url)
    app = create_app(
        overrides=test_overrides(db_path, auth={"sources": ["ldap"]}, ldap=settings), environ={}
    )
    started = time.perf_counter()
    assert isinstance(authenticate(app, "carol", "carolpass"), Success)
    first = time.perf_counter() - started
    started = time.perf_counter()
    assert isinstance(authenticate(app, "carol", "carolpass"), Success)  # the dead one is skipped
    then = time.perf_counter() - started
    print(f"\nLDAP failover: first sign-in {first * 1000:.0f} ms, next {then * 1000:.0f} ms")
    assert first < 3
    app.extensions["cas"].engine.dispose()
