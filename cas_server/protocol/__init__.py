"""The sign-in protocols, pure: one package per protocol family (``cas``: CAS 3.0).

Nothing in this package imports a web framework, a database driver or an
HTTP client. A second protocol never reaches into the first's modules: they
share the SSO session through the ports of :mod:`.cas.ports`.
"""
