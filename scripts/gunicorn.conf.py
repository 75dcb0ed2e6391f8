"""gunicorn settings for `make run` (the Procfile's web line), as production serves the web.

The Procfile passes the bind address (127.0.0.1:${PORT:-5000}). Workers and threads suit the
machine unless WEB_CONCURRENCY / WEB_THREADS say otherwise: a request spends part of its time
waiting on the database, so a few threads per process keep the cores busy, and one process per
core (plus one) keeps rendering (CPU in Python, one core per process) from queueing behind a
single interpreter. Production may pass its own settings on the command line instead.
"""

import os

_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

workers = int(os.environ.get("WEB_CONCURRENCY") or min(_cores + 1, 8))
threads = int(os.environ.get("WEB_THREADS") or 4)
worker_class = "gthread"
# Ctrl-C / SIGTERM: requests in flight get a few seconds to finish, then the workers go.
graceful_timeout = 5
timeout = 60
# One line per request on the console, as `flask run` printed them.
accesslog = "-"
# gunicorn's control socket lives at one path per user ($HOME/.gunicorn/gunicorn.ctl): a second
# server on the host (another `make run`, a benchmark) would take it over. Nothing here uses it.
control_socket_disable = True
