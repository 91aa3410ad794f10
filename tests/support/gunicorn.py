"""The real server as production runs it: ``gunicorn -c config/gunicorn.conf.py wsgi:app``.

Shared by the suites that start it (``tests/browser``, ``tests/e2e``, ``tests/multinode``,
``tests/ha``, ``tests/ops``, ``tests/reliability``); each builds the environment its
servers need (workers, worker class, bind address) on top of :func:`server_env`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support.paths import BIN, ROOT

GUNICORN = [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "wsgi:app"]
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def server_env(config: Path) -> dict[str, str]:
    """This environment without CAS_* and GUNICORN* settings, pointed at ``config``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAS_", "GUNICORN"))}
    env["CAS_SERVER_CONFIG"] = str(config)
    return env


def start_gunicorn(
    env: dict[str, str], log: Path, *, append: bool = False, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    """gunicorn of this virtualenv, in its own session (``os.killpg`` takes it all), into
    ``log``; from the checkout, or the tree ``cwd`` (another release's)."""
    with log.open("ab" if append else "wb") as out:
        return subprocess.Popen(
            GUNICORN,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def tail(path: Path, size: int = 4000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-size:]
    except OSError:
        return "(no log)"


def stop(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM to this process (gunicorn's master stops its workers), then SIGKILL."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def wait_until_up(
    process: subprocess.Popen[bytes],
    url: str,
    expected: int,
    log: Path,
    what: str,
    timeout: float = START_TIMEOUT,
) -> None:
    """Until ``url`` answers ``expected`` (redirects not followed); fails if the process ends."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"{what} exited ({process.returncode}):\n{tail(log)}", pytrace=False)
        try:
            if requests.get(url, timeout=1.0, allow_redirects=False).status_code == expected:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not answer within {timeout} s:\n{tail(log)}")
        time.sleep(0.1)
