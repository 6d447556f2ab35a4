"""What an operator sees of a running server: structured logs (``logs``), the context every line
carries (``context``), the one rule that keeps secrets out of them (``redact``), Prometheus metrics
(``metrics``) and the access log (``access``, ASGI). Imports nothing of frontdesk.

The package root re-exports nothing: the domain imports ``context``, ``logs`` and ``metrics``
directly and never the ASGI middleware (``access``).
"""
