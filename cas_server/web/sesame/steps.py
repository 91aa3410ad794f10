"""Steps several paths share: the joker question, and finishing a password reset.

The joker step answers the same for everyone (T1): a person who matches
no account, or a locked one, gets a *decoy* question drawn from the same
list, fixed for what they typed, and no answer to it is ever right. Wrong
answers are throttled per person and per address and audited (T12).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from flask import abort, current_app, make_response

from ...accounts.charter import Charter, charter_for
from ...accounts.identity import Identification
from ...accounts.joker import QUESTIONS, decoy_question, normalize_answer
from ...accounts.model import Account
from ...accounts.passwords import PasswordChange
from ...accounts.recovery import may_recover
from ...accounts.throttle import Attempt
from ...accounts.tokens import Purpose, new_secret
from ...runtime.container import container
from ...runtime.sesame import now, sesame, utcnow
from ...storage.sql.tokens import NO_LIMIT
from .pages import too_many
from .runtime import audit, client_ip, end_sessions, even_out, forget, recall, remember, send_mail

JOKER = "joker"
JOKER_KEY = "joker_key"
JOKER_FOR = "joker_for"
JOKER_AT = "joker_at"
JOKER_SEED = "joker_seed"  # what a decoy question is drawn from (both kinds have one)


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


def grant_reset(account: Account) -> None:
    """The person proved who they are (joker, SMS code): they may choose a password."""
    s = sesame()
    secret = new_secret()
    s.tokens.issue(
        account.uuid, Purpose.RESET_GRANT, secret, now=now(), ttl=s.settings.tokens.grant_ttl
    )
    remember("grant", secret)


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
    address = to or account.personal_email
    if not address:
        return
    send_mail(
        "changed",
        address,
        what=what,
        login=account.login,
        display_name=account.display_name,
        when=utcnow(),
        ip=client_ip(),
    )
