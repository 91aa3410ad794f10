"""Browser tests: the real server under gunicorn, the demo CAS client, Debian's Chromium.

One session starts:

- the CAS server as in production (``gunicorn -c config/gunicorn.conf.py wsgi:app``,
  2 workers) on a free port, with a TOML written here (SQLite in a temporary
  folder, bcrypt cost 4), on a copy of a database made once per session by
  ``cas-server db init`` and ``cas-server demo``;
- ``scripts/demo_client.py``, the demo ENT (back-channel single logout) and
  Moodle (front-channel single logout), registered as services on its own
  free port (plus two services that only name a theme);
- headless Chromium (``/usr/bin/chromium``, never ``playwright install``).

A second session, ``flow_stack``, starts only for the tests that ask for it:
the same processes with the example charters (``config/charters``) and the
UPHF password policy, for the steps between the password and the service.
``flow_app`` is the app built in the test process on that stack's database,
to prepare accounts and read sessions with the server's own objects.

A third, ``features_stack``, also only on demand: the server alone (no demo
client) with what the other two keep off: impersonation, help requests,
registration with approval, mail to ``features_sink`` (an SMTP server in this
process). The help desk's, help requests' and registration's pages share it.

Helpers: ``audit(page, name)`` runs axe-core (WCAG 2.1 A and AA rules) and
fails on serious or critical violations; ``shoot(page, name)`` writes phone
and desktop screenshots to ``screenshots/``. At the end of the session,
``screenshots/accessibility.md`` sums up every audited page.

What the tests share besides fixtures (``Stack``, viewports, ``login_url``,
``sign_in``, ``add_account``) is in ``tests/support/browser.py``.

Chromium and axe-core come from ``scripts/install-test-servers.sh``
(``make browser-deps``). Without them the tests skip, except when ``CI`` is
set: there, a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote

import pytest

from tests.support.browser import DESKTOP, NARROWEST, PHONE, Stack, cas_toml, feature_stack
from tests.support.cli import run_cas_server
from tests.support.gunicorn import server_env, start_gunicorn, stop, wait_until_up
from tests.support.outbound import SmtpSink
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.servers import missing

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
AXE_DIR = ROOT / ".cache" / "axe-core" / "node_modules" / "axe-core"
AXE_JS = AXE_DIR / "axe.min.js"
SCREENSHOTS = ROOT / "screenshots"
CHROME_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--disable-quic",
]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("critical", "serious")
IMPACTS = ("critical", "serious", "moderate", "minor")
INSTALL_HINT = "run `make browser-deps` (scripts/install-test-servers.sh) as root"


def unavailable(reason: str) -> NoReturn:
    """A missing tool skips the browser tests on a workstation, fails them in CI."""
    missing(reason, "browser tests must run", pytrace=False)


def services_toml(client_port: int) -> str:
    host = rf"^http://127\.0\.0\.1:{client_port}"
    base = f"http://127.0.0.1:{client_port}"
    return f"""\
[[services]]
id = "demo-ent"
name = "ENT de démonstration"
url_pattern = '{host}/ent(/.*)?$'
evaluation_order = 10
release_attributes = ["uid", "displayName", "givenName", "sn", "mail", "eduPersonAffiliation"]
logout_url = "{base}/ent/slo"
logout_type = "back_channel"

[[services]]
id = "demo-moodle"
name = "Moodle de démonstration"
url_pattern = '{host}/moodle(/.*)?$'
evaluation_order = 20
release_attributes = [{{ name = "mail", as = "email" }}, "eduPersonAffiliation"]
logout_url = "{base}/moodle/slo"
logout_type = "front_channel"
[services.access]
affiliations = ["student", "faculty"]

[[services]]
id = "theme-univ"
name = "Sésame"
url_pattern = '{host}/univ-exemple(/.*)?$'
evaluation_order = 30
theme = "univ-exemple"

[[services]]
id = "theme-college"
name = "ENT du collège"
url_pattern = '{host}/college-exemple(/.*)?$'
evaluation_order = 40
theme = "college-exemple"
"""


def run_cli(env: dict[str, str], *args: str) -> None:
    result = run_cas_server(env, *args, timeout=60)
    if result.returncode != 0:
        pytest.fail(f"cas-server {' '.join(args)}: {result.stdout}{result.stderr}", pytrace=False)


def write_config(
    base: Path, cas_url: str, client_port: int, *, charters: str = "", policy: str = "nist"
) -> Path:
    """``base/cas.toml`` (and the services it names) for a server on ``base/cas.sqlite3``."""
    services = base / "services.toml"
    services.write_text(services_toml(client_port), encoding="utf-8")
    return cas_toml(base, cas_url, services, policy=policy, charters=charters)


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database after ``cas-server db init`` and ``cas-server demo``; each stack copies it."""
    base = tmp_path_factory.mktemp("browser-demo-database")
    env = server_env(write_config(base, "http://127.0.0.1", client_port=1))
    run_cli(env, "db", "init")
    run_cli(env, "demo")
    return base / "cas.sqlite3"


@contextmanager
def running_stack(
    base: Path, database: Path, *, charters: str = "", policy: str = "nist"
) -> Iterator[Stack]:
    """The CAS server under gunicorn and the demo client, each on a free port.

    ``database``: copied as this server's SQLite database;
    ``charters``: the charters file (empty: a sign-in goes straight through);
    ``policy``: the password policy profile (``config/password-policies``).
    """
    cas_port, client_port = free_port(), free_port()
    cas_url = f"http://127.0.0.1:{cas_port}"
    client_url = f"http://127.0.0.1:{client_port}"
    config = write_config(base, cas_url, client_port, charters=charters, policy=policy)
    shutil.copyfile(database, base / "cas.sqlite3")
    env = server_env(config)

    processes: list[subprocess.Popen[bytes]] = []
    try:
        client_log = base / "demo-client.log"
        with client_log.open("wb") as log:
            client = subprocess.Popen(
                [sys.executable, "scripts/demo_client.py", "--port", str(client_port)],
                cwd=ROOT,
                env={**env, "CAS_URL": cas_url},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(client)
        server_log = base / "gunicorn.log"
        server = start_gunicorn(
            {**env, "GUNICORN_BIND": f"127.0.0.1:{cas_port}", "GUNICORN_WORKERS": "2"},
            server_log,
        )
        processes.append(server)
        wait_until_up(server, cas_url + "/login", 200, server_log, "gunicorn")
        wait_until_up(client, client_url + "/ent/", 302, client_log, "demo client")
        yield Stack(cas=cas_url, client=client_url, config=config)
    finally:
        for process in reversed(processes):
            stop(process)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, demo_database: Path) -> Iterator[Stack]:
    """The server with no charter (charters have their own stack): sign-ins go straight through."""
    with running_stack(tmp_path_factory.mktemp("browser-stack"), demo_database) as running:
        yield running


@pytest.fixture(scope="session")
def flow_stack(tmp_path_factory: pytest.TempPathFactory, demo_database: Path) -> Iterator[Stack]:
    """The server with the example charters and the UPHF password policy."""
    with running_stack(
        tmp_path_factory.mktemp("browser-flow-stack"),
        demo_database,
        charters=str(ROOT / "config" / "charters" / "charters.toml"),
        policy="uphf",
    ) as running:
        yield running


@pytest.fixture(scope="session")
def flow_app(flow_stack: Stack) -> Any:
    """The app in this process on ``flow_stack``'s configuration and database."""
    from cas_server import create_app

    return create_app(flow_stack.config, environ={})


@pytest.fixture(scope="session")
def features_sink() -> Iterator[SmtpSink]:
    """The SMTP server ``features_stack`` mails to."""
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture(scope="session")
def features_stack(
    tmp_path_factory: pytest.TempPathFactory, demo_database: Path, features_sink: SmtpSink
) -> Iterator[Stack]:
    """The server with impersonation, help requests and registration (with approval) on."""
    features = (
        "[sessions]\nimpersonation = true\n"
        "[help_requests]\nenabled = true\n"
        "[registration]\nenabled = true\nrequire_approval = true\n"
        f'[mail]\nbackend = "smtp"\nhost = "127.0.0.1"\nport = {features_sink.port}\n'
        'from_address = "sesame@univ-demo.fr"\n'
    )
    with feature_stack(
        tmp_path_factory.mktemp("browser-features-stack"), demo_database, features
    ) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (launched once per session)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (requirements-dev.txt)")
    if not CHROMIUM.is_file():
        unavailable(f"no Chromium at {CHROMIUM}: {INSTALL_HINT}")
    if not AXE_JS.is_file():
        unavailable(f"no axe-core at {AXE_JS}: {INSTALL_HINT}")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROME_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh French-speaking browser (no cookies) on a desktop viewport.

    ``bypass_csp``: the server's CSP (``script-src 'self'``) would refuse the
    injected axe-core script; the pages themselves need no script.
    """
    context = browser.new_context(bypass_csp=True, locale="fr-FR", viewport=DESKTOP)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@dataclass
class AccessibilityLog:
    """Every audited page and its axe-core violations, by impact."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    axe_version: str = ""
    browser_version: str = ""

    def markdown(self) -> str:
        lines = [
            "# Accessibility audit (axe-core, WCAG 2.1 A and AA rules)",
            "",
            f"Written by `tests/browser` (axe-core {self.axe_version}, "
            f"Chromium {self.browser_version}). Violations by impact; "
            "the suite fails on any critical or serious one. "
            '"Needs review" lists checks axe could not decide alone.',
            "",
            "| page | URL | critical | serious | moderate | minor | rules | needs review |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, row in sorted(self.rows.items()):
            counts = " | ".join(str(row["counts"][impact]) for impact in IMPACTS)
            rules = ", ".join(row["rules"]) or "–"
            review = ", ".join(row["incomplete"]) or "–"
            lines.append(f"| {name} | `{row['path']}` | {counts} | {rules} | {review} |")
        return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def accessibility_log(browser: Any) -> Iterator[AccessibilityLog]:
    log = AccessibilityLog(browser_version=browser.version)
    yield log
    if log.rows:
        SCREENSHOTS.mkdir(exist_ok=True)
        (SCREENSHOTS / "accessibility.md").write_text(log.markdown(), encoding="utf-8")


def describe(violations: list[dict[str, Any]]) -> str:
    out = []
    for v in violations:
        out.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            out.append(f"    at {' '.join(node['target'])}: {node['html'][:160]}")
            summary = (node.get("failureSummary") or "").replace("\n", " / ")
            if summary:
                out.append(f"      {summary[:300]}")
    return "\n".join(out)


@pytest.fixture
def audit(accessibility_log: AccessibilityLog) -> Callable[[Any, str], list[dict[str, Any]]]:
    """audit(page, name): axe-core on the page as it is; fails on serious or critical."""

    def run(page: Any, name: str) -> list[dict[str, Any]]:
        page.add_script_tag(path=str(AXE_JS))
        result = page.evaluate(
            """async (tags) => {
                const r = await axe.run(document, {runOnly: {type: "tag", values: tags}});
                const slim = (list) => list.map((v) => ({
                    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                    nodes: v.nodes.map((n) => ({
                        target: n.target.map(String), html: n.html,
                        failureSummary: n.failureSummary})),
                }));
                return {version: axe.version, violations: slim(r.violations),
                        incomplete: slim(r.incomplete)};
            }""",
            WCAG_TAGS,
        )
        violations: list[dict[str, Any]] = result["violations"]
        accessibility_log.axe_version = result["version"]
        counts = dict.fromkeys(IMPACTS, 0)
        for v in violations:
            counts[v["impact"] or "minor"] += 1
        # Ports change from run to run: keep the table stable.
        path = "/" + unquote(page.url).split("//", 1)[-1].split("/", 1)[-1]
        accessibility_log.rows[name] = {
            "path": re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", path),
            "counts": counts,
            "rules": sorted(f"{v['id']} ({v['impact']})" for v in violations),
            "incomplete": sorted({v["id"] for v in result["incomplete"]}),
        }
        blocking = [v for v in violations if v["impact"] in BLOCKING]
        assert not blocking, f"{name}: accessibility violations\n{describe(blocking)}"
        return violations

    return run


@pytest.fixture
def shoot() -> Callable[[Any, str], None]:
    """shoot(page, name): full-page screenshots on a phone and a desktop viewport.

    Also checks the page reflows down to 320 CSS pixels wide (no horizontal
    scrolling, WCAG 1.4.10).
    """

    def run(page: Any, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        before = page.viewport_size
        try:
            page.set_viewport_size(NARROWEST)
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{name}: scrolls sideways by {overflow}px at {NARROWEST}"
            for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
                page.set_viewport_size(size)
                page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
                overflow = page.evaluate(
                    "() => document.documentElement.scrollWidth - window.innerWidth"
                )
                assert overflow <= 0, f"{name}: scrolls sideways by {overflow}px at {size}"
        finally:
            page.set_viewport_size(before)

    return run
