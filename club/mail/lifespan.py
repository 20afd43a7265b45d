"""Starts what mail needs alongside the web app (the dev mailbox and the in-process sender). Stub for now."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette


@asynccontextmanager
async def mail_lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
