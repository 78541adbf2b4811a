"""Run the legacy app under gunicorn with threaded sync workers.

    gunicorn -c legacy_flask/gunicorn.conf.py "legacy_flask:create_app()"

Settings come from ``RESYNC_*`` (the app) and ``LEGACY_*`` (the server) environment variables.
Threads suit this app: its time goes to the database and to TWS, both released the GIL.
"""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("LEGACY_BIND", "127.0.0.1:8001")
workers = int(os.environ.get("LEGACY_WORKERS", str(min(4, multiprocessing.cpu_count()))))
worker_class = "gthread"
threads = int(os.environ.get("LEGACY_THREADS", "8"))
# Longer than the TWS timeout (5 s) times the calls a status summary makes, with margin.
timeout = int(os.environ.get("LEGACY_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 5
# The app writes its own structured access line (structlog JSON); gunicorn's would duplicate it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("RESYNC_LOG_LEVEL", "info").lower()
# X-Forwarded-Proto (and the other secure-scheme headers) are believed only from these
# addresses: none by default, so a local client cannot claim https. (gunicorn never takes the
# client address from X-Forwarded-For: REMOTE_ADDR, which the login lockout counts by, is the
# peer.) Set RESYNC_FORWARDED_ALLOW_IPS to the reverse proxy's address(es), comma-separated.
forwarded_allow_ips = os.environ.get("RESYNC_FORWARDED_ALLOW_IPS", "")
# Each worker builds its own app: its own engine pool and TWS session (nothing shared by fork).
preload_app = False
