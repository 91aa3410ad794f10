"""The help requests' tables (#16, migration 0008), registered on :class:`.base.Base`
and imported by :mod:`.models` with every other table."""

from __future__ import annotations

from sqlalchemy import Double, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class HelpRequestRow(Base):
    """A help request from the public form (#16): who asks, about which account as far as
    they know, how to answer them; linked to an account by the help desk only."""

    __tablename__ = "help_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[float] = mapped_column(Double)
    language: Mapped[str] = mapped_column(String(16))
    requester_name: Mapped[str] = mapped_column(String(100))
    child_name: Mapped[str | None] = mapped_column(String(100))
    school: Mapped[str | None] = mapped_column(String(150))
    login_hint: Mapped[str | None] = mapped_column(String(128))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    case: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="new")
    assigned_to: Mapped[str | None] = mapped_column(String(128))
    account_uuid: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.uuid", ondelete="SET NULL"), index=True
    )
    closed_at: Mapped[float | None] = mapped_column(Double, index=True)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[float | None] = mapped_column(Double)

    __table_args__ = (Index("ix_help_requests_status_created", "status", "created_at"),)


class HelpRequestEventRow(Base):
    """The steps of a help request (assigned, linked, answered, closed), for its page."""

    __tablename__ = "help_request_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("help_requests.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[float] = mapped_column(Double)
    actor: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
