"""Adapters that let one ASGI front serve both apps.

Owns the WSGI bridge for the legacy app (``wsgi``: a2wsgi's middleware with the proxy's own
response hand-over, back-pressure and disconnect watch) and the lifespan driver for the new
app (``lifespan``).

May import: the top-level leaf modules (``errors``, ``types``) only.
"""
