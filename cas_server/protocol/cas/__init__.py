"""CAS Protocol 3.0, pure: tickets and their expiry, services, login, validation, the
response documents (XML, JSON, SAML 1.1 for samlValidate) and single logout messages.

Nothing here imports a web framework, a database driver or an HTTP client.
Adapters implement the ports of :mod:`.ports` (ticket registry, clock,
proxy callback)."""
