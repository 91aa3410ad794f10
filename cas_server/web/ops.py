"""Operations endpoints and hooks: /health, /metrics, request ids, request metrics.

``/health`` tells anonymous callers only ``{"status": "ok"|"degraded"}``
(HTTP 200 or 503, for load balancers); with the configured bearer token it
also gives each check (database, Redis, LDAP) with its latency and error
class. A SAML metadata source that failed adds ``"warnings": ["saml_metadata"]``
(still 200). The metrics page answers the bearer token of ``[metrics] token``
when one is set, else only the addresses of ``[metrics] allow`` (this host
by default): it tells who signs in how often, and which back-ends fail.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, g, jsonify, request
from sqlalchemy import text

from ..observability import metrics
from ..observability.logs import (
    REQUEST_ID_HEADER,
    configure_logging,
    new_request_id,
    watch_secret_routes,
)
from ..runtime.container import container
from ..runtime.infrastructure import Infrastructure
from ..settings.infrastructure import Network

log = logging.getLogger(__name__)
# Headers a reverse proxy adds: without trusted proxies, a request that carries
# one came through a proxy, so its loopback peer address says nothing.
FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


def _authorized(token: str) -> bool:
    if not token:
        return False
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)


def _check(probe: Callable[[], Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # a health check reports every failure, whatever it is
        log.warning("health check failed: %s", exc.__class__.__name__)
        return {"ok": False, "ms": _ms(started), "error": exc.__class__.__name__}
    return {"ok": True, "ms": _ms(started)}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _ping_database() -> None:
    with container().engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _infra() -> Infrastructure:
    infra = container().infra
    assert infra is not None
    return infra


def health() -> tuple[Response, int]:
    infra = _infra()
    checks = {"database": _check(_ping_database)}
    if infra.redis is not None:
        checks["redis"] = _check(infra.redis.ping)
    if infra.ldap is not None:
        checks["ldap"] = _check(infra.ldap.ping)
    ok = all(c["ok"] for c in checks.values())
    body: dict[str, Any] = {"status": "ok" if ok else "degraded"}
    authorized = _authorized(infra.settings.ops.health_token)
    if authorized:
        body["checks"] = checks
    _saml_metadata(body, authorized)
    return jsonify(body), 200 if ok else 503


def _saml_metadata(body: dict[str, Any], authorized: bool) -> None:
    """A metadata source whose last refresh failed is a warning, never a 503: the last
    good copy still serves, and a federation's outage must not take every node out
    of the load balancer (#18). The health token also gets each source's status."""
    saml = container().saml
    if saml is None:
        return
    statuses = saml.sources.status()
    if any(not s.ok for s in statuses):
        body["warnings"] = ["saml_metadata"]
    if authorized:
        body["saml_metadata"] = [
            {
                "name": s.name,
                "kind": s.kind,
                "ok": s.ok,
                "entities": s.entities,
                "last_success": s.last_success,
                "last_attempt": s.last_attempt,
                "error": s.error,
                "valid_until": s.valid_until,
            }
            for s in statuses
        ]


def _in(address: str | None, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False  # a Unix socket peer, or nothing usable: not trusted
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def _address_allowed(networks: tuple[Network, ...]) -> bool:
    """Whether the caller's address is in the allow-list, whatever the headers say.

    With ``trusted_proxies``, both the connection's peer (the proxy, before
    ProxyFix rewrote it) and the client address the proxy forwarded must be
    allowed: a forged X-Forwarded-For sent straight to the app, or an
    outsider coming through a local proxy, is refused. Without trusted
    proxies, a forwarding header means the request came through a proxy,
    whose loopback address stands for any outsider: refused too.
    """
    peer = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR")
    if container().settings.trusted_proxies == 0:
        if any(name in request.headers for name in FORWARDING_HEADERS):
            return False
        return _in(request.remote_addr, networks)
    return _in(request.remote_addr, networks) and (peer is None or _in(peer, networks))


def metrics_page() -> Response | tuple[str, int]:
    ops = _infra().settings.ops
    if ops.metrics_token:
        # A token, once set, is required from every address.
        if not _authorized(ops.metrics_token):
            return "unauthorized\n", 401
    elif not _address_allowed(ops.metrics_allow):
        return "forbidden\n", 403
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)


def _start() -> None:
    g.request_id = new_request_id(request.headers.get(REQUEST_ID_HEADER))
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id") or new_request_id(None)
    started = g.get("started")
    endpoint = request.endpoint or "unknown"
    if started is not None and endpoint != "theme_static":
        # Any token is a method to werkzeug: the label keeps to the known ones.
        method = request.method if request.method in METHODS else "OTHER"
        metrics.labelled(metrics.HTTP_SECONDS, endpoint, method).observe(
            time.perf_counter() - started
        )
        metrics.labelled(metrics.HTTP_RESPONSES, endpoint, str(response.status_code)).inc()
    return response


def init_app(app: Flask, infra: Infrastructure) -> None:
    ops = infra.settings.ops
    configure_logging(ops.log_format, ops.log_level)
    # Mailed-link secrets (routes with a <secret> part) never reach a log line;
    # the routes are read from the URL map as they are added.
    watch_secret_routes(app.url_map)
    app.before_request(_start)
    app.after_request(_finish)
    app.add_url_rule(ops.health_path, "ops.health", health, methods=["GET"])
    if ops.metrics_enabled:
        app.add_url_rule(ops.metrics_path, "ops.metrics", metrics_page, methods=["GET"])
