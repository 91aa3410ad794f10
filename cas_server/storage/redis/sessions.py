"""The session directory on Redis (#15): a base of :class:`~.tickets.RedisTicketRegistry`.

Sessions are found through the indexes :mod:`.scripts` keeps (the per-user set,
and sorted sets per address, network label and service and by age), never
with ``SCAN``; each search is one script, so one round trip.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from ...protocol.cas.ports import SessionQuery, SessionRecord, SessionService
from ...protocol.cas.tickets import (
    USER_AGENT_MAX,
    ServiceTicket,
    SessionClient,
    SingleLogoutTarget,
    TicketGrantingTicket,
)
from ..codec import load_authentication
from ..recorded import RecordedServices
from . import scripts as lua
from .client import guarded

# (session digest, service id) pairs this process has recorded; bounded.
MAX_LIMIT = 10_000  # a search (ending every session from an address)
PER_PERSON = 1000  # sessions_of


def client_args(tgt: TicketGrantingTicket) -> list[str]:
    """ADD_TGT's client arguments: ip, network, user agent, public ('' when unknown)."""
    client = tgt.client
    if client is None:
        return ["", "", "", ""]
    public = "" if client.public is None else ("1" if client.public else "0")
    agent = (client.user_agent or "")[:USER_AGENT_MAX]
    return [client.ip or "", client.network or "", agent, public]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSessionDirectory:
    """Implements :class:`~cas_server.protocol.cas.ports.SessionDirectory` on Redis."""

    client: redis.Redis
    prefix: str

    def _init_sessions(self, client: redis.Redis) -> None:
        self._recorded = RecordedServices()
        self._search = client.register_script(lua.SEARCH)
        self._destroy_one = client.register_script(lua.DESTROY_ONE)

    def _record_args(self, root: str, ticket: ServiceTicket) -> list[str]:
        """The grant scripts' trailing arguments: empty once this node recorded the pair."""
        if (root, ticket.service_id) in self._recorded:
            return []
        return [ticket.service_id, ticket.service, repr(ticket.created_at)]

    def _recorded_now(self, root: str, ticket: ServiceTicket) -> None:
        self._recorded.add((root, ticket.service_id))

    @staticmethod
    def _record(raw: list[Any]) -> SessionRecord:
        root, principal, auth, c, e, i, u, ip, network, agent, public, flat = raw
        services = []
        for n in range(0, len(flat), 2):
            service, first_at = json.loads(_text(flat[n + 1]) or "[]")
            services.append(SessionService(_text(flat[n]) or "", service, float(first_at)))
        services.sort(key=lambda s: (s.first_at, s.service_id))
        ip, network, agent, public = (_text(v) for v in (ip, network, agent, public))
        client = None
        if ip or network or agent or public:
            client = SessionClient(ip, agent, network, None if not public else public == "1")
        authentication = load_authentication(_text(auth) or "")
        last_used, idle = float(u), float(i)
        return SessionRecord(
            handle=_text(root) or "",
            principal_id=_text(principal) or "",
            client=client,
            created_at=float(c),
            last_used_at=last_used,
            expires_at=min(float(e), last_used + idle),
            long_term=authentication.long_term,
            surrogate=authentication.surrogate,
            services=tuple(services),
        )

    def _find(self, now: float, limit: int, **given: str | float | None) -> list[SessionRecord]:
        fields = ("handle", "principal", "ip", "network", "service_id", "after", "before")
        if any(given.get(name) == "" for name in fields):
            return []  # no session has an empty login, address…: '' means "any" to the script
        args: list[Any] = [self.prefix, repr(now), max(0, min(limit, MAX_LIMIT))]
        for name in fields:
            value = given.get(name)
            args.append(
                "" if value is None else (repr(value) if isinstance(value, float) else value)
            )
        records = [self._record(raw) for raw in self._search(args=args)]
        records.sort(key=lambda r: (r.created_at, r.handle), reverse=True)
        return records[: max(0, min(limit, MAX_LIMIT))]

    @guarded
    def sessions_of(self, principal_id: str, now: float) -> list[SessionRecord]:
        return self._find(now, PER_PERSON, principal=principal_id)

    @guarded
    def session(self, handle: str, now: float) -> SessionRecord | None:
        if len(handle) != 64:
            return None
        found = self._find(now, 1, handle=handle)
        return found[0] if found else None

    @guarded
    def search(self, query: SessionQuery, now: float) -> list[SessionRecord]:
        return self._find(
            now,
            query.limit,
            principal=query.principal_id,
            ip=query.ip,
            network=query.network,
            service_id=query.service_id,
            after=None if query.started_after is None else float(query.started_after),
            before=None if query.started_before is None else float(query.started_before),
        )

    @guarded
    def destroy_session(
        self, handle: str, principal_id: str | None = None
    ) -> list[SingleLogoutTarget] | None:
        if len(handle) != 64:
            return None
        check = "0" if principal_id is None else "1"
        result = self._destroy_one(
            args=[self.prefix, handle, repr(time.time()), check, principal_id or ""]
        )
        if not result:
            return None
        targets = []
        for raw in result[1:]:
            service, service_id, logout_url, ticket = json.loads(raw)
            targets.append(SingleLogoutTarget(service, service_id, logout_url, ticket))
        return targets
