"""The systemd units of config/systemd/: `systemd-analyze verify` and `security`, offline.

The units name a release in /opt/cas-server and the user ``cas-server``,
which this machine does not have: each test builds a throwaway root with
the units in /etc/systemd/system, a copy of the host's own unit folder
(sysinit.target and the rest), stand-in executables for every ``Exec*``
command and the user made by ``systemd-sysusers`` from the shipped file,
and runs ``systemd-analyze --root=<it>``. Without systemd-analyze the tests
skip, except under CI.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from cas_server.cli import main
from cas_server.settings.server import load_raw
from tests.support.gunicorn import server_env, start_gunicorn, tail, wait_until_up
from tests.support.paths import ROOT
from tests.support.paths import SERVICES as SERVICE_REGISTRY
from tests.support.ports import free_port
from tests.support.servers import missing

UNITS = ROOT / "config" / "systemd"
SERVICES = ("cas-server.service", "cas-server-purge.service", "cas-server-ldap-sync.service")
TIMERS = ("cas-server-purge.timer", "cas-server-ldap-sync.timer")
HOST_UNITS = Path("/usr/lib/systemd/system")
# systemd-analyze security's scale: 0 (locked down) to 10 (nothing restricted).
MAX_EXPOSURE = 2.0


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        missing(f"{name} is not installed (apt-get install systemd)", "the units must be checked")
    return found


def _settings(text: str) -> list[tuple[str, str]]:
    """(key, value) of every assignment of a unit file, in order (keys may repeat)."""
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs


def _commands(text: str) -> list[list[str]]:
    """The Exec* command lines, split, systemd's prefixes (-@:+!) removed."""
    return [
        value.lstrip("-@:+!").split()
        for key, value in _settings(text)
        if key.startswith("Exec") and value
    ]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root with the units installed, the executables they name, and the user."""
    if not HOST_UNITS.is_dir():
        missing(f"{HOST_UNITS} is missing (systemd not installed)", "the units must be checked")
    root = tmp_path / "root"
    system = root / "etc" / "systemd" / "system"
    system.mkdir(parents=True)
    shutil.copytree(HOST_UNITS, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    (root / "usr" / "bin").mkdir()
    (root / "bin").symlink_to("usr/bin")  # relative: resolved inside the root
    (root / "lib").symlink_to("usr/lib")
    for name in (*SERVICES, *TIMERS):
        shutil.copy(UNITS / name, system / name)
        for command in _commands((UNITS / name).read_text(encoding="utf-8")):
            stand_in = root / command[0].lstrip("/")
            stand_in.parent.mkdir(parents=True, exist_ok=True)
            stand_in.write_text("#!/bin/sh\n", encoding="utf-8")
            stand_in.chmod(0o755)
    sysusers = root / "etc" / "sysusers.d"
    sysusers.mkdir(parents=True)
    shutil.copy(UNITS / "cas-server.sysusers.conf", sysusers / "cas-server.conf")
    made = subprocess.run(
        [_tool("systemd-sysusers"), f"--root={root}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert re.search(r"^cas-server:x:\d+:\d+:", (root / "etc/passwd").read_text(), re.M)
    return root


def _verify(root: Path, *names: str) -> subprocess.CompletedProcess[str]:
    system = root / "etc" / "systemd" / "system"
    return subprocess.run(
        [
            _tool("systemd-analyze"),
            "verify",
            "--man=no",
            f"--root={root}",
            *(str(system / name) for name in names),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_unit_verifies_without_a_word(root: Path) -> None:
    result = _verify(root, *SERVICES, *TIMERS)
    assert result.returncode == 0, result.stderr
    # Unknown keys and bad values are only warnings (exit code 0): none allowed.
    assert result.stdout == "" and result.stderr == "", result.stdout + result.stderr


def test_the_check_sees_a_mistake(root: Path) -> None:
    unit = root / "etc" / "systemd" / "system" / "cas-server.service"
    unit.write_text(
        unit.read_text(encoding="utf-8").replace("Type=notify", "Type=notifyy\nRestartt=always"),
        encoding="utf-8",
    )
    (root / "opt/cas-server/.venv/bin/gunicorn").unlink()
    result = _verify(root, "cas-server.service")
    assert "notifyy" in result.stderr and "Restartt" in result.stderr
    assert result.returncode != 0 and "gunicorn is not executable" in result.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_hardened(root: Path, name: str) -> None:
    settings = dict(_settings((UNITS / name).read_text(encoding="utf-8")))
    assert settings["User"] == "cas-server"
    assert settings["EnvironmentFile"] == "/etc/cas-server/env"
    assert settings["ProtectSystem"] == "strict"
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["PrivateTmp"] == "yes"
    assert "/var/lib/cas-server" in settings["ReadWritePaths"].split()
    result = subprocess.run(
        [
            _tool("systemd-analyze"),
            "security",
            "--offline=true",
            f"--threshold={int(MAX_EXPOSURE * 10)}",
            f"--root={root}",
            "--no-pager",
            str(root / "etc" / "systemd" / "system" / name),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert level, result.stdout[-2000:] + result.stderr
    assert result.returncode == 0 and float(level.group(1)) <= MAX_EXPOSURE, result.stdout[-3000:]


def test_the_server_restarts_on_failure_and_tells_systemd_it_is_up() -> None:
    settings = dict(_settings((UNITS / "cas-server.service").read_text(encoding="utf-8")))
    assert settings["Restart"] == "on-failure"
    assert settings["Type"] == "notify"  # gunicorn's master sends READY=1
    start = settings["ExecStart"].split()
    assert start[0] == "/opt/cas-server/.venv/bin/gunicorn"
    assert start[1:] == ["-c", "/opt/cas-server/config/gunicorn.conf.py", "wsgi:app"]
    assert (ROOT / "config" / "gunicorn.conf.py").is_file() and (ROOT / "wsgi.py").is_file()
    assert settings["WorkingDirectory"] == "/opt/cas-server"


@pytest.mark.parametrize(
    ("timer", "service", "command"),
    [
        ("cas-server-purge.timer", "cas-server-purge.service", ["purge"]),
        ("cas-server-ldap-sync.timer", "cas-server-ldap-sync.service", ["ldap", "sync"]),
    ],
)
def test_each_timer_starts_a_shipped_unit_running_a_real_command(
    timer: str, service: str, command: list[str]
) -> None:
    timer_settings = dict(_settings((UNITS / timer).read_text(encoding="utf-8")))
    assert timer_settings["Unit"] == service and (UNITS / service).is_file()
    assert "OnCalendar" in timer_settings or "OnUnitActiveSec" in timer_settings
    settings = dict(_settings((UNITS / service).read_text(encoding="utf-8")))
    assert settings["Type"] == "oneshot"
    argv = settings["ExecStart"].split()
    assert argv[0] == "/opt/cas-server/.venv/bin/cas-server"
    assert [a for a in argv[1:] if not a.startswith("$")] == command
    group = main
    for word in command:  # the command exists in this release's `cas-server`
        group = group.commands[word]  # type: ignore[attr-defined]


def test_the_environment_example_is_accepted_by_the_settings(tmp_path: Path) -> None:
    """Every variable of the example, commented ones included, names a real key."""
    example = (UNITS / "cas-server.env.example").read_text(encoding="utf-8")
    environ = {}
    for line in example.splitlines():
        found = re.match(r"^#? ?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if found:
            environ[found.group(1)] = found.group(2)
    assert {"CAS_SERVER_CONFIG", "CAS_SECRET_KEY", "CAS_MFA__ENCRYPTION_KEYS"} <= set(environ)
    site = tmp_path / "site.toml"
    site.write_text("[server]\nmode = 'production'\n", encoding="utf-8")
    environ["CAS_SERVER_CONFIG"] = str(site)
    raw = load_raw(environ=environ)  # a variable naming no key would raise ConfigError
    assert raw["server"]["secret_key"] == environ["CAS_SECRET_KEY"]
    assert raw["database"]["url"].startswith("postgresql+psycopg://")


def test_gunicorn_speaks_the_units_protocol(tmp_path: Path, db_path: Path) -> None:
    """Type=notify: READY=1 on $NOTIFY_SOCKET; ExecReload: HUP keeps serving; stop: SIGTERM."""
    config = tmp_path / "cas.toml"
    config.write_text(
        f"""
[server]
mode = "test"
secret_key = "systemd-test-{"s" * 40}"
[database]
url = "sqlite:///{db_path}"
[services]
paths = ["{SERVICE_REGISTRY}"]
[charters]
path = ""
""",
        encoding="utf-8",
    )
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(60)
    port = free_port()
    env = server_env(config)
    env.update(
        NOTIFY_SOCKET=str(tmp_path / "notify.sock"),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        GUNICORN_ACCESSLOG="/dev/null",
    )
    log = tmp_path / "gunicorn.log"
    process = start_gunicorn(env, log)
    try:
        message = notify.recv(4096).decode()
        assert "READY=1" in message.splitlines(), message
        # READY comes when the master listens; the worker may still be loading.
        url = f"http://127.0.0.1:{port}/health"
        wait_until_up(process, url, 200, log, "gunicorn", timeout=60)
        process.send_signal(signal.SIGHUP)  # systemctl reload
        time.sleep(1.0)
        wait_until_up(process, url, 200, log, "gunicorn after HUP", timeout=60)
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)  # systemctl stop (KillMode=mixed: the master first)
        assert process.wait(timeout=30) == 0, tail(log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        notify.close()
