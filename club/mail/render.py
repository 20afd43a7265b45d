"""Mail bodies: one function renders every feature's mail, text and HTML, in the recipient's language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

import css_inline
from sqlalchemy.ext.asyncio import AsyncSession

from club.i18n import use_language
from club.mail.outbox import queue_mail
from club.templating import templates


class MailBodies(NamedTuple):
    text: str
    html: str


def render_mail(
    template: str,
    language: str,
    *,
    inline_css: bool = False,
    text_values: Mapping[str, Any] | None = None,
    **values: Any,
) -> MailBodies:
    """templates/<template>.txt and .html, rendered in `language` (gettext and `lang` set) with `values`; the
    text body gets `text_values` on top (e.g. a plain-text version of content the HTML holds as markup).
    `inline_css` moves the HTML's stylesheet into style attributes, for mail programs that drop <style>."""
    with use_language(language) as lang:
        context = {"lang": lang, **values}
        html = templates.get_template(f"{template}.html").render(context)
        text = templates.get_template(f"{template}.txt").render({**context, **(text_values or {})})
    if inline_css:
        html = css_inline.inline(html, keep_at_rules=True, load_remote_stylesheets=False)
    return MailBodies(text, html)


class Addressee(Protocol):
    id: int
    email: str
    name: str


async def queue_rendered(
    db: AsyncSession, to: Addressee, template: str, language: str, *, kind: str, subject: str, **values: Any
) -> None:
    """One transactional mail to a person: render_mail(template, language, subject=subject, **values), queued."""
    text, html = render_mail(template, language, subject=subject, **values)
    await queue_mail(
        db,
        to_email=to.email,
        to_name=to.name,
        subject=subject,
        text=text,
        html=html,
        language=language,
        kind=kind,
        person_id=to.id,
    )
