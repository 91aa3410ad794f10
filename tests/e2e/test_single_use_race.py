"""A service ticket validates once, even when many requests race for it.

Against gunicorn (2 processes x 4 threads on one SQLite file) and in process
(16 threads calling the validator on the SQL store).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from flask import Flask
from lxml import etree  # type: ignore[import-untyped]

from cas_server.accounts.model import Account
from cas_server.protocol.cas.errors import CasError
from cas_server.protocol.cas.validation import ValidationRequest
from tests.e2e.conftest import HttpBrowser

pytestmark = pytest.mark.e2e

SERVICE = "https://app.example.org/race"
CAS_NS = {"cas": "http://www.yale.edu/tp/cas"}
TICKETS = 30
RACERS = 8
BARRIER_TIMEOUT = 20.0


def outcome(body: bytes) -> str:
    """ "alice" on success, the failure code otherwise."""
    root = etree.fromstring(body)
    user = root.find("cas:authenticationSuccess/cas:user", CAS_NS)
    if user is not None:
        return str(user.text)
    failure = root.find("cas:authenticationFailure", CAS_NS)
    assert failure is not None, body[:500]
    return str(failure.get("code"))


def race(ticket: str, base: str, pool: ThreadPoolExecutor) -> list[str]:
    barrier = threading.Barrier(RACERS, timeout=BARRIER_TIMEOUT)
    sessions = [requests.Session() for _ in range(RACERS)]
    for session in sessions:
        session.trust_env = False
        # Connect first, so the requests leave together after the barrier.
        session.get(base + "/login", timeout=10)

    def validate(session: requests.Session) -> str:
        barrier.wait()
        response = session.get(
            base + "/p3/serviceValidate",
            params={"service": SERVICE, "ticket": ticket},
            timeout=30,
        )
        assert response.status_code == 200, response.status_code
        return outcome(response.content)

    try:
        return list(pool.map(validate, sessions, timeout=60))
    finally:
        for session in sessions:
            session.close()


def test_each_ticket_validates_exactly_once_under_gunicorn(
    server_url: str, http_browser: HttpBrowser
) -> None:
    first = http_browser.login(SERVICE)
    tickets = [first] + [http_browser.sso(SERVICE) for _ in range(TICKETS - 1)]
    assert len(set(tickets)) == TICKETS

    successes = 0
    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        for ticket in tickets:
            results = race(ticket, server_url, pool)
            assert results.count("alice") == 1, (ticket, results)
            assert results.count("INVALID_TICKET") == RACERS - 1, (ticket, results)
            successes += results.count("alice")
    assert successes == TICKETS


def test_validator_in_process_single_success(app: Flask, alice: Account, browser: Any) -> None:
    """No gunicorn: 16 threads call the validator on the SQL store for one ticket."""
    ticket = browser.service_ticket(SERVICE)
    validator = app.extensions["cas"].validator
    threads = 16
    barrier = threading.Barrier(threads, timeout=BARRIER_TIMEOUT)

    def attempt(_: int) -> Any:
        barrier.wait()
        try:
            return validator.validate(ValidationRequest(service=SERVICE, ticket=ticket))
        except CasError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(attempt, range(threads), timeout=60))
    assertions = [r for r in results if not isinstance(r, str)]
    assert len(assertions) == 1, results
    assert assertions[0].user == "alice"
    assert assertions[0].from_new_login is True
    assert results.count("INVALID_TICKET") == threads - 1, results
