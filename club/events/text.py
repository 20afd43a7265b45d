"""An event's texts: Markdown descriptions rendered and sanitised, a plain version for calendars and feeds."""

from __future__ import annotations

import re

from markupsafe import Markup

from club.ambassadors import markdown
from club.events.models import Event


def description_html(event: Event, language: str) -> Markup:
    return Markup(markdown.render(event.description(language)))


def plain(text: str, limit: int = 240) -> str:
    """Markdown as plain text, shortened to limit characters: for calendars and the feed summary."""
    stripped = " ".join(re.sub(r"[*_`>#\[\]()!-]+", " ", text).split())
    return stripped if len(stripped) <= limit else stripped[: limit - 1].rstrip() + "…"


def plain_description(event: Event, language: str) -> str:
    return plain(event.description(language), limit=2000)
