"""What the proxy tells its operators: metrics, rolling stats, the access line, log redaction.

Owns the Prometheus metrics (``metrics``), the per-route rolling window the dashboard and the
autopilot read (``stats``), the one JSON access line per request (``accesslog``) and the
structlog/logging redaction of credentials in paths and queries (``logredact``).

May import: the top-level leaf modules and ``shadow.redaction`` (the one redaction policy).
Never ``routing``, ``admin``, ``cli``, ``flags`` or ``rollout``.
"""
