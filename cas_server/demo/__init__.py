"""Demo data for ``make run`` (``cas-server demo``): the demo accounts (``accounts``),
their Sésame data, jokers and codes (``sesame``), and the demo admin's published TOTP
secret (``mfa``). Idempotent; never loaded by a deployment."""
