"""A tiny CAS client standing in for three university services (ENT, Moodle, Paie).

Run by `make run` beside the server, so a newcomer can follow a real
sign-in, single sign-on between services, single logout, and the second
factor the demo payroll ("Paie") requires.
"""

from __future__ import annotations

import argparse
import base64
import html
import os
import secrets
import zlib
from urllib.parse import urlencode

import requests
from flask import Flask, redirect, request, session
from lxml import etree

CAS_URL = os.environ.get("CAS_URL", "http://127.0.0.1:8080")
NS = {"cas": "http://www.yale.edu/tp/cas"}
APPS = {
    "ent": "ENT de démonstration",
    "moodle": "Moodle de démonstration",
    "paie": "Paie de démonstration",  # mfa = "required" (config/demo-services/demo.toml)
}

app = Flask(__name__)
app.secret_key = secrets.token_hex(16)
ended_tickets: set[str] = set()  # filled by single logout requests


def service_url(name: str) -> str:
    return f"{request.host_url}{name}/"


# The attribute table on a phone: long names (longTermAuthenticationRequestTokenUsed)
# and values (addresses) break anywhere, and each row stacks, name above value.
STYLE = (
    "body{font-family:system-ui;max-width:42rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;width:100%;margin:0 0 1rem}"
    "th,td{padding:.25rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}"
    "@media (max-width:30rem){tr,th,td{display:block}th{padding-bottom:0}td{padding-top:0}"
    "tr{padding:.25rem 0;border-bottom:1px solid #ddd}}"
)


def page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang='fr'><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


@app.post("/<name>/")
def back_channel_logout(name: str):  # type: ignore[no-untyped-def]
    """Single logout at the service URL itself, as phpCAS takes it (CAS 3.0 2.3.3)."""
    if name not in APPS or "logoutRequest" not in request.form:
        return "", 400
    return _ended(name, request.form["logoutRequest"], "back")


@app.get("/<name>/")
def home(name: str):  # type: ignore[no-untyped-def]
    if name not in APPS:
        return "unknown demo service", 404
    user = session.get(name)
    if user and user["ticket"] in ended_tickets:
        session.pop(name)
        user = None
    ticket = request.args.get("ticket")
    if ticket:
        answer = requests.get(
            f"{CAS_URL}/p3/serviceValidate",
            params={"service": service_url(name), "ticket": ticket},
            timeout=5,
        )
        doc = etree.fromstring(answer.content)
        success = doc.find("cas:authenticationSuccess", NS)
        if success is None:
            failure = doc.find("cas:authenticationFailure", NS)
            return page(
                APPS[name],
                f"<p>Validation failed: {html.escape(etree.tostring(failure, encoding=str))}</p>",
            )
        attributes: dict[str, list[str]] = {}
        for element in success.find("cas:attributes", NS) or []:
            attributes.setdefault(etree.QName(element).localname, []).append(element.text or "")
        session[name] = {
            "user": success.findtext("cas:user", namespaces=NS),
            "attributes": attributes,
            "ticket": ticket,
        }
        return redirect(service_url(name))
    if not user:
        return redirect(f"{CAS_URL}/login?{urlencode({'service': service_url(name)})}")
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(', '.join(v))}</td></tr>"
        for k, v in sorted(user["attributes"].items())
    )
    others = " · ".join(
        f"<a href='/{other}/'>Aller sur {html.escape(title)}</a>"
        for other, title in APPS.items()
        if other != name
    )
    logout = f"{CAS_URL}/logout?{urlencode({'service': service_url(name)})}"
    return page(
        APPS[name],
        f"<p>Connecté en tant que <strong>{html.escape(user['user'])}</strong>.</p>"
        f"<table>{rows}</table>"
        f"<p>{others} (single sign-on ; la paie demande aussi un second facteur) · "
        f"<a href='{html.escape(logout)}'>Se déconnecter</a></p>",
    )


@app.route("/<name>/slo", methods=["GET", "POST"])
def single_logout(name: str):  # type: ignore[no-untyped-def]
    if request.method == "GET":
        # Front channel: the browser brings base64(zlib DEFLATE(LogoutRequest)).
        compressed = base64.b64decode(request.args.get("logoutRequest", ""))
        return _ended(name, zlib.decompress(compressed).decode("utf-8"), "front")
    return _ended(name, request.form.get("logoutRequest", ""), "back")


def _ended(name: str, message: str, channel: str) -> tuple[str, int]:
    doc = etree.fromstring(message.encode())
    index = doc.findtext("{urn:oasis:names:tc:SAML:2.0:protocol}SessionIndex")
    if index:
        ended_tickets.add(index)
        print(f"[demo client] {channel}-channel logout for {name}: {index}", flush=True)
    return "", 200


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8081)
    port = parser.parse_args().port
    print(
        f"[demo client] ENT, Moodle and Paie on http://127.0.0.1:{port}/ent/, /moodle/ and /paie/",
        flush=True,
    )
    app.run(host="127.0.0.1", port=port)
