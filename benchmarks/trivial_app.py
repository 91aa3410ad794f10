"""The ceiling of the stack: a Flask endpoint that does nothing.

Served by benchmarks/run.py with the same gunicorn settings as the CAS server
(config/gunicorn.conf.py, same workers and threads); the CAS figures are
given as a fraction of this one.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/ping")
def ping() -> tuple[str, int, dict[str, str]]:
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}
