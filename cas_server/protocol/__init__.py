"""The CAS protocol, pure: tickets, services, validation and response documents.

Nothing in this package imports a web framework, a database driver or an
HTTP client. Adapters implement the ports declared in :mod:`.ports`.
"""
