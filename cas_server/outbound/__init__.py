"""What leaves the server: mail (``mail``: SMTP or the demo console, in the background),
SMS (``sms``: an HTTP gateway), and HTTP calls to services (``http``: proxy callbacks
and single logout). Rendering a mail from a theme is :mod:`cas_server.runtime.mail`."""
