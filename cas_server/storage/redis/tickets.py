"""Ticket registry on Redis: the same promises as the SQL one, for several nodes.

Single use is ``GETDEL`` inside a Lua script; a logout deletes the session
and its children in one script through the session's set of children; a
principal's sessions come from a per-user set, never from ``SCAN``. Keys
carry TTLs, so an idle Redis forgets dead tickets by itself; ``purge_expired``
also drops them from the indexes. See :mod:`.redis_scripts` for the layout.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import redis

from ...protocol.cas.tickets import (
    PROXY_TICKET,
    SERVICE_TICKET,
    Authentication,
    ProxyGrantingTicket,
    ServiceTicket,
    SingleLogoutTarget,
    TicketGrantingTicket,
    ticket_digest,
)
from ..codec import dump_authentication, load_authentication
from . import scripts as lua
from .client import guarded, replicated
from .sessions import RedisSessionDirectory, client_args

PURGE_BATCH = 500


def _root(tgt_id: str) -> str:
    """Tickets carry their root session either as a plain TGT id or already as its digest."""
    return tgt_id if len(tgt_id) == 64 and "-" not in tgt_id else ticket_digest(tgt_id)


def _ttl(seconds: float) -> int:
    return max(1, math.ceil(seconds)) + lua.GRACE


def _alive(expires: float, idle: float, last_used: float, now: float) -> bool:
    return expires > now and last_used + idle > now


class RedisTicketRegistry(RedisSessionDirectory):
    def __init__(
        self, client: redis.Redis, prefix: str = "cas:", wait_replicas: int = 0, wait_ms: int = 100
    ) -> None:
        self.client = client
        self.prefix = prefix
        # Registered once: EVALSHA, with EVAL when Redis does not know the script yet.
        self._add_tgt = client.register_script(lua.ADD_TGT)
        self._grant = client.register_script(lua.GRANT)
        self._replace_auth = client.register_script(lua.REPLACE_AUTH)
        self._add_child = client.register_script(lua.ADD_CHILD)
        self._consume = client.register_script(lua.CONSUME)
        self._get_pgt = client.register_script(lua.GET_PGT)
        self._destroy = client.register_script(lua.DESTROY)
        self._destroy_user = client.register_script(lua.DESTROY_USER)
        self._sessions = client.register_script(lua.SESSIONS)
        self._purge = client.register_script(lua.PURGE)
        # [redis] wait_replicas: WAIT after each ticket write and consumption (client.py).
        writes = ("_add_tgt", "_grant", "_replace_auth", "_add_child", "_consume", "_destroy")
        for name in (*writes, "_destroy_user"):
            setattr(self, name, replicated(getattr(self, name), wait_replicas, wait_ms))
        self._init_sessions(client)  # the session directory's scripts (sessions.py)
        self._destroy_one = replicated(self._destroy_one, wait_replicas, wait_ms)

    def _key(self, kind: str, digest: str) -> str:
        return f"{self.prefix}{kind}:{digest}"

    # --- ticket-granting tickets -------------------------------------------------

    @guarded
    def add_ticket_granting_ticket(self, tgt: TicketGrantingTicket) -> None:
        digest = ticket_digest(tgt.id)
        now = tgt.last_used_at
        deadline = min(tgt.expires_at, tgt.last_used_at + tgt.idle_timeout)
        self._add_tgt(
            keys=[self._key("tgt", digest)],
            args=[
                self.prefix,
                digest,
                tgt.authentication.principal.id,
                dump_authentication(tgt.authentication),
                repr(tgt.created_at),
                repr(tgt.expires_at),
                repr(tgt.idle_timeout),
                repr(tgt.last_used_at),
                _ttl(deadline - now),
                repr(deadline),
                _ttl(tgt.expires_at - now),
                *client_args(tgt),
            ],
        )

    @staticmethod
    def _tgt(tgt_id: str, auth: str, c: str, e: str, i: str, u: str) -> TicketGrantingTicket:
        return TicketGrantingTicket(
            id=tgt_id,
            authentication=load_authentication(auth),
            created_at=float(c),
            expires_at=float(e),
            idle_timeout=float(i),
            last_used_at=float(u),
        )

    def _read_tgt(self, tgt_id: str, now: float) -> TicketGrantingTicket | None:
        key = self._key("tgt", ticket_digest(tgt_id))
        values = self.client.hmget(key, ["a", "c", "e", "i", "u"])
        if values[0] is None:
            return None
        auth, c, e, i, u = (str(v) for v in values)
        if not _alive(float(e), float(i), float(u), now):
            return None
        return self._tgt(tgt_id, auth, c, e, i, u)

    @guarded
    def get_ticket_granting_ticket(self, tgt_id: str, now: float) -> TicketGrantingTicket | None:
        return self._read_tgt(tgt_id, now)

    @guarded
    def grant_service_ticket(
        self,
        tgt_id: str,
        now: float,
        build: Callable[[TicketGrantingTicket], ServiceTicket],
    ) -> ServiceTicket | None:
        tgt = self._read_tgt(tgt_id, now)
        if tgt is None:
            return None
        ticket = build(replace(tgt, last_used_at=now))
        # The script checks the session again and touches it with the insert:
        # a logout in between wins, and no ticket outlives its session.
        root = ticket_digest(tgt_id)
        stored = self._grant(
            keys=[self._key("tgt", root), self._key("st", ticket_digest(ticket.id))],
            args=[
                self.prefix,
                root,
                repr(now),
                self._dump_service_ticket(ticket, root),
                _ttl(ticket.expires_at - ticket.created_at),
                repr(ticket.expires_at),
                *self._record_args(root, ticket),  # once per (session, service)
            ],
        )
        if not stored:
            return None
        self._recorded_now(root, ticket)
        return ticket

    @guarded
    def replace_authentication(
        self, tgt_id: str, authentication: Authentication, now: float
    ) -> TicketGrantingTicket | None:
        auth = dump_authentication(authentication)
        found = self._replace_auth(
            keys=[self._key("tgt", ticket_digest(tgt_id))],
            args=[self.prefix, repr(now), authentication.principal.id, auth],
        )
        if not found:
            return None
        c, e, i, u = (str(v) for v in found)
        return self._tgt(tgt_id, auth, c, e, i, u)

    # --- service and proxy tickets -----------------------------------------------

    @staticmethod
    def _dump_service_ticket(ticket: ServiceTicket, root: str) -> str:
        data: dict[str, Any] = {
            "k": PROXY_TICKET if ticket.is_proxy_ticket else SERVICE_TICKET,
            "r": root,
            "s": ticket.service,
            "si": ticket.service_id,
            "a": dump_authentication(ticket.authentication),
            "x": list(ticket.proxies),
            "n": ticket.from_new_login,
            "c": ticket.created_at,
            "e": ticket.expires_at,
        }
        if ticket.logout_url:
            data["l"] = ticket.logout_url
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    def _add_child_ticket(
        self,
        key: str,
        root: str,
        data: str,
        ttl: int,
        deadline: float,
        now: float,
        record: Sequence[str] = (),
    ) -> bool:
        # The script stores nothing if the session has ended by ``now``.
        args: list[str | int] = [self.prefix, root, data, ttl, repr(deadline), repr(now)]
        args.extend(record)
        return bool(self._add_child(keys=[key], args=args))

    @guarded
    def add_service_ticket(self, ticket: ServiceTicket) -> None:
        root = _root(ticket.tgt_id)
        record = self._record_args(root, ticket)[:2]  # service id, service
        if self._add_child_ticket(
            self._key("st", ticket_digest(ticket.id)),
            root,
            self._dump_service_ticket(ticket, root),
            _ttl(ticket.expires_at - ticket.created_at),
            ticket.expires_at,
            ticket.created_at,
            record,
        ):
            self._recorded_now(root, ticket)

    @guarded
    def consume_service_ticket(self, ticket_id: str) -> ServiceTicket | None:
        digest = ticket_digest(ticket_id)
        raw = self._consume(keys=[self._key("st", digest)], args=[self.prefix, digest, ticket_id])
        if not raw:
            return None
        data = json.loads(raw)
        return ServiceTicket(
            id=ticket_id,
            service=data["s"],
            service_id=data["si"],
            tgt_id=data["r"],  # the digest: only ever used as a key
            authentication=load_authentication(data["a"]),
            from_new_login=data["n"],
            created_at=data["c"],
            expires_at=data["e"],
            proxies=tuple(data["x"]),
            logout_url=data.get("l"),
        )

    # --- proxy-granting tickets --------------------------------------------------

    @guarded
    def add_proxy_granting_ticket(self, pgt: ProxyGrantingTicket) -> None:
        root = _root(pgt.tgt_id)
        data = json.dumps(
            {
                "r": root,
                "si": pgt.service_id,
                "a": dump_authentication(pgt.authentication),
                "x": list(pgt.proxies),
                "c": pgt.created_at,
                "e": pgt.expires_at,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )
        self._add_child_ticket(
            self._key("pgt", ticket_digest(pgt.id)),
            root,
            data,
            _ttl(pgt.expires_at - pgt.created_at),
            pgt.expires_at,
            pgt.created_at,
        )

    @guarded
    def get_proxy_granting_ticket(self, pgt_id: str, now: float) -> ProxyGrantingTicket | None:
        found = self._get_pgt(keys=[self._key("pgt", ticket_digest(pgt_id))], args=[self.prefix])
        if not found:
            return None
        raw, e, i, u = found
        data = json.loads(raw)
        # A PGT dies with its SSO session (3.3.1).
        if data["e"] <= now or e is None or not _alive(float(e), float(i), float(u), now):
            return None
        return ProxyGrantingTicket(
            id=pgt_id,
            tgt_id=data["r"],
            service_id=data["si"],
            authentication=load_authentication(data["a"]),
            proxies=tuple(data["x"]),
            created_at=data["c"],
            expires_at=data["e"],
        )

    # --- logout and housekeeping -------------------------------------------------

    @staticmethod
    def _targets(result: Sequence[Any]) -> list[SingleLogoutTarget]:
        targets = []
        for raw in result[1:]:
            service, service_id, logout_url, ticket = json.loads(raw)
            targets.append(SingleLogoutTarget(service, service_id, logout_url, ticket))
        return targets

    @guarded
    def destroy_ticket_granting_ticket(self, tgt_id: str) -> list[SingleLogoutTarget]:
        return self._targets(self._destroy(args=[self.prefix, ticket_digest(tgt_id)]))

    @guarded
    def sessions_for(self, principal_id: str, now: float) -> list[TicketGrantingTicket]:
        flat = self._sessions(args=[self.prefix, principal_id])
        sessions = []
        for n in range(0, len(flat), 6):
            digest, auth, c, e, i, u = flat[n : n + 6]
            if _alive(float(e), float(i), float(u), now):
                # As on SQL, the store does not know plain ids: sessions are listed by digest.
                sessions.append(self._tgt(digest, auth, c, e, i, u))
        return sessions

    @guarded
    def destroy_sessions_for(self, principal_id: str) -> list[SingleLogoutTarget]:
        return self._targets(self._destroy_user(args=[self.prefix, principal_id]))

    @guarded
    def purge_expired(self, now: float) -> int:
        removed = 0
        while True:
            count, examined = self._purge(args=[self.prefix, repr(now), PURGE_BATCH])
            removed += int(count)
            if int(examined) < PURGE_BATCH:
                return removed
