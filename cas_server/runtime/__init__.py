"""The running server's shared objects, reached through the Flask application context.

Built once by :func:`cas_server.create_app` and used alike by the web pages,
the console's actions and the command line: the :class:`~.container.Container`
of one server, the backends a node shares with the others (``infrastructure``),
the theme chain (``themes``) and mails rendered from it (``mail``), the Sésame
module's senders and limits (``sesame``), the password-change notices
(``password_notices``) and a request context for work outside a request
(``offline``). No views here: the pages are :mod:`cas_server.web`."""
