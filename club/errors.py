"""Friendly error pages: never a stack trace, always a way back, in the visitor's language."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from club import i18n
from club.i18n import N_

log = logging.getLogger("club.errors")

TITLES = {
    400: N_("That request could not be understood"),
    403: N_("You cannot open this page"),
    404: N_("Page not found"),
    405: N_("That action is not possible here"),
    413: N_("That is too large"),
    429: N_("Too many attempts"),
    500: N_("Something went wrong on our side"),
}
EXPLANATIONS = {
    400: N_("Please go back, check the form and try again."),
    403: N_("Your account does not have access to this page. If you think it should, contact the club."),
    404: N_("The page you asked for does not exist or has moved. Check the address, or start from the home page."),
    405: N_("Please go back and use the buttons on the page."),
    413: N_("What you sent is larger than we accept. Send a smaller file or shorter text."),
    429: N_("Please wait a few minutes before you try again."),
    500: N_("We have been told about the problem. Please try again in a moment."),
}
CSRF_EXPLANATION = N_("This form has expired or was sent from another site. Go back, reload the page and try again.")


def error_page(request: Request, status: int, detail: str | None = None) -> Response:
    from club.web import render

    explanation = CSRF_EXPLANATION if detail == "csrf" else EXPLANATIONS.get(status, EXPLANATIONS[400])
    if status not in TITLES:
        status_title = TITLES[400] if status < 500 else TITLES[500]
    else:
        status_title = TITLES[status]
    try:
        return render(
            request,
            "errors/error.html",
            {"status": status, "title": status_title, "explanation": explanation},
            status_code=status,
        )
    except Exception:  # the error page itself must never fail
        log.exception("could not render the error page")
        return PlainTextResponse(f"Error {status}", status_code=status)


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = error_page(request, exc.status_code, exc.detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # This runs outside the language middleware: choose the language again from the request.
    from club.middleware import LANGUAGE_COOKIE

    person = getattr(request.state, "person", None)
    saved = getattr(person, "language", None) or request.cookies.get(LANGUAGE_COOKIE)
    with i18n.use_language(i18n.negotiate(saved, request.headers.get("accept-language"))):
        return error_page(request, 500)


async def too_large(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope)
    try:
        response = error_page(request, 413)
    except Exception:
        response = HTMLResponse("Error 413", status_code=413)
    response.headers["connection"] = "close"
    await response(scope, receive, send)


async def server_error_response(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    """The 500 page for the ServerErrors middleware (inside the header middleware)."""
    request = Request(scope, receive)
    response = await server_error(request, exc)
    await response(scope, receive, send)
