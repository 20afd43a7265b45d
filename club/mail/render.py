"""Mail bodies: one function renders every feature's mail, text and HTML, in the recipient's language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import css_inline

from club.i18n import use_language
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
