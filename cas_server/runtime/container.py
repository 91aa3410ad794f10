"""The objects one running server is made of, built once by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import Engine

from ..accounts.charter import Charter
from ..accounts.mfa.service import MfaService
from ..accounts.passwords import PasswordService
from ..accounts.throttle import CounterStore, Throttle
from ..auth import UserSource
from ..observability.audit import AuditTrail
from ..outbound.http import HttpClient, SingleLogoutNotifier
from ..protocol.cas.login import LoginService
from ..protocol.cas.ports import Clock, SessionDirectory, TicketRegistry
from ..protocol.cas.services import ServiceRegistry
from ..protocol.cas.validation import TicketValidator
from ..settings.server import Settings
from ..settings.sessions import SessionsSettings
from ..storage.sql.accounts import SqlAccountRepository
from .themes import Themes

if TYPE_CHECKING:
    from ..protocol.saml2.ports import ConsentStore, SamlSessionStore
    from ..saml.idp import SamlIdentityProvider
    from .infrastructure import Infrastructure


def _memory_sessions() -> SessionDirectory:
    from ..storage.memory import MemoryTicketRegistry

    return MemoryTicketRegistry()


@dataclass
class Container:
    settings: Settings
    engine: Engine
    clock: Clock
    services: ServiceRegistry
    tickets: TicketRegistry
    accounts: SqlAccountRepository
    user_source: UserSource
    login: LoginService
    validator: TicketValidator
    http: HttpClient
    single_logout: SingleLogoutNotifier
    audit: AuditTrail
    themes: Themes
    passwords: PasswordService
    charters: tuple[Charter, ...]
    counters: CounterStore
    login_throttle: Throttle
    ip_throttle: Throttle
    # The second factor's rules, over its SQL store ([mfa], accounts.mfa).
    mfa: MfaService
    # Shared backends (Redis, LDAP pool) and operations settings (runtime.infrastructure).
    infra: Infrastructure | None = None
    # Live SSO sessions by owner, address, network, service (#15): the ticket store's
    # second port (runtime.infrastructure); the default serves constructions without one.
    sessions: SessionDirectory = field(default_factory=_memory_sessions)
    sessions_settings: SessionsSettings = field(default_factory=SessionsSettings)
    # The SAML 2.0 identity provider ([saml] enabled; #18), on the same SSO sessions.
    saml: SamlIdentityProvider | None = None
    # The SAML services each SSO session reached (single logout), and the consents given.
    saml_sessions: SamlSessionStore | None = None
    saml_consents: ConsentStore | None = None


def container() -> Container:
    """The running server's objects, from inside a request or app context."""
    return current_app.extensions["cas"]  # type: ignore[no-any-return]
