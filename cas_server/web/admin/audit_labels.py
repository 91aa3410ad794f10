"""The audit trail's codes as people read them: "profile_joker" → "Mon compte : Question joker".

Codes are ``<area>_<action>`` (web/sesame/runtime.py, web/profile/runtime.py,
admin/actions.py) or bare (sign-in, command line); the label is built from both parts.
An unknown code (a new event, a test's) is shown as it is. The codes themselves stay
the trail's filter values and the CSV export's cells.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext

from ...accounts.i18n import N_

AUDIT_AREAS: Mapping[str, str] = {
    "sesame": N_("Self-service"),
    "profile": N_("My account"),
    "admin": N_("Console"),
}
AUDIT_ACTIONS: Mapping[str, str] = {
    # Sign-in and command line
    "login": N_("Sign-in"),
    "logout": N_("Sign-out"),
    "login_lock": N_("Sign-in suspension"),
    "charter_accept": N_("Charter accepted"),
    "charter_refuse": N_("Charter refused"),
    "password_change": N_("Password change at sign-in"),
    "account_create": N_("Account creation"),
    "password_set": N_("Password set"),
    "ldap_sync_disable": N_("Disabled by the directory synchronisation"),
    # Self-service (Sésame)
    "activation": N_("Account activation"),
    "activation_start": N_("Start of the activation"),
    "activation_code": N_("Activation code"),
    "identifier": N_("Forgotten identifier"),
    "identifier_request": N_("Forgotten identifier request"),
    "password_request": N_("Password recovery request"),
    "password_reset": N_("Password reset"),
    "sms_code": N_("Code by SMS"),
    "facts": N_("Check of the personal facts"),
    "email_link": N_("Link by e-mail"),
    "facts_link": N_("Link after the personal facts"),
    "temporary_link": N_("Link for a temporary password"),
    "profile_email_code": N_("Code for a new personal e-mail"),
    "profile_mobile_code": N_("Code for a new mobile number"),
    # Profile page (and the Sésame joker step)
    "joker": N_("Joker question"),
    "password": N_("Password change"),
    "email": N_("Personal e-mail"),
    "mobile": N_("Mobile number"),
    "link": N_("Account link"),
    "unlink": N_("Account link undone"),
    "data_export": N_("Data download"),
    # Console
    "view": N_("Record viewed"),
    "alias": N_("Alias"),
    "lock": N_("Account locked"),
    "unlock": N_("Account unlocked"),
    "force_change": N_("Forced password change"),
    "end_sessions": N_("End of the SSO sessions"),
    "roles": N_("Console roles"),
    "reset_link": N_("Reset link by e-mail"),
    "reset_sms": N_("Reset link by SMS"),
    "import": N_("CSV import"),
    "audit_export": N_("Audit trail export"),
    "audit_purge": N_("Audit trail purge"),
    # Second factor (issue #14): sign-in, profile, console and command line
    "mfa_enrol": N_("Second factor added"),
    "mfa_remove": N_("Second factor removed"),
    "mfa_rename": N_("Second factor renamed"),
    "mfa_verify": N_("Second factor checked"),
    "mfa_recovery_codes": N_("New recovery codes"),
    "mfa_recovery_code_used": N_("Recovery code used"),
    "mfa_trusted_device": N_("Trusted device"),
    "mfa_webauthn_counter": N_("Security key counter went backwards"),
    "mfa_step_up": N_("Second factor for a service"),
    "mfa_import": N_("Import of hardware tokens"),
    "mfa_reseal": N_("Second-factor secrets sealed again"),
    # Self-registration (#16)
    "registration": N_("Account creation request"),
    "registration_confirm": N_("Account creation confirmed"),
    "registration_approve": N_("Account creation approved"),
    "registration_refuse": N_("Account creation refused"),
    # Help requests (issue #16): the public form and the console's queue
    "help_request_submit": N_("Help request sent"),
    "help_request_view": N_("Help request read"),
    "help_request_assign": N_("Help request assigned"),
    "help_request_link": N_("Help request linked to an account"),
    "help_request_answer": N_("Help request answered"),
    "help_request_close": N_("Help request closed"),
    "help_request_purge": N_("Closed help requests purged"),
    # "My sign-ins" (issue #15): the person's own sessions, the new-device notice
    "session_end_self": N_("Session ended by its owner"),
    "sessions_end_others": N_("Other sessions ended by their owner"),
    "new_device_notice": N_("Sign-in from a new device"),
    # The help desk (issue #15): session explorer, account check, impersonation
    "session_end": N_("SSO session ended by the help desk"),
    "check": N_("Account checked for a service"),
    "impersonation_start": N_("Impersonation started"),
    "impersonation_ticket": N_("Service ticket issued during an impersonation"),
    "impersonation_end": N_("Impersonation ended"),
    # The SAML 2.0 identity provider (issue #18): attribute names only, never values
    "saml_assertion": N_("SAML assertion for a service provider"),
    "saml_consent": N_("Attribute release consent"),
    "saml_logout": N_("SAML single logout"),
    "saml_consent_revoke": N_("Attribute release consent withdrawn"),
}
AUDIT_OUTCOMES: Mapping[str, str] = {
    "success": N_("Succeeded"),
    "accepted": N_("Accepted"),
    "remembered": N_("Accepted and remembered"),
    "no_session": N_("No SSO session"),
    "bad_request": N_("Malformed or unsigned request"),
    "unknown_service_provider": N_("Unknown service provider"),
    "request_replayed": N_("Request already used"),
    "no_authn_context": N_("Authentication context not available"),
    "no_passive": N_("Sign-in needed, not allowed to ask"),
    "request_denied": N_("Denied"),
    "invalid_name_id_policy": N_("Identifier format not available"),
    "unknown_principal": N_("Unknown person"),
    "second_factor_required": N_("Second factor required"),
    "service_not_authorized": N_("Service not allowed for this account"),
    "failure": N_("Failed"),
    "refused": N_("Refused"),
    "rejected": N_("Not accepted by the password policy"),
    "match": N_("Account found"),
    "no_match": N_("No account found"),
    "throttled": N_("Too many attempts"),
    "unavailable": N_("Account source unavailable"),
    "invalid_credentials": N_("Wrong identifier or password"),
    "locked": N_("Account locked"),
    "disabled": N_("Account disabled"),
    "not_activated": N_("Account not activated"),
    "expired": N_("Temporary password expired"),
    "wrong_password": N_("Wrong current password"),
    "sent": N_("Sent"),
    "cleared": N_("Removed"),
    "mailed": N_("Sent by e-mail"),
    "shown": N_("Shown on screen"),
    "link_mailed": N_("Link sent by e-mail"),
    "sms_sent": N_("SMS sent"),
    "no_sms": N_("No SMS possible"),
    "temporary_mailed": N_("Temporary password sent by e-mail"),
    "verified": N_("Code verified"),
    "wrong_or_expired": N_("Wrong or expired code"),
    "mismatch": N_("Facts do not match"),
    "code": N_("Started with a code"),
    "bad_code": N_("Wrong activation code"),
    "no_channel": N_("No way to send the code"),
    "rate_limited": N_("Sending limit reached"),
    "sms_budget_exhausted": N_("Daily SMS budget spent"),
    "code_sent": N_("Code sent"),
    "wrong_code": N_("Wrong code"),
    "code_expired": N_("Code expired"),
    "replay": N_("Code already used"),
    "dry_run": N_("Dry run"),
    "domain_refused": N_("Address domain not accepted"),
    "address_in_use": N_("Address already has an account"),
    "created": N_("Account created"),
    "awaiting_approval": N_("Waiting for approval"),
    "link_expired": N_("Link already used or expired"),
    "no_address": N_("No verified address to tell"),
}


def audit_action_label(code: str) -> str:
    """``profile_joker`` → "My account: Joker question"; an unknown code stays as it is."""
    if code in AUDIT_ACTIONS:
        return str(gettext(AUDIT_ACTIONS[code]))
    area, _, action = code.partition("_")
    if area in AUDIT_AREAS and action in AUDIT_ACTIONS:
        return str(
            gettext(
                "%(area)s: %(action)s",
                area=gettext(AUDIT_AREAS[area]),
                action=gettext(AUDIT_ACTIONS[action]),
            )
        )
    return code


def audit_outcome_label(code: str) -> str:
    return str(gettext(AUDIT_OUTCOMES[code])) if code in AUDIT_OUTCOMES else code
