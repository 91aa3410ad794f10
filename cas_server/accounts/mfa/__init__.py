"""The second factor (issue #14): TOTP, WebAuthn, codes by e-mail or SMS, recovery codes.

Pure: the rules live in :class:`~.service.MfaService`, over the
:class:`~.ports.MfaStore` port; the libraries that do the cryptography
(``pyotp``, ``webauthn``, ``cryptography``) are wrapped here so that no
exception of theirs reaches a page.
"""
