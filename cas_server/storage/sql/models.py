"""The database schema. Alembic migrations in ``storage/migrations`` create it.

Designed for the whole product: accounts and their recovery data, password
history and charter acceptances (self-service), the audit trail (console),
and the ticket table (protocol).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ...accounts.console import search_key
from .base import Base as Base
from .base import UTCDateTime as UTCDateTime  # migrations/env.py

# Tables in modules of their own, registered on Base with the rest:
from .help_request_rows import HelpRequestEventRow as HelpRequestEventRow
from .help_request_rows import HelpRequestRow as HelpRequestRow
from .saml import SamlConsentRow as SamlConsentRow
from .saml import SamlParticipantRow as SamlParticipantRow


class AccountRow(Base):
    __tablename__ = "accounts"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    login: Mapped[str] = mapped_column(String(128), unique=True)
    alias: Mapped[str | None] = mapped_column(String(128), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(255), index=True)
    source: Mapped[str] = mapped_column(String(16), default="local")
    profile: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="not_activated")
    given_name: Mapped[str] = mapped_column(String(255), default="")
    family_name: Mapped[str] = mapped_column(String(255), default="")
    birth_date: Mapped[date | None]
    student_number: Mapped[str | None] = mapped_column(String(64), unique=True)
    ine: Mapped[str | None] = mapped_column(String(64), unique=True)
    personnel_number: Mapped[str | None] = mapped_column(String(64), unique=True)
    personal_email: Mapped[str | None] = mapped_column(String(320), index=True)
    personal_email_verified_at: Mapped[datetime | None]
    mobile: Mapped[str | None] = mapped_column(String(32))
    mobile_verified_at: Mapped[datetime | None]
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None]
    password_expires_at: Mapped[datetime | None]
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    joker_question: Mapped[str | None] = mapped_column(Text)
    joker_answer_hash: Mapped[str | None] = mapped_column(String(255))
    activation_code_hash: Mapped[str | None] = mapped_column(String(255))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]
    # Names without case, accents or separators, for the console's prefix search;
    # kept up to date on every ORM write (see _search_keys below).
    search_family: Mapped[str] = mapped_column(String(255), default="")
    search_given: Mapped[str] = mapped_column(String(255), default="")

    __table_args__ = (
        Index("ix_accounts_family_name", "family_name"),
        Index("ix_accounts_given_name", "given_name"),
        Index("ix_accounts_search_family", "search_family", "search_given"),
        Index("ix_accounts_search_given", "search_given"),
    )


@event.listens_for(AccountRow, "before_insert")
@event.listens_for(AccountRow, "before_update")
def _search_keys(_mapper: Any, _connection: Any, target: AccountRow) -> None:
    target.search_family = search_key(target.family_name or "")
    target.search_given = search_key(target.given_name or "")


class AccountRoleRow(Base):
    """Roles such as ``admin`` and ``helpdesk`` (administration console)."""

    __tablename__ = "account_roles"

    account_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.uuid", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class PasswordHistoryRow(Base):
    """Former password hashes, checked on every write path (SELF-SERVICE-RULES T18)."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.uuid", ondelete="CASCADE"), index=True
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class CharterAcceptanceRow(Base):
    """Who accepted which version of which charter, and when (T23)."""

    __tablename__ = "charter_acceptances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.uuid", ondelete="CASCADE"), index=True
    )
    charter: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    accepted_at: Mapped[datetime]


class AccountLinkRow(Base):
    """Several accounts of one person linked into one ("rapprochement de comptes")."""

    __tablename__ = "account_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    primary_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.uuid", ondelete="CASCADE"), index=True
    )
    linked_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.uuid", ondelete="CASCADE"), unique=True
    )
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(128))


class AuditEventRow(Base):
    """The audit trail: sign-ins, failures, locks, recoveries, admin actions (T25)."""

    __tablename__ = "audit_events"
    # A person's history, newest first (#15, migration 0005).
    __table_args__ = (
        Index("ix_audit_events_account_at", "account_uuid", "at"),
        Index("ix_audit_events_login_at", "login", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    account_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    login: Mapped[str | None] = mapped_column(String(128), index=True)
    actor: Mapped[str | None] = mapped_column(String(128))
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# The session directory's indexes are partial (#15): they hold sessions only.
SESSIONS_ONLY: dict[str, Any] = {
    "sqlite_where": text("kind = 'TGT'"),
    "postgresql_where": text("kind = 'TGT'"),
}


class TicketRow(Base):
    """Every CAS ticket. ``id`` is the SHA-256 of the ticket, never the ticket itself.

    ``tgt_id`` is the root SSO session of the ticket (for a TGT, itself), so
    a logout is one DELETE. ``slo_ticket`` keeps the plain service ticket
    only for services that asked for single logout (the logout request must
    name it), and only once it has been used.
    """

    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    tgt_id: Mapped[str] = mapped_column(String(64), index=True)
    principal_id: Mapped[str] = mapped_column(String(255), index=True)
    service: Mapped[str | None] = mapped_column(Text)
    service_id: Mapped[str | None] = mapped_column(String(64))
    authentication: Mapped[str] = mapped_column(Text)  # JSON, see storage.codec
    proxies: Mapped[str | None] = mapped_column(Text)  # JSON list, most recent first
    from_new_login: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double, index=True)
    idle_timeout: Mapped[float | None] = mapped_column(Double)
    last_used_at: Mapped[float | None] = mapped_column(Double)
    consumed: Mapped[bool] = mapped_column(Boolean, default=False)
    logout_url: Mapped[str | None] = mapped_column(Text)
    slo_ticket: Mapped[str | None] = mapped_column(String(64))
    # Where an SSO session was opened (TGT rows only; #15, migration 0005).
    client_ip: Mapped[str | None] = mapped_column(String(64))
    client_network: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    public: Mapped[bool | None] = mapped_column(Boolean)

    # The session explorer's indexes hold sessions only (partial): service
    # tickets, written all day, maintain none of them.
    __table_args__ = (
        Index("ix_tickets_client_ip", "client_ip", **SESSIONS_ONLY),
        Index("ix_tickets_client_network", "client_network", **SESSIONS_ONLY),
        Index("ix_tickets_kind_created_at", "kind", "created_at", **SESSIONS_ONLY),
    )


class ThrottleCounterRow(Base):
    """Failures counted per key (login, IP, account…) and the lock they caused."""

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[float] = mapped_column(Double)
    locked_until: Mapped[float | None] = mapped_column(Double)
    # Rising lockouts (#16, migration 0009): how many locks this key has had in
    # a row, and when that is forgotten (the next lock then starts over).
    level: Mapped[int | None] = mapped_column(Integer)
    level_until: Mapped[float | None] = mapped_column(Double)


class OneTimeTokenRow(Base):
    """Mailed links, SMS and e-mail codes, activation codes: only their hash is kept (T4).

    ``used_at`` makes them single use with one conditional UPDATE; ``attempts``
    bounds the guesses at a short code (T9).
    """

    __tablename__ = "one_time_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the secret
    account_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.uuid", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double, index=True)
    used_at: Mapped[float | None] = mapped_column(Double)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    destination: Mapped[str | None] = mapped_column(String(320))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MfaFactorRow(Base):
    """Second factors (issue #14): TOTP seeds sealed with ``[mfa] encryption_keys``,
    WebAuthn public keys and sign counters, e-mail and SMS codes (no secret)."""

    __tablename__ = "mfa_factors"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.uuid", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100))
    secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    credential_id: Mapped[bytes | None] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[float] = mapped_column(Double)
    last_used_at: Mapped[float | None] = mapped_column(Double)


class MfaRecoveryCodeRow(Base):
    """Recovery codes, as HMAC-SHA256 under a key derived from the encryption key."""

    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.uuid", ondelete="CASCADE")
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Double)
    used_at: Mapped[float | None] = mapped_column(Double)

    __table_args__ = (Index("ix_mfa_recovery_codes_lookup", "account_uuid", "code_hash"),)


class MfaTrustedDeviceRow(Base):
    """Browsers trusted for the second factor ("trust this device"); the cookie's
    secret is kept as its SHA-256 only."""

    __tablename__ = "mfa_trusted_devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.uuid", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double)
    last_used_at: Mapped[float | None] = mapped_column(Double)
    revoked_at: Mapped[float | None] = mapped_column(Double)


class MfaGraceRow(Base):
    """Sign-ins let through without a second factor while enrolment is not yet forced."""

    __tablename__ = "mfa_grace"

    account_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.uuid", ondelete="CASCADE"), primary_key=True
    )
    used: Mapped[int] = mapped_column(Integer, default=0)


class KnownBrowserRow(Base):
    """Browsers an account signed in from, for the new-device notice (#15): the
    ``cas_browser`` cookie kept as SHA-256 of the account and the cookie's secret only
    (two accounts of one browser are not linked by the table)."""

    __tablename__ = "known_browsers"

    account_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.uuid", ondelete="CASCADE"), primary_key=True
    )
    browser_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen: Mapped[float] = mapped_column(Double)
    last_seen: Mapped[float] = mapped_column(Double, index=True)
    user_agent: Mapped[str | None] = mapped_column(String(400))


class SessionServiceRow(Base):
    """The services an SSO session gave a ticket to, each once (#15, migration 0005).

    ``tgt_id`` is the session's digest (``tickets.id`` of its TGT row); the rows go
    with the session (logout, purge).
    """

    __tablename__ = "session_services"

    tgt_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    service: Mapped[str] = mapped_column(Text)
    first_at: Mapped[float] = mapped_column(Double)


class RegistrationRequestRow(Base):
    """Self-registration requests of external users (#16, migration 0007).

    The mailed link's secret is kept as its SHA-256 only (``token_hash``); ``data``
    holds the names, country, organisation type, language and the password's
    **hash** (removed once the request is decided). No account exists before the
    link is followed (and, with approval on, before an operator approves).
    """

    __tablename__ = "registration_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    confirmed_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    login: Mapped[str | None] = mapped_column(String(128))
    account_uuid: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (Index("ix_registration_requests_status", "status", "created_at"),)
