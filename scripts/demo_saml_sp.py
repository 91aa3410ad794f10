"""A SAML 2.0 service provider for the demo and the end-to-end tests: pysaml2's ``Saml2Client``.

``make run`` serves it beside the demo CAS services (port ``DEMO_SAML_SP_PORT``, 8082),
so a newcomer can follow a SAML sign-in at the server's identity provider, single
sign-on with the demo ENT, and single logout. The end-to-end tests start one or more
of them on free ports (``tests/support/saml_sp.py``).

Pages (in French, as the demo CAS client's):
  /                 sign-in links, or who you are: the NameID and the released attributes
  /saml/login       SP-initiated sign-in (``?force_authn=1``, ``?is_passive=1``, ``?binding=post``)
  /saml/acs         the assertion consumer service (HTTP-POST binding)
  /saml/slo         single logout: without a SAML message, starts an SP-initiated logout;
                    with a LogoutRequest (IdP-initiated) ends the matching sessions and
                    answers with a LogoutResponse; with a LogoutResponse, ends the round
  /saml/metadata    this SP's metadata (signing and, with --encrypt, encryption keys; SLO)
  /session.json     this browser's session, for the tests

The identity provider's metadata is fetched on first use (``--idp-metadata``: a URL or a
file), so the SP may start before the server. ``--write-metadata FILE`` writes this SP's
metadata and exits: the server's ``[saml] sp_files`` then names that file.
Sessions live in this process's memory (a cookie holds their id), so an IdP-initiated
logout ends them whichever channel brings it.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from flask import Flask, Response, jsonify, redirect, request, session

BINDINGS = {
    "redirect": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
    "post": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
}
NAME_ID_FORMATS = {
    "transient": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    "persistent": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "unspecified": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
    "email": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
}
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
OUTSTANDING_LIMIT = 1000  # AuthnRequests waiting for an answer (oldest forgotten first)


# --- keys -------------------------------------------------------------------------------


def ensure_key_pair(folder: Path, name: str, common_name: str, bits: int = 2048) -> KeyFiles:
    """``folder/name.key`` and ``.crt``: a self-signed RSA pair, made when absent (0600)."""
    key_file, cert_file = folder / f"{name}.key", folder / f"{name}.crt"
    if key_file.exists() and cert_file.exists():
        return KeyFiles(str(key_file), str(cert_file))
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return KeyFiles(str(key_file), str(cert_file))


@dataclass(frozen=True)
class KeyFiles:
    key_file: str
    cert_file: str


# --- configuration ----------------------------------------------------------------------


@dataclass
class Options:
    port: int
    base_url: str
    entity_id: str
    idp_metadata: str
    key_dir: Path
    binding: str
    encrypt: bool
    sign_requests: bool
    authn_contexts: list[str]
    comparison: str
    name_id_format: str | None
    name: str
    categories: list[str]
    requested_attributes: list[str]


def parse_options(argv: list[str] | None = None) -> tuple[Options, str | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("DEMO_SAML_SP_PORT", "8082"))
    )
    parser.add_argument("--base-url", help="public URL of this SP (default http://127.0.0.1:PORT)")
    parser.add_argument("--entity-id", help="default: BASE_URL/saml/metadata")
    parser.add_argument(
        "--idp-metadata",
        default=os.environ.get("CAS_URL", "http://127.0.0.1:8080") + "/idp/metadata",
        help="the identity provider's metadata: URL or file (default CAS_URL/idp/metadata)",
    )
    parser.add_argument(
        "--key-dir",
        type=Path,
        default=Path("instance/demo-saml-sp"),
        help="sp.key/sp.crt (signing) and enc.key/enc.crt: made when absent",
    )
    parser.add_argument("--binding", choices=sorted(BINDINGS), default="redirect")
    parser.add_argument(
        "--encrypt",
        action="store_true",
        help="publish an encryption key: want encrypted assertions",
    )
    parser.add_argument(
        "--sign-requests",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sign AuthnRequests and LogoutRequests (AuthnRequestsSigned in metadata)",
    )
    parser.add_argument(
        "--authn-context", action="append", default=[], help="RequestedAuthnContext class ref"
    )
    parser.add_argument(
        "--comparison", choices=("exact", "minimum", "maximum", "better"), default="exact"
    )
    parser.add_argument("--name-id-format", choices=sorted(NAME_ID_FORMATS))
    parser.add_argument("--name", default="Service SAML de démonstration")
    parser.add_argument(
        "--entity-category", action="append", default=[], help="entity category URI (metadata)"
    )
    parser.add_argument(
        "--requested-attribute",
        action="append",
        default=[],
        help="friendly name of a RequestedAttribute (metadata, optional)",
    )
    parser.add_argument("--write-metadata", help="write this SP's metadata to FILE and exit")
    args = parser.parse_args(argv)
    base_url = (args.base_url or f"http://127.0.0.1:{args.port}").rstrip("/")
    options = Options(
        port=args.port,
        base_url=base_url,
        entity_id=args.entity_id or f"{base_url}/saml/metadata",
        idp_metadata=args.idp_metadata,
        key_dir=args.key_dir,
        binding=BINDINGS[args.binding],
        encrypt=args.encrypt,
        sign_requests=args.sign_requests,
        authn_contexts=args.authn_context,
        comparison=args.comparison,
        name_id_format=NAME_ID_FORMATS[args.name_id_format] if args.name_id_format else None,
        name=args.name,
        categories=args.entity_category,
        requested_attributes=args.requested_attribute,
    )
    return options, args.write_metadata


def sp_config(options: Options, idp_metadata_xml: str | None) -> Any:
    """pysaml2's SPConfig for these options (with the IdP's metadata when known)."""
    from saml2.config import SPConfig

    signing = ensure_key_pair(options.key_dir, "sp", options.entity_id)
    base = options.base_url
    sp: dict[str, Any] = {
        "name": options.name,
        "ui_info": {"display_name": [{"lang": "fr", "text": options.name}]},
        "endpoints": {
            "assertion_consumer_service": [(f"{base}/saml/acs", BINDINGS["post"])],
            "single_logout_service": [
                (f"{base}/saml/slo", BINDINGS["redirect"]),
                (f"{base}/saml/slo", BINDINGS["post"]),
            ],
        },
        "allow_unsolicited": True,  # IdP-initiated sign-in
        "authn_requests_signed": options.sign_requests,
        "logout_requests_signed": options.sign_requests,
        "logout_responses_signed": options.sign_requests,
        "want_response_signed": True,
        "want_assertions_signed": True,
        "name_id_format": [options.name_id_format or NAME_ID_FORMATS["transient"]],
        "name_id_format_allow_create": True,
    }
    if options.name_id_format:
        sp["name_id_policy_format"] = options.name_id_format
    if options.requested_attributes:
        sp["optional_attributes"] = options.requested_attributes
    config: dict[str, Any] = {
        "entityid": options.entity_id,
        "name": options.name,
        "description": options.name,
        "key_file": signing.key_file,
        "cert_file": signing.cert_file,
        "service": {"sp": sp},
        "metadata": {"inline": [idp_metadata_xml]} if idp_metadata_xml else {},
        "signing_algorithm": RSA_SHA256,
        "digest_algorithm": SHA256,
        "accepted_time_diff": 60,
        "allow_unknown_attributes": True,
        "entity_category": options.categories,
    }
    if options.encrypt:
        encryption = ensure_key_pair(options.key_dir, "enc", options.entity_id)
        config["encryption_keypairs"] = [
            {"key_file": encryption.key_file, "cert_file": encryption.cert_file}
        ]
    conf = SPConfig()
    conf.load(config)
    return conf


def metadata_xml(options: Options) -> str:
    from saml2.metadata import entity_descriptor

    return str(entity_descriptor(sp_config(options, None)))


# --- state ------------------------------------------------------------------------------


@dataclass
class SignedIn:
    """One SAML session at this SP."""

    name_id: str
    name_id_format: str
    name_id_code: str  # saml2.ident.code(NameID): the LogoutRequest needs the whole NameID
    session_index: str | None
    idp: str
    attributes: list[tuple[str, str, list[str]]]  # (label, Name, values)
    authn_context: str
    authn_instant: str
    encrypted: bool
    unsolicited: bool
    signed_in_at: float = field(default_factory=time.time)


class State:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.lock = threading.RLock()
        self.client: Any = None
        self.idp_entity_id = ""
        self.outstanding: dict[str, str] = {}  # AuthnRequest id -> where to go after
        self.sessions: dict[str, SignedIn] = {}
        self.logouts: dict[str, str] = {}  # LogoutRequest id -> session id
        self.sign_ins = 0

    def saml(self) -> Any:
        """The Saml2Client, built on first use from the IdP's metadata (fetched then)."""
        with self.lock:
            if self.client is None:
                from saml2.client import Saml2Client

                source = self.options.idp_metadata
                if source.startswith(("http://", "https://")):
                    answer = requests.get(source, timeout=10)
                    answer.raise_for_status()
                    xml = answer.text
                else:
                    xml = Path(source).read_text(encoding="utf-8")
                client = Saml2Client(config=sp_config(self.options, xml))
                idps = list(client.metadata.identity_providers())
                if len(idps) != 1:
                    raise RuntimeError(f"{source}: expected one identity provider, got {idps}")
                self.client, self.idp_entity_id = client, idps[0]
            return self.client

    def remember_request(self, request_id: str, came_from: str) -> None:
        with self.lock:
            self.outstanding[request_id] = came_from
            while len(self.outstanding) > OUTSTANDING_LIMIT:
                self.outstanding.pop(next(iter(self.outstanding)))


STATE: State  # set by main() or create_app()
app = Flask(__name__)


def create_app(options: Options) -> Flask:
    global STATE
    STATE = State(options)
    app.secret_key = secrets.token_hex(16)
    # Cookies ignore the port: each SP on 127.0.0.1 keeps its own (the server's are
    # TGC and cas_session).
    app.config["SESSION_COOKIE_NAME"] = f"demo_saml_sp_{options.port}"
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    return app


def current() -> SignedIn | None:
    sid = session.get("sid")
    if not sid:
        return None
    with STATE.lock:
        return STATE.sessions.get(sid)


# --- pages ------------------------------------------------------------------------------

STYLE = (
    "body{font-family:system-ui;max-width:48rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;width:100%;margin:0 0 1rem}"
    "th,td{padding:.25rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere;"
    "border-bottom:1px solid #ddd}"
    "small{color:#555}.error{color:#a00}"
    "@media (max-width:30rem){tr,th,td{display:block}th{padding-bottom:0}td{padding-top:0}}"
)


def page(title: str, body: str, status: int = 200) -> Response:
    text = (
        "<!doctype html><html lang='fr'><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(text, status=status, content_type="text/html; charset=utf-8")


def post_form(url: str, fields: dict[str, str]) -> Response:
    """An auto-submitted form (HTTP-POST binding), with a button when scripts are off."""
    inputs = "".join(
        f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
        for k, v in fields.items()
        if v
    )
    body = (
        f"<form method='post' action='{html.escape(url)}' id='saml-form'>{inputs}"
        "<button type='submit'>Continuer</button></form>"
        "<script>document.getElementById('saml-form').submit()</script>"
    )
    return page("Redirection…", body)


def send(info: dict[str, Any], binding: str) -> Response:
    """pysaml2's apply_binding() result as an answer to the browser."""
    if binding == BINDINGS["redirect"]:
        location = dict(info["headers"])["Location"]
        return redirect(location, code=302)  # type: ignore[return-value]
    return Response(info["data"], status=200, content_type="text/html; charset=utf-8")


def local_next(value: str | None) -> str:
    """A path of this SP (RelayState, ?next=), never another site."""
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return "/"


@app.get("/")
def home() -> Response:
    user = current()
    error = session.pop("last_error", None)
    notice = f"<p class='error' role='alert'>{html.escape(error)}</p>" if error else ""
    options = STATE.options
    if not user:
        links = " · ".join(
            f"<a href='/saml/login?{urlencode(q)}'>{label}</a>"
            for label, q in (
                ("Se connecter", {}),
                ("Se connecter (liaison POST)", {"binding": "post"}),
                ("Se connecter en redonnant son mot de passe (ForceAuthn)", {"force_authn": "1"}),
                ("Connexion silencieuse (IsPassive)", {"is_passive": "1"}),
            )
        )
        return page(
            options.name,
            f"{notice}<p>Vous n'êtes pas connecté à ce fournisseur de services SAML.</p>"
            f"<p>{links}</p>"
            f"<p><small>Entité : {html.escape(options.entity_id)} · "
            f"<a href='/saml/metadata'>métadonnées</a></small></p>",
        )
    rows = "".join(
        f"<tr><th>{html.escape(label)}<br><small>{html.escape(name)}</small></th>"
        f"<td>{html.escape(', '.join(values))}</td></tr>"
        for label, name, values in user.attributes
    )
    how = "à l'initiative du fournisseur d'identité" if user.unsolicited else "à votre demande"
    facts = (
        f"<tr><th>NameID<br><small>{html.escape(user.name_id_format)}</small></th>"
        f"<td>{html.escape(user.name_id)}</td></tr>"
        f"<tr><th>Fournisseur d'identité</th><td>{html.escape(user.idp)}</td></tr>"
        f"<tr><th>Contexte d'authentification</th><td>{html.escape(user.authn_context)}</td></tr>"
        f"<tr><th>Authentifié le</th><td>{html.escape(user.authn_instant)}</td></tr>"
        f"<tr><th>Assertion chiffrée</th><td>{'oui' if user.encrypted else 'non'}</td></tr>"
    )
    return page(
        options.name,
        f"{notice}<p>Connecté ({how}) en tant que <strong>{html.escape(user.name_id)}</strong>.</p>"
        f"<h2>Attributs transmis</h2>"
        f"<table>{rows or '<tr><td>Aucun attribut</td></tr>'}</table>"
        f"<h2>Session SAML</h2><table>{facts}</table>"
        "<p><a href='/saml/slo'>Se déconnecter (déconnexion unique)</a> · "
        "<a href='/saml/login?force_authn=1'>Se réauthentifier (ForceAuthn)</a></p>",
    )


@app.get("/session.json")
def session_json() -> Response:
    user = current()
    data: dict[str, Any] = {"signed_in": user is not None, "sign_ins": STATE.sign_ins}
    if user:
        data.update(
            name_id=user.name_id,
            name_id_format=user.name_id_format,
            session_index=user.session_index,
            idp=user.idp,
            attributes={label: values for label, _name, values in user.attributes},
            attribute_names={label: name for label, name, _values in user.attributes},
            authn_context=user.authn_context,
            authn_instant=user.authn_instant,
            encrypted=user.encrypted,
            unsolicited=user.unsolicited,
        )
    data["last_error"] = session.get("last_error")
    return jsonify(data)


@app.get("/saml/metadata")
def metadata() -> Response:
    return Response(metadata_xml(STATE.options), content_type="application/samlmetadata+xml")


@app.get("/saml/login")
def login() -> Response:
    from saml2.saml import AuthnContextClassRef
    from saml2.samlp import RequestedAuthnContext

    options = STATE.options
    binding = BINDINGS.get(request.args.get("binding", ""), options.binding)
    kwargs: dict[str, Any] = {}
    if request.args.get("force_authn") == "1":
        kwargs["force_authn"] = "true"
    if request.args.get("is_passive") == "1":
        kwargs["is_passive"] = "true"
    contexts = request.args.getlist("authn_context") or options.authn_contexts
    if contexts:
        kwargs["requested_authn_context"] = RequestedAuthnContext(
            authn_context_class_ref=[AuthnContextClassRef(text=c) for c in contexts],
            comparison=request.args.get("comparison", options.comparison),
        )
    came_from = local_next(request.args.get("next"))
    relay_state = secrets.token_urlsafe(12)
    try:
        client = STATE.saml()
        with STATE.lock:
            request_id, info = client.prepare_for_authenticate(
                entityid=STATE.idp_entity_id,
                relay_state=relay_state,
                binding=binding,
                sign=options.sign_requests,
                sigalg=RSA_SHA256 if options.sign_requests else None,
                digest_alg=SHA256,
                **kwargs,
            )
    except Exception as exc:  # the IdP down, its metadata unreadable: say so
        return page(
            "Fournisseur d'identité injoignable",
            f"<p class='error'>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</p>",
            status=502,
        )
    STATE.remember_request(request_id, came_from)
    return send(info, binding)


def _status_text(exc: Exception) -> str:
    from saml2 import response as saml_response

    names = {
        saml_response.StatusNoPassive: "Aucune session ouverte (NoPassive).",
        saml_response.StatusNoAuthnContext: (
            "Le contexte d'authentification demandé n'est pas disponible (NoAuthnContext)."
        ),
        saml_response.StatusRequestDenied: "Le fournisseur d'identité a refusé (RequestDenied).",
        saml_response.StatusInvalidNameidPolicy: "Format de NameID refusé (InvalidNameIDPolicy).",
        saml_response.StatusAuthnFailed: "Authentification échouée (AuthnFailed).",
    }
    for cls, text in names.items():
        if isinstance(exc, cls):
            return text
    return f"Réponse SAML refusée : {type(exc).__name__}"


@app.post("/saml/acs")
def acs() -> Response:
    from saml2.ident import code
    from saml2.response import StatusError

    saml_response = request.form.get("SAMLResponse", "")
    relay_state = request.form.get("RelayState")
    if not saml_response:
        return page("Réponse SAML absente", "<p class='error'>Aucune réponse SAML.</p>", 400)
    try:
        raw = base64.b64decode(saml_response, validate=False)
    except ValueError:
        raw = b""
    encrypted = b"EncryptedAssertion" in raw
    try:
        client = STATE.saml()
        with STATE.lock:
            answer = client.parse_authn_request_response(
                saml_response, BINDINGS["post"], outstanding=dict(STATE.outstanding)
            )
            if answer is None:
                raise ValueError("not a SAML response")
            in_response_to = answer.in_response_to
            if in_response_to:
                came_from = STATE.outstanding.pop(in_response_to, "/")
            else:
                came_from = local_next(relay_state)
    except StatusError as exc:
        session["last_error"] = _status_text(exc)
        in_response_to = _in_response_to(raw)
        with STATE.lock:
            came_from = STATE.outstanding.pop(in_response_to or "", "/")
        return redirect(came_from)  # type: ignore[return-value]
    except Exception as exc:
        print(f"[demo SAML SP] refused response: {type(exc).__name__}: {exc}", flush=True)
        return page(
            "Réponse SAML refusée",
            f"<p class='error'>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</p>"
            "<p><a href='/'>Retour</a></p>",
            status=400,
        )
    name_id = answer.name_id
    attributes: list[tuple[str, str, list[str]]] = []
    for statement in answer.assertion.attribute_statement:
        for attribute in statement.attribute:
            values = [v.text or "" for v in attribute.attribute_value]
            label = attribute.friendly_name or _local_name(client, attribute.name)
            attributes.append((label, attribute.name, values))
    authn = answer.authn_info()
    statement = answer.assertion.authn_statement[0] if answer.assertion.authn_statement else None
    user = SignedIn(
        name_id=name_id.text or "",
        name_id_format=name_id.format or "",
        name_id_code=code(name_id),
        session_index=getattr(statement, "session_index", None),
        idp=answer.issuer(),
        attributes=attributes,
        authn_context=authn[0][0] if authn else "",
        authn_instant=authn[0][2] if authn else "",
        encrypted=encrypted,
        unsolicited=not in_response_to,
    )
    sid = secrets.token_urlsafe(24)
    with STATE.lock:
        old = session.get("sid")
        if old:
            STATE.sessions.pop(old, None)
        STATE.sessions[sid] = user
        STATE.sign_ins += 1
    session["sid"] = sid
    session.pop("last_error", None)
    print(f"[demo SAML SP] signed in: {user.name_id} ({user.name_id_format})", flush=True)
    return redirect(came_from)  # type: ignore[return-value]


def _local_name(client: Any, name: str) -> str:
    """The friendly name pysaml2's attribute maps give an OID (the name itself if none)."""
    for converter in client.config.attribute_converters:
        local = converter._fro.get(name.lower()) or converter._fro.get(name)
        if local:
            return str(local)
    return name


def _in_response_to(raw: bytes) -> str | None:
    from lxml import etree

    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        value = etree.fromstring(raw, parser).get("InResponseTo")
    except etree.LxmlError:
        return None
    return str(value) if value else None


@app.route("/saml/slo", methods=["GET", "POST"])
def single_logout() -> Response:
    values = request.form if request.method == "POST" else request.args
    binding = BINDINGS["post"] if request.method == "POST" else BINDINGS["redirect"]
    if "SAMLRequest" in values:
        return _logout_request(values, binding)
    if "SAMLResponse" in values:
        return _logout_response(values, binding)
    return _start_logout()


def _start_logout() -> Response:
    from saml2.ident import decode

    user = current()
    sid = session.pop("sid", None)
    if user is None or sid is None:
        return redirect("/")  # type: ignore[return-value]
    with STATE.lock:
        STATE.sessions.pop(sid, None)  # ended here whatever the IdP answers
        client = STATE.saml()
        services = client.metadata.single_logout_service(STATE.idp_entity_id, None, "idpsso")
        binding = BINDINGS["redirect"] if BINDINGS["redirect"] in services else BINDINGS["post"]
        if binding not in services:
            return page(
                "Déconnecté",
                "<p>Déconnecté de ce service (le fournisseur d'identité n'offre pas la "
                "déconnexion unique).</p><p><a href='/'>Retour</a></p>",
            )
        destination = services[binding][0]["location"]
        sign = STATE.options.sign_requests
        request_id, message = client.create_logout_request(
            destination,
            STATE.idp_entity_id,
            name_id=decode(user.name_id_code),
            reason="urn:oasis:names:tc:SAML:2.0:logout:user",
            session_indexes=[user.session_index] if user.session_index else None,
            sign=sign and binding == BINDINGS["post"],
            sign_alg=RSA_SHA256,
            digest_alg=SHA256,
        )
        info = client.apply_binding(
            binding,
            str(message),
            destination,
            relay_state=secrets.token_urlsafe(12),
            sign=sign and binding == BINDINGS["redirect"],
            sigalg=RSA_SHA256,
        )
        STATE.logouts[request_id] = sid
    return send(info, binding)


def _logout_response(values: Any, binding: str) -> Response:
    try:
        with STATE.lock:
            answer = STATE.saml().parse_logout_request_response(values["SAMLResponse"], binding)
            if answer is None:
                raise ValueError("not a LogoutResponse")
            STATE.logouts.pop(answer.in_response_to or "", None)
            status = answer.response.status.status_code.value
    except Exception as exc:
        return page(
            "Déconnexion",
            f"<p class='error'>Réponse de déconnexion refusée : {html.escape(str(exc))}</p>"
            "<p><a href='/'>Retour</a></p>",
            status=400,
        )
    ok = status.endswith(":Success")
    text = "Vous êtes déconnecté." if ok else f"Déconnexion partielle ({html.escape(status)})."
    return page("Déconnexion", f"<p>{text}</p><p><a href='/'>Retour à l'accueil</a></p>")


def _logout_request(values: Any, binding: str) -> Response:
    """IdP-initiated: end every session of that NameID (and SessionIndex), answer Success."""
    from saml2.s_utils import status_message_factory, success_status_factory
    from saml2.samlp import STATUS_UNKNOWN_PRINCIPAL

    try:
        with STATE.lock:
            client = STATE.saml()
            parsed = client.parse_logout_request(
                values["SAMLRequest"],
                binding,
                relay_state=values.get("RelayState"),
                sigalg=values.get("SigAlg"),
                signature=values.get("Signature"),
            )
            if parsed is None:
                raise ValueError("not a LogoutRequest")
            message = parsed.message
            name_id = message.name_id.text if message.name_id is not None else None
            indexes = {si.text for si in message.session_index}
            ended = [
                sid
                for sid, user in STATE.sessions.items()
                if user.name_id == name_id and (not indexes or user.session_index in indexes)
            ]
            for sid in ended:
                STATE.sessions.pop(sid)
            status = (
                success_status_factory()
                if ended
                else status_message_factory("No such session", STATUS_UNKNOWN_PRINCIPAL)
            )
            answer_binding = BINDINGS["redirect"] if binding == BINDINGS["redirect"] else binding
            sign = STATE.options.sign_requests
            response = client.create_logout_response(
                message,
                bindings=[answer_binding],
                status=status,
                sign=sign and answer_binding == BINDINGS["post"],
                sign_alg=RSA_SHA256,
                digest_alg=SHA256,
            )
            destination = client.response_args(message, [answer_binding])["destination"]
            info = client.apply_binding(
                answer_binding,
                str(response),
                destination,
                relay_state=values.get("RelayState", ""),
                response=True,
                sign=sign and answer_binding == BINDINGS["redirect"],
                sigalg=RSA_SHA256,
            )
    except Exception as exc:
        print(f"[demo SAML SP] refused LogoutRequest: {type(exc).__name__}: {exc}", flush=True)
        return page(
            "Déconnexion refusée",
            f"<p class='error'>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</p>",
            status=400,
        )
    if session.get("sid") in ended:
        session.pop("sid")
    print(f"[demo SAML SP] IdP-initiated logout of {name_id}: {len(ended)} session(s)", flush=True)
    return send(info, answer_binding)


def main(argv: list[str] | None = None) -> int:
    options, write_to = parse_options(argv)
    if write_to:
        target = Path(write_to)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_text(metadata_xml(options), encoding="utf-8")
        temporary.replace(target)  # whole or absent: the server may read it meanwhile
        print(f"[demo SAML SP] metadata of {options.entity_id} written to {target}", flush=True)
        return 0
    create_app(options)
    host = urlsplit(options.base_url).hostname or "127.0.0.1"
    print(
        f"[demo SAML SP] {options.name} on {options.base_url}/ (entity {options.entity_id}, "
        f"IdP metadata {options.idp_metadata})",
        flush=True,
    )
    app.run(host=host if host in ("127.0.0.1", "localhost") else "127.0.0.1", port=options.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
