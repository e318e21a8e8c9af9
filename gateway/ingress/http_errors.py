"""The HTTP API's errors: one table from error to status, and the middleware
that turns every exception into a one-line JSON answer.

- Every :class:`~gateway.model.errors.UserError` becomes ``{"error": code,
  "detail": one line}`` with the status of :data:`STATUS_BY_ERROR` (its class
  or nearest base); anything else is a 500 ``{"error": "internal"}`` and an
  error log with the traceback (frames only, no locals: they may hold a
  message's text or a token).
- A 401 carries the ``WWW-Authenticate`` challenge of RFC 6750, with
  ``error="invalid_token"`` when a token was given but is not known; a known
  token on routes not for its kind (an operator's on an account's own, an
  account's on an operator's) is a 403 ``forbidden``.
- A client gone mid-request is one ``http_client_disconnected`` line at info.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.model.errors import (
    AlreadyExists,
    InsufficientCredit,
    MonthlyCapReached,
    NotCancellable,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    SenderNotAllowed,
    StoreUnavailable,
    TextTooLong,
    Unauthorized,
    UserError,
)

__all__ = [
    "STATUS_BY_ERROR",
    "BadToken",
    "Forbidden",
    "error_body",
    "error_middleware",
    "status_for",
]


class Forbidden(UserError):
    """A known token on routes that are not for its kind (gateway.ingress.http_auth)."""

    code = "forbidden"


# The one table from error to HTTP status; a class not listed takes its nearest base's.
STATUS_BY_ERROR: Mapping[type[UserError], int] = {
    UserError: 400,
    Unauthorized: 401,
    InsufficientCredit: 402,
    MonthlyCapReached: 402,
    SenderNotAllowed: 403,
    Forbidden: 403,
    NotFound: 404,
    AlreadyExists: 409,  # ClientRefConflict: a client_ref reused with another body
    NotCancellable: 409,
    PayloadTooLarge: 413,
    TextTooLong: 413,
    RequestTimeout: 408,
    StoreUnavailable: 503,  # PostgreSQL down or restarting: try again shortly
}

_WWW_AUTHENTICATE = 'Bearer realm="smsgw"'


def status_for(error: UserError) -> int:
    for cls in type(error).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return 400  # unreachable: UserError is in the table


def error_body(error: UserError) -> dict[str, Any]:
    return {"error": error.code, "detail": str(error)}


class BadToken(Unauthorized):
    """A token was given but the store does not know it (RFC 6750 invalid_token)."""


def _auth_challenge(error: UserError) -> str:
    if isinstance(error, BadToken):
        return f'{_WWW_AUTHENTICATE}, error="invalid_token"'
    return _WWW_AUTHENTICATE


def error_middleware(*, logger: Any, max_body: int) -> Middleware:
    """The middleware answering every error of a handler (``max_body``: for the 413's detail)."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except UserError as exc:
            status = status_for(exc)
            headers = {"WWW-Authenticate": _auth_challenge(exc)} if status == 401 else None
            response = web.json_response(error_body(exc), status=status, headers=headers)
            if isinstance(exc, RequestTimeout):
                response.force_close()  # the rest of the body may still come: not a request
            return response
        except web.HTTPRequestEntityTooLarge:
            return web.json_response(error_body(PayloadTooLarge(None, max_body)), status=413)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = (exc.reason or "error").lower().replace(" ", "_")
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            detail = f"{exc.reason}: {request.method} {request.path}"
            return web.json_response(
                {"error": code, "detail": detail}, status=exc.status, headers=headers
            )
        except ConnectionResetError:  # the client left mid-request (aiohttp's own is one)
            route = request.match_info.route.resource
            logger.info(
                "http_client_disconnected",
                method=request.method,
                route=route.canonical if route is not None else request.path,
            )
            response = web.Response(status=400)  # nobody reads it: the connection is gone
            response.force_close()
            return response
        except Exception as exc:  # noqa: BLE001 - the one place that turns a bug into a 500
            route = request.match_info.route.resource
            logger.error(
                "http_request_failed",
                method=request.method,
                route=route.canonical if route is not None else request.path,
                error=type(exc).__name__,
                traceback="".join(traceback.format_exception(exc)),
            )
            return web.json_response(
                {"error": "internal", "detail": "internal error; see the server log"}, status=500
            )

    return errors
