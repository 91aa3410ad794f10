"""WebAuthn (security keys, passkeys) with ``py_webauthn`` (Duo Labs), wrapped.

The relying party id is the host of ``[server] public_url``; the origin is that
URL's scheme, host and port. User verification is "preferred" (a PIN or a
fingerprint when the authenticator has one); attestation is not asked (we
trust the key the person registers, not its maker). Whatever goes wrong with a
browser's answer (malformed JSON, another origin, a bad signature, a library
error) raises :class:`~.model.MfaRefused`: no exception of the library escapes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import webauthn as lib
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..i18n import N_
from .model import CounterRegressed, MfaRefused

log = logging.getLogger(__name__)

TIMEOUT_MS = 180_000  # the browser's prompt: three minutes, to find a key and a PIN
MAX_JSON = 64 * 1024  # an attestation with a certificate chain stays far below
MAX_CREDENTIAL_ID = 1023  # WebAuthn level 2, section 5.8.3
TRANSPORTS = {t.value: t for t in AuthenticatorTransport}
NOT_ACCEPTED = N_("The security key's answer was not accepted. Try again.")


@dataclass(frozen=True)
class NewCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]


def _descriptors(
    ids: Sequence[bytes], transports: Mapping[bytes, Sequence[str]]
) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=bytes(cid),
            transports=[TRANSPORTS[t] for t in transports.get(cid, ()) if t in TRANSPORTS] or None,
        )
        for cid in ids
    ]


def registration_options(
    rp_id: str,
    rp_name: str,
    user_id: bytes,
    user_name: str,
    display_name: str,
    exclude: Sequence[bytes],
    *,
    transports: Mapping[bytes, Sequence[str]] | None = None,
) -> tuple[str, bytes]:
    """(options JSON for ``navigator.credentials.create``, the challenge to keep)."""
    options = lib.generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_id=user_id,
        user_name=user_name,
        user_display_name=display_name or user_name,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(exclude, transports or {}),
    )
    return lib.options_to_json(options), options.challenge


def authentication_options(
    rp_id: str,
    allow: Sequence[bytes],
    *,
    transports: Mapping[bytes, Sequence[str]] | None = None,
) -> tuple[str, bytes]:
    """(options JSON for ``navigator.credentials.get``, the challenge to keep)."""
    options = lib.generate_authentication_options(
        rp_id=rp_id,
        timeout=TIMEOUT_MS,
        allow_credentials=_descriptors(allow, transports or {}),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return lib.options_to_json(options), options.challenge


def _parsed(credential_json: str) -> dict[str, Any]:
    if not isinstance(credential_json, str) or len(credential_json) > MAX_JSON:
        raise MfaRefused(NOT_ACCEPTED)
    try:
        value = json.loads(credential_json)
    except ValueError as exc:
        raise MfaRefused(NOT_ACCEPTED) from exc
    if not isinstance(value, dict):
        raise MfaRefused(NOT_ACCEPTED)
    return value


def credential_id_of(credential_json: str) -> bytes:
    """The credential id a browser's answer names (to find the factor), checked for shape."""
    value = _parsed(credential_json)
    raw_id, cid = value.get("rawId"), value.get("id")
    if not isinstance(raw_id, str) or not isinstance(cid, str):
        raise MfaRefused(NOT_ACCEPTED)
    try:
        decoded = base64url_to_bytes(raw_id)
    except Exception as exc:  # binascii and friends: any is a refusal
        raise MfaRefused(NOT_ACCEPTED) from exc
    if not 1 <= len(decoded) <= MAX_CREDENTIAL_ID or bytes_to_base64url(decoded) != cid:
        raise MfaRefused(NOT_ACCEPTED)
    return decoded


def verify_registration(
    credential_json: str, challenge: bytes, rp_id: str, origin: str
) -> NewCredential:
    value = _parsed(credential_json)
    credential_id_of(credential_json)
    try:
        verified = lib.verify_registration_response(
            credential=value,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_presence=True,
            require_user_verification=False,
        )
    except Exception as exc:  # every library failure is a refusal
        log.info("WebAuthn registration refused: %s", exc)
        raise MfaRefused(NOT_ACCEPTED) from exc
    response = value.get("response")
    listed = response.get("transports") if isinstance(response, dict) else None
    transports = tuple(t for t in (listed if isinstance(listed, list) else []) if t in TRANSPORTS)[
        :8
    ]
    return NewCredential(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=tuple(dict.fromkeys(transports)),
    )


def verify_authentication(
    credential_json: str,
    challenge: bytes,
    rp_id: str,
    origin: str,
    public_key: bytes,
    sign_count: int,
) -> int:
    """The authenticator's new sign count, once its signature is verified.

    The counter is judged here, not by the library (it is given 0, so that it
    never refuses on it), and only *after* the signature is known good: only a
    real key's answer raises :class:`~.model.CounterRegressed`, the alarm of a
    counter that went backwards (perhaps a cloned key).
    """
    value = _parsed(credential_json)
    credential_id_of(credential_json)
    try:
        verified = lib.verify_authentication_response(
            credential=value,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=False,
        )
    except Exception as exc:  # every library failure is a refusal
        log.info("WebAuthn assertion refused: %s", exc)
        raise MfaRefused(NOT_ACCEPTED) from exc
    new_count = int(verified.new_sign_count)
    if counter_regressed(sign_count, new_count):
        raise CounterRegressed
    return new_count


def counter_regressed(stored: int, new: int) -> bool:
    """WebAuthn 6.1.1: a counter that does not grow (once either is non-zero) may be a clone.
    Authenticators without a counter (most passkeys) always say 0."""
    return (stored > 0 or new > 0) and new <= stored
