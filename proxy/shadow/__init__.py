"""Shadow comparison: run the other side on a copy of a request, compare, keep mismatches.

Owns the bounded response copy (``capture``), the background runner (``runner``), the
comparator (``compare``) and its per-route rules (``rules``), the mismatch store
(``mismatches``) and the redaction every stored record goes through (``redaction``).

May import: the top-level leaf modules (``errors``, ``types``) and ``routing.decide`` (the
sampling decision). Never ``admin``, ``cli``, ``flags`` or ``rollout``.
"""
