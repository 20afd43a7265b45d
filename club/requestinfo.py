"""What a request carries besides its form: the app's settings and the client's address. One accessor each, so
features do not reach into request.app.state or request.client themselves."""

from __future__ import annotations

from starlette.requests import Request

from club.config import Settings


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def client_ip(request: Request | None) -> str:
    """The client's address: the peer, or the client a trusted proxy names (TrustedProxies has put it in
    request.client); "" when there is none (the command line, a test without a client)."""
    if request is None or request.client is None:
        return ""
    return request.client.host[:64]
