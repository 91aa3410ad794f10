"""The objects one running server is made of, built once by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import Engine

from .accounts.charter import Charter
from .accounts.passwords import PasswordService
from .accounts.throttle import CounterStore, Throttle
from .audit import AuditTrail
from .auth import UserSource
from .config import Settings
from .outgoing import HttpClient, SingleLogoutNotifier
from .protocol.login import LoginService
from .protocol.ports import Clock, TicketRegistry
from .protocol.services import ServiceRegistry
from .protocol.validation import TicketValidator
from .storage.sql.accounts import SqlAccountRepository
from .web.theming import Themes

if TYPE_CHECKING:
    from .infra import Infrastructure


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
    # Shared backends (Redis, LDAP pool) and operations settings (cas_server.infra).
    infra: Infrastructure | None = None


def container() -> Container:
    """The running server's objects, from inside a request or app context."""
    return current_app.extensions["cas"]  # type: ignore[no-any-return]
