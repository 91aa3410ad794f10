"""Two nodes behave as one server; a killed node loses no session."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.multinode.conftest import (
    MAX_FAILURES,
    USERS,
    Browser,
    Node,
    ticket_of,
    validate,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_session_and_a_ticket_from_a_work_on_b(nodes: tuple[Node, Node, Node]) -> None:
    a, b, _c = nodes
    browser = Browser()
    ticket = ticket_of(browser.login(a, b))  # form from A, credentials posted to B
    assert "<cas:user>alice</cas:user>" in validate(a, ticket)
    assert "INVALID_TICKET" in validate(b, ticket)  # once, whichever node is asked

    ticket = ticket_of(browser.sso(a))  # the TGC works on both
    assert "<cas:user>alice</cas:user>" in validate(b, ticket)
    assert "INVALID_TICKET" in validate(a, ticket)
    assert "<cas:user>alice</cas:user>" in validate(a, ticket_of(browser.sso(b)))


def test_a_concurrent_double_validation_across_nodes_succeeds_once(
    nodes: tuple[Node, Node, Node],
) -> None:
    a, b, _c = nodes
    browser = Browser()
    ticket_of(browser.login(a))
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(10):
            ticket = ticket_of(browser.sso(a))
            barrier = threading.Barrier(2)

            def attempt(
                node: Node, ticket: str = ticket, barrier: threading.Barrier = barrier
            ) -> str:
                barrier.wait(timeout=10)
                return validate(node, ticket)

            answers = list(pool.map(attempt, (a, b)))
            assert sum("<cas:authenticationSuccess>" in x for x in answers) == 1, answers


def test_a_logout_on_b_ends_the_session_everywhere(nodes: tuple[Node, Node, Node]) -> None:
    a, b, _c = nodes
    browser = Browser()
    ticket_of(browser.login(a, username="bob"))
    tgc = browser.session.cookies.get("TGC")
    assert tgc and browser.sso(b).status_code == 302
    assert browser.get(b, "/logout").status_code == 200
    # Even a copy of the cookie is dead now, on both nodes: the login form, no ticket.
    for node in (a, b):
        replay = Browser()
        replay.session.cookies.set("TGC", tgc, domain="127.0.0.1")
        assert replay.sso(node).status_code == 200


def test_failures_are_counted_across_nodes(nodes: tuple[Node, Node, Node]) -> None:
    a, b, _c = nodes
    browser = Browser()
    for n in range(MAX_FAILURES - 1):
        assert browser.login((a, b)[n % 2], username="alice", password="wrong").status_code == 401
    assert browser.login(b, username="alice", password="wrong").status_code == 429
    # Locked on every node, even with the right password.
    assert browser.login(a, username="alice").status_code == 429


def test_metrics_sum_every_worker_of_a_node(nodes: tuple[Node, Node, Node]) -> None:
    a, _b, _c = nodes

    def successes() -> float:
        page = requests.get(a.url + "/metrics", timeout=10).text
        for line in page.splitlines():
            if line.startswith('cas_logins_total{outcome="success"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = successes()
    for login in USERS[:6]:
        ticket_of(Browser().login(a, username=login))
    assert successes() == before + 6  # two workers answered; the page adds them up


def test_users_keep_their_sessions_when_a_node_is_killed(nodes: tuple[Node, Node, Node]) -> None:
    _a, b, c = nodes  # C is killed (A and B stay for the other tests)
    users = {login: Browser() for login in USERS}
    for login, browser in users.items():
        ticket_of(browser.login(c, username=login))

    stop = threading.Event()
    events: list[tuple[float, str, bool]] = []  # (time, node, answered with a ticket)

    def traffic(browser: Browser) -> None:
        while not stop.is_set():
            for node in (c, b):
                try:
                    ok = browser.sso(node).status_code == 302
                except requests.RequestException:
                    ok = False
                events.append((time.monotonic(), node.name, ok))

    threads = [threading.Thread(target=traffic, args=(u,)) for u in list(users.values())[:4]]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    killed_at = time.monotonic()
    c.kill()  # mid-traffic: SIGKILL to the master and its workers
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=20)

    # Every user still has their session on B: no sign-in needed.
    for browser in users.values():
        assert "<cas:authenticationSuccess>" in validate(b, ticket_of(browser.sso(b)))
    on_b = [(t, ok) for t, name, ok in events if name == "b"]
    on_c = [(t, ok) for t, name, ok in events if name == "c"]
    assert all(ok for _, ok in on_b), "a request to B failed"
    assert any(ok for t, ok in on_c if t < killed_at)
    assert not any(ok for t, ok in on_c if t > killed_at + 0.5)
    first_b = min(t for t, _ok in on_b if t > killed_at) - killed_at
    print(
        f"\nfailover: {len(on_b)} requests to B, all answered; to C {sum(ok for _, ok in on_c)} "
        f"answered, {sum(not ok for _, ok in on_c)} refused after the kill; "
        f"first answer from B {first_b * 1000:.0f} ms after the kill"
    )
