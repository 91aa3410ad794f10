"""The statements of the ticket store's hot path, compiled once per engine.

Single sign-on, validation and the step-up of a session run these on the
driver (see :mod:`.driver`); the rest of :mod:`.tickets` uses SQLAlchemy
Core as usual.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Engine,
    Table,
    bindparam,
    case,
    exists,
    insert,
    or_,
    select,
    update,
)

from ...protocol.cas.tickets import PROXY_TICKET, SERVICE_TICKET, TICKET_GRANTING_TICKET
from .driver import DriverStatement
from .models import TicketRow

T = cast(Table, TicketRow.__table__)
c = T.c

# Every column an insert names, so the driver gets no SQLAlchemy default to apply.
INSERT_COLUMNS = tuple(col.name for col in T.columns)
SESSION_COLUMNS = (c.authentication, c.created_at, c.expires_at, c.idle_timeout, c.last_used_at)


class TicketStatements:
    """The hot-path statements of one engine's dialect."""

    def __init__(self, engine: Engine) -> None:
        now: BindParameter[float] = bindparam("now")
        digest: BindParameter[str] = bindparam("digest")
        alive = (
            c.id == digest,
            c.kind == TICKET_GRANTING_TICKET,
            c.expires_at > now,
            c.last_used_at + c.idle_timeout > now,
        )
        self.insert = DriverStatement(
            engine, insert(T).values({name: bindparam(name) for name in INSERT_COLUMNS})
        )
        # A child ticket, stored only if its session is still alive: one
        # statement, so a logout in between wins and no ticket outlives it.
        typed = {name: bindparam(name, type_=T.c[name].type) for name in INSERT_COLUMNS}
        self.insert_if_alive = DriverStatement(
            engine,
            insert(T).from_select(
                INSERT_COLUMNS, select(*typed.values()).where(exists().where(*alive))
            ),
        )
        # Single sign-on: the same, and only if the session's authentication
        # is still the one the ticket carries. A process that remembers a
        # session then never issues tickets with an authentication another
        # process has replaced since (a step-up).
        current = (*alive, c.authentication == typed["authentication"])
        self.insert_if_current = DriverStatement(
            engine,
            insert(T).from_select(
                INSERT_COLUMNS, select(*typed.values()).where(exists().where(*current))
            ),
        )
        self.read_session = DriverStatement(engine, select(*SESSION_COLUMNS).where(*alive))
        self.touch = DriverStatement(engine, update(T).where(*alive).values(last_used_at=now))
        # A session never changes hands: the principal must be the same.
        self.replace_authentication = DriverStatement(
            engine,
            update(T)
            .where(*alive, c.principal_id == bindparam("principal"))
            .values(authentication=bindparam("auth"))
            .returning(*SESSION_COLUMNS),
        )
        self.consume = DriverStatement(
            engine,
            update(T)
            .where(
                c.id == digest,
                # Two comparisons, not IN: an IN list would be re-rendered per call.
                or_(c.kind == SERVICE_TICKET, c.kind == PROXY_TICKET),
                c.consumed.is_(False),
            )
            # The plain ticket is kept only once used, only for single logout.
            .values(
                consumed=True,
                slo_ticket=case((c.logout_url.is_not(None), bindparam("plain")), else_=None),
            )
            .returning(
                c.tgt_id,
                c.service,
                c.service_id,
                c.authentication,
                c.proxies,
                c.from_new_login,
                c.created_at,
                c.expires_at,
                c.logout_url,
            ),
        )


def row(**values: Any) -> dict[str, Any]:
    """A full row for the insert statements: the columns not given are NULL or false."""
    full: dict[str, Any] = dict.fromkeys(INSERT_COLUMNS)
    full["from_new_login"] = full["consumed"] = False
    full.update(values)
    return full
