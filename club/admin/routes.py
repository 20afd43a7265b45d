"""The admin console's shell. Feature pages live with their features; this holds the landing page."""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from club.accounts.models import Person
from club.web import render, route


async def dashboard(request: Request) -> Response:
    db = request.state.db
    counts = dict((await db.execute(select(Person.role, func.count()).group_by(Person.role))).all())
    return render(request, "admin/dashboard.html", {"counts": counts})


routes: list[BaseRoute] = [route("/admin", dashboard, role="admin")]
