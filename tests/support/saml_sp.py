"""The demo SAML SP (``scripts/demo_saml_sp.py``, pysaml2) in its own process, and a browser.

For the end-to-end tests of the identity provider (``tests/e2e/test_saml_sp_*.py``) and
of ``make run`` (``tests/ops/test_make_run_saml.py``):

``SpSpec`` / ``prepare_sp(work, name, ...)``
    A port chosen for an SP, its keys made and its metadata written (``--write-metadata``)
    before the IdP starts: the IdP's ``[saml] sp_files`` names ``spec.metadata_file``.
``start_sp(spec, idp_metadata_url) -> RunningSp`` / ``RunningSp.stop()``
    The SP's process, waited for until its home page answers.
``SamlBrowser``
    A user agent on ``requests.Session``: cookies kept, redirects followed, SAML
    auto-submit forms (the IdP's and the SP's POST-binding pages) submitted, the
    front-channel logout frames of a logout page loaded, then its "continue" link followed;
    ``sign_in_form`` fills the CAS login form on the way.
``saml_idp_config(...)``
    The ``[saml]`` TOML of an IdP deployment that trusts the given SP metadata files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from tests.support.app import PASSWORD
from tests.support.cli import run_cas_server
from tests.support.gunicorn import server_env, start_gunicorn, stop, tail, wait_until_up
from tests.support.http import new_session
from tests.support.paths import ROOT, SERVICES
from tests.support.ports import free_port

SCRIPT = ROOT / "scripts" / "demo_saml_sp.py"
START_TIMEOUT = 20.0
SIGN_IN_TITLE = 'name="password"'  # the CAS login form is on the page
# What the test deployments release to their SPs (policy "e2e").
RELEASED = (
    "eduPersonPrincipalName",
    "mail",
    "displayName",
    "givenName",
    "sn",
    "eduPersonAffiliation",
    "eduPersonScopedAffiliation",
    "pairwise-id",
)


@dataclass(frozen=True)
class SpSpec:
    name: str
    port: int
    base: str
    entity_id: str
    key_dir: Path
    metadata_file: Path
    args: tuple[str, ...]  # every option but --idp-metadata


def require_xmlsec1() -> None:
    """pysaml2's SP checks signatures and decrypts with the xmlsec1 binary: skip without it
    (fail under CI)."""
    import shutil

    from tests.support.servers import missing

    if shutil.which("xmlsec1") is None:
        missing(
            "xmlsec1 is not installed (apt-get install xmlsec1; scripts/install-test-servers.sh)",
            "the SAML end-to-end tests must run",
        )


def prepare_sp(
    work: Path,
    name: str,
    *,
    encrypt: bool = False,
    binding: str = "redirect",
    sign_requests: bool = True,
    extra: Sequence[str] = (),
    port: int | None = None,
) -> SpSpec:
    """Keys and metadata of an SP on a free port of 127.0.0.1 (files under ``work/name``)."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    folder = work / name
    args = [
        "--port",
        str(port),
        "--key-dir",
        str(folder / "keys"),
        "--binding",
        binding,
        "--name",
        f"SP {name}",
        "--sign-requests" if sign_requests else "--no-sign-requests",
        *(["--encrypt"] if encrypt else []),
        *extra,
    ]
    metadata = folder / "metadata.xml"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--write-metadata", str(metadata)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return SpSpec(
        name=name,
        port=port,
        base=base,
        entity_id=f"{base}/saml/metadata",
        key_dir=folder / "keys",
        metadata_file=metadata,
        args=tuple(args),
    )


@dataclass
class RunningSp:
    spec: SpSpec
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return self.spec.base

    def url(self, path: str) -> str:
        return self.spec.base + path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_text(self) -> str:
        return tail(self.log)


def start_sp(spec: SpSpec, idp_metadata: str, *, log: Path | None = None) -> RunningSp:
    """The SP's process (Flask's server), up when its home page answers 200."""
    log = log or spec.key_dir.parent / "sp.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(SCRIPT), *spec.args, "--idp-metadata", idp_metadata],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = RunningSp(spec, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"SP {spec.name} exited ({process.returncode}):\n{tail(log)}")
        try:
            if requests.get(spec.base + "/", timeout=1.0).status_code == 200:
                return running
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            running.stop()
            pytest.fail(f"SP {spec.name} did not answer within {START_TIMEOUT} s:\n{tail(log)}")
        time.sleep(0.1)


# --- reading pages ----------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    classes: str
    fields: dict[str, str] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # every input, hidden or not


@dataclass
class Page:
    forms: list[Form] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)  # front-channel logout frames
    continue_url: str | None = None


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._form: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(
                a.get("action", ""), a.get("method", "get").lower(), a.get("class", "")
            )
            self.page.forms.append(self._form)
        elif tag == "input" and self._form is not None:
            name = a.get("name")
            if name:
                self._form.names.append(name)
                kind = a.get("type", "text").lower()
                if kind not in ("checkbox", "radio", "submit") or "checked" in a:
                    self._form.fields[name] = a.get("value", "")
        elif tag == "iframe" and "js-front-channel-logout" in a.get("class", ""):
            self.page.frames.append(a.get("src", ""))
        elif tag == "a" and "js-logout-continue" in a.get("class", ""):
            self.page.continue_url = a.get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def read_page(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    return reader.page


def is_saml_form(form: Form) -> bool:
    """A page that a browser submits by itself: the SAML HTTP-POST binding."""
    return form.method == "post" and (
        "js-autosubmit" in form.classes or bool({"SAMLRequest", "SAMLResponse"} & set(form.fields))
    )


def visible_text(html: str) -> str:
    import re

    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


# --- the browser ------------------------------------------------------------------------


class SamlBrowser:
    """A user agent over real HTTP that does what a browser's scripts would do."""

    def __init__(self) -> None:
        self.session = new_session()
        self.visited: list[str] = []  # every URL requested, in order
        self.frames_loaded: list[requests.Response] = []

    def close(self) -> None:
        self.session.close()

    def _record(self, response: requests.Response) -> requests.Response:
        for step in [*response.history, response]:
            self.visited.append(f"{step.request.method} {step.url} -> {step.status_code}")
        return response

    def get(self, url: str, *, follow: bool = True, **kwargs: Any) -> requests.Response:
        """GET; ``follow=False``: this one answer, redirect included, as it came."""
        kwargs.setdefault("allow_redirects", follow)
        response = self._record(self.session.get(url, timeout=15, **kwargs))
        return self.follow(response) if follow else response

    def post(
        self, url: str, data: dict[str, str], *, follow: bool = True, **kwargs: Any
    ) -> requests.Response:
        response = self._record(self.session.post(url, data=data, timeout=15, **kwargs))
        return self.follow(response) if follow else response

    def follow(self, response: requests.Response, limit: int = 20) -> requests.Response:
        """Auto-submit forms, front-channel frames and the logout page's continue link."""
        for _ in range(limit):
            if "html" not in response.headers.get("Content-Type", ""):
                return response
            page = read_page(response.text)
            auto = next((f for f in page.forms if is_saml_form(f)), None)
            if auto is not None:
                target = urljoin(response.url, unescape(auto.action))
                response = self._record(self.session.post(target, data=auto.fields, timeout=15))
                continue
            if page.frames:
                for src in page.frames:
                    frame = self._record(
                        self.session.get(urljoin(response.url, unescape(src)), timeout=15)
                    )
                    self.frames_loaded.append(self.follow(frame))
                if page.continue_url:
                    response = self._record(
                        self.session.get(
                            urljoin(response.url, unescape(page.continue_url)), timeout=15
                        )
                    )
                    continue
            return response
        raise AssertionError("too many automatic steps:\n" + "\n".join(self.visited[-30:]))

    def sign_in_form(
        self, response: requests.Response, username: str = "alice", password: str = PASSWORD
    ) -> requests.Response:
        """Fill the CAS login form shown by ``response`` and follow on."""
        assert SIGN_IN_TITLE in response.text, self.explain(response)
        form = next(f for f in read_page(response.text).forms if "password" in f.names)
        data = dict(form.fields)
        data.update(username=username, password=password)
        data.pop("warn", None)
        answer = self.post(urljoin(response.url, unescape(form.action) or response.url), data)
        return self.accept_charter(answer)

    def accept_charter(self, response: requests.Response) -> requests.Response:
        """The IT charter a deployment may ask to accept once (config/demo.toml does)."""
        if "/login/charter" not in response.url:
            return response
        form = next(f for f in read_page(response.text).forms if "form--charter" in f.classes)
        data = {**form.fields, "decision": "accept"}
        return self.post(urljoin(response.url, unescape(form.action) or response.url), data)

    def sp_session(self, sp: RunningSp) -> dict[str, Any]:
        """What the SP knows of this browser (its /session.json)."""
        answer = self.session.get(sp.url("/session.json"), timeout=10)
        assert answer.status_code == 200, answer.text[:500]
        data: dict[str, Any] = json.loads(answer.text)
        return data

    def sign_in(
        self, sp: RunningSp, query: str = "", username: str = "alice", password: str = PASSWORD
    ) -> requests.Response:
        """SP-initiated sign-in with the password: /saml/login, the CAS form, back at the SP."""
        shown = self.get(sp.url("/saml/login" + query))
        final = self.sign_in_form(shown, username, password)
        assert final.url.startswith(sp.base), self.explain(final)
        return final

    def explain(self, response: requests.Response) -> str:
        return (
            f"{response.status_code} {response.url}\n"
            + visible_text(response.text)[:1500]
            + "\n--- visited:\n"
            + "\n".join(self.visited[-25:])
        )


# --- the identity provider's configuration ------------------------------------------------


def toml_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def seed_idp(env: Mapping[str, str], timeout: float = 60) -> None:
    """The IdP's database of ``env``'s config, with ``alice`` (password PASSWORD) in it."""
    for args, stdin in (
        (("db", "init"), None),
        (
            (
                "users",
                "add",
                "alice",
                "--password-stdin",
                "--given-name",
                "Alice",
                "--family-name",
                "Martin",
                "--attribute",
                "mail=alice@example.org",
                "--profile",
                "student",
            ),
            PASSWORD + "\n",
        ),
    ):
        done = run_cas_server(env, *args, stdin=stdin, timeout=timeout)
        assert done.returncode == 0, done.stdout + done.stderr


def saml_idp_config(
    *,
    signing_key: Path,
    signing_cert: Path,
    sp_files: Iterable[Path],
    scope: str = "example.org",
    release: dict[str, str] | None = None,
    policies: str = "",
    extra: str = "",
) -> str:
    """``[saml]`` for a test or demo deployment (the TOML shape of docs/saml-design)."""
    lines = [
        "[saml]",
        "enabled = true",
        f"key_file = {json.dumps(str(signing_key))}",
        f"cert_file = {json.dumps(str(signing_cert))}",
        f"scope = {json.dumps(scope)}",
        "consent = false",
        f"sp_files = {toml_list(str(p) for p in sp_files)}",
        extra,
        policies,
    ]
    if release:
        lines.append("[saml.release]")
        lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in release.items()]
    return "\n".join(lines) + "\n"


def idp_key_pair(folder: Path, env: dict[str, str] | None = None) -> tuple[Path, Path]:
    """The IdP's signing pair: ``cas-server saml keygen folder`` (H2's command), or, where
    this checkout's command line has none yet, the same kind of pair made here."""
    import os

    from tests.support.paths import BIN

    folder.mkdir(parents=True, exist_ok=True)
    base_env = {k: v for k, v in (env or os.environ).items() if not k.startswith("CAS_")}
    done = subprocess.run(
        [str(BIN / "cas-server"), "saml", "keygen", str(folder), "--bits", "2048"],
        env=base_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    pairs = [(k, k.with_suffix(".crt")) for k in sorted(folder.glob("*.key"))]
    pairs = [(k, c) for k, c in pairs if c.exists()]
    if done.returncode == 0 and pairs:
        return pairs[0]
    made = demo_sp_module().ensure_key_pair(folder, "saml-signing", "test IdP")
    return Path(made.key_file), Path(made.cert_file)


def demo_instance(text: str, instance: Path) -> tuple[str, dict[str, str]]:
    """config/demo.toml's text with its instance/ files under ``instance``, and what
    ``make demo-db`` makes there for its ``[saml]`` (the IdP's signing pair, in
    ``instance/saml``); returns the text and scripts/run-demo.sh's environment for the
    demo SP's keys and metadata."""
    keys = instance / "saml"
    if not (keys / "saml-signing.key").exists():
        idp_key_pair(keys)
    text = text.replace('"../instance/saml/', f'"{instance}/saml/').replace(
        '"../instance/demo-saml-sp/', f'"{instance}/demo-saml-sp/'
    )
    return text, {"DEMO_SAML_SP_DIR": str(instance / "demo-saml-sp")}


def demo_sp_module() -> Any:
    """scripts/demo_saml_sp.py as a module (its key and metadata code)."""
    import importlib.util

    if "demo_saml_sp" in sys.modules:
        return sys.modules["demo_saml_sp"]
    spec = importlib.util.spec_from_file_location("demo_saml_sp", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo_saml_sp"] = module
    spec.loader.exec_module(module)
    return module


# --- a deployment: the IdP under gunicorn and its SPs ----------------------------------


@dataclass
class SamlDeployment:
    base: str
    sps: dict[str, RunningSp]
    log: Path

    def sp(self, name: str) -> RunningSp:
        return self.sps[name]


def policy_toml(entity_ids: Iterable[str]) -> tuple[str, dict[str, str]]:
    policy = (
        "[saml.policies.e2e]\n"
        f"attributes = [{', '.join(repr(a) for a in RELEASED)}]\n"
        'name_id_formats = ["transient", "persistent"]\n'
    )
    return policy, {entity: "e2e" for entity in entity_ids}


def deploy(work: Path, sps: Mapping[str, Mapping[str, Any]]) -> Iterator[SamlDeployment]:
    """Keys, SP metadata, the IdP (gunicorn, 2 gthread workers), then the SPs.

    ``sps``: name -> ``prepare_sp`` options; an SP named ``stranger`` is not trusted.
    """
    require_xmlsec1()
    specs = {name: prepare_sp(work, name, **options) for name, options in sps.items()}
    trusted = {name: spec for name, spec in specs.items() if name != "stranger"}
    key, cert = idp_key_pair(work / "idp")
    policy, release = policy_toml([s.entity_id for s in trusted.values()])
    config = work / "cas.toml"
    config.write_text(
        "[server]\n"
        'mode = "test"\n'
        f'secret_key = "e2e-saml-secret-key-{"z" * 40}"\n'
        "[database]\n"
        f'url = "sqlite:///{work / "cas.sqlite3"}"\n'
        "[passwords]\nbcrypt_cost = 4\n"
        '[charters]\npath = ""\n'
        "[http]\nconnect_timeout = 2.0\nread_timeout = 2.0\n"
        f"[services]\npaths = [{str(SERVICES)!r}]\n"
        + saml_idp_config(
            signing_key=key,
            signing_cert=cert,
            sp_files=[s.metadata_file for s in trusted.values()],
            policies=policy,
            release=release,
        ),
        encoding="utf-8",
    )
    env = server_env(config)
    seed_idp(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = work / "gunicorn.log"
    server = start_gunicorn(
        {
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_WORKER_CLASS": "gthread",
            "CAS_SERVER__PUBLIC_URL": base,
        },
        log,
    )
    running: dict[str, RunningSp] = {}
    try:
        wait_until_up(server, base + "/login", 200, log, "gunicorn")
        metadata = requests.get(base + "/idp/metadata", timeout=10)
        assert metadata.status_code == 200, tail(log)
        for name, spec in specs.items():
            running[name] = start_sp(spec, base + "/idp/metadata")
        yield SamlDeployment(base, running, log)
    finally:
        for sp in running.values():
            sp.stop()
        stop(server)
