"""What frontdesk's HTTP server (``frontdesk.connections``) offers its ASGI application beyond the
ASGI specification, named here so that the server and the application use the same name.

``scope["extensions"][DISCONNECT_WATCH]["watch"]`` is a ``DisconnectWatch``: ``watch(callback)``
has ``callback()`` called (once, from the event loop) when the request's connection is lost, and
returns ``stop()``, after which it is not. It stands in for a task per request that awaits
``receive()`` only to see ``http.disconnect``, so it is for a request whose body has been
received in full (``receive()`` said ``more_body`` false): with nothing left to read, the lost
connection is the only news ``receive()`` could still bring. A request that uses it starts it
before its response and stops it before writing that.
"""

from __future__ import annotations

from collections.abc import Callable

DISCONNECT_WATCH = "frontdesk.disconnect_watch"

DisconnectWatch = Callable[[Callable[[], None]], Callable[[], None]]
