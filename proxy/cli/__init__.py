"""``resync-strangler``: the command line (serve, routes, flags, mismatches, parity, capture...).

Owns the commands (``commands``: parser and handlers; ``backends``: a running proxy's admin API
or the local store, through ``proxy.flags.service``; ``tables``: what they print), the plan
command (``plan``), the uvicorn options ``serve`` runs with (``serve``) and live parity between
two running deployments (``parity``). The top of the dependency graph: it may
import any other part of ``proxy``; nothing in ``proxy`` imports it.
"""

from proxy.cli.commands import main

__all__ = ["main"]
