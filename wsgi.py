"""WSGI entry point: ``gunicorn -c config/gunicorn.conf.py wsgi:app``.

The deployment's configuration file is named by CAS_SERVER_CONFIG.
"""

from cas_server import create_app

app = create_app()
