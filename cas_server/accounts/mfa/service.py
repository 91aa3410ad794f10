"""Every rule of the second factor in one place, no framework: enrol, verify, recover, remove.

Pages, the command line and the console call this; it calls the store
(:class:`~.ports.MfaStore`), the sealer and the clock. What a person is refused
is a :class:`~.model.MfaRefused` whose message is a msgid.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import replace

from ...protocol.cas.ports import Clock
from ..console import mask_email, mask_mobile
from ..i18n import N_
from ..model import Account
from ..tokens import digest
from . import totp
from . import webauthn as wa
from .model import (
    METHOD_RECOVERY_CODE,
    Factor,
    FactorExists,
    FactorKind,
    MfaRefused,
    Replayed,
    TotpCheck,
    TrustedDevice,
    clean_label,
)
from .ports import MfaStore
from .recovery import looks_like_recovery_code, new_recovery_codes, recovery_code_hash
from .rules import MfaRules
from .sealing import Sealer, SealingError

log = logging.getLogger(__name__)

MAX_FACTORS = 20  # per person, every kind together
METHOD_ORDER = (FactorKind.WEBAUTHN, FactorKind.TOTP, FactorKind.EMAIL, FactorKind.SMS)
WRONG_CODE = N_("This code is not right. Type the code your app shows now.")
NOT_FOUND = N_("This method does not exist, or was already removed.")


class MfaService:
    def __init__(
        self,
        store: MfaStore,
        sealer: Sealer,
        rules: MfaRules,
        clock: Clock,
        recovery_key: bytes,
        issuer: str,
        *,
        old_recovery_keys: Sequence[bytes] = (),
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.rules = rules
        self.clock = clock
        self.issuer = issuer
        # The first key hashes new recovery codes; older ones (from encryption keys
        # being rotated out) still recognise the codes they hashed.
        self._recovery_keys = (recovery_key, *old_recovery_keys)

    # --- what a person has -------------------------------------------------------------

    def factors(self, account: Account) -> list[Factor]:
        return self.store.factors(account.uuid)

    def channel_destination(self, account: Account, kind: FactorKind) -> str | None:
        """Where a code of an EMAIL or SMS factor goes: the verified channel, if allowed."""
        if kind is FactorKind.EMAIL and not self.rules.email_codes:
            return None
        if kind is FactorKind.SMS and not self.rules.sms_codes:
            return None
        if kind not in (FactorKind.EMAIL, FactorKind.SMS):
            return None
        return self.store.verified_channel(account.uuid, kind)

    def methods_of(self, account: Account) -> list[str]:
        """What this person can use now, strongest first: enrolled factors (a channel
        still verified and allowed), then recovery codes if any are left."""
        if not self.rules.enabled:
            return []
        kinds = {f.kind for f in self.store.factors(account.uuid)}
        methods = [
            kind.value
            for kind in METHOD_ORDER
            if kind in kinds
            and (
                kind in (FactorKind.TOTP, FactorKind.WEBAUTHN)
                or self.channel_destination(account, kind) is not None
            )
        ]
        # Codes go with the factors; they also stand in for a factor no longer usable.
        if kinds and self.store.recovery_codes_left(account.uuid) > 0:
            methods.append(METHOD_RECOVERY_CODE)
        return methods

    def recovery_codes_left(self, account: Account) -> int:
        return self.store.recovery_codes_left(account.uuid)

    def grace_left(self, account: Account) -> int:
        """Sign-ins still let through before enrolment is forced."""
        return max(0, self.rules.grace_sign_ins - self.store.grace_used(account.uuid))

    def take_grace(self, account: Account) -> bool:
        """Count one sign-in without a second factor; False once the grace is spent."""
        if self.grace_left(account) <= 0:
            return False
        return self.store.use_grace(account.uuid) <= self.rules.grace_sign_ins

    # --- enrolment, common -------------------------------------------------------------

    def _new_factor(self, account: Account, kind: FactorKind, label: str) -> Factor:
        if not self.rules.enabled:
            raise MfaRefused(N_("Second factors are not in use on this server."))
        existing = self.store.factors(account.uuid)
        if len(existing) >= MAX_FACTORS:
            raise MfaRefused(
                N_("You have too many factors (at most %(max)s). Remove one first."),
                max=MAX_FACTORS,
            )
        return Factor(
            id=str(uuid.uuid4()),
            account_uuid=account.uuid,
            kind=kind,
            label=clean_label(label),
            created_at=self.clock.now(),
        )

    def _store_new(self, factor: Factor) -> tuple[Factor, list[str] | None]:
        """Store it; the first factor (no recovery code left) also brings 10 fresh codes."""
        self.store.add_factor(factor)
        if self.store.recovery_codes_left(factor.account_uuid) > 0:
            return factor, None
        return factor, self._replace_codes(factor.account_uuid)

    def _replace_codes(self, account_uuid: str) -> list[str]:
        codes = new_recovery_codes()
        hashes = [recovery_code_hash(self._recovery_keys[0], code) for code in codes]
        self.store.replace_recovery_codes(account_uuid, hashes, self.clock.now())
        return codes

    # --- TOTP ----------------------------------------------------------------------------

    def begin_totp(self) -> str:
        """A new secret, to show (QR code and text) and keep until it is confirmed."""
        return totp.new_secret()

    def totp_uri(self, account: Account, secret: str) -> str:
        return totp.provisioning_uri(secret, account.login, self.issuer)

    def _open(self, factor: Factor) -> str | None:
        if factor.secret is None:
            return None
        try:
            return self.sealer.open(factor.secret).decode("ascii")
        except (SealingError, UnicodeDecodeError):
            log.warning("TOTP factor %s: no configured [mfa] key opens its secret", factor.id)
            return None

    def _totp_factors(self, account: Account) -> list[tuple[Factor, str]]:
        found = []
        for factor in self.store.factors(account.uuid):
            if factor.kind is FactorKind.TOTP and (secret := self._open(factor)) is not None:
                found.append((factor, secret))
        return found

    def confirm_totp(
        self, account: Account, label: str, secret: str, code: str
    ) -> tuple[Factor, list[str] | None]:
        """Enrol the app once it showed a right code (that code is then used up)."""
        seed = totp.normalise_secret(secret)
        if seed is None:
            raise MfaRefused(N_("This secret is not valid. Start again."))
        steps = totp.matching_steps(seed, code, self.clock.now())
        if not steps:
            raise MfaRefused(WRONG_CODE)
        if any(known == seed for _, known in self._totp_factors(account)):
            raise MfaRefused(N_("This app is already added."))
        factor = replace(
            self._new_factor(account, FactorKind.TOTP, label),
            secret=self.sealer.seal(seed.encode("ascii")),
            last_step=max(steps),
        )
        return self._store_new(factor)

    def import_totp(self, account: Account, label: str, secret: str) -> Factor:
        """A hardware token's seed from an import file (no code to confirm, no codes shown)."""
        seed = totp.normalise_secret(secret)
        if seed is None:
            raise MfaRefused(N_("This secret is not valid base32."))
        factor = replace(
            self._new_factor(account, FactorKind.TOTP, label),
            secret=self.sealer.seal(seed.encode("ascii")),
        )
        self.store.add_factor(factor)
        return factor

    def check_totp(self, account: Account, code: str) -> TotpCheck:
        """Try the code on every TOTP factor of the account; a step is accepted once."""
        now, replayed = self.clock.now(), False
        for factor, secret in self._totp_factors(account):
            steps = totp.matching_steps(secret, code, now)
            fresh = [step for step in steps if step > factor.last_step]
            if fresh and self.store.use_totp_step(factor.id, min(fresh), now):
                return TotpCheck("success", replace(factor, last_step=min(fresh), last_used_at=now))
            replayed = replayed or bool(steps)
        return TotpCheck("replay" if replayed else "failure")

    def verify_totp(self, account: Account, code: str) -> Factor | None:
        """The factor the code is right for, or None (wrong, or already used)."""
        return self.check_totp(account, code).factor

    # --- WebAuthn ------------------------------------------------------------------------

    def _keys(self, account: Account) -> list[Factor]:
        return [
            f
            for f in self.store.factors(account.uuid)
            if f.kind is FactorKind.WEBAUTHN and f.credential_id is not None
        ]

    def begin_webauthn_registration(
        self, account: Account, rp_id: str, rp_name: str
    ) -> tuple[str, bytes]:
        keys = self._keys(account)
        return wa.registration_options(
            rp_id,
            rp_name,
            account.uuid.encode("ascii"),
            account.login,
            account.display_name,
            [k.credential_id for k in keys if k.credential_id is not None],
            transports={k.credential_id: k.transports for k in keys if k.credential_id},
        )

    def finish_webauthn_registration(
        self,
        account: Account,
        label: str,
        credential_json: str,
        challenge: bytes,
        rp_id: str,
        origin: str,
    ) -> tuple[Factor, list[str] | None]:
        clean_label(label)  # before the ceremony's result is looked at
        new = wa.verify_registration(credential_json, challenge, rp_id, origin)
        if self.store.by_credential_id(new.credential_id) is not None:
            raise FactorExists
        factor = replace(
            self._new_factor(account, FactorKind.WEBAUTHN, label),
            credential_id=new.credential_id,
            public_key=new.public_key,
            sign_count=new.sign_count,
            transports=new.transports,
        )
        return self._store_new(factor)

    def begin_webauthn_authentication(self, account: Account, rp_id: str) -> tuple[str, bytes]:
        keys = self._keys(account)
        if not keys:
            raise MfaRefused(N_("No security key is registered on your account."))
        return wa.authentication_options(
            rp_id,
            [k.credential_id for k in keys if k.credential_id is not None],
            transports={k.credential_id: k.transports for k in keys if k.credential_id},
        )

    def verify_webauthn(
        self, account: Account, credential_json: str, challenge: bytes, rp_id: str, origin: str
    ) -> Factor:
        """The key that signed; :class:`~.model.CounterRegressed` if its counter went back."""
        factor = self.store.by_credential_id(wa.credential_id_of(credential_json))
        if (
            factor is None
            or factor.account_uuid != account.uuid
            or factor.kind is not FactorKind.WEBAUTHN
            or factor.public_key is None
        ):
            raise MfaRefused(N_("This security key is not registered on your account."))
        count = wa.verify_authentication(
            credential_json, challenge, rp_id, origin, factor.public_key, factor.sign_count
        )
        now = self.clock.now()
        if not self.store.use_webauthn(factor.id, factor.sign_count, count, now):
            raise Replayed(wa.NOT_ACCEPTED)
        return replace(factor, sign_count=count, last_used_at=now)

    # --- codes by e-mail or SMS ----------------------------------------------------------

    def add_channel_factor(
        self, account: Account, kind: FactorKind
    ) -> tuple[Factor, list[str] | None]:
        """Codes to the verified personal e-mail (EMAIL) or mobile (SMS)."""
        if kind not in (FactorKind.EMAIL, FactorKind.SMS):
            raise ValueError(f"{kind} is not a channel")
        allowed = self.rules.email_codes if kind is FactorKind.EMAIL else self.rules.sms_codes
        if not allowed:
            raise MfaRefused(N_("Codes of this kind are not offered."))
        if any(f.kind is kind for f in self.store.factors(account.uuid)):
            raise MfaRefused(N_("You already receive codes this way."))
        destination = self.store.verified_channel(account.uuid, kind)
        if destination is None:
            if kind is FactorKind.EMAIL:
                raise MfaRefused(N_("Verify your personal e-mail address first."))
            raise MfaRefused(N_("Verify your mobile number first."))
        masked = mask_email(destination) if kind is FactorKind.EMAIL else mask_mobile(destination)
        return self._store_new(self._new_factor(account, kind, masked or kind.value))

    # --- recovery codes ------------------------------------------------------------------

    def regenerate_recovery_codes(self, account: Account) -> list[str]:
        """Ten new codes; the old set no longer works."""
        if not self.store.factors(account.uuid):
            raise MfaRefused(N_("Add a second factor first."))
        return self._replace_codes(account.uuid)

    def use_recovery_code(self, account: Account, typed: str) -> bool:
        """Use one code once (whatever the spaces, dashes and case)."""
        if not looks_like_recovery_code(typed):
            return False
        now = self.clock.now()
        return any(
            self.store.use_recovery_code(account.uuid, recovery_code_hash(key, typed), now)
            for key in self._recovery_keys
        )

    # --- managing ------------------------------------------------------------------------

    def rename(self, account: Account, factor_id: str, label: str) -> Factor:
        factor = self.store.factor(account.uuid, factor_id)
        cleaned = clean_label(label)
        if factor is None or not self.store.rename_factor(account.uuid, factor_id, cleaned):
            raise MfaRefused(NOT_FOUND)
        return replace(factor, label=cleaned)

    def remove(self, account: Account, factor_id: str, *, by_operator: bool = False) -> Factor:
        """Remove one factor. A person who must use a second factor cannot remove the
        last one (the help desk can); without any factor left, the recovery codes go."""
        factors = self.store.factors(account.uuid)
        factor = next((f for f in factors if f.id == factor_id), None)
        if factor is None:
            raise MfaRefused(NOT_FOUND)
        if len(factors) == 1 and not by_operator and self.rules.required_for(account):
            raise MfaRefused(
                N_(
                    "This is your last second factor and your account requires one. "
                    "Add another before removing this one."
                )
            )
        if not self.store.remove_factor(account.uuid, factor_id):
            raise MfaRefused(NOT_FOUND)
        if not self.store.factors(account.uuid):
            self.store.replace_recovery_codes(account.uuid, [], self.clock.now())
        return factor

    def remove_all(self, account: Account) -> int:
        """The help desk's "lost phone": every factor and code, trusted devices revoked,
        the grace restarted so that the person can enrol again at the next sign-in."""
        return self.store.remove_all(account.uuid, self.clock.now())

    # --- trusted devices -----------------------------------------------------------------

    def trust_device(self, account: Account, label: str) -> tuple[str, TrustedDevice]:
        """A new trusted device: (the secret for the cookie, the device). Only its
        SHA-256 is stored."""
        if not self.rules.enabled or self.rules.trust_days <= 0:
            raise MfaRefused(N_("Trusting a device is not offered."))
        now = self.clock.now()
        token = secrets.token_urlsafe(32)
        device = TrustedDevice(
            id=str(uuid.uuid4()),
            account_uuid=account.uuid,
            label=" ".join(label.split())[:100],
            created_at=now,
            expires_at=now + self.rules.trust_seconds,
        )
        self.store.add_trusted_device(device, digest(token))
        return token, device

    def trusted_device(self, account: Account, token: str) -> TrustedDevice | None:
        """The live device the cookie's secret names, for this account."""
        if not self.rules.enabled or self.rules.trust_days <= 0 or not 16 <= len(token) <= 128:
            return None
        return self.store.trusted_device(account.uuid, digest(token), self.clock.now())
