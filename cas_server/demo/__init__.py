"""Demo data for ``make run`` (``cas-server demo``): the demo accounts (``accounts``) and
their Sésame data, jokers and codes (``sesame``). Idempotent; never loaded by a deployment."""
