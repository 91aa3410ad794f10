"""A federation aggregate fetched over real HTTP by the real fetcher; an SP learnt from it (#18).

tests/saml/test_saml_federation.py and test_saml_cli.py give the metadata sources a
FakeHttp; here nothing is faked. A federation's metadata server (``http.server`` in a
thread, on a free port of 127.0.0.1) serves an aggregate signed by the test key
``"federation"``, whose certificate is pinned in ``[[saml.federations]]``; the aggregate
holds the metadata of a real pysaml2 SP (``scripts/demo_saml_sp.py``), which is in no
``sp_files``. Then:

* ``cas-server saml refresh`` (its own process, ``requests`` with the ``[http]``
  timeouts and the source's ``max_size``) and ``cas-server saml sps``; a tampered, an
  expired, an oversized, an endless and a slow copy, and the server down: each refused
  (exit 1, the reason said), the last good copy kept in the cache directory;
* the identity provider under gunicorn (2 workers, mode ``demo`` so the background
  refresh runs: mode ``test`` turns it off) knows the SP from that cache, and the SP
  signs in end to end; ``/health`` gives the source's status with the health token,
  and once a worker's own refresh failed, ``"warnings": ["saml_metadata"]`` to anyone,
  still with HTTP 200, while the last good copy goes on serving.

The background thread wakes up once a minute (``metadata.WAKE_UP``), so the last test
waits about a minute for the workers' first refresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.cli import run_cas_server
from tests.support.gunicorn import server_env, start_gunicorn, stop, tail, wait_until_up
from tests.support.paths import SERVICES
from tests.support.ports import free_port
from tests.support.saml_keys import aggregate, key_pair
from tests.support.saml_sp import (
    RunningSp,
    SamlBrowser,
    SpSpec,
    idp_key_pair,
    policy_toml,
    prepare_sp,
    require_xmlsec1,
    saml_idp_config,
    seed_idp,
    start_sp,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAME = "e2e-federation"
SOURCE = f"federation:{NAME}"
MAX_SIZE = 64 * 1024  # the source's max_size: the good aggregate is a few kB
READ_TIMEOUT = 2.0  # [http] read_timeout, which the metadata fetcher uses
HEALTH_TOKEN = "e2e-health-token-" + "h" * 24
ENDLESS_CAP = 64 * 1024 * 1024  # what the endless copy sends at most if nobody hangs up
SLOW_DELAY = 3 * READ_TIMEOUT
WORKERS = 2
FIRST_TICK = 60.0  # cas_server/saml/metadata.py WAKE_UP
REFUSED = "signature missing or not made by the pinned certificate"


# --- the federation's metadata server ---------------------------------------------------


class MetadataServer:
    """``GET /aggregate.xml`` over HTTP/1.0 on 127.0.0.1; what it answers is ``mode``:
    ``serve`` (``body`` with a Content-Length), ``endless`` (bytes until the client
    hangs up, no length), ``slow`` (``body`` after ``SLOW_DELAY`` s). ``stop()`` and
    ``start()`` again take the same port down and up."""

    def __init__(self, body: bytes) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/aggregate.xml"
        self.body = body
        self.mode = "serve"
        self.requests: list[tuple[str, str]] = []  # (path, User-Agent)
        self.endless_sent = 0
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # pytest's output stays quiet

            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("User-Agent", "")))
                if self.path != "/aggregate.xml":
                    self.send_error(404)
                    return
                try:
                    if owner.mode == "endless":
                        self._endless()
                        return
                    if owner.mode == "slow" and owner._closing.wait(SLOW_DELAY):
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "application/samlmetadata+xml")
                    self.send_header("Content-Length", str(len(owner.body)))
                    self.end_headers()
                    self.wfile.write(owner.body)
                except OSError:
                    pass  # the client gave up (timeout, size cap)

            def _endless(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/samlmetadata+xml")
                self.end_headers()  # HTTP/1.0, no length: the body ends when we close
                owner.endless_sent = 0
                chunk = b"<!-- " + b"x" * 65_000 + b" -->\n"
                while owner.endless_sent < ENDLESS_CAP and not owner._closing.is_set():
                    self.wfile.write(chunk)
                    owner.endless_sent += len(chunk)

        return Handler

    def start(self) -> None:
        self._closing.clear()
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler())
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="federation-md")
        self._thread.start()

    def stop(self) -> None:
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


# --- the deployment -----------------------------------------------------------------------


@dataclass
class Federation:
    work: Path
    sp: SpSpec
    server: MetadataServer
    good: bytes
    valid_until: float
    env: dict[str, str]
    base: str  # where the IdP will answer (CAS_SERVER__PUBLIC_URL)
    cache: Path  # the aggregate's copy in [saml] metadata_cache_dir

    def signed(self, valid_until: float | None = None) -> bytes:
        with_sp = [self.sp.metadata_file.read_text(encoding="utf-8")]
        return aggregate(with_sp, valid_until=valid_until or self.valid_until)

    def cli(self, *args: str, stdin: str | None = None) -> Any:
        return run_cas_server(self.env, *args, stdin=stdin, timeout=90)


def federation_toml(url: str, cache: Path) -> str:
    return (
        f'salt = "e2e-federation-salt-{"s" * 40}"\n'
        f'metadata_cache_dir = "{cache}"\n'
        "[[saml.federations]]\n"
        f'name = "{NAME}"\n'
        f'url = "{url}"\n'
        f'cert_file = "{key_pair("federation").cert_file}"\n'
        "refresh_interval = 60\n"
        f"max_size = {MAX_SIZE}\n"
    )


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    """The SP's keys and metadata, the signed aggregate served, the IdP's configuration,
    its database and one account (alice); no IdP process yet."""
    require_xmlsec1()
    work = tmp_path_factory.mktemp("saml-federation-http")
    sp = prepare_sp(work, "federated", binding="redirect")
    valid_until = time.time() + 7 * 86400
    good = aggregate([sp.metadata_file.read_text(encoding="utf-8")], valid_until=valid_until)
    assert len(good) < MAX_SIZE
    server = MetadataServer(good)
    key, cert = idp_key_pair(work / "idp")
    policy, release = policy_toml([sp.entity_id])
    cache = work / "saml-metadata"
    config = work / "cas.toml"
    config.write_text(
        "[server]\n"
        'mode = "demo"\n'  # not "test": the metadata refresh runs in the background
        f'secret_key = "e2e-saml-federation-secret-{"w" * 40}"\n'
        "[database]\n"
        f'url = "sqlite:///{work / "cas.sqlite3"}"\n'
        "[passwords]\nbcrypt_cost = 4\n"
        '[charters]\npath = ""\n'
        f"[http]\nconnect_timeout = 2.0\nread_timeout = {READ_TIMEOUT}\n"
        f"[health]\ntoken = {HEALTH_TOKEN!r}\n"
        f"[services]\npaths = [{str(SERVICES)!r}]\n"
        + saml_idp_config(
            signing_key=key,
            signing_cert=cert,
            sp_files=[],  # the SP is known from the aggregate only
            policies=policy,
            release=release,
            extra=federation_toml(server.url, cache),
        ),
        encoding="utf-8",
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**server_env(config), "CAS_SERVER__PUBLIC_URL": base}
    found = Federation(work, sp, server, good, valid_until, env, base, cache / f"{NAME}.xml")
    seed_idp(env, timeout=90)
    server.start()
    try:
        yield found
    finally:
        server.stop()


def sps_rows(federation: Federation) -> dict[str, list[str]]:
    listed = federation.cli("saml", "sps")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines() if "\t" in line]
    return {row[0]: row for row in rows}


@pytest.fixture(scope="module")
def refreshed(federation: Federation) -> Any:
    """The first ``cas-server saml refresh``: the good aggregate, over HTTP."""
    assert not federation.cache.exists()
    return federation.cli("saml", "refresh")


# --- cas-server saml refresh / sps ---------------------------------------------------------


def test_refresh_fetches_the_aggregate_over_http(federation: Federation, refreshed: Any) -> None:
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert f"federation {NAME}: ok, 1 SP(s)" in refreshed.stdout, refreshed.stdout
    path, agent = federation.server.requests[-1]
    assert path == "/aggregate.xml" and agent.startswith("python-requests/")
    assert federation.cache.read_bytes() == federation.good  # the last good copy, kept
    row = sps_rows(federation)[federation.sp.entity_id]
    assert row[2:] == [SOURCE, "e2e"], row


def tampered(document: bytes, sp: SpSpec) -> bytes:
    """One byte of the ACS URL changed after signing."""
    acs = f'Location="{sp.base}/saml/acs"'.encode()
    assert document.count(acs) == 1
    changed = document.replace(acs, acs[:-2] + b"x" + acs[-1:])
    assert len(changed) == len(document)
    assert sum(a != b for a, b in zip(changed, document, strict=True)) == 1
    return changed


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("tampered", REFUSED),
        ("expired", "expired (validUntil "),
        ("too big", f"over {MAX_SIZE} bytes"),
        ("endless", f"over {MAX_SIZE} bytes"),
        ("slow", "ReadTimeout"),
        ("down", "ConnectionError"),
    ],
)
def test_a_bad_copy_is_refused_and_the_last_good_one_kept(
    federation: Federation, refreshed: Any, case: str, reason: str
) -> None:
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    server = federation.server
    before = federation.cache.read_bytes()
    asked = len(server.requests)
    if case == "tampered":
        server.body = tampered(federation.good, federation.sp)
    elif case == "expired":
        server.body = federation.signed(valid_until=time.time() - 3600)
    elif case == "too big":
        # Well signed: whitespace after the root element is outside the signature.
        server.body = federation.good + b"\n" * MAX_SIZE
    elif case == "endless":
        server.mode = "endless"
    elif case == "slow":
        server.mode = "slow"  # then the good copy: only a timeout refuses it
    else:
        server.stop()
    try:
        done = federation.cli("saml", "refresh")
    finally:
        if case == "down":
            server.start()
        server.mode, server.body = "serve", federation.good
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith(f"federation {NAME}:"))
    assert "FAILED" in line and reason in line, line
    assert "1 SP(s)" in line, line  # the cached copy, loaded at start, still counts
    if case != "down":
        assert len(server.requests) == asked + 1
    if case == "endless":
        assert MAX_SIZE < server.endless_sent < ENDLESS_CAP // 2  # the client hung up
    assert federation.cache.read_bytes() == before
    row = sps_rows(federation)[federation.sp.entity_id]
    assert row[2] == SOURCE, row


# --- the identity provider under gunicorn ---------------------------------------------------


@dataclass
class Running:
    base: str
    sp: RunningSp
    log: Path
    started: float  # time.time() just before gunicorn started


@pytest.fixture(scope="module")
def idp(federation: Federation, refreshed: Any) -> Iterator[Running]:
    """gunicorn (2 gthread workers) on the cache ``cas-server saml refresh`` wrote, then
    the SP, which reads the IdP's metadata."""
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    port = int(federation.base.rsplit(":", 1)[1])
    log = federation.work / "gunicorn.log"
    started = time.time()
    server = start_gunicorn(
        {
            **federation.env,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": str(WORKERS),
            "GUNICORN_WORKER_CLASS": "gthread",
        },
        log,
    )
    sp: RunningSp | None = None
    try:
        wait_until_up(server, federation.base + "/login", 200, log, "gunicorn")
        metadata = requests.get(federation.base + "/idp/metadata", timeout=10)
        assert metadata.status_code == 200, tail(log)
        sp = start_sp(federation.sp, federation.base + "/idp/metadata")
        yield Running(federation.base, sp, log, started)
    finally:
        if sp is not None:
            sp.stop()
        stop(server)


def sign_in(idp: Running) -> dict[str, Any]:
    browser = SamlBrowser()
    try:
        final = browser.sign_in(idp.sp)
        assert final.status_code == 200 and final.url.rstrip("/") == idp.sp.base
        assert any(f"GET {idp.base}/idp/sso?SAMLRequest=" in s for s in browser.visited)
        return browser.sp_session(idp.sp)
    finally:
        browser.close()


def test_an_sp_known_only_from_the_aggregate_signs_in(idp: Running) -> None:
    data = sign_in(idp)
    assert data["signed_in"] is True, data
    assert data["idp"] == f"{idp.base}/idp/metadata"
    attributes = data["attributes"]
    assert attributes["mail"] == ["alice@example.org"]
    assert attributes["eduPersonPrincipalName"] == ["alice@example.org"]
    assert attributes["givenName"] == ["Alice"] and attributes["sn"] == ["Martin"]
    assert "student@example.org" in attributes["eduPersonScopedAffiliation"]
    assert "alice" not in str(data["name_id"])
    assert "Traceback" not in tail(idp.log, 200_000)


def health(idp: Running, *, token: bool) -> requests.Response:
    headers = {"Authorization": f"Bearer {HEALTH_TOKEN}"} if token else {}
    # A new connection each time: either worker may answer.
    with requests.Session() as session:
        return session.get(idp.base + "/health", headers=headers, timeout=10)


def federation_status(answer: requests.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text[:500]
    [status] = [s for s in answer.json()["saml_metadata"] if s["kind"] == "federation"]
    assert isinstance(status, dict)
    return status


def test_health_tells_a_failed_refresh_and_the_last_copy_serves(
    federation: Federation, idp: Running
) -> None:
    # Before: the copy from the cache, good, in every worker (the server serves it too).
    for _ in range(2 * WORKERS):
        anonymous = health(idp, token=False)
        assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
        status = federation_status(health(idp, token=True))
        assert status["name"] == NAME and status["ok"] is True, status
        assert status["entities"] == 1 and status["error"] is None, status
        assert status["valid_until"] == pytest.approx(federation.valid_until, abs=1.5)
    # The federation now serves a tampered copy; each worker's first background refresh
    # comes about WAKE_UP s after it started (a later one if it already ran: the refresh
    # interval is 60 s, with a jitter).
    switched = time.time()
    federation.server.body = tampered(federation.good, federation.sp)
    try:
        deadline = max(switched + 130.0, idp.started + FIRST_TICK + 70.0)
        in_a_row = 0
        while in_a_row < 4 * WORKERS:  # enough answers in a row: both workers failed
            assert time.time() < deadline, "no failed refresh seen in /health:\n" + tail(idp.log)
            answer = health(idp, token=False)
            assert answer.status_code == 200, answer.text[:500]
            if answer.json().get("warnings") == ["saml_metadata"]:
                in_a_row += 1
            else:
                in_a_row = 0
                time.sleep(1.0)
        assert answer.json() == {"status": "ok", "warnings": ["saml_metadata"]}
        detailed = health(idp, token=True)
        assert detailed.json()["status"] == "ok" and detailed.json()["warnings"] == [
            "saml_metadata"
        ]
        status = federation_status(detailed)
        assert status["ok"] is False and status["error"] == REFUSED, status
        assert status["entities"] == 1 and status["last_success"] is not None, status
        assert status["last_attempt"] >= switched - 1, status
        # The last good copy still serves: the SP signs in again.
        assert sign_in(idp)["attributes"]["mail"] == ["alice@example.org"]
    finally:
        federation.server.body = federation.good
    assert federation.cache.read_bytes() == federation.good
    assert "Traceback" not in tail(idp.log, 200_000)
