"""`make run`'s script: Ctrl-C stops every process cleanly (issue #12, item 25): the
server, the demo CAS client and the demo SAML SP (#18)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.paths import BIN, ROOT
from tests.support.ports import free_port
from tests.support.saml_sp import demo_instance


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_ctrl_c_stops_the_server_and_the_demo_client(tmp_path: Path) -> None:
    config = tmp_path / "demo.toml"
    text, saml_env = demo_instance(
        (ROOT / "config" / "demo.toml")
        .read_text(encoding="utf-8")
        .replace("sqlite:///../instance/demo.sqlite3", f"sqlite:///{tmp_path / 'demo.sqlite3'}")
        .replace(
            'paths = ["services", "demo-services"]', f'paths = ["{ROOT}/config/demo-services"]'
        ),
        tmp_path / "instance",
    )
    config.write_text(text, encoding="utf-8")
    env = {**os.environ, "CAS_SERVER_CONFIG": str(config), **saml_env}
    subprocess.run([str(BIN / "cas-server"), "db", "init"], env=env, check=True, cwd=ROOT)
    port, client_port, sp_port = free_port(), free_port(), free_port()
    process = subprocess.Popen(
        ["bash", "scripts/run-demo.sh"],
        cwd=ROOT,
        env={
            **env,
            "BIN": str(BIN),
            "PORT": str(port),
            "DEMO_CLIENT_PORT": str(client_port),
            "DEMO_SAML_SP_PORT": str(sp_port),
            "DEMO_CONFIG": str(config),
            "GUNICORN_WORKERS": "1",
            "GUNICORN_ACCESSLOG": "/dev/null",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group, as a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + 30
        while not (_listening(port) and _listening(client_port) and _listening(sp_port)):
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "make run did not start"
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends to the whole group
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    text = output.decode("utf-8", "replace")
    assert process.returncode == 0, text
    assert "Segmentation fault" not in text and "Traceback" not in text, text
    assert not _listening(port) and not _listening(client_port) and not _listening(sp_port)
