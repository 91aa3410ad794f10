"""The protocol core with a fake clock and the in-memory store: pure rules."""

from __future__ import annotations

import re

import pytest

from cas_server.protocol.cas.errors import (
    InvalidProxyCallback,
    InvalidRequest,
    InvalidService,
    InvalidTicket,
    InvalidTicketSpec,
    ServiceNotAuthorized,
    UnauthorizedService,
    UnauthorizedServiceProxy,
)
from cas_server.protocol.cas.login import LoginService
from cas_server.protocol.cas.services import AccessRule, RegisteredService, ServiceRegistry
from cas_server.protocol.cas.tickets import (
    Principal,
    TicketLifetimes,
    new_ticket_id,
    ticket_prefix,
)
from cas_server.protocol.cas.urls import flag, with_parameter
from cas_server.protocol.cas.validation import TicketValidator, ValidationRequest
from cas_server.storage.memory import MemoryTicketRegistry
from tests.support.fakes import FakeClock, RecordingCallback

APP = "https://app.example.org/"
ALICE = Principal(
    "alice",
    {
        "mail": ("alice@example.org",),
        "eduPersonAffiliation": ("student", "member"),
        "displayName": ("Alice Liddell",),
    },
)


def registry() -> ServiceRegistry:
    return ServiceRegistry(
        [
            RegisteredService(
                id="app",
                name="App",
                url_pattern=re.compile(r"https://app\.example\.org(/.*)?"),
                evaluation_order=10,
                release_attributes=(("mail", "mail"), ("displayName", "cn")),
                proxy_callback_pattern=re.compile(r"https://proxy\.example\.org/.*"),
                logout_url="https://app.example.org/slo",
            ),
            RegisteredService(
                id="backend",
                name="Backend",
                url_pattern=re.compile(r"https://backend\.example\.org(/.*)?"),
                evaluation_order=20,
                proxy_callback_pattern=re.compile(r"https://backend\.example\.org/cb"),
            ),
            RegisteredService(
                id="staff",
                name="Staff",
                url_pattern=re.compile(r"https://staff\.example\.org(/.*)?"),
                evaluation_order=30,
                access=AccessRule(affiliations=frozenset({"staff"})),
            ),
            RegisteredService(
                id="off",
                name="Off",
                url_pattern=re.compile(r"https://app\.example\.org/off(/.*)?"),
                evaluation_order=1,
                enabled=False,
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

    def ticket(self, service: str = APP, principal: Principal = ALICE) -> str:
        tgt = self.login.create_session(principal)
        registered = self.login.authorize_service(service)
        return self.login.grant_after_login(tgt, service, registered).id

    def validate(self, ticket: str, service: str = APP, **kw: object) -> object:
        return self.validator.validate(ValidationRequest(service=service, ticket=ticket, **kw))  # type: ignore[arg-type]


@pytest.fixture
def world() -> World:
    return World()


def test_ticket_ids_are_random_well_formed_and_short() -> None:
    ids = {new_ticket_id("ST") for _ in range(2000)}
    assert len(ids) == 2000
    for ticket in list(ids)[:50]:
        assert re.fullmatch(r"ST-[A-Za-z0-9]{22}", ticket)
        assert len(ticket) <= 32  # 3.1.1: every client accepts 32 characters
    assert ticket_prefix("PGTIOU-" + "a" * 22) == "PGTIOU"
    assert ticket_prefix("ST-" + "a" * 21) is None
    assert ticket_prefix("XX-" + "a" * 22) is None
    assert ticket_prefix("ST-" + "a" * 5000) is None
    with pytest.raises(ValueError):
        new_ticket_id("LT")


def test_service_ticket_validates_once_with_released_attributes(world: World) -> None:
    ticket = world.ticket()
    assertion = world.validate(ticket)
    assert assertion.user == "alice"  # type: ignore[attr-defined]
    assert dict(assertion.attributes) == {  # type: ignore[attr-defined]
        "mail": ("alice@example.org",),
        "cn": ("Alice Liddell",),
    }
    assert assertion.from_new_login is True  # type: ignore[attr-defined]
    with pytest.raises(InvalidTicket):
        world.validate(ticket)


def test_expired_ticket_fails(world: World) -> None:
    ticket = world.ticket()
    world.clock.advance(10.5)
    with pytest.raises(InvalidTicket, match="expired"):
        world.validate(ticket)


def test_service_mismatch_kills_the_ticket(world: World) -> None:
    ticket = world.ticket(APP + "a")
    with pytest.raises(InvalidService):
        world.validate(ticket, APP + "b")
    with pytest.raises(InvalidTicket):
        world.validate(ticket, APP + "a")


def test_service_comparison_tolerates_harmless_reencoding(world: World) -> None:
    ticket = world.ticket("https://app.example.org/x?a=1")
    assert world.validate(ticket, "HTTPS://App.Example.org:443/x?a=1#frag")


def test_missing_parameters_are_invalid_request(world: World) -> None:
    with pytest.raises(InvalidRequest):
        world.validator.validate(ValidationRequest(service=None, ticket="ST-x"))
    with pytest.raises(InvalidRequest):
        world.validator.validate(ValidationRequest(service=APP, ticket=""))


def test_malformed_ticket_is_invalid_ticket_without_store_access(world: World) -> None:
    for bad in ("garbage", "TGT-" + "a" * 22, "ST-<script>", "ST-" + "a" * 300):
        with pytest.raises(InvalidTicket):
            world.validate(bad)


def test_renew_requires_a_ticket_from_primary_credentials(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    registered = world.login.authorize_service(APP)
    sso = world.login.grant_from_session(tgt.id, APP, registered)
    assert sso is not None and sso.from_new_login is False
    with pytest.raises(InvalidTicket, match="renew"):
        world.validate(sso.id, renew=True)
    fresh = world.login.grant_after_login(tgt, APP, registered)
    assert world.validate(fresh.id, renew=True)


def test_sso_session_idle_and_hard_timeouts(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    registered = world.login.authorize_service(APP)
    # Used every hour, it outlives the idle timeout (2 h) until the hard one (8 h).
    for _ in range(7):
        world.clock.advance(3600)
        assert world.login.grant_from_session(tgt.id, APP, registered) is not None
    world.clock.advance(3600)
    assert world.login.grant_from_session(tgt.id, APP, registered) is None
    other = world.login.create_session(ALICE)
    world.clock.advance(7201)
    assert world.login.current_session(other.id) is None


def test_access_rule_applies_at_login_and_sso(world: World) -> None:
    registered = world.login.authorize_service("https://staff.example.org/")
    tgt = world.login.create_session(ALICE)
    with pytest.raises(ServiceNotAuthorized) as err:
        world.login.grant_after_login(tgt, "https://staff.example.org/", registered)
    assert err.value.reason == "access_denied"
    with pytest.raises(ServiceNotAuthorized):
        world.login.grant_from_session(tgt.id, "https://staff.example.org/", registered)


def test_unregistered_and_disabled_services_are_refused(world: World) -> None:
    with pytest.raises(ServiceNotAuthorized) as err:
        world.login.authorize_service("https://evil.example.org/")
    assert err.value.reason == "unregistered"
    # A disabled service earlier in the order blocks the URL, even though "app" would match.
    with pytest.raises(ServiceNotAuthorized) as err:
        world.login.authorize_service("https://app.example.org/off/x")
    assert err.value.reason == "disabled"
    # Full match: a prefix of a registered URL inside another URL is not enough.
    with pytest.raises(ServiceNotAuthorized):
        world.login.authorize_service("https://evil.org/?next=https://app.example.org/")


def test_proxy_chain_most_recent_first(world: World) -> None:
    ticket = world.ticket()
    assertion = world.validate(ticket, pgt_url="https://proxy.example.org/cb")
    ((_url, iou, pgt),) = world.callback.calls
    assert assertion.pgt_iou == iou and iou.startswith("PGTIOU-")  # type: ignore[attr-defined]
    pt = world.validator.proxy(pgt, "https://backend.example.org/api")
    with pytest.raises(InvalidTicketSpec):
        world.validate(pt, "https://backend.example.org/api")
    pt = world.validator.proxy(pgt, "https://backend.example.org/api")
    second = world.validate(
        pt,
        "https://backend.example.org/api",
        allow_proxy_tickets=True,
        pgt_url="https://backend.example.org/cb",
    )
    assert second.proxies == ("https://proxy.example.org/cb",)  # type: ignore[attr-defined]
    pgt2 = world.callback.calls[-1][2]
    pt2 = world.validator.proxy(pgt2, APP)
    third = world.validate(pt2, APP, allow_proxy_tickets=True)
    assert third.proxies == (  # type: ignore[attr-defined]
        "https://backend.example.org/cb",
        "https://proxy.example.org/cb",
    )


def test_proxy_callback_rules(world: World) -> None:
    with pytest.raises(InvalidProxyCallback):
        world.validate(world.ticket(), pgt_url="http://proxy.example.org/cb")
    with pytest.raises(InvalidProxyCallback):
        world.validate(world.ticket(), pgt_url="https://proxy.example.org.evil.net/cb")
    world.callback.answer = False
    with pytest.raises(InvalidProxyCallback):
        world.validate(world.ticket(), pgt_url="https://proxy.example.org/cb")
    assert world.store._pgts == {}  # no PGT exists when its callback failed
    alice_staff = Principal("sam", {"eduPersonAffiliation": ("staff",)})
    with pytest.raises(UnauthorizedServiceProxy):
        world.validate(
            world.ticket("https://staff.example.org/", alice_staff),
            "https://staff.example.org/",
            pgt_url="https://proxy.example.org/cb",
        )


def test_proxy_endpoint_errors(world: World) -> None:
    with pytest.raises(InvalidRequest):
        world.validator.proxy(None, APP)
    with pytest.raises(InvalidTicket):
        world.validator.proxy("PGT-" + "a" * 22, APP)
    world.validate(world.ticket(), pgt_url="https://proxy.example.org/cb")
    pgt = world.callback.calls[-1][2]
    with pytest.raises(UnauthorizedService):
        world.validator.proxy(pgt, "https://unknown.example.org/")


def test_logout_destroys_session_children_and_reports_slo(world: World) -> None:
    tgt = world.login.create_session(ALICE)
    registered = world.login.authorize_service(APP)
    used = world.login.grant_after_login(tgt, APP, registered)
    unused = world.login.grant_from_session(tgt.id, APP, registered)
    assert unused is not None
    world.validate(used.id, pgt_url="https://proxy.example.org/cb")
    pgt = world.callback.calls[-1][2]
    targets = world.login.end_session(tgt.id)
    # Only tickets actually delivered to the service are announced.
    assert [t.ticket_id for t in targets] == [used.id]
    assert targets[0].logout_url == "https://app.example.org/slo"
    with pytest.raises(InvalidTicket):
        world.validator.proxy(pgt, "https://backend.example.org/")
    with pytest.raises(InvalidTicket):
        world.validate(unused.id)
    assert world.login.current_session(tgt.id) is None


def test_end_all_sessions_of_a_user(world: World) -> None:
    one = world.login.create_session(ALICE)
    two = world.login.create_session(ALICE)
    bob = world.login.create_session(Principal("bob"))
    world.login.end_sessions_of("alice")
    assert world.login.current_session(one.id) is None
    assert world.login.current_session(two.id) is None
    assert world.login.current_session(bob.id) is not None


def test_url_helpers() -> None:
    assert with_parameter("https://a/x", "ticket", "ST-1") == "https://a/x?ticket=ST-1"
    assert with_parameter("https://a/x?y=1", "ticket", "ST-1") == "https://a/x?y=1&ticket=ST-1"
    assert with_parameter("https://a/x?y=1#f", "ticket", "ST-1") == "https://a/x?y=1&ticket=ST-1#f"
    assert flag(None) is False
    assert flag("") is True and flag("true") is True and flag("false") is False
