"""The differential suite: every route of the Resync API answered by both implementations.

Both apps run in-process on their own identical copies of one seeded database, against the same
TWS simulator; the answers (and, for writes, the database rows) are compared with the proxy's
own comparator (``proxy.shadow.comparator``), so shadow mode and these tests agree on what "the
same" is.
The scenarios are plain data in the top-level package ``resync_scenarios`` (shared with
``proxy.cli.parity``, which runs the read-only ones against running deployments); the promoted
case files (``cases/``) are loaded here, by ``cases.py``.
"""
