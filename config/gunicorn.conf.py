"""gunicorn settings for production; every value can be overridden by GUNICORN_* variables."""

import multiprocessing
import os

from gunicorn.glogging import Logger

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8080")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2))
# gthread: the back-channel single logout threads run beside requests.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# gthread: connections one worker keeps at once (idle keep-alive ones count).
# Past it the worker stops accepting and the others take the new ones.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Load the app in each worker after fork: no database connection or
# thread pool is shared across processes.
preload_app = False
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
# gunicorn 25.1+ control socket (gunicornc: worker status, reload, scaling).
# Its default, $XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl, is
# one path for every instance the user runs on the machine: off unless
# GUNICORN_CONTROL_SOCKET names this instance's own (e.g.
# /run/cas-server/gunicorn.ctl; owner-only, mode 0600).
control_socket_path = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
if control_socket_path:
    control_socket = os.path.abspath(control_socket_path)
    control_socket_disable = False
else:
    control_socket_disable = True


class ScrubbingLogger(Logger):
    """gunicorn's logger, without the secrets of mailed links.

    ``/sesame/password/reset/<secret>`` and the other routes with a
    ``<secret>`` part (read from the application's URL map) are written
    with ``…`` in place of the secret, in the access log and the error log
    alike (cas_server/observability/logs.py SecretFilter). Any access_log_format works.
    """

    def setup(self, cfg):
        super().setup(cfg)
        from cas_server.observability.logs import SecretFilter

        for log in (self.access_log, self.error_log):
            if not any(isinstance(f, SecretFilter) for f in log.filters):
                log.addFilter(SecretFilter())


logger_class = ScrubbingLogger
# Behind a reverse proxy: trust its X-Forwarded-* only from these addresses
# (the application also needs [server] trusted_proxies).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")


# Prometheus metrics with several workers: each worker writes its counts to
# PROMETHEUS_MULTIPROC_DIR and the metrics page sums them. The folder must
# be empty when the server starts (one folder per server on a host).
def on_starting(server):
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.remove(os.path.join(folder, name))


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
