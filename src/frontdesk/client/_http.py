"""What both clients share: an httpx client they own (closed with them) or one they were given."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx


class HttpClientOwner:
    def __init__(self, http: httpx.AsyncClient | None, timeout: httpx.Timeout | float) -> None:
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(timeout=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the httpx client if this object created it."""
        if self._own_http:
            await self.http.aclose()
