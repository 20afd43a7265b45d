"""An event's texts: Markdown descriptions rendered and sanitised, a plain version for calendars and feeds."""

from __future__ import annotations

from markupsafe import Markup

from club.ambassadors import markdown
from club.events.models import Event


def description_html(event: Event, language: str) -> Markup:
    return Markup(markdown.render(event.description(language)))


def plain_description(event: Event, language: str) -> str:
    return markdown.plain(event.description(language), limit=2000)
