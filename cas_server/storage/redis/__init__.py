"""Redis adapters: the client and its settings (``client``), the ticket registry
(``tickets``, each consumption one Lua script from ``scripts``) and the throttle
counters (``counters``). Several nodes share one Redis."""
