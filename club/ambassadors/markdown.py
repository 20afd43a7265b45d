"""Activity descriptions: Markdown rendered without raw HTML, then sanitized with nh3 as a second fence."""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {"p", "br", "strong", "em", "a", "ul", "ol", "li", "blockquote", "code", "pre", "h3", "h4", "hr"}
# A real HTML tag (as CommonMark reads one: a tag name followed by a space, "/" or ">"), a comment, a declaration
# or a processing instruction: refused at input with a clear message. Markdown's own autolinks (<https://...>,
# <jan@example.org>) and plain comparisons ("a < b > c") are not tags and pass.
HTML_TAG_RE = re.compile(
    r"</?[A-Za-z][A-Za-z0-9-]*(?=[\s/>])[^>]*>"
    r"|<!--|<![A-Za-z\[]|<\?[A-Za-z]"
    r"|<\s*/?\s*(script|style|iframe|object|embed|svg)\b",
    re.IGNORECASE,
)

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).disable("image")


def contains_html(text: str) -> bool:
    return bool(HTML_TAG_RE.search(text))


def _demote_headings(html: str) -> str:
    # The page has its own h1 and h2; a description's headings start at h3.
    return re.sub(r"<(/?)h[1-6]>", lambda m: f"<{m.group(1)}h3>", html)


def render(text: str) -> str:
    html = _demote_headings(_markdown.render(text))
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer ugc",
        strip_comments=True,
    )
