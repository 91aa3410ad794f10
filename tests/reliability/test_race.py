"""Thousands of double validations: each ticket validates once, across workers and nodes.

Two gunicorn "nodes" (2 workers x 4 threads each) share one SQLite store.
Every ticket is validated twice at the same instant (a barrier per pair), once
on each node and on a mix of endpoints (CAS 1, 2, 3): exactly one of the two
succeeds, whatever the interleaving. A larger variant of
tests/e2e/test_single_use_race.py.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
import requests
from lxml import etree  # type: ignore[import-untyped]

from tests.reliability.conftest import Deployment, Gunicorn, add_account
from tests.support.http import new_session

pytestmark = pytest.mark.e2e

SERVICE = "https://app.example.org/race"
TICKETS = 1500  # 3,000 validations
PAIRS = 16  # 32 client threads
ENDPOINTS = ("/p3/serviceValidate", "/serviceValidate", "/validate", "/proxyValidate")
CAS_NS = {"cas": "http://www.yale.edu/tp/cas"}


def issue_tickets(deployment: Deployment, count: int) -> list[str]:
    """Service tickets of one SSO session, written by the real SQL ticket store's code."""
    from sqlalchemy import insert

    from cas_server.protocol.cas.tickets import (
        Authentication,
        Principal,
        ServiceTicket,
        TicketGrantingTicket,
        new_ticket_id,
    )
    from cas_server.storage.sql.db import make_engine
    from cas_server.storage.sql.tickets import SqlTicketRegistry, T

    engine = make_engine(deployment.database_url)
    store = SqlTicketRegistry(engine)
    now = time.time()
    auth = Authentication(Principal("racer", {"uid": ("racer",)}), now)
    tgt = TicketGrantingTicket(new_ticket_id("TGT"), auth, now, now + 3600, 3600, now)
    store.add_ticket_granting_ticket(tgt)
    issued = [
        ServiceTicket(new_ticket_id("ST"), SERVICE, "app", tgt.id, auth, True, now, now + 600)
        for _ in range(count)
    ]
    # The store's own rows, in one transaction (add_service_ticket one by one is slower).
    with engine.begin() as conn:
        conn.execute(insert(T), [store._service_ticket_values(st) for st in issued])
    engine.dispose()
    return [st.id for st in issued]


def outcome(path: str, response: requests.Response) -> str:
    """'ok' on success, the failure code otherwise."""
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    if path == "/validate":
        assert response.text in ("yes\nracer\n", "no\n\n"), response.text
        return "ok" if response.text.startswith("yes") else "INVALID_TICKET"
    root = etree.fromstring(response.content)
    if root.find("cas:authenticationSuccess", CAS_NS) is not None:
        return "ok"
    failure = root.find("cas:authenticationFailure", CAS_NS)
    assert failure is not None, response.text[:300]
    return str(failure.get("code"))


def test_each_ticket_validates_once_across_two_nodes(
    deployment: Deployment, servers: list[Gunicorn]
) -> None:
    add_account(deployment, "racer", "Racer-Password-2026!")
    nodes = [Gunicorn(deployment), Gunicorn(deployment)]
    servers.extend(nodes)
    for node in nodes:
        node.start()
    tickets = issue_tickets(deployment, TICKETS)
    results: dict[str, list[str]] = {t: [] for t in tickets}
    lock = threading.Lock()
    service = quote(SERVICE, safe="")

    def pair(index: int) -> None:
        mine = tickets[index::PAIRS]
        barrier = threading.Barrier(2, timeout=30)

        def side(which: int) -> None:
            session = new_session()
            base = nodes[which].base
            try:
                for n, ticket in enumerate(mine):
                    path = ENDPOINTS[(n + which) % len(ENDPOINTS)]
                    barrier.wait()
                    response = session.get(
                        f"{base}{path}?service={service}&ticket={ticket}", timeout=30
                    )
                    result = outcome(path, response)
                    with lock:
                        results[ticket].append(result)
            finally:
                session.close()

        with ThreadPoolExecutor(max_workers=2) as sides:
            for future in [sides.submit(side, 0), sides.submit(side, 1)]:
                future.result(timeout=300)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=PAIRS) as pool:
        for future in [pool.submit(pair, i) for i in range(PAIRS)]:
            future.result(timeout=300)
    elapsed = time.monotonic() - started

    doubles = [t for t, r in results.items() if r.count("ok") > 1]
    lost = [t for t, r in results.items() if r.count("ok") == 0]
    assert not doubles, f"{len(doubles)} tickets validated twice: {doubles[:3]}"
    assert not lost, f"{len(lost)} tickets never validated: {[results[t] for t in lost[:3]]}"
    assert all(sorted(r) == ["INVALID_TICKET", "ok"] for r in results.values())
    # Both nodes and every worker served: the race really crossed processes.
    print(f"{2 * TICKETS} validations in {elapsed:.1f} s")
