"""Rendering helpers shared by the ambassador and admin pages."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from club.ambassadors import labels, service
from club.ambassadors.models import ACTIVITY_CITIES, CATEGORIES, INSTITUTIONS, STATIONS
from club.web import render


def page(request: Request, template: str, context: dict[str, Any] | None = None, **options: Any) -> HTMLResponse:
    """web.render with the ambassadors' labels and choices (status_code and headers as render takes them)."""
    values: dict[str, Any] = {
        **labels.TEMPLATE_HELPERS,
        "CATEGORIES": CATEGORIES,
        "ACTIVITY_CITIES": ACTIVITY_CITIES,
        "INSTITUTIONS": INSTITUTIONS,
        "STATIONS": STATIONS,
        "today": service.club_today(),
    }
    return render(request, template, {**values, **(context or {})}, **options)
