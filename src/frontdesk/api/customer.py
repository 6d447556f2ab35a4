"""The customer routes of the Mobile/Web API under ``/clientweb/api/v1/`` and ``/v2/``."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontdesk.api.ice import MAX_SESSION_ID_CHARS, IceSealer
from frontdesk.api.identity import IdentityCache, identify, query_params, resolve_tenant, visitor_cookie_header
from frontdesk.api.overload import PollDeadline
from frontdesk.api.photos import initials_svg
from frontdesk.api.widget import widget_document
from frontdesk.api.wire import NO_STORE, json_error, json_ok, read_json
from frontdesk.delivery.longpoll import ChatLockTimeout, CustomerPolls, PollWaiter
from frontdesk.domain.config import ContactCenterConfig, LiveConfig
from frontdesk.domain.customers import CaseNotSpecified, CustomerIdentity, CustomerService
from frontdesk.domain.errors import DomainError, Forbidden, Invalid, NotFound, Unavailable
from frontdesk.domain.files import MAX_UPLOAD_BYTES, FileService, UploadTooLarge
from frontdesk.observability.context import bind
from frontdesk.observability.logs import get_logger
from frontdesk.protocol.asgi import DISCONNECT_WATCH, DisconnectWatch, request_age
from frontdesk.protocol.client_events import parse_client_events
from frontdesk.protocol.errors import ApiError, ErrorCode
from frontdesk.storage.interfaces import StorageUnavailable

log = get_logger(__name__)

VERSIONS = ("v1", "v2")
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and part headers around a 25 MB file
PUSH_KEYS = ("ios_apns_device_token", "ios_firebase_device_token", "android_firebase_device_token")

Handler = Callable[[Request], Awaitable[Response]]
# every method a route may be asked for but OPTIONS (the CORS layer answers every OPTIONS)
ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT")


@dataclass(frozen=True, slots=True)
class CustomerApi:
    live: LiveConfig
    customers: CustomerService
    polls: CustomerPolls
    files: FileService
    server_version: str
    cookie_secure: bool = True
    # the deadline of a poll arriving now (an overloaded server estimates its arrival back by the loop lag)
    poll_deadline: Callable[[float], PollDeadline] = PollDeadline.from_now
    ice: IceSealer = field(default_factory=IceSealer)
    identities: IdentityCache = field(default_factory=IdentityCache)  # identify() remembers them here

    @property
    def config(self) -> ContactCenterConfig:
        return self.live.current


# the database is unreachable (restarting, its connections lost): a 5001 now, the next try connects anew
DATABASE_UNAVAILABLE = ApiError(ErrorCode.SERVER_NOT_AVAILABLE, "the server's database is not reachable now")
# the chat's delivery lock could not be had in time (bus.interfaces.ChatLockTimeout): nothing was read or moved
CHAT_BUSY = ApiError(ErrorCode.SERVER_NOT_AVAILABLE, "the chat is busy on another server now; try again")


def _domain_to_api(error: DomainError, not_found: ErrorCode) -> ApiError:
    if isinstance(error, UploadTooLarge):
        return ApiError(ErrorCode.UPLOAD_TOO_LARGE, str(error))
    if isinstance(error, CaseNotSpecified):
        return ApiError(ErrorCode.CASE_NOT_SPECIFIED)
    if isinstance(error, NotFound):
        return ApiError(not_found)
    if isinstance(error, Unavailable):
        return ApiError(ErrorCode.SERVER_NOT_AVAILABLE, str(error))
    if isinstance(error, Forbidden):
        return ApiError(ErrorCode.BAD_APP_ID, str(error))
    if isinstance(error, Invalid):
        return ApiError(ErrorCode.INVALID_JSON, str(error))
    return ApiError(ErrorCode.UNSPECIFIED)


def endpoint(not_found: ErrorCode = ErrorCode.CHAT_NOT_FOUND,
             versions: tuple[str, ...] = VERSIONS) -> Callable[[Handler], Handler]:
    """Turn errors into the documented JSON error answers; refuse unknown API versions."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: Request) -> Response:
            version = request.path_params.get("version")
            chat_id = request.path_params.get("chat_id", "")
            bind(chat=chat_id, party=chat_id)  # the customer's party id is the chat id (the protocol's)
            try:
                if version is not None and version not in versions:
                    raise ApiError(ErrorCode.UNSPECIFIED, "No such API method in this version", status=404)
                return await handler(request)
            except ApiError as error:
                return json_error(error)
            except DomainError as error:
                return json_error(_domain_to_api(error, not_found))
            except StorageUnavailable:
                return json_error(DATABASE_UNAVAILABLE)

        return wrapped

    return decorate


def build_customer_routes(api: CustomerApi) -> list[BaseRoute]:
    def who(request: Request) -> tuple[CustomerIdentity, dict[str, str]]:
        identity, new_cookie = identify(api.config, request, api.identities)
        bind(tenant=identity.tenant.name)
        headers = {"Set-Cookie": visitor_cookie_header(new_cookie, api.cookie_secure)} if new_cookie else {}
        return identity, headers

    @endpoint()
    async def availability(request: Request) -> Response:
        identity, headers = who(request)
        state, ewt_secs = await api.customers.availability(identity)
        return json_ok({"chat": state, "ewt": str(ewt_secs)}, headers)

    @endpoint()
    async def parameters(request: Request) -> Response:
        identity, headers = who(request)
        return json_ok({"parameters": [{name: kind} for name, kind in identity.entry.parameters]}, headers)

    @endpoint()
    async def request_chat(request: Request) -> Response:
        identity, headers = who(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(ErrorCode.INVALID_JSON, "Error decoding JSON request body: expected an object")
        ticket = await api.customers.request_chat(identity, body)
        return json_ok({"state": ticket.state, "ewt": str(ticket.ewt_secs), "chat_id": ticket.chat_id,
                        "is_new_chat": ticket.is_new_chat, "phone_number": ticket.phone_number}, headers)

    @endpoint()
    async def request_sms(request: Request) -> Response:
        who(request)
        await read_json(request)
        return json_ok({"sms_error_code": 5,
                        "error_message": "SMS chat is not configured: no SMS access number for this entry"})

    @endpoint()
    async def active_chat(request: Request) -> Response:
        identity, headers = who(request)
        ticket = await api.customers.active_chat(identity)
        return json_ok({"chat_id": ticket.chat_id, "state": ticket.state, "ewt": str(ticket.ewt_secs),
                        "phone_number": ticket.phone_number}, headers)

    @endpoint()
    async def post_events(request: Request) -> Response:
        identity, headers = who(request)
        batch = parse_client_events(await read_json(request))
        if batch.ignored:
            log.debug("send events: ignored client events with an unknown name", ignored=batch.ignored)
        await api.customers.apply_events(identity, request.path_params["chat_id"], batch.events)
        return json_ok({"events": []}, headers)

    @endpoint()
    async def get_events(request: Request) -> Response:
        deadline = api.poll_deadline(request_age(request.scope))
        identity, headers = who(request)
        return LongPollResponse(api.polls, identity, request.path_params["chat_id"], _after_cursor(request),
                                headers, deadline)

    @endpoint()
    async def history(request: Request) -> Response:
        identity, headers = who(request)
        return HistoryResponse(api.polls, identity, request.path_params["chat_id"], headers, _after_cursor(request))

    @endpoint(not_found=ErrorCode.FILE_NOT_FOUND)
    async def upload(request: Request) -> Response:
        identity, headers = who(request)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES:
            raise ApiError(ErrorCode.UPLOAD_TOO_LARGE)
        limited = Request(request.scope, _limit_receive(request.receive, MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES))
        try:
            async with limited.form(max_files=1, max_fields=20) as form:
                upload_file = next((v for _, v in form.multi_items() if isinstance(v, UploadFile)), None)
                if upload_file is None:
                    raise ApiError(ErrorCode.INVALID_JSON, "The multipart body has no file part", status=400)
                size = upload_file.size if upload_file.size is not None else 0
                record = await api.files.upload(
                    identity.tenant.name, f"customer:{identity.client_id}", upload_file.filename or "file",
                    upload_file.content_type or "", upload_file.file, size)
        except _BodyTooLarge:
            raise ApiError(ErrorCode.UPLOAD_TOO_LARGE) from None
        except HTTPException as exc:  # Starlette's answer to a malformed multipart body: plain text
            raise ApiError(ErrorCode.INVALID_JSON, f"Malformed multipart body: {exc.detail}", status=400) from None
        except (AssertionError, ValueError, KeyError) as exc:
            if isinstance(exc, ApiError):
                raise
            raise ApiError(ErrorCode.INVALID_JSON, f"Malformed multipart body: {exc}", status=400) from None
        return json_ok({"file_id": record.file_id, "file_name": record.file_name}, headers)

    @endpoint(not_found=ErrorCode.FILE_NOT_FOUND)
    async def chat_file(request: Request) -> Response:
        stored = await api.files.open(request.path_params["file_id"], request.path_params["chat_id"])
        return _file_response(stored.path, stored.record.content_type, stored.record.file_name)

    @endpoint(not_found=ErrorCode.FILE_NOT_FOUND)
    async def bare_file(request: Request) -> Response:
        stored = await api.files.open(request.path_params["file_id"])
        return _file_response(stored.path, stored.record.content_type, stored.record.file_name)

    @endpoint(not_found=ErrorCode.FILE_NOT_FOUND)
    async def no_such_file(request: Request) -> Response:
        # a file "id" with slashes in it (../, %2F): no file has one
        raise ApiError(ErrorCode.FILE_NOT_FOUND)

    @endpoint(not_found=ErrorCode.FILE_NOT_FOUND)
    async def profile_photo(request: Request) -> Response:
        party = await api.customers.party_for_photo(request.path_params["chat_id"], request.path_params["party_id"])
        if party.photo_path:
            return FileResponse(party.photo_path, headers={"Cache-Control": "private, max-age=3600"})
        return Response(initials_svg(party.display_name), media_type="image/svg+xml",
                        headers={"Cache-Control": "private, max-age=3600",
                                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})

    @endpoint(not_found=ErrorCode.FILE_NOT_FOUND)
    async def chat_icon(request: Request) -> Response:
        icon = await api.customers.chat_icon(request.path_params["chat_id"])
        return FileResponse(icon, headers={"Cache-Control": "private, max-age=3600"})

    @endpoint()
    async def ice_servers(request: Request) -> Response:
        identity, headers = who(request)
        session_id = request.query_params.get("sessionId", "")
        if not session_id:  # older widgets and the SDKs: the JSON document
            return json_ok({"servers": [dict(s) for s in identity.entry.ice_servers]}, headers)
        if len(session_id) > MAX_SESSION_ID_CHARS:
            raise ApiError(ErrorCode.INVALID_JSON, "'sessionId' is too long", status=400)
        # the 2026 widget sends its chat id: one key derivation per real chat of the caller
        await api.customers.check_owned(identity, session_id)
        sealed = await api.ice.seal(session_id, identity.entry.ice_servers)
        return Response(sealed, media_type="text/plain", headers={**NO_STORE, **headers})

    @endpoint()
    async def configuration(request: Request) -> Response:
        identity, headers = who(request)
        return json_ok(widget_document(identity.tenant, identity.entry), headers)

    @endpoint()
    async def notifications(request: Request) -> Response:
        identity, headers = who(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(ErrorCode.INVALID_JSON, "Error decoding JSON request body: expected an object")
        subscription = _push_subscription(body)
        if subscription and not identity.entry.push_enabled:
            raise ApiError(ErrorCode.TOO_MANY_PARAMETERS, "Push notifications are not configured for this entry")
        await api.customers.subscribe_push(identity, request.path_params["chat_id"], subscription)
        return json_ok({}, headers)

    @endpoint()
    async def case_history(request: Request) -> Response:
        identity, headers = who(request)
        sessions = await api.customers.case_history(identity, request.path_params.get("chat_id"))
        return json_ok({"sessions": [{"chat_id": s.chat_id, "created_time": str(int(s.created_at)),
                                      "events": s.events} for s in sessions]}, headers)

    @endpoint()
    async def close_case(request: Request) -> Response:
        identity, headers = who(request)
        await read_json(request)  # Android sends {"events":[{"event":"chat_session_end"}]} here: ignored
        await api.customers.close_case(identity, request.path_params.get("chat_id"))
        return json_ok({}, headers)

    @endpoint(versions=("v2",))
    async def version(request: Request) -> Response:
        resolve_tenant(api.config, request)
        return json_ok({"server_version": api.server_version})

    base = "/clientweb/api/{version}"
    chat = base + "/chats/{chat_id}"
    routes: list[BaseRoute] = [
        Route(base + "/availability", availability, methods=["GET"]),
        Route(base + "/parameters", parameters, methods=["GET"]),
        Route(base + "/chats", request_chat, methods=["POST"]),
        Route(base + "/requestsms", request_sms, methods=["POST"]),
        Route(base + "/chats/active", active_chat, methods=["GET"]),
        Route(chat + "/events", get_events, methods=["GET"]),
        Route(chat + "/events", post_events, methods=["POST"]),
        Route(chat + "/history", history, methods=["GET"]),
        Route(base + "/files", upload, methods=["POST"]),
        Route(chat + "/files/{file_id}", chat_file, methods=["GET"]),
        Route(chat + "/files/{rest:path}", no_such_file, methods=["GET"]),
        Route(chat + "/profilephotos/{party_id}", profile_photo, methods=["GET"]),
        Route(chat + "/chaticon", chat_icon, methods=["GET"]),
        Route(base + "/iceservers", ice_servers, methods=["GET"]),
        Route(base + "/configuration", configuration, methods=["GET"]),
        Route(chat + "/notifications", notifications, methods=["POST"]),
        Route(chat + "/casehistory", case_history, methods=["GET"]),
        Route(base + "/casehistory", case_history, methods=["GET"]),
        Route(chat + "/closecase", close_case, methods=["POST"]),
        Route(base + "/closecase", close_case, methods=["POST"]),
        Route(base + "/version", version, methods=["GET"]),
        Route("/clientweb/file/{file_id}", bare_file, methods=["GET"]),
        Route("/clientweb/file/{rest:path}", no_such_file, methods=["GET"]),
    ]
    return routes + _wrong_method_routes(routes)


def _wrong_method_routes(routes: list[BaseRoute]) -> list[BaseRoute]:
    """One catch-all route per customer path, after the real ones: a method the path does not
    serve gets a JSON 405 in the documented error shape with an ``Allow`` header, instead of
    Starlette's plain-text answer. (``OPTIONS`` never gets here: the CORS layer answers it.)"""
    allowed: dict[str, set[str]] = {}
    for route in routes:
        if isinstance(route, Route) and route.methods:
            allowed.setdefault(route.path, set()).update(route.methods)
    return [Route(path, _refuse_method(", ".join([*sorted(methods), "OPTIONS"])),
                  methods=[m for m in ANY_METHOD if m not in methods])
            for path, methods in allowed.items()]


def _refuse_method(allow: str) -> Handler:
    async def refuse(request: Request) -> Response:
        error = ApiError(ErrorCode.UNSPECIFIED, f"Method {request.method[:16]} is not allowed here; use {allow}",
                         status=405)
        response = json_error(error)
        response.headers["Allow"] = allow
        return response

    return refuse


def _after_cursor(request: Request) -> int | None:
    """frontdesk's explicit cursor, ``?after=N`` (polls and history); None without one."""
    after_text = query_params(request.scope).get("after")
    if after_text is None:
        return None
    if not (after_text.isascii() and after_text.isdigit()):  # int() rejects '²'
        raise ApiError(ErrorCode.INVALID_JSON, "'after' must be a non-negative integer", status=400)
    return int(after_text)


def _push_subscription(body: dict[str, Any]) -> dict[str, str]:
    tokens = {k: body[k] for k in PUSH_KEYS if body.get(k)}
    if len(tokens) > 1:
        raise ApiError(ErrorCode.TOO_MANY_PARAMETERS, "Send exactly one device token")
    unknown = set(body) - set(PUSH_KEYS) - {"ios_app_bundle_id"}
    if unknown:
        raise ApiError(ErrorCode.TOO_MANY_PARAMETERS, f"Unknown parameters: {', '.join(sorted(unknown))[:200]}")
    if not all(isinstance(v, str) and len(v) <= 4096 for v in body.values()):
        raise ApiError(ErrorCode.INVALID_JSON, "Device tokens must be strings")
    if tokens.get("ios_apns_device_token") and not body.get("ios_app_bundle_id"):
        raise ApiError(ErrorCode.INVALID_JSON, "ios_apns_device_token needs ios_app_bundle_id")
    if not tokens:
        return {}
    result = dict(tokens)
    if "ios_apns_device_token" in tokens:
        result["ios_app_bundle_id"] = body["ios_app_bundle_id"]
    return result


def _file_response(path: Any, content_type: str, file_name: str) -> Response:
    # uploaded content is served from our origin: only raster images are shown inline
    inline = content_type.startswith("image/") and content_type != "image/svg+xml"
    return FileResponse(path, media_type=content_type, filename=file_name,
                        content_disposition_type="inline" if inline else "attachment",
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400"})


class _BodyTooLarge(Exception):
    pass


def _limit_receive(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge
        return message

    return limited


# Loop turns before an answer may trust its connection, so that a client gone meanwhile is seen: the
# loop reads the socket's EOF or reset (turn 1) and runs the transport's connection_lost (turn 2, queued
# behind the answer's task); with the disconnect watch that is where the poll learns it, without it a
# watcher task reading receive() learns it one turn later.
_TURNS_WITH_WATCH = 2
_TURNS_WITH_TASK = 3


@dataclass(frozen=True, slots=True)
class _DisconnectWatching:
    """How a poll or history answer learns that its client left: ``stop()`` ends the watching, and
    ``turns`` is how many loop turns an answer must yield before it can trust the connection."""

    stop: Callable[[], object]
    turns: int


async def _watch_disconnect(scope: Scope, receive: Receive, waiter: PollWaiter) -> _DisconnectWatching:
    """Have ``waiter.disconnect()`` called if the client goes away.

    Under frontdesk's server the connection reports its loss itself (``protocol.asgi``) once the
    request has been read: no task per poll. Under another server, or while a body is still
    coming, a task reads ``receive`` until ``http.disconnect``."""
    extension = (scope.get("extensions") or {}).get(DISCONNECT_WATCH)
    if extension is not None:
        message = await receive()
        if message["type"] == "http.disconnect":
            waiter.disconnect()
            return _DisconnectWatching(_nothing, 0)
        if not message.get("more_body", False):
            watch: DisconnectWatch = extension["watch"]
            return _DisconnectWatching(watch(waiter.disconnect), _TURNS_WITH_WATCH)
    return _DisconnectWatching(asyncio.ensure_future(_read_until_disconnect(receive, waiter)).cancel,
                               _TURNS_WITH_TASK)


def _nothing() -> None:
    return None


async def _read_until_disconnect(receive: Receive, waiter: PollWaiter) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            waiter.disconnect()
            return


async def _still_connected(waiter: PollWaiter, watching: _DisconnectWatching) -> bool:
    """Let the loop poll the socket and run a pending disconnect notice before we trust the
    connection: an answer whose client left is written to nobody and commits nothing."""
    for _ in range(watching.turns):
        await asyncio.sleep(0)
    return not waiter.disconnected


async def _write_json(send: Send, raw_headers: list[tuple[bytes, bytes]], content: Any) -> None:
    body = orjson.dumps(content)
    headers = [(k, v) for k, v in raw_headers if k != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode("latin-1")))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HistoryResponse(Response):
    """Reads the history under the chat's delivery lock, writes it, and moves the server-side
    cursor to the tail it read only if the write completed while the client was still connected
    (reload behaviour, docs/event-delivery.md)."""

    def __init__(self, polls: CustomerPolls, identity: CustomerIdentity, chat_id: str,
                 headers: dict[str, str], after: int | None = None) -> None:
        super().__init__(status_code=200, headers={**NO_STORE, **headers}, media_type="application/json")
        self.polls = polls
        self.identity = identity
        self.chat_id = chat_id
        self.after = after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        waiter = PollWaiter()
        watching = await _watch_disconnect(scope, receive, waiter)
        written = False
        try:
            async with self.polls.history(self.identity, self.chat_id, waiter, self.after) as answer:
                if not await _still_connected(waiter, watching):
                    return
                watching.stop()
                written = True
                await _write_json(send, self.raw_headers, {"events": answer.events})
                await answer.commit()
        except NotFound:
            await json_error(ApiError(ErrorCode.CHAT_NOT_FOUND))(scope, receive, send)
        except ChatLockTimeout:
            await json_error(CHAT_BUSY)(scope, receive, send)
        except StorageUnavailable:
            if not written:  # else the answer is out and only its cursor did not move
                await json_error(DATABASE_UNAVAILABLE)(scope, receive, send)
        finally:
            watching.stop()


class LongPollResponse(Response):
    """Holds the poll, writes the batch, and commits the cursor only if the write completed while
    the client was still connected (see ``frontdesk.delivery.longpoll``)."""

    def __init__(self, polls: CustomerPolls, identity: CustomerIdentity, chat_id: str, after: int | None,
                 headers: dict[str, str], deadline: PollDeadline | None = None) -> None:
        super().__init__(status_code=200, headers={**NO_STORE, **headers}, media_type="application/json")
        self.polls = polls
        self.identity = identity
        self.chat_id = chat_id
        self.after = after
        self.deadline = deadline or PollDeadline.from_now()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        waiter = PollWaiter()
        watching = await _watch_disconnect(scope, receive, waiter)
        written = False
        try:
            async with self.polls.poll(self.identity, self.chat_id, self.after, waiter) as batch:
                # a poll whose client left is answered by nobody and commits nothing, so its
                # events go to the next poll (an empty answer needs no extra check)
                connected = await _still_connected(waiter, watching) if batch.last_seq else not waiter.disconnected
                if not connected:
                    return
                if batch.last_seq and self.deadline.passed(waiter.signal):
                    # an overloaded server reached this answer so late that its client (the web
                    # widget aborts at 13 s) may be gone: answer empty, move no cursor (api.overload)
                    batch = batch.withheld()
                if not batch.lease.held:
                    # the chat's cross-process lease ran out meanwhile (a stalled process): another
                    # node may be answering these events now, so this answer moves nothing
                    batch = batch.withheld()
                watching.stop()
                written = True
                await _write_json(send, self.raw_headers, {"events": batch.events})
                await batch.commit()
        except NotFound:
            await json_error(ApiError(ErrorCode.CHAT_NOT_FOUND))(scope, receive, send)
        except ChatLockTimeout:
            await json_error(CHAT_BUSY)(scope, receive, send)
        except StorageUnavailable:
            if not written:  # else the answer is out and only its cursor did not move (sent again next poll)
                await json_error(DATABASE_UNAVAILABLE)(scope, receive, send)
        finally:
            watching.stop()


# Starlette's pattern for "/clientweb/api/{version}/chats/{chat_id}/events"
_POLL_PATH = re.compile(r"^/clientweb/api/(?P<version>[^/]+)/chats/(?P<chat_id>[^/]+)/events$")


class LongPollRoute:
    """Routes ``GET …/chats/{chat_id}/events`` straight to its endpoint; everything else goes to
    ``app`` (the Starlette application that also routes it).

    The long poll is the one request that stays open for the whole hold, so every frame between
    the server and the poll is kept alive once per waiting customer, and it is the most frequent
    request. Skipping the router and its exception layers (the endpoint turns our errors into
    answers itself; ``ServerErrorMiddleware`` still answers 500 to anything else) cuts both the
    memory of a held poll and the CPU of each one. The answers are the routed endpoint's."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        endpoint = next(r.endpoint for r in routes if isinstance(r, Route) and r.methods and "GET" in r.methods
                        and r.path == "/clientweb/api/{version}/chats/{chat_id}/events")
        self._poll = ServerErrorMiddleware(self._answer)
        self._endpoint: Handler = endpoint

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """A plain callable returning the awaitable that answers (``api.middleware.CollapseSlashes``
        says why)."""
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _POLL_PATH.match(scope["path"])
            if match is not None:
                scope["path_params"] = match.groupdict()
                return self._poll(scope, receive, send)
        return self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._endpoint(Request(scope, receive))
        await response(scope, receive, send)

