"""The second factor in the protocol core (issue #14): pure rules, fake clock, memory store.

A service that requires a second factor never gets a ticket from a
password-only session, by any grant path; ``step_up`` is the only way a
session gains one; tickets carry the authentication they were issued with.
"""

from __future__ import annotations

import re

import pytest

from cas_server.protocol.cas.assertion import MFA_CONTEXT, SFA_CONTEXT, Assertion
from cas_server.protocol.cas.errors import (
    CasError,
    InvalidTicket,
    SecondFactorRequired,
    ServiceNotAuthorized,
    UnauthorizedService,
)
from cas_server.protocol.cas.login import LoginService
from cas_server.protocol.cas.services import AccessRule, RegisteredService, ServiceRegistry
from cas_server.protocol.cas.tickets import (
    Authentication,
    Principal,
    TicketGrantingTicket,
    TicketLifetimes,
    new_ticket_id,
)
from cas_server.protocol.cas.validation import TicketValidator, ValidationRequest
from cas_server.storage.codec import dump_authentication, load_authentication
from cas_server.storage.memory import MemoryTicketRegistry
from tests.support.fakes import FakeClock, RecordingCallback

APP = "https://app.example.org/"
PAYROLL = "https://payroll.example.org/"
STAFF_PAYROLL = "https://staff-payroll.example.org/"
BACKEND = "https://backend.example.org/"
ALICE = Principal("alice", {"eduPersonAffiliation": ("student",)})


def registry() -> ServiceRegistry:
    return ServiceRegistry(
        [
            RegisteredService(
                id="app",
                name="App",
                url_pattern=re.compile(r"https://app\.example\.org(/.*)?"),
                proxy_callback_pattern=re.compile(r"https://proxy\.example\.org/.*"),
            ),
            RegisteredService(
                id="payroll",
                name="Payroll",
                url_pattern=re.compile(r"https://payroll\.example\.org(/.*)?"),
                proxy_callback_pattern=re.compile(r"https://proxy\.example\.org/.*"),
                mfa_required=True,
            ),
            RegisteredService(
                id="staff-payroll",
                name="Staff payroll",
                url_pattern=re.compile(r"https://staff-payroll\.example\.org(/.*)?"),
                access=AccessRule(affiliations=frozenset({"staff"})),
                mfa_required=True,
            ),
            RegisteredService(
                id="backend",
                name="Backend",
                url_pattern=re.compile(r"https://backend\.example\.org(/.*)?"),
                mfa_required=True,
            ),
        ]
    )


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.store = MemoryTicketRegistry()
        self.services = registry()
        self.lifetimes = TicketLifetimes()
        self.callback = RecordingCallback()
        self.login = LoginService(self.services, self.store, self.clock, self.lifetimes)
        self.validator = TicketValidator(
            self.services, self.store, self.clock, self.lifetimes, self.callback
        )

    def service(self, url: str) -> RegisteredService:
        return self.login.authorize_service(url)

    def validate(self, ticket: str, service: str, **kw: object) -> Assertion:
        return self.validator.validate(ValidationRequest(service=service, ticket=ticket, **kw))  # type: ignore[arg-type]


@pytest.fixture
def world() -> World:
    return World()


# --- the rule ---------------------------------------------------------------------


def test_needs_second_factor_only_for_a_service_that_requires_it(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    assert world.login.needs_second_factor(world.service(PAYROLL), tgt) is True
    assert world.login.needs_second_factor(world.service(APP), tgt) is False
    assert world.login.needs_second_factor(None, tgt) is False
    stepped = world.login.step_up(tgt.id, "totp", world.clock.now())
    assert stepped is not None
    assert world.login.needs_second_factor(world.service(PAYROLL), stepped) is False


def test_error_is_a_cas_error_never_meant_for_a_service() -> None:
    error = SecondFactorRequired(PAYROLL, "payroll")
    assert isinstance(error, CasError)
    assert error.code == "SECOND_FACTOR_REQUIRED"
    assert (error.service, error.service_id) == (PAYROLL, "payroll")


# --- attack: a password-only session asks a ticket for an MFA service ---------------------


def test_no_ticket_after_login_from_a_password_only_session(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    with pytest.raises(SecondFactorRequired):
        world.login.grant_after_login(tgt, PAYROLL, world.service(PAYROLL))
    assert not world.store._sts  # nothing was stored


def test_no_ticket_from_a_password_only_session(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    with pytest.raises(SecondFactorRequired):
        world.login.grant_from_session(tgt.id, PAYROLL, world.service(PAYROLL))
    assert not world.store._sts


def test_access_rule_is_decided_before_the_second_factor(world: World) -> None:
    """No second factor is asked for a service the person may not use at all."""
    tgt = world.login.create_session(ALICE)
    registered = world.service(STAFF_PAYROLL)
    with pytest.raises(ServiceNotAuthorized):
        world.login.grant_after_login(tgt, STAFF_PAYROLL, registered)
    with pytest.raises(ServiceNotAuthorized):
        world.login.grant_from_session(tgt.id, STAFF_PAYROLL, registered)


def test_services_without_the_requirement_are_served_as_before(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    sso = world.login.grant_from_session(tgt.id, APP, world.service(APP))
    assert sso is not None
    assertion = world.validate(sso.id, APP)
    assert assertion.methods == ("password",)
    assert assertion.second_factor is False


# --- step-up ----------------------------------------------------------------------


def test_step_up_then_the_mfa_service_gets_tickets_by_both_paths(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    world.clock.advance(30)
    stepped = world.login.step_up(tgt.id, "totp", world.clock.now())
    assert stepped is not None
    assert stepped.authentication.methods == ("password", "totp")
    assert stepped.authentication.mfa_at == world.clock.now()
    assert stepped.authentication.authenticated_at == tgt.authentication.authenticated_at
    sso = world.login.grant_from_session(tgt.id, PAYROLL, world.service(PAYROLL))
    assert sso is not None
    after_login = world.login.grant_after_login(stepped, PAYROLL, world.service(PAYROLL))
    for ticket in (sso, after_login):
        assertion = world.validate(ticket.id, PAYROLL)
        assert assertion.methods == ("password", "totp")
        assert assertion.second_factor is True
        assert assertion.protocol_attributes()["authnContextClass"] == (MFA_CONTEXT,)


def test_the_next_mfa_service_asks_nothing(world: World) -> None:
    """The session remembers the second factor: the next such service is served from it."""
    tgt = world.login.create_session(ALICE)
    assert world.login.step_up(tgt.id, "webauthn", world.clock.now()) is not None
    world.clock.advance(600)
    ticket = world.login.grant_from_session(tgt.id, PAYROLL, world.service(PAYROLL))
    assert ticket is not None
    assert ticket.authentication.methods == ("password", "webauthn")


def test_step_up_twice_records_each_method_once_and_the_last_time(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    world.login.step_up(tgt.id, "totp", world.clock.now())
    world.clock.advance(60)
    world.login.step_up(tgt.id, "recovery_code", world.clock.now())
    world.clock.advance(60)
    last = world.login.step_up(tgt.id, "totp", world.clock.now())
    assert last is not None
    assert last.authentication.methods == ("password", "totp", "recovery_code")
    assert last.authentication.mfa_at == world.clock.now()


@pytest.mark.parametrize("ending", ["logout", "idle", "unknown", "not-a-tgt"])
def test_step_up_on_a_dead_session_gives_none(world: World, ending: str) -> None:
    tgt = world.login.create_session(ALICE, idle_timeout=100)
    tgt_id = tgt.id
    if ending == "logout":
        world.login.end_session(tgt_id)
    elif ending == "idle":
        world.clock.advance(101)
    elif ending == "unknown":
        tgt_id = new_ticket_id("TGT")
    else:
        tgt_id = new_ticket_id("ST")
    assert world.login.step_up(tgt_id, "totp", world.clock.now()) is None
    # Nothing was brought back to life.
    assert world.login.current_session(tgt_id) is None


@pytest.mark.parametrize("method", ["password", "", "TOTP", "carrier-pigeon"])
def test_step_up_refuses_what_is_not_a_second_factor(world: World, method: str) -> None:
    """ "Stepping up" with the password again would forge a second factor."""
    tgt = world.login.create_session(ALICE)
    with pytest.raises(ValueError):
        world.login.step_up(tgt.id, method, world.clock.now())
    again = world.login.current_session(tgt.id)
    assert again is not None and again.authentication.second_factor is False


def test_tickets_issued_before_the_step_up_keep_their_copy(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    before = world.login.grant_from_session(tgt.id, APP, world.service(APP))
    assert before is not None
    world.login.step_up(tgt.id, "totp", world.clock.now())
    assertion = world.validate(before.id, APP)
    assert assertion.methods == ("password",) and assertion.second_factor is False


def test_sign_in_with_both_factors_at_once(world: World) -> None:
    tgt = world.login.create_session(ALICE, second_factor="totp")
    assert tgt.authentication.methods == ("password", "totp")
    ticket = world.login.grant_after_login(tgt, PAYROLL, world.service(PAYROLL))
    assert world.validate(ticket.id, PAYROLL, renew=True).second_factor is True


# --- renew ------------------------------------------------------------------------


def test_renew_a_new_password_only_session_is_refused_again(world: World) -> None:
    """renew=true makes a new session from the password: the second factor is asked again."""
    old = world.login.create_session(ALICE)
    world.login.step_up(old.id, "totp", world.clock.now())
    renewed = world.login.create_session(ALICE)
    with pytest.raises(SecondFactorRequired):
        world.login.grant_after_login(renewed, PAYROLL, world.service(PAYROLL))
    stepped = world.login.step_up(renewed.id, "totp", world.clock.now())
    assert stepped is not None
    ticket = world.login.grant_after_login(stepped, PAYROLL, world.service(PAYROLL))
    assertion = world.validate(ticket.id, PAYROLL, renew=True)
    assert assertion.from_new_login is True and assertion.second_factor is True


def test_renew_still_refuses_a_single_sign_on_ticket(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    world.login.step_up(tgt.id, "totp", world.clock.now())
    ticket = world.login.grant_from_session(tgt.id, PAYROLL, world.service(PAYROLL))
    assert ticket is not None
    with pytest.raises(InvalidTicket):
        world.validate(ticket.id, PAYROLL, renew=True)


# --- defence in depth at validation and /proxy ----------------------------------------


def test_a_password_only_ticket_for_an_mfa_service_does_not_validate(world: World) -> None:
    """A ticket issued before the service's definition changed to ``mfa = "required"``."""
    tgt = world.login.create_session(ALICE)
    registered = world.service(PAYROLL)
    ticket = world.login._service_ticket(
        tgt.id, tgt.authentication, PAYROLL, registered, from_new_login=True, now=world.clock.now()
    )
    world.store.add_service_ticket(ticket)
    with pytest.raises(InvalidTicket, match="second factor"):
        world.validate(ticket.id, PAYROLL)


def test_no_proxy_ticket_for_an_mfa_service_from_a_password_only_chain(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    ticket = world.login.grant_from_session(tgt.id, APP, world.service(APP))
    assert ticket is not None
    world.validate(ticket.id, APP, pgt_url="https://proxy.example.org/cb")
    pgt_id = world.callback.calls[-1][2]
    with pytest.raises(UnauthorizedService, match="second factor"):
        world.validator.proxy(pgt_id, BACKEND)
    assert world.validator.proxy(pgt_id, APP).startswith("PT-")


def test_a_proxy_ticket_for_an_mfa_service_after_a_step_up(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    world.login.step_up(tgt.id, "totp", world.clock.now())
    ticket = world.login.grant_from_session(tgt.id, PAYROLL, world.service(PAYROLL))
    assert ticket is not None
    world.validate(ticket.id, PAYROLL, pgt_url="https://proxy.example.org/cb")
    proxy_ticket = world.validator.proxy(world.callback.calls[-1][2], BACKEND)
    assertion = world.validate(proxy_ticket, BACKEND, allow_proxy_tickets=True)
    assert assertion.second_factor is True


# --- the store writes it; old records still load -------------------------------------


def test_step_up_refuses_to_change_whose_session_it_is(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    mallory = Authentication(Principal("mallory"), 0.0, methods=("password", "totp"), mfa_at=1.0)
    assert world.store.replace_authentication(tgt.id, mallory, world.clock.now()) is None
    kept = world.login.current_session(tgt.id)
    assert kept is not None and kept.authentication == tgt.authentication


def test_authentication_defaults_are_a_password_only_sign_in() -> None:
    auth = Authentication(ALICE, 1.0)
    assert auth.methods == ("password",)
    assert auth.mfa_at is None and auth.second_factor is False


@pytest.mark.parametrize(
    "auth",
    [
        Authentication(ALICE, 1_800_000_000.5),
        Authentication(ALICE, 1_800_000_000.5, True, ("password", "totp"), 1_800_000_060.25),
        Authentication(ALICE, 1.0, methods=("password", "trusted_device"), mfa_at=2.0),
    ],
)
def test_codec_round_trip(auth: Authentication) -> None:
    assert load_authentication(dump_authentication(auth)) == auth


def test_codec_writes_nothing_new_for_a_password_only_sign_in() -> None:
    """Most sessions: the record is byte for byte what it was before the second factor."""
    text = dump_authentication(Authentication(ALICE, 5.0))
    assert text == '{"u":"alice","a":{"eduPersonAffiliation":["student"]},"t":5.0,"l":false}'
    stepped = dump_authentication(Authentication(ALICE, 5.0).with_second_factor("sms", 9.0))
    assert stepped.endswith(',"m":["password","sms"],"f":9.0}')


def test_codec_reads_records_written_before_the_second_factor() -> None:
    old = '{"u":"bob","a":{"mail":["b@x.org"]},"t":1700000000.0,"l":true}'
    auth = load_authentication(old)
    assert auth.principal.id == "bob" and auth.long_term is True
    assert auth.methods == ("password",)
    assert auth.mfa_at is None and auth.second_factor is False


def test_a_stored_session_keeps_its_second_factor(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    world.login.step_up(tgt.id, "email", 1234.0)
    got = world.store.get_ticket_granting_ticket(tgt.id, world.clock.now())
    assert isinstance(got, TicketGrantingTicket)
    assert (got.authentication.methods, got.authentication.mfa_at) == (
        ("password", "email"),
        1234.0,
    )


def test_protocol_attributes_for_password_only_and_mfa() -> None:
    sfa = Assertion(user="alice", service=APP, authenticated_at=0.0)
    attrs = sfa.protocol_attributes()
    assert attrs["authenticationMethod"] == ("password",)
    assert attrs["successfulAuthenticationHandlers"] == ("PasswordAuthenticationHandler",)
    assert attrs["authnContextClass"] == (SFA_CONTEXT,)
    everything = (
        "password",
        "totp",
        "webauthn",
        "email",
        "sms",
        "recovery_code",
        "trusted_device",
    )
    mfa = Assertion(
        user="alice", service=APP, authenticated_at=0.0, methods=everything, second_factor=True
    )
    attrs = mfa.protocol_attributes()
    assert attrs["authenticationMethod"] == everything
    assert attrs["successfulAuthenticationHandlers"] == (
        "PasswordAuthenticationHandler",
        "TotpAuthenticationHandler",
        "WebAuthnAuthenticationHandler",
        "EmailCodeAuthenticationHandler",
        "SmsCodeAuthenticationHandler",
        "RecoveryCodeAuthenticationHandler",
        "TrustedDeviceAuthenticationHandler",
    )
    assert attrs["authnContextClass"] == ("https://refeds.org/profile/mfa",)


def test_a_released_attribute_cannot_forge_the_protocol_attributes() -> None:
    """A directory attribute named ``authnContextClass`` never overrides the real one."""
    forged = Assertion(
        user="alice",
        service=APP,
        authenticated_at=0.0,
        attributes={"authnContextClass": (MFA_CONTEXT,), "authenticationMethod": ("totp",)},
    )
    merged = forged.all_attributes()
    assert merged["authnContextClass"] == (SFA_CONTEXT,)
    assert merged["authenticationMethod"] == ("password",)
