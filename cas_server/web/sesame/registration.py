""" "Créer un compte" (Metamots): self-registration of external users, ``[registration]``.

``/sesame/register``: e-mail, first name, last name, country, organisation type,
the password with the live checklist, the charter, the CAPTCHA. The answer page
is byte-identical for a new, an already used and a refused address (T1); the work
that tells them apart (hashing the password, the request row, the mail) runs after
the answer (:func:`.runtime.later`, T2). The network's limit is taken first (a
429 page, which says nothing of the address), the address's before anything is
queued (beyond it, nothing is sent: same page).

``/sesame/register/confirm/<token>``: GET shows a button (mail scanners follow
links), POST uses the link once and creates the account (or puts it in the
console's queue when ``require_approval``); the login is shown and mailed.
"""

from __future__ import annotations

import hashlib
import json
from functools import partial
from typing import Any

from flask import Flask, current_app, url_for
from flask_babel import gettext as _

from ...accounts.charter import charter_for
from ...accounts.i18n import N_
from ...accounts.model import Account, Status
from ...accounts.policy import PasswordContext, Violation
from ...accounts.registration import (
    Applicant,
    RegistrationRequest,
    base_login,
    domain_allowed,
    network_of,
)
from ...accounts.tokens import looks_like_secret, new_secret
from ...runtime.container import container
from ...runtime.sesame import language, public_link, sesame, utcnow
from ...settings.registration import RegistrationSettings, load_registration_settings
from ...storage.sql.registration import AccountSpec, Outcome, SqlRegistrationStore
from . import challenge
from .blueprint import bp
from .forms import Form, read_checkbox, read_password
from .links import countries, organisation_types, read_facts
from .pages import expired, page, password_fields, too_many
from .runtime import audit, client_ip, later, send_mail

FORM = "registration"  # its name in [captcha] forms


class Registration:
    """The module's objects, built once by :func:`init_app`."""

    def __init__(self, settings: RegistrationSettings, store: SqlRegistrationStore) -> None:
        self.settings = settings
        self.store = store

    @property
    def spec(self) -> AccountSpec:
        s = self.settings
        return AccountSpec(s.profile, s.extra_attributes, s.login_pattern)


def registration() -> Registration:
    return current_app.extensions["registration"]  # type: ignore[no-any-return]


def offered() -> bool:
    return registration().settings.enabled and sesame().settings.enabled


def login_links() -> list[tuple[str, str]]:
    """ "Créer un compte" under the login form, when offered."""
    if not offered():
        return []
    return [(_("Create an account"), url_for("sesame.register"))]


def _charter() -> Any:
    return charter_for(container().charters, registration().settings.profile.value)


def _person(form: Form) -> Account:
    """The account to be, as the password rules see it (its login from the pattern)."""
    given = form.values.get("given_name", "")
    family = form.values.get("family_name", "")
    settings = registration().settings
    login = base_login(settings.login_pattern, given, family) if given or family else ""
    return Account("", login, settings.profile, Status.NOT_ACTIVATED, given, family)


def _form_page(form: Form | None = None, violations: Any = None) -> Any:
    form = form or Form()
    return page(
        "register",
        form,
        captcha=challenge.new_challenge(FORM, "sesame.register"),
        charter=_charter(),
        countries=countries(),
        organisation_types=organisation_types(),
        default_country=sesame().settings.default_country,
        **_password_context(form, violations),
    )


def _password_context(form: Form, violations: Any) -> dict[str, Any]:
    """The shared partial's context, without the history rule: a new account has none."""
    context = password_fields(form, _person(form), violations)
    rules = [item for item in context["policy_rules"] if item["rule"] != "history"]
    context["policy_rules"] = rules
    context["policy_json"] = json.dumps(
        [{"rule": i["rule"], "params": i["params"], "client": i["client"]} for i in rules]
    )
    return context


@bp.get("/register")
def register() -> Any:
    if not offered():
        return page("disabled", status=404)
    return _form_page()


def _limited(key: str, limit: int) -> bool:
    """Count one request for ``key`` (atomically, in the shared counters); True beyond."""
    window = registration().settings.window
    return container().counters.hit(key[:255], container().clock.now(), window) > limit


def _read(form: Form) -> Applicant | None:
    """The reset path's facts (Metamots: the "facts" path checks them later), and the
    language the person writes in."""
    facts = read_facts(form)
    if facts is None:
        return None
    return Applicant(
        facts.email,
        facts.given_name,
        facts.family_name,
        facts.country,
        facts.organisation_type,
        language(),
    )


@bp.post("/register")
def register_submit() -> Any:
    settings = registration().settings
    if not offered():
        return page("disabled", status=404)
    network = network_of(client_ip(), settings.ipv4_prefix, settings.ipv6_prefix)
    if _limited(f"registration-net:{network}", settings.max_per_network):
        audit("registration", "throttled", network=network)
        return too_many()
    form = Form()
    applicant = _read(form)
    password = read_password(form)
    charter = _charter()
    if charter is not None:
        read_checkbox(form, "charter", N_("You must accept the charter to continue."))
    captcha_ok = challenge.verify(form, FORM)
    violations: list[Violation] = []
    if password is not None:
        person = _person(form)
        context = PasswordContext(login=person.login, full_name=person.full_name)
        violations = container().passwords.policy.check(password, context)
    if applicant is None or password is None or violations or not captcha_ok or not form.ok:
        return _form_page(form, violations)
    # The address's limit, before the work is queued; beyond, nothing is sent (same page).
    address_key = hashlib.sha256(applicant.email.casefold().encode()).hexdigest()
    within = not _limited(f"registration-mail:{address_key}", settings.max_per_address)
    charter_pair = (charter.id, charter.version) if charter is not None else None
    later(
        partial(_process, applicant, password if within else None, charter_pair, within),
        "registration",
    )
    return page("register_sent", minutes=int(settings.link_ttl // 60))


def _process(
    applicant: Applicant, password: str | None, charter: tuple[str, str] | None, within: bool
) -> None:
    """In the background: tell a new, a used and a refused address apart, and write."""
    r = registration()
    settings = r.settings
    email = applicant.email
    if not within or password is None:
        audit("registration", "rate_limited")
        return
    if not domain_allowed(email, settings.allowed_domains, settings.denied_domains):
        audit("registration", "domain_refused", domain=email.rpartition("@")[2])
        send_mail("registration_refused_domain", email, display_name=_name(applicant))
        return
    accounts = sesame().store.find_by_personal_email(email)
    if accounts:
        audit("registration", "address_in_use", accounts[0])
        send_mail(
            "registration_exists",
            email,
            display_name=_name(applicant),
            reset_url=_reset_url(),
        )
        return
    token = new_secret()
    data = applicant.data(container().passwords.hasher(password), charter)
    request_id = r.store.add(email, data, token, utcnow(), settings.link_ttl)
    audit("registration", "link_mailed", request=request_id)
    send_mail(
        "registration_link",
        email,
        display_name=_name(applicant),
        link=public_link("sesame.register_confirm", token=token),
        hours=max(1, int(settings.link_ttl // 3600)),
        approval=settings.require_approval,
    )


def _name(applicant: Applicant) -> str:
    return f"{applicant.given_name} {applicant.family_name}".strip()


def _reset_url() -> str:
    settings = sesame().settings
    if any(settings.path_enabled(p) for p in settings.password_paths):
        return public_link("sesame.password")
    return public_link("cas.login")


def _live(token: str) -> RegistrationRequest | None:
    if not offered() or not looks_like_secret(token):
        return None
    return registration().store.peek(token, utcnow())


@bp.get("/register/confirm/<token>")
def register_confirm(token: str) -> Any:
    found = _live(token)
    if found is None:
        return expired()
    return page(
        "register_confirm",
        registration_request=found,
        action=url_for("sesame.register_confirm_submit", token=token),
        approval=registration().settings.require_approval,
    )


@bp.post("/register/confirm/<token>")
def register_confirm_submit(token: str) -> Any:
    if not offered() or not looks_like_secret(token):
        return expired()
    r = registration()
    outcome = r.store.confirm(token, utcnow(), r.spec, approval=r.settings.require_approval)
    if outcome is None:
        audit("registration_confirm", "link_expired")
        return expired()
    return _confirmed(outcome)


def _confirmed(outcome: Outcome) -> Any:
    request_ = outcome.request
    if outcome.kind == "taken":
        audit("registration_confirm", "address_in_use", request=request_.id)
        return page("register_taken", reset_url=_reset_url(), status=409)
    if outcome.kind == "awaiting":
        audit("registration_confirm", "awaiting_approval", request=request_.id)
        return page("register_done", login=None)
    account = container().accounts.get(request_.account_uuid or "")
    audit("registration_confirm", "created", account, request=request_.id)
    send_mail(
        "registration_welcome",
        request_.email,
        display_name=request_.display_name,
        login=request_.login,
    )
    return page("register_done", login=request_.login)


def init_app(app: Flask) -> None:
    """Read ``[registration]`` and keep the module's objects (called by Sésame's ``init_app``)."""
    with app.app_context():
        c = container()
        app.extensions["registration"] = Registration(
            load_registration_settings(c.settings.raw), SqlRegistrationStore(c.engine)
        )
    app.extensions.setdefault("cas_login_links", []).insert(0, login_links)
