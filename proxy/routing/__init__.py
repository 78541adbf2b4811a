"""The hot path: match a request to a route, decide the side, call it, bound it.

Owns the compiled route table (``table``), the per-request decision (``decide``), the
dispatcher (``dispatch``), request ids and the dry-run header (``requestid``), per-route
bulkheads (``bulkhead``), the request-size and slow-body guard (``limits``) and the tester
override (``override``).

May import: the top-level leaf modules (``errors``, ``types``, ``modes``, ``inventory``,
``settings``, ``problems``, ``auth``), ``telemetry`` and the public faces of ``shadow``
(``shadow.runner``, ``shadow.capture``). Never ``admin``, ``cli``, ``flags`` or ``rollout``, nor
the comparator or mismatch store behind the shadow runner.
"""
