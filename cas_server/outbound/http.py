"""Outgoing HTTP: proxy callbacks (2.5.4) and back-channel single logout.

Both verify TLS against ``[http] ca_bundle`` (or the system trust store)
and use short connect/read timeouts: a slow service must never hold a
validation or a logout for long.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

import requests

from ..protocol.cas.services import ServiceRegistry
from ..protocol.cas.slo import logout_form_body, logout_request, plan_logout
from ..protocol.cas.tickets import SingleLogoutTarget

log = logging.getLogger(__name__)


class HttpClient:
    def __init__(self, ca_bundle: str | None, connect_timeout: float, read_timeout: float) -> None:
        self.verify: str | bool = ca_bundle or True
        self.timeout = (connect_timeout, read_timeout)
        # One session per thread: requests.Session is not thread-safe.
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no proxy or netrc from the environment
            session.max_redirects = 0  # neither call follows redirects (see below)
            self._local.session = session
        return session

    def proxy_callback(self, pgt_url: str, pgt_iou: str, pgt_id: str) -> bool:
        """GET pgtUrl?pgtIou=…&pgtId=…; True only on HTTP 200 over trusted HTTPS.

        Redirects are not followed: only ``pgt_url`` was checked against the
        service's callback pattern, and a 3xx is not the 200 that 2.5.4
        asks for, so it is a failed callback (no PGT).
        """
        try:
            response = self._session().get(
                pgt_url,
                params={"pgtIou": pgt_iou, "pgtId": pgt_id},
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            log.warning("proxy callback to %s failed: %s", pgt_url, exc.__class__.__name__)
            return False
        if response.is_redirect or response.is_permanent_redirect:
            log.warning("proxy callback to %s answered a redirect: not followed", pgt_url)
            return False
        if response.status_code != 200:
            log.warning("proxy callback to %s answered %s", pgt_url, response.status_code)
            return False
        return True

    def post_logout(self, target: SingleLogoutTarget, principal_id: str, now: float) -> bool:
        message = logout_request(session_index=target.ticket_id, name_id=principal_id, now=now)
        try:
            response = self._session().post(
                target.logout_url,
                data=logout_form_body(message),
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            log.warning("single logout to %s failed: %s", target.logout_url, exc.__class__.__name__)
            return False
        if response.status_code >= 400:
            log.warning("single logout to %s answered %s", target.logout_url, response.status_code)
            return False
        return True

    def post_soap(self, url: str, envelope: bytes, max_answer: int = 64 * 1024) -> bytes | None:
        """POST a SOAP 1.1 envelope (SAML SOAP binding: back-channel logout to an SP);
        the answer's first ``max_answer`` bytes on HTTP 200, else None. No redirects."""
        try:
            response = self._session().post(
                url,
                data=envelope,
                headers={
                    "Content-Type": "text/xml; charset=utf-8",
                    "SOAPAction": "http://www.oasis-open.org/committees/security",
                },
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            log.warning("SOAP logout to %s failed: %s", url, exc.__class__.__name__)
            return None
        try:
            if response.status_code != 200:
                log.warning("SOAP logout to %s answered %s", url, response.status_code)
                return None
            answer: bytes = response.raw.read(max_answer, decode_content=True)
            return answer
        except (requests.RequestException, OSError, ValueError) as exc:
            log.warning("SOAP logout to %s: unreadable answer (%s)", url, type(exc).__name__)
            return None
        finally:
            response.close()


class SingleLogoutNotifier:
    """Sends back-channel logout requests in the background: the user never waits.

    Only back-channel services are sent a POST: a service defined with
    ``logout_type = "front_channel"`` is told by the browser's logout page
    (``web/login_flow.py``), or not at all when a session ends without a
    browser (console, password reset, expiry).
    """

    def __init__(
        self, client: HttpClient, workers: int, services: ServiceRegistry | None = None
    ) -> None:
        self.client = client
        self.services = services if services is not None else ServiceRegistry(())
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slo")

    def notify(
        self, targets: Iterable[SingleLogoutTarget], principal_id: str, now: float
    ) -> list[Future[bool]]:
        back_channel = plan_logout(targets, self.services).back_channel
        return [
            self.executor.submit(self.client.post_logout, target, principal_id, now)
            for target in back_channel
        ]
