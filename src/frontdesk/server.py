"""Running the ASGI application under uvicorn with a drain of held polls at shutdown."""

from __future__ import annotations

import socket

import uvicorn

from frontdesk.app import Frontdesk

SHUTDOWN_GRACE_SECS = 5


class DrainingServer(uvicorn.Server):
    """Completes held long polls with ``{"events": []}`` as soon as shutdown starts, instead of
    waiting out their hold."""

    def __init__(self, config: uvicorn.Config, frontdesk: Frontdesk) -> None:
        super().__init__(config)
        self.frontdesk = frontdesk

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.frontdesk.polls.drain()
        await super().shutdown(sockets)


def make_server(frontdesk: Frontdesk, host: str, port: int, log_level: str = "info") -> DrainingServer:
    config = uvicorn.Config(frontdesk.asgi, host=host, port=port, log_level=log_level, lifespan="on",
                            loop="uvloop", http="httptools", ws="websockets-sansio",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECS, access_log=False,
                            timeout_keep_alive=30)
    return DrainingServer(config, frontdesk)


def serve(frontdesk: Frontdesk, host: str, port: int) -> None:
    make_server(frontdesk, host, port).run()
