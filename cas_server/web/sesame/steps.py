"""Steps several paths share: the joker question, the codes sent and the grants
that follow a proof, and finishing a password reset.

The joker step answers the same for everyone (T1): a person who matches
no account, or a locked one, gets a *decoy* question drawn from the same
list, fixed for what they typed, and no answer to it is ever right. Wrong
answers are throttled per person and per address and audited (T12).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import abort, current_app, make_response

from ...accounts.charter import Charter, charter_for
from ...accounts.i18n import N_
from ...accounts.identity import Identification
from ...accounts.joker import MAX_ANSWER_LENGTH, QUESTIONS, decoy_question, normalize_answer
from ...accounts.model import Account
from ...accounts.passwords import PasswordChange
from ...accounts.recovery import may_recover
from ...accounts.throttle import Attempt
from ...accounts.tokens import Purpose, code_digest, new_code, new_secret
from ...runtime.container import container
from ...runtime.sesame import now, sesame, utcnow
from ...storage.sql.tokens import NO_LIMIT
from .forms import Form, read_text
from .pages import too_many
from .runtime import audit, client_ip, end_sessions, even_out, forget, mail_change, recall, remember

JOKER = "joker"
JOKER_KEY = "joker_key"
JOKER_FOR = "joker_for"
JOKER_AT = "joker_at"
JOKER_SEED = "joker_seed"  # what a decoy question is drawn from (both kinds have one)
RESET_GRANT_KEY = "grant"  # the new-password step's secret (Purpose.RESET_GRANT)


class StepExpired(Exception):
    """The link, code or step was used, has expired, or never existed."""


@dataclass(frozen=True)
class JokerChallenge:
    question: str  # a key of QUESTIONS
    account: Account | None  # None: a decoy


def _decoy_secret(ident: Identification, purpose: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    seed = f"decoy|{purpose}|{ident.key}|{ident.birth_date.isoformat()}"
    mac = hmac.new(key, seed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _decoy_key() -> bytes:
    return str(current_app.config["SECRET_KEY"]).encode() + b":decoy"


def start_joker(ident: Identification, account: Account | None, purpose: str) -> JokerChallenge:
    """Remember who is asked (really or not) and return the question to show."""
    s = sesame()
    allowed = s.settings.joker_questions
    # The same read whoever asks; for nobody it matches no row (T2).
    info = s.store.recovery_info(account.uuid if account is not None else "")
    real = (
        may_recover(account)
        and account is not None
        and account.birth_date == ident.birth_date
        and bool(info.joker_answer_hash)
        and info.joker_question in QUESTIONS
    )
    # The session cookie can be read (only signed): both secrets are random and
    # the seed of a decoy question is there for everyone, or a second try
    # with the same typing would tell a decoy (same secret) from a real one.
    secret = new_secret()
    seed = _decoy_secret(ident, purpose)
    ttl = s.settings.tokens.grant_ttl
    if real and account is not None and info.joker_question:
        s.tokens.issue(
            account.uuid,
            Purpose.JOKER_CHALLENGE,
            secret,
            now=now(),
            ttl=ttl,
            data={"for": purpose},
        )
        challenge = JokerChallenge(info.joker_question, account)
    else:
        even_out(seed, ttl)  # a write of the token's cost, in its place (T2)
        challenge = JokerChallenge(decoy_question(_decoy_key(), seed, allowed), None)
    remember(JOKER, secret)
    remember(JOKER_SEED, seed)
    remember(JOKER_AT, f"{now():.0f}")
    remember(JOKER_FOR, purpose)
    remember(JOKER_KEY, hashlib.sha256(ident.key.encode()).hexdigest())
    return challenge


def current_joker(purpose: str) -> JokerChallenge | None:
    """The question being asked in this browser for ``purpose``, if any."""
    s = sesame()
    secret = recall(JOKER)
    if secret is None or recall(JOKER_FOR) != purpose:
        return None
    # Real or decoy, a question expires the same way (a decoy must not outlive a real one).
    asked = recall(JOKER_AT) or "0"
    if not asked.isdigit() or now() - int(asked) > s.settings.tokens.grant_ttl:
        return None
    record = s.tokens.peek(secret, Purpose.JOKER_CHALLENGE, now())
    if record is not None and record.data.get("for") == purpose:
        account = container().accounts.get(record.account_uuid)
        info = s.store.recovery_info(record.account_uuid)
        if account is not None and info.joker_question:
            return JokerChallenge(info.joker_question, account)
    seed = recall(JOKER_SEED) or secret
    return JokerChallenge(decoy_question(_decoy_key(), seed, s.settings.joker_questions), None)


def joker_locked(challenge: JokerChallenge) -> bool:
    s = sesame()
    ts = now()
    keys = [recall(JOKER_KEY) or "none"]
    if challenge.account is not None:
        keys.append(challenge.account.uuid)
    person = any(s.joker_throttle.retry_at(k, ts) for k in keys)
    return person or s.joker_ip_throttle.retry_at(client_ip(), ts) is not None


def check_joker(challenge: JokerChallenge, answer: str, purpose: str) -> bool:
    """One guess: a slow hash check either way; a wrong one counts against both keys.

    The guess is reserved on every key (the person, the account, the address)
    before the hash is checked, so a burst gets no more checks than the limit;
    a guess refused there is answered "too many attempts" (429) right away.
    """
    s = sesame()
    c = container()
    person_key = recall(JOKER_KEY) or "none"
    attempt = Attempt(now())
    keys = [person_key] + ([challenge.account.uuid] if challenge.account is not None else [])
    reserved = all(attempt.reserve(s.joker_throttle, key) for key in keys) and attempt.reserve(
        s.joker_ip_throttle, client_ip()
    )
    if not reserved:
        attempt.release()
        abort(make_response(too_many()))
    normalized = normalize_answer(answer)
    stored = s.dummy_hash
    if challenge.account is not None:
        stored = s.store.recovery_info(challenge.account.uuid).joker_answer_hash or s.dummy_hash
    right = c.passwords.verify(normalized, stored) and challenge.account is not None
    if not right:
        attempt.failed()
        audit("joker", "failure", challenge.account, step=purpose)
        return False
    assert challenge.account is not None
    secret = recall(JOKER) or ""
    if s.tokens.consume(secret, Purpose.JOKER_CHALLENGE, now()) is None:
        attempt.release()  # the question was answered already (another request)
        return False
    attempt.succeeded(reset=[s.joker_throttle])  # the address keeps its other failures
    forget(JOKER, JOKER_KEY, JOKER_FOR, JOKER_AT)
    audit("joker", "success", challenge.account, step=purpose)
    return True


def answer_joker(challenge: JokerChallenge, purpose: str, form: Form) -> Account | None:
    """The typed answer, checked once (:func:`check_joker`): the account when it is
    right; else None, and the form says why."""
    answer = read_text(form, "joker_answer", MAX_ANSWER_LENGTH)
    if answer is None or not check_joker(challenge, answer, purpose):
        if answer is not None:
            form.error("joker_answer", N_("This answer is not right."))
        return None
    assert challenge.account is not None
    return challenge.account


def grant(account: Account, purpose: Purpose, key: str, **data: Any) -> None:
    """The person proved who they are: the next step's single-use token (``purpose``),
    its secret kept in this browser's session under ``key``."""
    s = sesame()
    secret = new_secret()
    s.tokens.issue(
        account.uuid, purpose, secret, now=now(), ttl=s.settings.tokens.grant_ttl, data=data
    )
    remember(key, secret)


def granted(
    key: str, purpose: Purpose, allowed: Callable[[Account], bool]
) -> tuple[str, Account] | None:
    """The token this browser's session keeps under ``key`` (left where it is: the
    step's write takes it) and its account, while ``allowed`` for it."""
    secret = recall(key)
    if not secret:
        return None
    record = sesame().tokens.peek(secret, purpose, now())
    account = container().accounts.get(record.account_uuid) if record else None
    if account is None or not allowed(account):
        return None
    return secret, account


def grant_reset(account: Account) -> None:
    """The person proved who they are (joker, SMS code): they may choose a password."""
    grant(account, Purpose.RESET_GRANT, RESET_GRANT_KEY)


def issue_code(
    account: Account, purpose: Purpose, handle: str, destination: str, at: float, **data: Any
) -> str:
    """A new 6-digit code for ``destination``, valid ``code_ttl``: kept as a digest
    bound to ``handle`` (the token's secret, in the session), never in clear."""
    s = sesame()
    code = new_code()
    s.tokens.issue(
        account.uuid,
        purpose,
        handle,
        now=at,
        ttl=s.settings.tokens.code_ttl,
        destination=destination,
        data={"code": code_digest(handle, code), **data},
    )
    return code


def reset_charter(account: Account) -> Charter | None:
    if not sesame().settings.reset_requires_charter:
        return None
    return charter_for(container().charters, account.profile.value)


def complete_reset(
    account: Account,
    secret: str,
    purpose: Purpose,
    password: str,
    charter: Charter | None,
    *,
    path: str,
    max_attempts: int = NO_LIMIT,
) -> None:
    """The new password, in one transaction with the token's single use and the
    cancellation of every other token (T4, T6); then every SSO session ends.

    Raises PasswordRejected (policy, history: T18) or StepExpired; then
    nothing was written.
    """
    c = container()
    s = sesame()
    ts = now()
    with s.store.transaction() as tx:
        # Consumed before the password is written: a directory (LDAP) write
        # cannot be rolled back with the transaction.
        record = tx.consume(secret, purpose, ts, max_attempts)
        if record is None:
            raise StepExpired(purpose.value)
        # A console reset link to a typed address, "save" ticked: using the link
        # proves the address, which only now becomes the verified one on file.
        saved = record.data.get("save_email")
        if isinstance(saved, str) and saved == record.destination:
            tx.set_personal_email(account.uuid, saved, utcnow())
        else:
            saved = None
        c.passwords.using(tx).set_password(
            account, password, change=PasswordChange("reset", sessions_ended=True)
        )
        tx.invalidate_tokens(account.uuid, ts)
        if charter is not None:
            tx.accept_charter(account.uuid, charter.id, charter.version, utcnow())
    ended = end_sessions(account)
    audit("password_reset", "success", account, path=path, logout_targets=ended)
    if saved is not None and account.personal_email and saved != account.personal_email:
        confirm_change(account, "channels", to=account.personal_email)  # the old one (T11)
    # The confirmation mail (T11) is the password service's (web/password_notices.py).


def confirm_change(account: Account, what: str, to: str | None = None) -> None:
    """The confirmation mail after a change, with no secret in it (T11)."""
    mail_change("changed", account, what, to)
