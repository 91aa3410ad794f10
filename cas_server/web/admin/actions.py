"""Confirm and do an action on an account: one page per action, an explicit confirmation.

GET shows what the action will do and its fields; POST checks the
confirmation box (and the CSRF token, as every form), does it through
:class:`~cas_server.admin.actions.Actions` (which audits it), then goes
back to the record with a message, or shows a one-time secret (a
generated temporary password, an activation code to hand out).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext, ngettext
from werkzeug.wrappers import Response

from ...accounts.console import CONSOLE_ROLES, mask_email, mask_mobile, may, may_act_on, rank
from ...accounts.i18n import N_
from ...accounts.model import Account
from ...admin import factors, messages
from ...admin.acting import Refused
from ...runtime.container import container
from ..passwords import password_form_context, read_new_password
from .blueprint import bp
from .support import Form, account_or_404, actions, console, me, page

Handler = Callable[[Account, Form], Any]
# URL slug → permission (see accounts.console.may)
ACTIONS: dict[str, str] = {
    "alias": "alias",
    "lock": "lock",
    "unlock": "unlock",
    "force-change": "force_change",
    "reset-link": "reset_link",
    "reset-sms": "reset_sms",
    "activation": "activation",
    "end-sessions": "end_sessions",
    "link": "link",
    "unlink": "unlink",
    "roles": "roles",
    "mfa-remove": "mfa_remove",
    "mfa-remove-all": "mfa_remove",
}


def _done(account: Account, message: str, **params: Any) -> Response:
    return _done_text(account, gettext(message, **params))


def _done_text(account: Account, text: str) -> Response:
    """Back to the record with ``text``, already translated (a plural from ngettext)."""
    flash(text, "success")
    return redirect(url_for("admin.record", uuid=account.uuid), code=303)


def _form_page(slug: str, account: Account, form: Form | None = None, **extra: Any) -> Any:
    context: dict[str, Any] = {}
    if slug == "force-change":
        # The administrator types someone else's password: "their login", not "your".
        context.update(password_form_context(extra.pop("violations", None), for_someone_else=True))
        context.update(login=account.login, full_name=account.display_name)
    if slug == "unlink":
        other = _other(account)
        context["other"] = other
    if slug == "roles":
        context["known_roles"] = sorted(CONSOLE_ROLES)
    if slug.startswith("mfa-"):
        # Only this account's factor: an id of someone else's shows nothing.
        context["factor"] = factors.factor_line(account, str(request.values.get("factor", "")))
        context["mfa"] = factors.state_of(account)
    c = container()
    return page(
        "action",
        form=form,
        action=slug,
        account=account,
        sesame=_sesame_settings(),
        sessions=len(c.tickets.sessions_for(account.login, c.clock.now())),
        masked_email=mask_email(account.personal_email),
        masked_mobile=mask_mobile(account.mobile),
        **context,
        **extra,
    )


def _sesame_settings() -> Any:
    from flask import current_app

    s = current_app.extensions.get("sesame")
    return s.settings if s is not None else None


def _other(account: Account) -> Account:
    other_uuid = request.values.get("other", "")
    other = container().accounts.get(other_uuid) if 0 < len(other_uuid) <= 36 else None
    if other is None or other.uuid == account.uuid:
        abort(404)
    return other


@bp.get("/accounts/<uuid>/<slug>")
@console()
def action_form(uuid: str, slug: str) -> Any:
    if slug not in ACTIONS:
        abort(404)
    if not may(frozenset(me().roles), ACTIONS[slug]):
        abort(403)
    account = account_or_404(uuid)
    if not may_act_on(rank(frozenset(me().roles)), account.roles):
        abort(403)  # the POST refuses it too, and audits the attempt
    if (
        slug == "mfa-remove"
        and factors.factor_line(account, request.args.get("factor", "")) is None
    ):
        abort(404)
    return _form_page(slug, account)


@bp.post("/accounts/<uuid>/<slug>")
@console()
def action_submit(uuid: str, slug: str) -> Any:
    if slug not in ACTIONS:
        abort(404)
    if not may(frozenset(me().roles), ACTIONS[slug]):
        abort(403)
    account = account_or_404(uuid)
    form = Form()
    handler = HANDLERS[slug]
    try:
        # The target first, whatever the form holds: refused and audited.
        actions().check(ACTIONS[slug], account)
        response = handler(account, form)
    except Refused as exc:
        if exc.violations:
            return _form_page(slug, account, form, violations=exc.violations, status=400)
        form.refused(FIRST_FIELD.get(slug, "confirm"), exc)
        response = None
    if response is None:
        return _form_page(slug, account, form)
    return response


FIRST_FIELD = {
    "alias": "alias",
    "link": "other_login",
    "reset-link": "address",
    "activation": "channel",
    "roles": "roles",
    "force-change": "mode",
}


# Handlers: None means "show the form again with its errors" ------------------------------


def _alias(account: Account, form: Form) -> Any:
    value = form.text("alias", 128)
    if not form.confirmed():
        return None
    alias = actions().set_alias(account, value)
    if alias is None:
        return _done(account, N_("The alias was removed."))
    return _done(account, N_("The alias is now %(alias)s."), alias=alias)


def _lock(account: Account, form: Form) -> Any:
    reason = form.text("reason", 500)
    if not form.confirmed():
        return None
    ended = actions().lock(account, reason)
    return _done_text(
        account,
        ngettext(
            "The account is locked; %(num)s SSO session ended.",
            "The account is locked; %(num)s SSO sessions ended.",
            ended,
        ),
    )


def _unlock(account: Account, form: Form) -> Any:
    if not form.confirmed():
        return None
    actions().unlock(account)
    return _done(account, N_("The account is unlocked."))


def _force_change(account: Account, form: Form) -> Any:
    mode = form.text("mode", 16) or "flag"
    if mode not in ("flag", "typed", "generated"):
        form.error("mode", N_("Choose what to do."))
    password = None
    if mode == "typed":
        password, same = read_new_password(request.form)
        if not password:
            form.error("new_password", N_("Type the temporary password."))
        elif not same:
            form.error("confirm_password", N_("The two passwords are different."))
    if not form.confirmed() or not form.ok:
        return None
    generated = actions().force_change(account, password, generate=mode == "generated")
    if generated is not None:
        return page("secret", account=account, kind="password", secret=generated)
    if mode == "typed":
        return _done(
            account, N_("The temporary password is set; it must be changed at the next sign-in.")
        )
    return _done(account, N_("A new password will be asked at the next sign-in."))


def _reset_link(account: Account, form: Form) -> Any:
    address = form.text("address", 254)  # empty: the address on file
    save = form.checked("save")
    if not address and not account.personal_email:
        form.error("address", N_("No personal e-mail address on file: type one."))
    if not form.confirmed() or not form.ok:
        return None
    masked = messages.send_reset_link(actions(), account, address or None, save=save)
    return _done(account, N_("A password-reset link was sent to %(to)s."), to=masked)


def _reset_sms(account: Account, form: Form) -> Any:
    if not form.confirmed():
        return None
    masked = messages.send_sms_link(actions(), account)
    return _done(account, N_("A password-reset link was sent by SMS to %(to)s."), to=masked)


def _activation(account: Account, form: Form) -> Any:
    channel = form.text("channel", 8)
    if not form.confirmed():
        return None
    result = messages.resend_activation(actions(), account, channel)
    if channel == "show":
        return page("secret", account=account, kind="activation", secret=result)
    return _done(account, N_("A new activation code was sent to %(to)s."), to=result)


def _end_sessions(account: Account, form: Form) -> Any:
    if not form.confirmed():
        return None
    ended = actions().end_sessions(account)
    return _done_text(
        account, ngettext("%(num)s SSO session ended.", "%(num)s SSO sessions ended.", ended)
    )


def _link(account: Account, form: Form) -> Any:
    login = form.text("other_login", 128)
    if not login:
        form.error("other_login", N_("Type the login of the other account."))
    if not form.confirmed() or not form.ok:
        return None
    other = actions().link(account, login)
    return _done(account, N_("The account %(login)s is now linked to this one."), login=other.login)


def _unlink(account: Account, form: Form) -> Any:
    other = _other(account)
    if not form.confirmed():
        return None
    actions().unlink(account, other)
    return _done(account, N_("The link with %(login)s was removed."), login=other.login)


def _roles(account: Account, form: Form) -> Any:
    wanted = {r for r in request.form.getlist("roles") if r in CONSOLE_ROLES}
    if not form.confirmed():
        return None
    known = set(CONSOLE_ROLES)
    current = set(account.roles) & known
    roles = actions().set_roles(account, wanted - current, current - wanted)
    shown = ", ".join(sorted(roles & known)) or "-"
    return _done(account, N_("Roles of this account: %(roles)s."), roles=shown)


def _mfa_remove(account: Account, form: Form) -> Any:
    factor_id = str(request.form.get("factor", ""))
    if not form.confirmed():
        return None
    removed = actions().remove_factor(account, factor_id)
    return _done(account, N_("The second factor “%(name)s” was removed."), name=removed.label)


def _mfa_remove_all(account: Account, form: Form) -> Any:
    if not form.confirmed():
        return None
    removed = actions().remove_all_factors(account)
    return _done_text(
        account,
        ngettext(
            "%(num)s second factor was removed, with the recovery codes and trusted devices.",
            "%(num)s second factors were removed, with the recovery codes and trusted devices.",
            removed,
        ),
    )


HANDLERS: dict[str, Handler] = {
    "alias": _alias,
    "lock": _lock,
    "unlock": _unlock,
    "force-change": _force_change,
    "reset-link": _reset_link,
    "reset-sms": _reset_sms,
    "activation": _activation,
    "end-sessions": _end_sessions,
    "link": _link,
    "unlink": _unlink,
    "roles": _roles,
    "mfa-remove": _mfa_remove,
    "mfa-remove-all": _mfa_remove_all,
}
