"""Connections to the directory: a server pool for failover and two small connection pools.

Built from the configuration at start-up without any network I/O: sockets
open on first use. Service-account connections search and write passwords;
bind connections only ever carry users' binds (a bind changes the
connection's identity, so the two are never mixed). A connection that
fails is dropped and the operation is tried once more on a fresh one, which
the server pool sends to the next server that answers. When no server
answers, :class:`DirectoryUnavailable` is raised: never "wrong password".
"""

from __future__ import annotations

import logging
import math
import queue
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ldap3 import (
    ANONYMOUS,
    BASE,
    FIRST,
    NONE,
    SIMPLE,
    SUBTREE,
    Connection,
    Server,
    ServerPool,
    Tls,
    set_config_parameter,
)
from ldap3.core.exceptions import LDAPException

from ...protocol.cas.ports import StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

PPOLICY_OID = "1.3.6.1.4.1.42.2.27.8.5.1"
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"  # RFC 2696 simple paged results
PAGE_SIZE = 500  # below Active Directory's MaxPageSize (1000)
# Result codes that mean "the directory cannot answer now", not "no".
UNAVAILABLE_CODES = {51, 52, 53, 80}  # busy, unavailable, unwillingToPerform, other


class DirectoryUnavailable(StoreUnavailable):
    pass


@dataclass(frozen=True)
class LdapConfig:
    urls: tuple[str, ...]
    base_dn: str
    user_filter: str = "(uid={login})"
    login_attribute: str = "uid"
    bind_dn: str = ""
    bind_password: str = ""
    start_tls: bool = False
    ca_file: str | None = None
    connect_timeout: float = 3.0
    receive_timeout: float = 5.0
    pool_size: int = 4
    server_retry_after: int = 30
    password_policy: bool = True
    # "exop": RFC 3062 Password Modify (OpenLDAP…); "ad": unicodePwd (Active Directory).
    password_write: str = "exop"  # noqa: S105 - a mode, not a secret
    profile_attribute: str = ""
    profiles: Mapping[str, str] = field(default_factory=dict)
    default_profile: str = "student"
    # Account field -> directory attribute; released CAS attribute -> directory attribute.
    account_fields: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)

    def plaintext_urls(self) -> list[str]:
        """The URLs over which binds (users' passwords) would travel in clear."""
        if self.start_tls:
            return []
        return [url for url in self.urls if not url.lower().startswith("ldaps://")]

    def wanted_attributes(self) -> list[str]:
        names = {self.login_attribute, *self.account_fields.values(), *self.attributes.values()}
        if self.profile_attribute:
            names.add(self.profile_attribute)
        return sorted(n for n in names if n)


@dataclass(frozen=True)
class BindResult:
    code: int  # LDAP result code: 0 success, 49 invalidCredentials…
    message: str  # the server's diagnostic message (Active Directory puts codes there)
    ppolicy: bytes | None  # the password policy response control's value, if any


class LdapPool:
    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        tls = None
        if config.start_tls or any(u.lower().startswith("ldaps://") for u in config.urls):
            tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config.ca_file or None)
        servers = [
            Server(url, connect_timeout=config.connect_timeout, get_info=NONE, tls=tls)
            for url in config.urls
        ]
        # FIRST: the first server that answers; one round over the list, then
        # give up at once (ldap3 would otherwise sleep 10 s between rounds: a
        # process-wide setting). With several servers, one that failed is left
        # out for server_retry_after seconds; a lone server is always retried.
        set_config_parameter("POOLING_LOOP_TIMEOUT", 0)
        exhaust = config.server_retry_after if len(servers) > 1 else False
        self.servers = ServerPool(servers, FIRST, active=1, exhaust=exhaust or False)
        self._idle: dict[str, queue.LifoQueue[Connection]] = {
            "service": queue.LifoQueue(),
            "bind": queue.LifoQueue(),
        }

    # --- connections -----------------------------------------------------------

    def _open(self, kind: str) -> Connection:
        c = self.config
        service = kind == "service" and bool(c.bind_dn)
        conn = Connection(
            self.servers,
            user=c.bind_dn if service else None,
            password=c.bind_password if service else None,
            authentication=SIMPLE if service else ANONYMOUS,
            # ldap3 packs it into a socket option: whole seconds only.
            receive_timeout=max(1, math.ceil(c.receive_timeout)),
            raise_exceptions=False,
            auto_referrals=False,
            check_names=False,
            read_only=False,
        )
        conn.open(read_server_info=False)
        if c.start_tls and not conn.start_tls(read_server_info=False):
            raise DirectoryUnavailable(f"StartTLS refused: {conn.result}")
        if service and not conn.bind(read_server_info=False):
            code = (conn.result or {}).get("result")
            # A wrong service password is a configuration error, not an outage;
            # it still must not look like a user's wrong password.
            log.error(
                "LDAP service account bind failed: %s", (conn.result or {}).get("description")
            )
            raise DirectoryUnavailable(f"service account bind failed ({code})")
        return conn

    @contextmanager
    def _connection(self, kind: str, fresh: bool) -> Iterator[Connection]:
        idle = self._idle[kind]
        conn = None
        if not fresh:
            try:
                conn = idle.get_nowait()
            except queue.Empty:
                conn = None
        if conn is None:
            conn = self._open(kind)
        healthy = False
        try:
            yield conn
            healthy = not conn.closed
        finally:
            if healthy and idle.qsize() < self.config.pool_size:
                idle.put(conn)
            else:
                _close(conn)

    def run(self, kind: str, operation: Callable[[Connection], T]) -> T:
        """Run ``operation`` on a pooled connection; once more on a fresh one if it breaks."""
        last: Exception | None = None
        for attempt in range(2):
            try:
                with self._connection(kind, fresh=attempt > 0) as conn:
                    result = operation(conn)
                    code = (conn.result or {}).get("result")
                    if code in UNAVAILABLE_CODES:
                        raise DirectoryUnavailable(f"LDAP result {code}")
                    return result
            except DirectoryUnavailable as exc:
                last = exc
            except (LDAPException, OSError) as exc:
                last = exc
        log.error("LDAP directory unavailable (%s): %s", kind, last)
        raise DirectoryUnavailable(str(last)) from last

    def close(self) -> None:
        for idle in self._idle.values():
            while True:
                try:
                    _close(idle.get_nowait())
                except queue.Empty:
                    break

    # --- operations ----------------------------------------------------------

    def search(
        self, ldap_filter: str, attributes: list[str], limit: int = 2, base: str | None = None
    ) -> list[Any]:
        """Entries under the base (raw attributes), as the service account.

        With ``base``, that one entry only (a read).
        """

        def op(conn: Connection) -> list[Any]:
            conn.search(
                base or self.config.base_dn,
                ldap_filter,
                search_scope=BASE if base else SUBTREE,
                attributes=attributes,
                size_limit=limit,
                time_limit=max(1, int(self.config.receive_timeout)),
            )
            code = (conn.result or {}).get("result")
            if code not in (0, 4, 32):  # success, sizeLimitExceeded, noSuchObject
                if code not in UNAVAILABLE_CODES:
                    log.error("LDAP search failed: %s", conn.result)
                raise DirectoryUnavailable(f"search failed ({code})")
            return [e for e in (conn.response or []) if e.get("type") == "searchResEntry"]

        return self.run("service", op)

    def search_pages(
        self, ldap_filter: str, attributes: list[str], page_size: int = PAGE_SIZE
    ) -> Iterator[list[Any]]:
        """Every entry under the base that matches, one page at a time (RFC 2696).

        For a walk over the whole directory: the server never sends more than
        ``page_size`` entries in one response. The pages come from one
        connection of its own (a paged search's cookie belongs to it), closed
        at the end; the first page fails over like :meth:`run`, a later
        failure raises :class:`DirectoryUnavailable` (the walk is incomplete).
        A server's size or time limit that cuts the walk short is a failure
        too, never a silently shorter list.
        """
        conn: Connection | None = None
        cookie: bytes | None = None
        started = False
        try:
            while True:
                last: Exception | None = None
                for attempt in range(1 if started else 2):
                    try:
                        if conn is None:
                            conn = self._open("service")
                        entries, cookie = self._page(
                            conn, ldap_filter, attributes, page_size, cookie
                        )
                        break
                    except (DirectoryUnavailable, LDAPException, OSError) as exc:
                        last = exc
                        if conn is not None:
                            _close(conn)
                            conn = None
                        log.debug("LDAP paged search, attempt %d: %s", attempt + 1, exc)
                else:  # the caller says it (a command's one-line error)
                    raise DirectoryUnavailable(str(last)) from last
                started = True
                yield entries
                if not cookie:
                    return
        finally:
            if conn is not None:
                _close(conn)

    def _page(
        self,
        conn: Connection,
        ldap_filter: str,
        attributes: list[str],
        page_size: int,
        cookie: bytes | None,
    ) -> tuple[list[Any], bytes | None]:
        conn.search(
            self.config.base_dn,
            ldap_filter,
            search_scope=SUBTREE,
            attributes=attributes,
            time_limit=max(1, int(self.config.receive_timeout)),
            paged_size=page_size,
            paged_criticality=True,  # a server without paging must say so, not send everything
            paged_cookie=cookie,
        )
        result = conn.result or {}
        code = result.get("result")
        # noSuchObject (32: a wrong base DN) fails too: "nobody" would read as "everyone left".
        if code != 0:  # the caller reports it; a size or time limit must not cut the walk short
            raise DirectoryUnavailable(f"paged search failed ({code} {result.get('description')})")
        control = (result.get("controls") or {}).get(PAGED_RESULTS_OID) or {}
        next_cookie = (control.get("value") or {}).get("cookie") or None
        entries = [e for e in (conn.response or []) if e.get("type") == "searchResEntry"]
        return entries, next_cookie

    def bind(self, dn: str, password: str) -> BindResult:
        """A user's bind, with the password policy request control."""
        controls = [(PPOLICY_OID, False, None)] if self.config.password_policy else None

        def op(conn: Connection) -> BindResult:
            conn.user, conn.password, conn.authentication = dn, password, SIMPLE
            conn.bind(read_server_info=False, controls=controls)
            result = conn.result or {}
            ppolicy = (result.get("controls") or {}).get(PPOLICY_OID, {}).get("value")
            return BindResult(int(result.get("result", 80)), result.get("message") or "", ppolicy)

        return self.run("bind", op)

    def ping(self) -> None:
        """Reach the directory as the service account (health checks)."""
        self.run("service", lambda conn: conn.search("", "(objectClass=*)", "BASE", size_limit=1))


def _close(conn: Connection) -> None:
    with suppress(LDAPException, OSError):
        conn.unbind()
