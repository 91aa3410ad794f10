"""What the server tells its operators: logs with request ids and secrets scrubbed
(``logs``), Prometheus metrics around the protocol and the user sources (``metrics``),
and the audit trail of who did what, from where (``audit``, SELF-SERVICE-RULES T25)."""
