"""The help desk's session explorer (#15): find live SSO sessions, end them.

Searches go to the ticket store's session directory (``container().sessions``),
which answers from its indexes (owner, address, network, service, start),
never by reading every session. Ending follows the console's target rule
(:func:`~cas_server.accounts.console.may_act_on`): a help-desk operator
ends nobody's session who holds a console role; a session of such an account
met in an address-wide end is skipped, counted and said. Every end names a
reason, is audited once per owner (``admin_session_end``: operator, address,
reason, count) and tells the owner's services (single logout).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field

from ..accounts.console import may_act_on
from ..accounts.i18n import N_
from ..accounts.model import Account
from ..protocol.cas.ports import SessionQuery, SessionRecord, StoreUnavailable
from ..protocol.cas.tickets import SingleLogoutTarget
from ..protocol.saml2.ports import SamlParticipant
from ..runtime.container import container
from .acting import Acting

ACTION = "session_end"
HANDLE_RE = re.compile(r"[0-9a-f]{64}")
MAX_REASON = 500
MAX_HOURS = 24 * 366
#: What one search shows; the directory answers newest first.
SEARCH_LIMIT = 200
SCOPES = ("one", "person", "address")


@dataclass(frozen=True)
class SessionSearch:
    """What the explorer's form asks; every field optional."""

    login: str | None = None
    ip: str | None = None
    network: str | None = None
    service_id: str | None = None
    older_than_hours: int | None = None

    @property
    def empty(self) -> bool:
        return not (self.login or self.ip or self.network or self.service_id) and (
            self.older_than_hours is None
        )


@dataclass(frozen=True)
class Ended:
    """What an end did: sessions ended, and those skipped (the target rule)."""

    count: int
    skipped: int = 0
    owners: tuple[str, ...] = ()


def normalize_ip(text: str) -> str | None:
    """An address as the store keeps it (``ipaddress``'s spelling), or None."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def valid_handle(handle: str) -> bool:
    return HANDLE_RE.fullmatch(handle) is not None


@dataclass
class SessionDesk(Acting):
    """The explorer's actions for one operator (the console's :class:`Acting`)."""

    _accounts: dict[str, Account | None] = field(default_factory=dict)

    def owner(self, principal_id: str) -> Account | None:
        if principal_id not in self._accounts:
            self._accounts[principal_id] = container().accounts.find_by_login(principal_id)
        return self._accounts[principal_id]

    # Reading --------------------------------------------------------------------------
    def search(self, search: SessionSearch) -> list[SessionRecord]:
        c = container()
        now = c.clock.now()
        login = None
        if search.login:
            account = self.owner(search.login)
            login = account.login if account is not None else search.login
        started_before = (
            now - search.older_than_hours * 3600 if search.older_than_hours is not None else None
        )
        query = SessionQuery(
            principal_id=login,
            ip=search.ip,
            network=search.network,
            service_id=search.service_id,
            started_before=started_before,
            limit=SEARCH_LIMIT,
        )
        return c.sessions.search(query, now)

    def session(self, handle: str) -> SessionRecord | None:
        if not valid_handle(handle):
            return None
        c = container()
        return c.sessions.session(handle, c.clock.now())

    def may_end(self, record: SessionRecord) -> bool:
        """The target rule, on the session's owner as the database has them now."""
        owner = self.owner(record.principal_id)
        return self.actor.system or may_act_on(
            self.actor.rank, owner.roles if owner else frozenset()
        )

    # Ending ---------------------------------------------------------------------------
    def _reason(self, reason: str, account: Account | None) -> str:
        reason = " ".join(reason.split())
        if not reason:
            self.refuse(ACTION, account, N_("Give the reason for ending these sessions."))
        return reason[:MAX_REASON]

    def end_one(self, handle: str, reason: str) -> Ended:
        """End the session named by ``handle``; :class:`Refused` if it is out of reach."""
        self.check(ACTION, None)
        record = self.session(handle)
        if record is None:
            self.refuse(ACTION, None, N_("This session has already ended."))
        owner = self.owner(record.principal_id)
        self.check(ACTION, owner)  # the target rule, refused and audited
        text = self._reason(reason, owner)
        return self._end([record], text, "one", None)

    def end_person(self, login: str, reason: str) -> Ended:
        """End every session of the account with this login (or alias)."""
        self.check(ACTION, None)
        owner = self.owner(login.strip())
        if owner is None:
            self.refuse(
                ACTION, None, N_("No account has the login or alias %(login)s."), login=login[:128]
            )
        self.check(ACTION, owner)
        text = self._reason(reason, owner)
        c = container()
        records = c.sessions.sessions_of(owner.login, c.clock.now())
        return self._end(records, text, "person", None)

    def end_address(self, ip: str, reason: str) -> Ended:
        """End every session opened from ``ip`` that the operator may reach (an incident)."""
        self.check(ACTION, None)
        address = normalize_ip(ip)
        if address is None:
            self.refuse(ACTION, None, N_("Type an IPv4 or IPv6 address."))
        text = self._reason(reason, None)
        c = container()
        records = c.sessions.search(SessionQuery(ip=address, limit=10_000), c.clock.now())
        return self._end(records, text, "address", address)

    def _end(
        self, records: Iterable[SessionRecord], reason: str, scope: str, address: str | None
    ) -> Ended:
        c = container()
        now = c.clock.now()
        ended: dict[str, int] = {}
        skipped = 0
        for record in records:
            if not self.may_end(record):
                skipped += 1
                continue
            # Atomic in the store, and only if it is still this owner's.
            targets = c.sessions.destroy_session(record.handle, record.principal_id)
            if targets is None:
                continue  # ended meanwhile
            c.single_logout.notify(targets, record.principal_id, now)
            forget_saml_participants((record.handle,))
            ended[record.principal_id] = ended.get(record.principal_id, 0) + 1
        for principal_id, count in ended.items():
            owner = self.owner(principal_id)
            details = {"reason": reason, "count": count, "scope": scope}
            if address:
                details["address"] = address
            if owner is None:
                c.audit.record(
                    f"admin_{ACTION}",
                    "success",
                    login=principal_id,
                    actor=self.actor.name,
                    ip=self.actor.ip,
                    details=details,
                )
            else:
                self.audit(ACTION, "success", owner, **details)
        if not ended and not skipped:
            # Nothing was left to end: said in the trail all the same.
            self.audit(
                ACTION, "success", None, reason=reason, count=0, scope=scope, address=address
            )
        if skipped:
            self.audit(
                ACTION,
                "refused",
                None,
                reason=reason,
                scope=scope,
                skipped=skipped,
                address=address,
            )
        return Ended(sum(ended.values()), skipped, tuple(sorted(ended)))


# SAML participants of sessions ended away from their browser (#18) ----------------------

log = logging.getLogger(__name__)


def end_account_sessions(login: str, now: float) -> list[SingleLogoutTarget]:
    """Every SSO session of ``login`` ends, away from its browsers (a lock, a password
    change, Sésame's T6): the CAS services are told by back channel, the sessions' SAML
    participants forgotten and told by SOAP where they can be. Returns the CAS targets.

    The handles are read first: the account-wide end returns none."""
    c = container()
    handles = [record.handle for record in c.sessions.sessions_of(login, now)]
    targets = c.login.end_sessions_of(login)
    c.single_logout.notify(targets, login, now)
    forget_saml_participants(handles)
    return targets


def forget_saml_participants(handles: Iterable[str]) -> list[SamlParticipant]:
    """Forget the SAML SPs that sessions ended without their browser signed in to
    (the console's and the profile's "end this session", a password change, a lock):
    ``saml_participants`` would otherwise keep them until they expire.

    No browser of theirs carries front-channel frames (``web/saml/participants.py``
    does that for a browser's own logout). Each SP whose metadata offers a SOAP
    SingleLogoutService is sent a signed LogoutRequest by the back channel, in the
    background (:func:`tell_by_soap`); an SP without one keeps its own session until
    it times out. A store failure is logged: the CAS session has ended all the same.
    Returns the participants forgotten."""
    store = container().saml_sessions
    if store is None:
        return []
    forgotten: list[SamlParticipant] = []
    for handle in handles:
        participants = participants_of(handle)
        try:
            store.forget(handle)
        except StoreUnavailable:
            log.warning("SAML participants of an ended session not forgotten (store down)")
        forgotten.extend(participants)
    tell_by_soap(forgotten)
    return forgotten


def participants_of(handle: str) -> list[SamlParticipant]:
    """The SAML SPs of the session ``handle`` ([] without SAML or with the store down)."""
    store = container().saml_sessions
    if store is None:
        return []
    try:
        return list(store.participants(handle))
    except StoreUnavailable:
        log.warning("SAML participants of an ended session unreadable (store down)")
        return []


def tell_by_soap(participants: Iterable[SamlParticipant]) -> list[Future[bool]]:
    """Back-channel SOAP LogoutRequests (SAML profiles 4.4.3.3) to those of these
    SPs that have a SOAP SingleLogoutService, sent by the CAS back-channel pool."""
    c = container()
    if c.saml is None:
        return []
    from ..saml.soap import send_logout  # pysaml2 and xmlsec: only with [saml] enabled

    jobs: list[Future[bool]] = []
    for participant in participants:
        try:
            message = c.saml.soap_logout_request(participant)
        except Exception:  # an SP's broken metadata must not stop the others
            log.exception("no SOAP LogoutRequest for %s", participant.sp_entity_id)
            continue
        if message is not None:
            jobs.append(c.single_logout.executor.submit(send_logout, c.http.post_soap, message))
    return jobs
