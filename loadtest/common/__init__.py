"""What the Locust users share: sign-in, body checks, request data, targets and run hooks.

Import the modules directly. ``checks``, ``data`` and ``targets`` never import Locust, so the
pytest process (which must not import Locust: it monkey-patches the standard library with gevent)
can test them; ``auth``, ``options``, ``gate`` and ``warmup`` are for the Locust process only.
"""
