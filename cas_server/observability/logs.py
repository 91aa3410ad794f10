"""Application logs: plain text or one JSON object per line, each with the request id.

The request id comes from the ``X-Request-Id`` header (set by the reverse
proxy, e.g. nginx's ``$request_id``) when it looks like one, or is made
here; it is echoed in the response, so one id follows a request from the
proxy's log to ours.

Mailed links carry their secret in the path (``/sesame/password/reset/<secret>``…):
:class:`SecretFilter` cuts it out of every line, ours and gunicorn's
(``config/gunicorn.conf.py``), for each route of the URL map that has a
``<secret>`` part. The list comes from the URL map, so a new such route is
covered without being named here.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime

from flask import g, has_request_context
from werkzeug.routing import Map

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def new_request_id(incoming: str | None) -> str:
    """The caller's id if it is a sane token, else a fresh one (no log injection)."""
    if incoming and REQUEST_ID_RE.fullmatch(incoming):
        return incoming
    return secrets.token_hex(16)  # 32 hex digits, like a UUID without its dashes


# The request id of a request answered outside Flask's context (web/fast_path.py).
FAST_PATH_REQUEST_ID: ContextVar[str | None] = ContextVar("fast_path_request_id", default=None)


def current_request_id() -> str | None:
    if has_request_context():
        value = g.get("request_id")
        return str(value) if value else None
    return FAST_PATH_REQUEST_ID.get()


# --- secrets in URL paths -------------------------------------------------------------

SECRET_ARGUMENTS = frozenset({"secret"})
REDACTED = "…"
# One ``<converter(args):name>`` or ``<name>`` part of a rule.
_RULE_PART_RE = re.compile(r"<(?:[^<>:]+:)?([A-Za-z_][A-Za-z0-9_]*)>")
# What a path segment can hold, as a request line or a log line shows it.
_SEGMENT = r"""[^/?#&\s"'<>]+"""


class _SecretRoutes:
    """The pattern of the secret-bearing routes of the last application built."""

    def __init__(self) -> None:
        self.url_map: Map | None = None
        self._key: tuple[int, int] | None = None
        self._pattern: re.Pattern[str] | None = None

    def watch(self, url_map: Map) -> None:
        self.url_map = url_map

    def pattern(self) -> re.Pattern[str] | None:
        url_map = self.url_map
        if url_map is None:
            return None
        rules = list(url_map.iter_rules())
        key = (id(url_map), len(rules))  # routes are added while the app is built
        if key != self._key:
            self._pattern = _compile(rule.rule for rule in rules)
            self._key = key
        return self._pattern


def _compile(rules: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation; each secret segment is a capturing group, the rest is literal."""
    alternatives = []
    for rule in rules:
        parts = _RULE_PART_RE.split(rule)  # static, name, static, name, …, static
        names = parts[1::2]
        if not SECRET_ARGUMENTS.intersection(names):
            continue
        pieces = []
        for index, part in enumerate(parts):
            if index % 2 == 0:
                pieces.append(re.escape(part))
            elif part in SECRET_ARGUMENTS:
                pieces.append(f"({_SEGMENT})")
            else:
                pieces.append(f"(?:{_SEGMENT})")
        alternatives.append("".join(pieces))
    if not alternatives:
        return None
    # Longest first: a rule that is a prefix of another must not win the match.
    alternatives.sort(key=len, reverse=True)
    return re.compile("|".join(alternatives))


def _redact(match: re.Match[str]) -> str:
    text, start = match.group(0), match.start()
    out, position = [], 0
    for index in range(1, (match.re.groups or 0) + 1):
        if match.group(index) is not None:
            begin, end = match.span(index)
            out.append(text[position : begin - start])
            out.append(REDACTED)
            position = end - start
    out.append(text[position:])
    return "".join(out)


SECRET_ROUTES = _SecretRoutes()


def watch_secret_routes(url_map: Map) -> None:
    """Scrub the secret parts of this URL map's routes from the logs (web/ops.py calls it)."""
    SECRET_ROUTES.watch(url_map)


def scrub(text: str) -> str:
    """``text`` with the secret of every secret-bearing path replaced by ``…``."""
    pattern = SECRET_ROUTES.pattern()
    return text if pattern is None else pattern.sub(_redact, text)


class SecretFilter(logging.Filter):
    """Rewrites a record whose message or traceback holds a secret path; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            pattern = SECRET_ROUTES.pattern()
            if pattern is None:
                return True
            message = record.getMessage()
            scrubbed = pattern.sub(_redact, message)
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
            if record.exc_info:
                # Formatters cache the traceback in exc_text: scrub that copy
                # (another handler may have made it already).
                text = record.exc_text or logging.Formatter().formatException(record.exc_info)
                record.exc_text = pattern.sub(_redact, text)
        except Exception:  # a log line must never fail its caller
            return True
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        if record.exc_info:
            # exc_text: already formatted, and scrubbed, by SecretFilter.
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(fmt: str, level: str) -> None:
    """Format the root logger's console handlers (those ``logging.basicConfig`` made)."""
    root = logging.getLogger()
    root.setLevel(level)
    handlers = [h for h in root.handlers if type(h) is logging.StreamHandler]
    if not handlers:
        handler = logging.StreamHandler()
        root.addHandler(handler)
        handlers = [handler]
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    for handler in handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
        if not any(isinstance(f, SecretFilter) for f in handler.filters):
            handler.addFilter(SecretFilter())
