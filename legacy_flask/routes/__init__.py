"""One blueprint per resource, registered in this order by the app factory."""

from __future__ import annotations

from legacy_flask.routes.agents import bp as agents
from legacy_flask.routes.audit import bp as audit
from legacy_flask.routes.auth import bp as auth
from legacy_flask.routes.chat import bp as chat
from legacy_flask.routes.health import bp as health
from legacy_flask.routes.rag import bp as rag
from legacy_flask.routes.status import bp as status
from legacy_flask.routes.users import bp as users

__all__ = ["BLUEPRINTS"]

BLUEPRINTS = (auth, users, agents, chat, audit, rag, status, health)
