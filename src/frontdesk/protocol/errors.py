"""Error codes of the Mobile/Web API and the HTTP status each is answered with.

Every error body is ``{"error_code": "<string>", "error_message": "..."}``; iOS decodes
``error_code`` as a String and the web widget compares it with ``=== "5005"``.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_TENANT_URL = "1000"
    NO_AUTH_HEADER = "2000"
    AUTH_FORMAT = "2001"
    AUTH_SCHEME = "2002"
    AUTH_NO_APP_ID = "2003"
    AUTH_NO_CLIENT_ID = "2004"
    BAD_APP_ID = "3000"
    SERVER_TIMEOUT = "5000"
    SERVER_NOT_AVAILABLE = "5001"
    INVALID_JSON = "5003"
    CHAT_NOT_FOUND = "5005"
    ENTRY_NOT_FOUND = "5006"
    INTERNAL = "5500"
    UPLOAD_TOO_LARGE = "5501"
    FILE_NOT_FOUND = "5502"
    TOO_MANY_POLLS = "5509"
    FILE_ERROR = "5558"
    CASE_NOT_SPECIFIED = "5601"
    CRM_ERROR = "5602"
    TOO_MANY_PARAMETERS = "5603"
    UNSPECIFIED = "5955"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_TENANT_URL: 403,
    ErrorCode.NO_AUTH_HEADER: 403,
    ErrorCode.AUTH_FORMAT: 403,
    ErrorCode.AUTH_SCHEME: 403,
    ErrorCode.AUTH_NO_APP_ID: 403,
    ErrorCode.AUTH_NO_CLIENT_ID: 403,
    ErrorCode.BAD_APP_ID: 403,
    ErrorCode.SERVER_TIMEOUT: 503,
    ErrorCode.SERVER_NOT_AVAILABLE: 503,
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.CHAT_NOT_FOUND: 404,
    ErrorCode.ENTRY_NOT_FOUND: 404,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UPLOAD_TOO_LARGE: 400,
    ErrorCode.FILE_NOT_FOUND: 404,
    ErrorCode.TOO_MANY_POLLS: 429,
    ErrorCode.FILE_ERROR: 500,
    ErrorCode.CASE_NOT_SPECIFIED: 406,
    ErrorCode.CRM_ERROR: 500,
    ErrorCode.TOO_MANY_PARAMETERS: 406,
    ErrorCode.UNSPECIFIED: 500,
}

DEFAULT_MESSAGE: dict[ErrorCode, str] = {
    ErrorCode.BAD_TENANT_URL: "Missing or invalid tenantUrl",
    ErrorCode.NO_AUTH_HEADER: "Authorization header is missing",
    ErrorCode.AUTH_FORMAT: "Authorization parameter format is incorrect",
    ErrorCode.AUTH_SCHEME: "Authorization scheme is incorrect",
    ErrorCode.AUTH_NO_APP_ID: "Authorization parameter is missing: appId",
    ErrorCode.AUTH_NO_CLIENT_ID: "Authorization parameter is missing: clientId",
    ErrorCode.BAD_APP_ID: "Missing or invalid application unique id",
    ErrorCode.SERVER_TIMEOUT: "Timeout - chat server takes too long to respond",
    ErrorCode.SERVER_NOT_AVAILABLE: "No server is available to accept chat connection",
    ErrorCode.INVALID_JSON: "Error decoding JSON request body",
    ErrorCode.CHAT_NOT_FOUND: "Chat session is not found",
    ErrorCode.ENTRY_NOT_FOUND: "Mobile Launch Point (application) is not found",
    ErrorCode.INTERNAL: "Internal server error",
    ErrorCode.UPLOAD_TOO_LARGE: "Upload size limit exceeded",
    ErrorCode.FILE_NOT_FOUND: "File not found",
    ErrorCode.TOO_MANY_POLLS: "Too many concurrent poll requests for the same session",
    ErrorCode.FILE_ERROR: "File operation error",
    ErrorCode.CASE_NOT_SPECIFIED: "No case is specified for this session.",
    ErrorCode.CRM_ERROR: "CRM server responded with error.",
    ErrorCode.TOO_MANY_PARAMETERS: "Too many parameters.",
    ErrorCode.UNSPECIFIED: "Unspecified server error",
}


class ApiError(Exception):
    """An error answered to a Mobile/Web API client with its documented code."""

    def __init__(self, code: ErrorCode, message: str | None = None, status: int | None = None) -> None:
        self.code = code
        self.message = message if message is not None else DEFAULT_MESSAGE[code]
        self.status = status if status is not None else HTTP_STATUS[code]
        super().__init__(f"{code.value}: {self.message}")

    def body(self) -> dict[str, str]:
        return {"error_code": self.code.value, "error_message": self.message}
