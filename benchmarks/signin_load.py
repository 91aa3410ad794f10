"""Password sign-in load: what a browser does, many times at once, in its own process.

Each sign-in is a new browser: GET the login form (which sets the CSRF cookie
or session and any login ticket), then POST the credentials with every hidden
field of the form; a good answer is a 302 to the service with a ticket. The
same code signs in to every server of the benchmark (ours, django-cas-server,
django-mama-cas), whatever the names of their hidden fields.

    python benchmarks/signin_load.py run --base http://127.0.0.1:8000 --service URL \
        --username bench --concurrency 8 --seconds 10      # SIGNIN_PASSWORD=… in the environment
    python benchmarks/signin_load.py sessions --count 8 …   # cookies of signed-in browsers

Prints one JSON object. Requests are sent to the loopback address only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import requests


class _Forms(HTMLParser):
    """The forms of a page: action and (name, value, type) of each input."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, object]] = []
        self._current: dict[str, object] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = {"action": values.get("action", ""), "inputs": []}
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None:
            inputs = self._current["inputs"]
            assert isinstance(inputs, list)
            inputs.append(
                (values.get("name", ""), values.get("value", ""), values.get("type", "text"))
            )

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def login_form(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the form that has a password input."""
    parser = _Forms()
    parser.feed(page)
    for form in parser.forms:
        inputs = form["inputs"]
        assert isinstance(inputs, list)
        if any(kind == "password" for _, _, kind in inputs):
            hidden = {name: value for name, value, kind in inputs if kind == "hidden" and name}
            return str(form["action"]), hidden
    raise ValueError("no login form with a password field on the page")


class SignIn:
    def __init__(self, base: str, path: str, service: str, username: str, password: str) -> None:
        if urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("the sign-in load only targets the loopback address")
        self.login_url = f"{base}{path}?{urlencode({'service': service})}"
        self.service = service
        self.username = username
        self.password = password

    def once(self) -> tuple[bool, requests.Session, str]:
        """One sign-in with a new browser; (success, the browser, what went wrong)."""
        browser = requests.Session()
        browser.trust_env = False
        page = browser.get(self.login_url, timeout=60, allow_redirects=False)
        if page.status_code != 200:
            return False, browser, f"GET form: HTTP {page.status_code}"
        try:
            action, fields = login_form(page.text)
        except ValueError as exc:
            return False, browser, str(exc)
        fields.setdefault("service", self.service)
        fields["username"] = self.username
        fields["password"] = self.password
        target = urljoin(page.url, action) if action else page.url
        answer = browser.post(target, data=fields, timeout=120, allow_redirects=False)
        location = answer.headers.get("Location", "")
        if (
            answer.status_code == 302
            and location.startswith(self.service)
            and "ticket=" in location
        ):
            return True, browser, ""
        return False, browser, f"POST: HTTP {answer.status_code} {location[:80]}"


def run(sign_in: SignIn, concurrency: int, seconds: float) -> dict[str, object]:
    """``concurrency`` browsers sign in again and again for ``seconds``.

    The rate is taken while every browser is busy: from the moment the last
    one finished its first sign-in to the moment the first one finished its
    last, so the ramp-up and the tail (fewer browsers left) do not count.
    """
    start = time.monotonic()
    end = start + seconds
    finished: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[str] = []
    lock = threading.Lock()

    def loop(mine: list[float]) -> None:
        while time.monotonic() < end:
            try:
                ok, browser, error = sign_in.once()
                browser.close()
            except requests.RequestException as exc:
                ok, error = False, exc.__class__.__name__
            if ok:
                mine.append(time.monotonic())
            else:
                with lock:
                    errors.append(error)

    threads = [threading.Thread(target=loop, args=(f,), daemon=True) for f in finished]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 300)
    elapsed = time.monotonic() - start
    total = sum(len(f) for f in finished)
    rate, window = None, 0.0
    if all(len(f) >= 2 for f in finished):
        t0 = max(f[0] for f in finished)
        t1 = min(f[-1] for f in finished)
        inside = sum(1 for f in finished for t in f if t0 < t <= t1)
        window = t1 - t0
        if window > 0.4 * seconds and inside >= 10:
            rate = inside / window
    steady = rate is not None
    if rate is None and total:
        # Too few sign-ins for a steady window: the whole run, ramp-up included (lower).
        rate = total / elapsed
    return {
        "sign_ins": total,
        "errors": len(errors),
        "first_errors": sorted(set(errors))[:5],
        "sign_ins_per_second": rate,
        "steady_window": steady,
        "window_seconds": window,
        "overall_per_second": total / elapsed if elapsed else None,
        "seconds": seconds,
        "concurrency": concurrency,
    }


def sessions(sign_in: SignIn, count: int) -> dict[str, object]:
    cookies: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        ok, browser, error = sign_in.once()
        with lock:
            if ok:
                cookies.append("; ".join(f"{c.name}={c.value}" for c in browser.cookies))
            else:
                errors.append(error)
        browser.close()

    threads = [threading.Thread(target=one, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return {"cookies": cookies, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("run", "sessions"))
    parser.add_argument("--base", required=True)
    parser.add_argument("--path", default="/login")
    parser.add_argument("--service", required=True)
    parser.add_argument("--username", required=True)
    # From the environment, so the password is not on a command line.
    parser.add_argument("--password", default=os.environ.get("SIGNIN_PASSWORD", ""))
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=8)
    args = parser.parse_args()
    sign_in = SignIn(args.base, args.path, args.service, args.username, args.password)
    if args.mode == "run":
        result = run(sign_in, args.concurrency, args.seconds)
    else:
        result = sessions(sign_in, args.count)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
