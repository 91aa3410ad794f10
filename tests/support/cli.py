"""The ``cas-server`` command: in-process against a test application, or as a process."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner

from cas_server.cli import main
from tests.support.paths import BIN, ROOT


class CommandRunner(FlaskCliRunner):
    """Flask's CLI runner, on the ``cas-server`` group instead of ``app.cli``.

    The application factory registers no command (the command line builds
    the application, never the other way round), so ``app.cli`` has none.
    """

    def invoke(self, cli: Any = None, args: Any = None, **kwargs: Any) -> Result:
        # FlaskGroup marks the process as "run from the flask command"; the mark would
        # reach the servers later tests start (app.run() would then refuse to serve).
        before = os.environ.get("FLASK_RUN_FROM_CLI")
        try:
            return super().invoke(cli or main, args, **kwargs)
        finally:
            if before is None:
                os.environ.pop("FLASK_RUN_FROM_CLI", None)
            else:
                os.environ["FLASK_RUN_FROM_CLI"] = before


def cli_runner(app: Flask) -> CommandRunner:
    return CommandRunner(app)


def run_cas_server(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``cas-server ARGS`` as its own process (this virtualenv's entry point), from the checkout.

    For the suites that run a deployment; each caller checks the result its own way.
    """
    return subprocess.run(
        [str(BIN / "cas-server"), *args],
        input=stdin,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
