"""The CAS pages and endpoints: /login and /logout (``login``), what waits between a right
password and the service (``login_flow``, ``pending_login``: charter, forced change),
the validation endpoints (``validate``) and the fast path that answers validation and
SSO before Flask's request machinery (``fast_path``); ``login_support`` holds what the
login views share."""
