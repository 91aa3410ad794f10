"""Proxy authentication (CAS 3.0 2.5.4, 2.6, 2.7) with a real HTTPS pgtUrl endpoint."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme
from flask.testing import FlaskClient
from lxml import etree  # type: ignore[import-untyped]

from cas_server.accounts.model import Account, Profile
from tests.support.app import make_account
from tests.support.endpoints import LocalEndpoint

CAS_NS = {"cas": "http://www.yale.edu/tp/cas"}
APP = "https://app.example.org/"
BACKEND = "https://backend.example.org/"
HANG_SECONDS = 5.0


class CallbackServer(LocalEndpoint):
    """An HTTPS pgtUrl endpoint: records pgtIou/pgtId, answers ``status`` (or hangs).

    With ``location``, the answer carries that Location header (a redirect).
    """

    def __init__(
        self,
        cert: trustme.LeafCert,
        status: int = 200,
        hang: bool = False,
        location: str | None = None,
    ) -> None:
        self.received: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                outer.received.append({k: v[0] for k, v in query.items()} | {"path": self.path})
                if hang:
                    outer.release.wait(HANG_SECONDS)
                self.send_response(status)
                if location is not None:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        super().__init__(Handler, context)

    def url(self, path: str = "/cb", host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def app_overrides(tmp_path: Path, ca: trustme.CA) -> dict[str, dict[str, Any]]:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return {"http": {"ca_bundle": str(bundle), "read_timeout": 1.0, "connect_timeout": 1.0}}


@pytest.fixture
def start_callback(ca: trustme.CA) -> Iterator[Callable[..., CallbackServer]]:
    servers: list[CallbackServer] = []

    def start(
        status: int = 200,
        hang: bool = False,
        issuer: trustme.CA | None = None,
        location: str | None = None,
    ) -> Any:
        cert = (issuer or ca).issue_cert("127.0.0.1", "localhost")
        server = CallbackServer(cert, status, hang, location)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def callback(start_callback: Callable[..., CallbackServer]) -> CallbackServer:
    return start_callback()


def xml(client: FlaskClient, path: str, **params: str) -> Any:
    response = client.get(path, query_string=params)
    assert response.status_code == 200, response.status_code
    return etree.fromstring(response.data)


def failure_code(root: Any) -> str:
    failure = root.find("cas:authenticationFailure", CAS_NS)
    if failure is None:
        failure = root.find("cas:proxyFailure", CAS_NS)
    assert failure is not None, etree.tostring(root)
    return str(failure.get("code"))


def validate_with_pgt(client: FlaskClient, ticket: str, service: str, pgt_url: str) -> Any:
    return xml(client, "/serviceValidate", service=service, ticket=ticket, pgtUrl=pgt_url)


def proxy_ticket(client: FlaskClient, pgt: str, target: str) -> str:
    root = xml(client, "/proxy", pgt=pgt, targetService=target)
    ticket = root.findtext("cas:proxySuccess/cas:proxyTicket", namespaces=CAS_NS)
    assert ticket and ticket.startswith("PT-"), etree.tostring(root)
    return str(ticket)


def obtain_pgt(client: FlaskClient, browser: Any, callback: CallbackServer) -> str:
    ticket = browser.service_ticket(APP)
    root = validate_with_pgt(client, ticket, APP, callback.url())
    iou = root.findtext("cas:authenticationSuccess/cas:proxyGrantingTicket", namespaces=CAS_NS)
    assert iou and iou.startswith("PGTIOU-"), etree.tostring(root)
    assert callback.received[-1]["pgtIou"] == iou
    return callback.received[-1]["pgtId"]


def test_pgt_then_proxy_ticket_then_proxy_validate(
    client: FlaskClient, alice: Account, browser: Any, callback: CallbackServer
) -> None:
    pgt = obtain_pgt(client, browser, callback)
    assert pgt.startswith("PGT-")
    assert len(callback.received) == 1 and callback.received[0]["path"].startswith("/cb?")

    pt = proxy_ticket(client, pgt, BACKEND)
    root = xml(client, "/proxyValidate", service=BACKEND, ticket=pt)
    success = root.find("cas:authenticationSuccess", CAS_NS)
    assert success is not None, etree.tostring(root)
    assert success.findtext("cas:user", namespaces=CAS_NS) == "alice"
    proxies = [p.text for p in success.findall("cas:proxies/cas:proxy", CAS_NS)]
    assert proxies == [callback.url()]
    # Single use, like a service ticket.
    assert failure_code(xml(client, "/proxyValidate", service=BACKEND, ticket=pt)) == (
        "INVALID_TICKET"
    )


def test_proxy_ticket_refused_at_service_validate(
    client: FlaskClient, alice: Account, browser: Any, callback: CallbackServer
) -> None:
    pgt = obtain_pgt(client, browser, callback)
    pt = proxy_ticket(client, pgt, BACKEND)
    root = xml(client, "/serviceValidate", service=BACKEND, ticket=pt)
    assert failure_code(root) == "INVALID_TICKET_SPEC"


def test_chain_of_two_proxies(
    client: FlaskClient, alice: Account, browser: Any, callback: CallbackServer
) -> None:
    pgt = obtain_pgt(client, browser, callback)
    pt = proxy_ticket(client, pgt, BACKEND)
    # The back-end validates its PT with its own callback and proxies on.
    second_url = callback.url("/backend-cb", host="localhost")
    root = xml(client, "/proxyValidate", service=BACKEND, ticket=pt, pgtUrl=second_url)
    iou = root.findtext("cas:authenticationSuccess/cas:proxyGrantingTicket", namespaces=CAS_NS)
    assert iou and callback.received[-1]["pgtIou"] == iou
    pgt2 = callback.received[-1]["pgtId"]
    assert pgt2 != pgt

    pt2 = proxy_ticket(client, pgt2, APP + "inner")
    root = xml(client, "/proxyValidate", service=APP + "inner", ticket=pt2)
    proxies = [p.text for p in root.findall(".//cas:proxies/cas:proxy", CAS_NS)]
    assert proxies == [second_url, callback.url()]  # most recent first


@pytest.mark.parametrize(
    "pgt_url",
    ["http://127.0.0.1:{port}/cb", "https://evil.example.org/cb", "https://127.0.0.1.evil.org/cb"],
)
def test_refused_callback_urls(
    client: FlaskClient, alice: Account, browser: Any, callback: CallbackServer, pgt_url: str
) -> None:
    ticket = browser.service_ticket(APP)
    root = validate_with_pgt(client, ticket, APP, pgt_url.format(port=callback.port))
    assert failure_code(root) == "INVALID_PROXY_CALLBACK"
    assert callback.received == []


def test_callback_answering_500_gets_no_pgt(
    client: FlaskClient, alice: Account, browser: Any, start_callback: Callable[..., CallbackServer]
) -> None:
    failing = start_callback(status=500)
    ticket = browser.service_ticket(APP)
    root = validate_with_pgt(client, ticket, APP, failing.url())
    assert failure_code(root) == "INVALID_PROXY_CALLBACK"
    assert len(failing.received) == 1
    # The PGT the callback saw was never stored.
    root = xml(client, "/proxy", pgt=failing.received[0]["pgtId"], targetService=BACKEND)
    assert failure_code(root) == "INVALID_TICKET"


def test_untrusted_certificate_is_refused(
    client: FlaskClient, alice: Account, browser: Any, start_callback: Callable[..., CallbackServer]
) -> None:
    rogue = start_callback(issuer=trustme.CA())
    ticket = browser.service_ticket(APP)
    root = validate_with_pgt(client, ticket, APP, rogue.url())
    assert failure_code(root) == "INVALID_PROXY_CALLBACK"
    assert rogue.received == []  # the TLS handshake failed: no pgtId was disclosed


def test_hanging_callback_times_out(
    client: FlaskClient, alice: Account, browser: Any, start_callback: Callable[..., CallbackServer]
) -> None:
    slow = start_callback(hang=True)
    ticket = browser.service_ticket(APP)
    started = time.monotonic()
    root = validate_with_pgt(client, ticket, APP, slow.url())
    elapsed = time.monotonic() - started
    assert failure_code(root) == "INVALID_PROXY_CALLBACK"
    assert elapsed < 2.5, elapsed  # read_timeout is 1 s; the callback hangs for 5 s
    assert len(slow.received) == 1
    root = xml(client, "/proxy", pgt=slow.received[0]["pgtId"], targetService=BACKEND)
    assert failure_code(root) == "INVALID_TICKET"


def test_service_without_proxy_permission(
    app: Any, client: FlaskClient, browser: Any, callback: CallbackServer
) -> None:
    make_account(app, "sam", profile=Profile.STAFF)
    ticket = browser.service_ticket("https://staff.example.org/", username="sam")
    root = validate_with_pgt(client, ticket, "https://staff.example.org/", callback.url())
    assert failure_code(root) == "UNAUTHORIZED_SERVICE_PROXY"
    assert callback.received == []


def test_proxy_endpoint_errors(
    client: FlaskClient, alice: Account, browser: Any, callback: CallbackServer
) -> None:
    pgt = obtain_pgt(client, browser, callback)
    assert failure_code(xml(client, "/proxy")) == "INVALID_REQUEST"
    assert failure_code(xml(client, "/proxy", pgt=pgt)) == "INVALID_REQUEST"
    assert failure_code(xml(client, "/proxy", targetService=BACKEND)) == "INVALID_REQUEST"
    unknown = xml(client, "/proxy", pgt="PGT-1-unknownunknownunknown", targetService=BACKEND)
    assert failure_code(unknown) == "INVALID_TICKET"
    # A service ticket is not a proxy-granting ticket (SSO: signing in again would end the PGT).
    sso = client.get("/login", query_string={"service": APP})
    assert sso.status_code == 302
    st = sso.headers["Location"].split("ticket=", 1)[1]
    assert failure_code(xml(client, "/proxy", pgt=st, targetService=BACKEND)) == "INVALID_TICKET"
    root = xml(client, "/proxy", pgt=pgt, targetService="https://unregistered.example.net/")
    assert failure_code(root) == "UNAUTHORIZED_SERVICE"
    # The PGT itself is still good.
    proxy_ticket(client, pgt, BACKEND)


def test_logout_ends_the_pgt(
    client: FlaskClient, alice: Account, browser: Any, callback: CallbackServer
) -> None:
    pgt = obtain_pgt(client, browser, callback)
    proxy_ticket(client, pgt, BACKEND)
    assert client.get("/logout").status_code == 200
    root = xml(client, "/proxy", pgt=pgt, targetService=BACKEND)
    assert failure_code(root) == "INVALID_TICKET"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirecting_callback_gets_no_pgt_and_the_redirect_is_not_followed(
    client: FlaskClient,
    alice: Account,
    browser: Any,
    start_callback: Callable[..., CallbackServer],
    status: int,
) -> None:
    # Both ends are HTTPS, trusted and within the service's callback pattern:
    # still, a 3xx is a failed callback (2.5.4 asks for a 200), and the
    # second URL, never checked against the pattern, is never called.
    elsewhere = start_callback()
    redirecting = start_callback(status=status, location=elsewhere.url("/elsewhere"))
    ticket = browser.service_ticket(APP)
    root = validate_with_pgt(client, ticket, APP, redirecting.url())
    assert failure_code(root) == "INVALID_PROXY_CALLBACK"
    assert len(redirecting.received) == 1
    assert elsewhere.received == []
    root = xml(client, "/proxy", pgt=redirecting.received[0]["pgtId"], targetService=BACKEND)
    assert failure_code(root) == "INVALID_TICKET"
