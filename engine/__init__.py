"""Inkwell's core: domain rules, use-case services and the adapters they run on.

Knows nothing of HTTP or Dramatiq; `api/` and `workers/` call into it.
"""
