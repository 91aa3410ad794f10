"""Application logs: plain text or one JSON object per line, each with the request id.

The request id comes from the ``X-Request-Id`` header (set by the reverse
proxy, e.g. nginx's ``$request_id``) when it looks like one, or is made
here; it is echoed in the response, so one id follows a request from the
proxy's log to ours.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime

from flask import g, has_request_context

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
            entry["exception"] = self.formatException(record.exc_info)
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
