"""The audit trail: who did what, from where, with what outcome (SELF-SERVICE-RULES T25)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.exc import SQLAlchemyError

from ..storage.sql.models import AuditEventRow

log = logging.getLogger("cas_server.observability.audit")
# Built once, run with each event's values (every SAML assertion writes one).
_INSERT = insert(AuditEventRow)


class AuditTrail:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        action: str,
        outcome: str,
        *,
        account_uuid: str | None = None,
        login: str | None = None,
        actor: str | None = None,
        ip: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one event. A failure to write is logged, never shown to the user."""
        event = {
            "at": datetime.now(UTC),
            "action": action,
            "outcome": outcome,
            "account_uuid": account_uuid,
            "login": (login or "")[:128] or None,
            "actor": actor,
            "ip": ip,
            "details": dict(details or {}),
        }
        log.info("%s %s login=%s ip=%s", action, outcome, event["login"], ip)
        try:
            with self.engine.begin() as conn:
                conn.execute(_INSERT, event)
        except SQLAlchemyError:
            log.exception("could not write audit event %s", action)
