"""Former home of the log filters, kept as an alias: a ``gunicorn.conf.py`` copied from an
earlier release imports ``cas_server.logs.SecretFilter`` and must still start.

New code imports :mod:`cas_server.observability.logs`. Nothing else may live here
(``tests/test_layering.py`` holds this module to the one import below).
"""

from .observability.logs import JsonFormatter, RequestIdFilter, SecretFilter

__all__ = ["JsonFormatter", "RequestIdFilter", "SecretFilter"]
