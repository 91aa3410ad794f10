"""SAML 2.0 identity provider rules the binding library does not decide.

Which service provider, which release policy, which NameID and identifiers,
which attributes, which authentication context: pure Python, no framework,
no database, no XML library (pysaml2 lives in :mod:`cas_server.saml`).
"""
