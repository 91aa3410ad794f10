"""Surrogate (impersonation) sessions in the protocol core (#15), with a fake clock.

Abuse cases first: an opted-out service gets no ticket (nor through a proxy,
nor a ticket issued before it opted out), the fast path's call gets none
silently; then what every service learns: Apereo's three attributes, whatever
its release policy, in CAS 3 XML and JSON and in SAML 1.1.
"""

from __future__ import annotations

import json
import re

import pytest

from cas_server.protocol.cas import responses
from cas_server.protocol.cas.errors import (
    SURROGATE_REFUSED,
    InvalidTicket,
    ServiceNotAuthorized,
    SurrogateSession,
    UnauthorizedService,
)
from cas_server.protocol.cas.login import LoginService
from cas_server.protocol.cas.saml import saml_success
from cas_server.protocol.cas.services import RegisteredService, ServiceRegistry
from cas_server.protocol.cas.tickets import Principal, SessionClient, TicketLifetimes
from cas_server.protocol.cas.validation import TicketValidator, ValidationRequest
from cas_server.settings.services import ServiceDefinitionError, parse_service
from cas_server.storage.memory import MemoryTicketRegistry
from tests.support.fakes import FakeClock, RecordingCallback

APP = "https://app.example.org/"
BANK = "https://bank.example.org/"
CAMILLE = Principal("camille", {"mail": ("camille@example.org",)})


def services(bank_surrogate: bool = False) -> ServiceRegistry:
    return ServiceRegistry(
        [
            RegisteredService(
                id="app",
                name="App",
                url_pattern=re.compile(r"https://app\.example\.org(/.*)?"),
                release_attributes=(("mail", "mail"),),
                proxy_callback_pattern=re.compile(r"https://proxy\.example\.org/.*"),
            ),
            RegisteredService(
                id="bank",
                name="Grants office",
                url_pattern=re.compile(r"https://bank\.example\.org(/.*)?"),
                surrogate=bank_surrogate,
            ),
        ]
    )


class World:
    def __init__(self, registry: ServiceRegistry | None = None) -> None:
        self.clock = FakeClock()
        self.store = MemoryTicketRegistry()
        self.callback = RecordingCallback()
        self.use(registry or services())

    def use(self, registry: ServiceRegistry) -> None:
        lifetimes = TicketLifetimes()
        self.services = registry
        self.login = LoginService(registry, self.store, self.clock, lifetimes)
        self.validator = TicketValidator(registry, self.store, self.clock, lifetimes, self.callback)

    def surrogate_session(self, minutes: float = 30) -> str:
        tgt = self.login.create_session(
            CAMILLE,
            idle_timeout=minutes * 60,
            hard_timeout=minutes * 60,
            surrogate="desk.op",
            client=SessionClient(ip="192.0.2.7"),
        )
        return tgt.id

    def grant(self, tgt_id: str, service: str = APP, **kw: bool) -> str:
        registered = self.login.authorize_service(service)
        ticket = self.login.grant_from_session(tgt_id, service, registered, **kw)
        assert ticket is not None
        return ticket.id


@pytest.fixture
def world() -> World:
    return World()


# Abuse cases ---------------------------------------------------------------------------


def test_an_opted_out_service_gets_no_ticket_from_a_surrogate_session(world: World) -> None:
    tgt = world.surrogate_session()
    with pytest.raises(ServiceNotAuthorized) as refused:
        world.grant(tgt, BANK)
    assert refused.value.reason == SURROGATE_REFUSED
    # Same at the end of a sign-in (grant_after_login), and nothing stored.
    session = world.login.current_session(tgt)
    assert session is not None
    with pytest.raises(ServiceNotAuthorized):
        world.login.grant_after_login(session, BANK, world.login.authorize_service(BANK))
    assert world.store.sessions_for("camille", world.clock.now())[0].id == tgt


def test_the_persons_own_session_still_reaches_the_opted_out_service(world: World) -> None:
    own = world.login.create_session(CAMILLE)
    ticket = world.grant(own.id, BANK)
    assertion = world.validator.validate(ValidationRequest(service=BANK, ticket=ticket))
    assert assertion.surrogate is None
    assert "surrogateUser" not in assertion.all_attributes()


def test_a_ticket_issued_before_the_service_opted_out_fails_validation() -> None:
    world = World(services(bank_surrogate=True))
    ticket = world.grant(world.surrogate_session(), BANK)
    world.use(services(bank_surrogate=False))  # the registry is reloaded meanwhile
    with pytest.raises(InvalidTicket, match="on behalf of someone"):
        world.validator.validate(ValidationRequest(service=BANK, ticket=ticket))


def test_no_proxy_ticket_for_an_opted_out_service(world: World) -> None:
    ticket = world.grant(world.surrogate_session(), APP)
    assertion = world.validator.validate(
        ValidationRequest(service=APP, ticket=ticket, pgt_url="https://proxy.example.org/cb")
    )
    pgt = world.callback.calls[0][2]
    assert assertion.surrogate == "desk.op"
    with pytest.raises(UnauthorizedService, match="on behalf of someone"):
        world.validator.proxy(pgt, BANK)


def test_the_fast_paths_grant_refuses_surrogate_sessions_and_stores_nothing(world: World) -> None:
    tgt = world.surrogate_session()
    registered = world.login.authorize_service(APP)
    with pytest.raises(SurrogateSession):
        world.login.grant_from_session(tgt, APP, registered, allow_surrogate=False)
    # A person's own session is not affected.
    own = world.login.create_session(CAMILLE)
    assert world.login.grant_from_session(own.id, APP, registered, allow_surrogate=False)


def test_the_session_is_short_however_long_the_defaults(world: World) -> None:
    tgt = world.login.current_session(world.surrogate_session(minutes=30))
    assert tgt is not None
    assert tgt.expires_at - tgt.created_at == 1800
    assert tgt.idle_timeout == 1800
    assert tgt.authentication.surrogate == "desk.op"
    world.clock.advance(1801)
    assert world.login.current_session(tgt.id) is None


# What services learn --------------------------------------------------------------------


def test_every_validation_format_carries_the_surrogate_attributes(world: World) -> None:
    ticket = world.grant(world.surrogate_session())
    assertion = world.validator.validate(ValidationRequest(service=APP, ticket=ticket))
    assert assertion.user == "camille"
    attributes = assertion.all_attributes()
    assert attributes["surrogateEnabled"] == ("true",)
    assert attributes["surrogateUser"] == ("camille",)
    assert attributes["surrogatePrincipal"] == ("desk.op",)
    assert attributes["mail"] == ("camille@example.org",)  # the release policy as usual

    xml = responses.service_response_success(assertion, with_attributes=True)
    assert "<cas:surrogateEnabled>true</cas:surrogateEnabled>" in xml
    assert "<cas:surrogateUser>camille</cas:surrogateUser>" in xml
    assert "<cas:surrogatePrincipal>desk.op</cas:surrogatePrincipal>" in xml
    body = json.loads(
        responses.service_response_success(assertion, with_attributes=True, fmt="JSON")
    )
    shown = body["serviceResponse"]["authenticationSuccess"]["attributes"]
    assert shown["surrogatePrincipal"] == "desk.op" and shown["surrogateEnabled"] == "true"
    saml = saml_success(assertion, request_id="_1", now=world.clock.now(), issuer="cas")
    assert 'AttributeName="surrogatePrincipal"' in saml and "desk.op" in saml


def test_a_service_releasing_nothing_still_learns_of_the_surrogate() -> None:
    bare = ServiceRegistry(
        [
            RegisteredService(
                id="bare", name="Bare", url_pattern=re.compile(r"https://app\.example\.org/.*")
            )
        ]
    )
    world = World(bare)
    ticket = world.grant(world.surrogate_session())
    assertion = world.validator.validate(ValidationRequest(service=APP, ticket=ticket))
    assert dict(assertion.attributes) == {}
    assert assertion.all_attributes()["surrogateUser"] == ("camille",)


# The registry key ---------------------------------------------------------------------------


def test_the_registry_key_surrogate() -> None:
    base = {"id": "bank", "name": "Bank", "url_prefix": BANK}
    assert parse_service(dict(base), "test").surrogate is True
    assert parse_service({**base, "surrogate": False}, "test").surrogate is False
    with pytest.raises(ServiceDefinitionError, match="surrogate"):
        parse_service({**base, "surrogate": "no"}, "test")
