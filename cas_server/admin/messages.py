"""The actions that send something, through the Sésame module's tokens, mail and SMS.

* A password-reset link to the address on file or to one the help desk
  typed (ENT77's console), optionally saved as the personal address; the
  link is Sésame's own (``/sesame/password/reset/…``), single use, expiring.
* The same link by SMS to the mobile on file (never a number from a form,
  T9), valid as long as an SMS code, within the daily SMS budget (T8).
* A new activation code, mailed, sent by SMS, or shown to be handed out.

Mails go in the institution's default language: the help desk's own
language says nothing about the user's.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from ..accounts.console import mask_email, mask_mobile
from ..accounts.i18n import N_
from ..accounts.identity import InputError, parse_email
from ..accounts.model import Account, Status
from ..runtime.container import container
from .acting import Acting

if TYPE_CHECKING:
    from ..runtime.sesame import Sesame

#: In a console reset link's data: the typed address, saved once the link is used.
SAVE_EMAIL = "save_email"
ACTIVATION_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
ACTIVATION_LENGTH = 16


def _sesame(actions: Acting, action: str, account: Account) -> Sesame:
    from flask import current_app

    s: Sesame | None = current_app.extensions.get("sesame")
    if s is None or not s.settings.enabled:
        actions.refuse(action, account, N_("The self-service module is not enabled."))
    return s


def _mail(actions: Acting, s: Sesame, template: str, to: str, **context: Any) -> None:
    from ..runtime.mail import render_message
    from ..runtime.sesame import public_link

    c = container()
    message = render_message(
        template,
        to,
        c.settings.default_language,
        institution_name=c.settings.institution_name,
        login_url=public_link("cas.login"),
        **context,
    )
    actions.pending.append(s.outbox.send(message))


def _now() -> float:
    return container().clock.now()


def notify_action(actions: Acting, account: Account, what: str, to: str | None = None) -> None:
    """Tell the owner, at the address on file, what the console did to their access.

    Always, whatever the action (issue #11, item 1): a help-desk operator
    who sends a reset link to another address, locks an account or changes
    its alias cannot do it unseen. No secret inside (T11); best effort
    (no address on file, or no mail configured: the audit trail still has it).
    """
    from flask import current_app

    from ..runtime.sesame import utcnow

    s: Sesame | None = current_app.extensions.get("sesame")
    if s is None or not account.personal_email:
        return
    _mail(
        actions,
        s,
        "console_action",
        account.personal_email,
        what=what,
        destination=to or "",
        login=account.login,
        display_name=account.display_name,
        when=utcnow(),
    )


def _active(actions: Acting, action: str, account: Account) -> None:
    if account.status is Status.NOT_ACTIVATED:
        actions.refuse(
            action, account, N_("This account is not activated yet: resend the activation instead.")
        )
    if account.status is not Status.ACTIVE:
        actions.refuse(action, account, N_("This account is locked or disabled: unlock it first."))


def send_reset_link(
    actions: Acting, account: Account, to: str | None = None, save: bool = False
) -> str:
    """Mail a reset link; returns the (masked) address it went to."""
    from ..accounts.tokens import Purpose, new_secret
    from ..runtime.sesame import public_link

    action = "reset_link"
    actions.check(action, account)
    s = _sesame(actions, action, account)
    _active(actions, action, account)
    address = account.personal_email
    if to is not None and to.strip():
        try:
            address = parse_email("email", to)
        except InputError as exc:
            actions.refuse(action, account, exc.message)
    if not address:
        actions.refuse(action, account, N_("No personal e-mail address on file: type one."))
    # A typed address replaces the one on file only once the link sent there
    # is used (it proves the person reads it), never at once: a typo or a
    # stranger's address must not silently replace a verified one (#12, 17).
    saved = bool(save and to and address != account.personal_email)
    if account.personal_email and address != account.personal_email:
        # The link went elsewhere: the owner hears of it at the address on file.
        notify_action(actions, account, "reset_link", mask_email(address))
    secret = new_secret()
    ttl = s.settings.tokens.link_ttl
    s.tokens.issue(
        account.uuid,
        Purpose.RESET_LINK,
        secret,
        now=_now(),
        ttl=ttl,
        destination=address,
        data={SAVE_EMAIL: address} if saved else None,
    )
    _mail(
        actions,
        s,
        "admin_reset_link",
        address,
        link=public_link("sesame.reset_link", secret=secret),
        login=account.login,
        display_name=account.display_name,
        minutes=int(ttl // 60),
    )
    masked = mask_email(address) or ""
    actions.audit(action, "sent", account, to=masked, saved=saved)
    return masked


def _send_sms(actions: Acting, s: Sesame, action: str, account: Account, text: str) -> None:
    from ..runtime.sesame import sms_budget_allows

    if not sms_budget_allows():
        actions.refuse(action, account, N_("Today's SMS budget is spent: try again tomorrow."))
    assert account.mobile
    future = s.sms.send(account.mobile, text)
    if future is not None:
        actions.pending.append(future)


def send_sms_link(actions: Acting, account: Account) -> str:
    """Text a reset link to the mobile on file; returns the masked number."""
    from flask_babel import force_locale
    from flask_babel import gettext as _

    from ..accounts.tokens import Purpose, new_secret
    from ..runtime.sesame import public_link

    action = "reset_sms"
    actions.check(action, account)
    s = _sesame(actions, action, account)
    if not s.sms.enabled:
        actions.refuse(action, account, N_("Sending SMS is not configured on this server."))
    _active(actions, action, account)
    if not account.mobile:
        actions.refuse(action, account, N_("No mobile number on file."))
    secret = new_secret()
    ttl = s.settings.tokens.code_ttl
    s.tokens.issue(
        account.uuid, Purpose.RESET_LINK, secret, now=_now(), ttl=ttl, destination=account.mobile
    )
    c = container()
    link = public_link("sesame.reset_link", secret=secret)
    with force_locale(c.settings.default_language):
        text = _(
            "%(institution)s: choose a new password within %(minutes)s min: %(link)s",
            institution="{institution}",
            minutes=int(ttl // 60),
            link=link,
        )
    room = s.settings.sms.max_length - len(text.replace("{institution}", ""))
    text = text.replace("{institution}", c.settings.institution_name[: max(0, room)])
    _send_sms(actions, s, action, account, text)
    masked = mask_mobile(account.mobile) or ""
    notify_action(actions, account, "reset_sms", masked)
    actions.audit(action, "sent", account, to=masked)
    return masked


def new_activation_code() -> str:
    return "".join(secrets.choice(ACTIVATION_ALPHABET) for _ in range(ACTIVATION_LENGTH))


def format_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def resend_activation(actions: Acting, account: Account, channel: str) -> str:
    """A new activation code (the old one stops working) by ``mail``, ``sms`` or ``show``.

    Returns the masked destination, or the code itself for ``show``.
    """
    from ..accounts.tokens import digest
    from ..runtime.sesame import public_link

    action = "activation"
    actions.check(action, account)
    s = _sesame(actions, action, account)
    if not (s.settings.activation and s.settings.activation_by_code):
        actions.refuse(action, account, N_("Activation with a code is not enabled."))
    if account.status is not Status.NOT_ACTIVATED:
        actions.refuse(action, account, N_("This account is already activated."))
    if channel == "mail" and not account.personal_email:
        actions.refuse(action, account, N_("No personal e-mail address on file."))
    if channel == "sms" and not (account.mobile and s.sms.enabled):
        actions.refuse(action, account, N_("No mobile number on file, or SMS not configured."))
    if channel not in ("mail", "sms", "show"):
        actions.refuse(action, account, N_("Choose how to give the code."))
    code = new_activation_code()
    s.store.set_activation_code(account.uuid, digest(code))
    url = public_link("sesame.activate")
    result = format_code(code)
    if channel == "mail":
        assert account.personal_email
        _mail(
            actions,
            s,
            "admin_activation",
            account.personal_email,
            code=format_code(code),
            url=url,
            login=account.login,
            display_name=account.display_name,
        )
        result = mask_email(account.personal_email) or ""
    elif channel == "sms":
        from flask_babel import force_locale
        from flask_babel import gettext as _

        with force_locale(container().settings.default_language):
            text = _(
                "Activation code: %(code)s. Activate your account at %(url)s",
                code=format_code(code),
                url=url,
            )
        _send_sms(actions, s, action, account, text)
        result = mask_mobile(account.mobile) or ""
    if channel != "mail":  # a mailed code is its own notice
        notify_action(actions, account, "activation")
    actions.audit(
        action, "sent", account, channel=channel, to=result if channel != "show" else None
    )
    return result
