"""JSON responses and bounded request-body reading for the customer API."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from frontdesk.protocol.errors import ApiError, ErrorCode

MAX_JSON_BODY_BYTES = 1024 * 1024  # far above any real client event; bounds memory per request

NO_STORE = {"Cache-Control": "no-store"}


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_ok(content: Any, headers: dict[str, str] | None = None) -> JsonResponse:
    return JsonResponse(content, status_code=200, headers={**NO_STORE, **(headers or {})})


def json_error(error: ApiError) -> JsonResponse:
    return JsonResponse(error.body(), status_code=error.status, headers=NO_STORE)


async def read_body(request: Request, limit: int = MAX_JSON_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(ErrorCode.INVALID_JSON, f"Request body is larger than {limit} bytes", status=413)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(ErrorCode.INVALID_JSON, f"Request body is larger than {limit} bytes", status=413)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(ErrorCode.INVALID_JSON, "The request body was not received completely") from None
    return b"".join(chunks)


async def read_json(request: Request, default: Any = None) -> Any:
    """Decode a JSON body whatever its Content-Type; an empty body gives ``default``."""
    raw = await read_body(request)
    if not raw.strip():
        return {} if default is None else default
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(ErrorCode.INVALID_JSON, f"Error decoding JSON request body: {exc}") from None
