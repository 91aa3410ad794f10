"""The ``cas-server`` command, run in-process against a test application."""

from __future__ import annotations

import os
from typing import Any

from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner

from cas_server.cli import main


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
