"""Load tests for the Resync API: Locust users, per-run targets and the bench runner.

``loadtest/locustfile.py`` holds the users, ``loadtest/common/`` what they share,
``loadtest/targets/*.toml`` the numbers a run must meet and ``python -m loadtest.bench`` the
pinned, one-core comparison of every way the API can be served (see ``docs/loadtest.md``).
"""
