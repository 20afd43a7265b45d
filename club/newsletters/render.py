"""From Markdown to what is sent and shown: sanitized HTML, the mail's HTML (table layout, CSS inlined) and text,
and the web version for the archive, which holds no personal data.

Bodies keep the outbox's placeholders (%%name%%, %%email%%, %%unsubscribe_url%%); the sender fills them per
recipient, the archive fills them with neutral words.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from functools import cache
from typing import Any

import css_inline
import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from club.config import Settings
from club.i18n import N_, _, use_language
from club.web import templates

ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "hr", "i", "img", "li", "ol", "p",
    "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
                      "td": {"align"}, "th": {"align"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}
# Refused with a message rather than silently removed, so the admin knows the mail will not look as typed.
_SCRIPT_RE = re.compile(r"<\s*/?\s*script\b", re.IGNORECASE)
_EVENT_ATTRIBUTE_RE = re.compile(r"<[^>]*?[\s/\"']on[a-z]+\s*=", re.IGNORECASE | re.DOTALL)
_JAVASCRIPT_URL_RE = re.compile(r"(?:\]\(|=\s*[\"']?)\s*(?:javascript|vbscript|data)\s*:", re.IGNORECASE)
PLACEHOLDER_LINK = "%25%25unsubscribe_url%25%25"

UNSAFE_MARKUP = N_("Remove the script: a newsletter cannot contain scripts, event attributes such as onerror, "
                   "or javascript: links.")


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True, "typographer": False}).enable(["table", "strikethrough"])


def unsafe_markup(source: str) -> bool:
    """Script tags, on* event attributes and script URLs: what no newsletter needs."""
    return bool(_SCRIPT_RE.search(source) or _EVENT_ATTRIBUTE_RE.search(source) or _JAVASCRIPT_URL_RE.search(source))


def body_html(source: str) -> str:
    """Markdown to HTML that is safe to show anywhere (nh3 removes whatever the allow-list lacks)."""
    rendered = _markdown().render(source).replace(PLACEHOLDER_LINK, "%%unsubscribe_url%%")
    return nh3.clean(
        rendered,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


# ---- plain text ------------------------------------------------------------------------------------------------

def _inline_text(token: Token) -> str:
    parts: list[str] = []
    link: str | None = None
    for child in token.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content if child.type != "html_inline" else "")
        elif child.type in ("softbreak",):
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "link_open":
            link = str(child.attrs.get("href", ""))
            parts.append("")
        elif child.type == "link_close":
            target = (link or "").replace(PLACEHOLDER_LINK, "%%unsubscribe_url%%")
            if target and not target.startswith("#") and target not in "".join(parts[-3:]):
                parts.append(f" ({target})")
            link = None
        elif child.type == "image":
            alt = child.content or ""
            parts.append(f"[{alt}]" if alt else "")
    return "".join(parts)


def body_text(source: str) -> str:
    """Markdown to a readable plain-text version: paragraphs wrapped, links written out after their text."""
    lines: list[str] = []
    lists: list[int] = []  # one counter per open list; 0 for a bulleted one
    quotes = 0
    bullet = ""
    heading = ""
    for token in _markdown().parse(source):
        kind = token.type
        if kind == "heading_open":
            heading = token.tag
        elif kind in ("bullet_list_open", "ordered_list_open"):
            lists.append(0 if kind == "bullet_list_open" else int(token.attrs.get("start", 1) or 1))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                lines.append("")
        elif kind == "list_item_open":
            if lists[-1]:
                bullet = f"{lists[-1]}. "
                lists[-1] += 1
            else:
                bullet = "- "
        elif kind == "blockquote_open":
            quotes += 1
        elif kind == "blockquote_close":
            quotes -= 1
        elif kind == "inline":
            text = _inline_text(token)
            quote = "> " * quotes
            if heading:
                lines.extend([quote + text, quote + ("=" if heading == "h1" else "-") * min(len(text), 60), ""])
                heading = ""
                continue
            indent = quote + "  " * max(len(lists) - 1, 0)
            first = indent + (bullet or ("   " if lists else ""))
            rest = indent + (" " * len(bullet) if bullet or not lists else "   ")
            bullet = ""
            for part in text.split("\n"):
                lines.append(textwrap.fill(part, width=76, initial_indent=first, subsequent_indent=rest,
                                           break_long_words=False, break_on_hyphens=False) or first.rstrip())
                first = rest
            if not lists:
                lines.append(quote.rstrip())
        elif kind in ("fence", "code_block"):
            lines.extend("    " + line for line in token.content.rstrip("\n").split("\n"))
            lines.append("")
        elif kind == "hr":
            lines.extend(["-" * 20, ""])
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


# ---- mail ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RenderedMail:
    subject: str
    html: str
    text: str


def mail(settings: Settings, *, language: str, subject: str, preheader: str, body: str,
         web_url: str | None = None) -> RenderedMail:
    """The mail in one language, placeholders left for the sender; the footer says why it arrives."""
    with use_language(language):
        context: dict[str, Any] = {
            "lang": language,
            "subject": subject,
            "preheader": preheader,
            "content": Markup(body_html(body)),
            "web_url": web_url,
            "base_url": settings.base_url,
        }
        html = templates.get_template("newsletters/mail.html").render(context)
        html = css_inline.inline(html, keep_at_rules=True, load_remote_stylesheets=False)
        text = templates.get_template("newsletters/mail.txt").render({**context, "content": body_text(body)})
    return RenderedMail(subject=subject, html=html, text=text)


def fill_preview(value: str, *, name: str, email: str, unsubscribe_url: str) -> str:
    """What one recipient would see (the sender does the same on the wire; values are escaped for HTML)."""
    from html import escape

    return (value.replace("%%name%%", escape(name)).replace("%%email%%", escape(email))
            .replace("%%unsubscribe_url%%", escape(unsubscribe_url)))


def web_html(source: str) -> Markup:
    """The archive's version: placeholders become neutral words, so no page holds anyone's data."""
    html = body_html(source)
    html = html.replace("%%name%%", _("member")).replace("%%email%%", "").replace("%%unsubscribe_url%%", "/me")
    return Markup(html)


def web_subject(subject: str) -> str:
    return subject.replace("%%name%%", _("member")).replace("%%email%%", "")
