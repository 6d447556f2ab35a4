"""What frontdesk's HTTP server (``frontdesk.connections``) offers its ASGI application beyond the
ASGI specification, named here so that the server and the application use the same name.

``scope["extensions"][DISCONNECT_WATCH]["watch"]`` is a ``DisconnectWatch``: ``watch(callback)``
has ``callback()`` called (once, from the event loop) when the request's connection is lost, and
returns ``stop()``, after which it is not. It stands in for a task per request that awaits
``receive()`` only to see ``http.disconnect``, so it is for a request whose body has been
received in full (``receive()`` said ``more_body`` false): with nothing left to read, the lost
connection is the only news ``receive()`` could still bring. A request that uses it starts it
before its response and stops it before writing that.

``scope["extensions"][REQUEST_AGE]["age"]`` is a ``RequestAge``: ``age()`` is how many seconds ago
the kernel received the request's last bytes (TCP's ``tcpi_last_data_recv``, millisecond steps), or
``None`` where the socket cannot tell (not TCP, not Linux). It counts the time a request waited
unseen: in the listening socket's accept queue while a saturated process did not accept its
connection, and in the socket until the loop read it — which no measurement inside the process
can see (``request_age`` reads it, 0.0 without the extension).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

DISCONNECT_WATCH = "frontdesk.disconnect_watch"

REQUEST_AGE = "frontdesk.request_age"

DisconnectWatch = Callable[[Callable[[], None]], Callable[[], None]]
RequestAge = Callable[[], "float | None"]


def request_age(scope: Mapping[str, Any]) -> float:
    """Seconds since the kernel received the request's last bytes (``REQUEST_AGE``); 0.0 when the
    server does not offer it or the socket cannot tell."""
    extension = (scope.get("extensions") or {}).get(REQUEST_AGE)
    if extension is None:
        return 0.0
    age: RequestAge = extension["age"]
    return age() or 0.0
