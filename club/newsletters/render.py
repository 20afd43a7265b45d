"""From Markdown to what is sent and shown: sanitized HTML, the mail's HTML (table layout, CSS inlined) and text,
and the web version for the archive, which holds no personal data.

Bodies keep the outbox's placeholders (%%name%%, %%email%%, %%unsubscribe_url%%); the sender fills them per
recipient, the archive fills them with neutral words.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from dataclasses import dataclass
from functools import cache
from html import escape
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from club.config import Settings
from club.i18n import N_, translate_for, use_language
from club.mail.message import PLACEHOLDERS
from club.mail.render import render_mail

ALLOWED_TAGS = set("a b blockquote br code del em h1 h2 h3 h4 hr i img li ol p pre s strong sub sup u ul".split())
ALLOWED_TAGS |= {"table", "tbody", "td", "th", "thead", "tr"}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# Refused with a message rather than silently removed, so the admin knows the mail will not look as typed.
_SCRIPT_RE = re.compile(r"<\s*/?\s*script\b", re.IGNORECASE)
_EVENT_ATTRIBUTE_RE = re.compile(r"<[^>]*?[\s/\"']on[a-z]+\s*=", re.IGNORECASE | re.DOTALL)
_JAVASCRIPT_URL_RE = re.compile(r"(?:\]\(|=\s*[\"']?)\s*(?:javascript|vbscript|data)\s*:", re.IGNORECASE)
PLACEHOLDER_LINK = "%25%25unsubscribe_url%25%25"

# What the composer's hint tells admins to write; the outbox fills the same %%...%% tags per recipient.
NAME_TAG = "%%name%%"
KNOWN_TAGS = tuple(f"%%{name}%%" for name in PLACEHOLDERS)
# Anything that looks like a merge tag: %word%, %%word%%, {{word}}, {word}, *|WORD|*, [[word]]. A word has at
# least three characters, so percent-encoded URLs (%E3%81%8A) do not count.
_TAG_LIKE_RE = re.compile(
    r"%{1,2}[A-Za-z_][A-Za-z0-9_]{2,}%{1,2}|\{\{\s*[A-Za-z_][\w.]*\s*\}\}|\{[A-Za-z_]\w{2,}\}"
    r"|\*\|[A-Za-z_]\w*\|\*|\[\[\s*[A-Za-z_]\w*\s*\]\]"
)
# The archive's stand-in for %%name%% ("Dear member,"), in the newsletter's own language.
NEUTRAL_NAME = N_("member")
UNKNOWN_TAGS = N_("Unknown placeholder: %(tags)s. Only %(known)s are filled in; correct or remove the others.")
TAG_IN_SUBJECT = N_(
    "The subject is the same for every member, so %(tags)s would arrive as typed. Remove it from the subject."
)

IMAGE_WITHOUT_DESCRIPTION = N_(
    "An image has no description (or only its file name): describe it for readers who "
    "cannot see it, between the square brackets."
)
_IMAGE_RE = re.compile(r"!\[([^\]]*)\]\(")
_FILE_NAME_RE = re.compile(r"^\S+\.(?:jpe?g|png|gif|webp|heic)$", re.IGNORECASE)

UNSAFE_MARKUP = N_(
    "Remove the script: a newsletter cannot contain scripts, event attributes such as onerror, or javascript: links."
)


@cache
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "typographer": False}).enable(["table", "strikethrough"])
    md.add_render_rule("softbreak", _render_softbreak)
    return md


def unsafe_markup(source: str) -> bool:
    """Script tags, on* event attributes and script URLs: what no newsletter needs."""
    return bool(_SCRIPT_RE.search(source) or _EVENT_ATTRIBUTE_RE.search(source) or _JAVASCRIPT_URL_RE.search(source))


def unknown_tags(text: str) -> list[str]:
    """The placeholders in `text` that nothing fills in (a typo, another tool's syntax), in order of appearance."""
    found: list[str] = []
    for match in _TAG_LIKE_RE.finditer(text):
        tag = match.group(0)
        if tag not in KNOWN_TAGS and tag not in found:
            found.append(tag)
    return found


def subject_tags(subject: str) -> list[str]:
    """Every placeholder in a subject: the subject is not personalised, so each would arrive as typed."""
    return list(dict.fromkeys(_TAG_LIKE_RE.findall(subject)))


def tag_problems(subject: str, preheader: str, body: str) -> list[tuple[str, dict[str, str]]]:
    """(message, values) for each way this variant's placeholders would go wrong; empty when all is well."""
    problems: list[tuple[str, dict[str, str]]] = []
    in_subject = subject_tags(subject)
    if in_subject:
        problems.append((TAG_IN_SUBJECT, {"tags": ", ".join(in_subject)}))
    unknown = unknown_tags(preheader + "\n" + body)
    if unknown:
        problems.append((UNKNOWN_TAGS, {"tags": ", ".join(unknown), "known": ", ".join(KNOWN_TAGS)}))
    return problems


def images_without_description(body: str) -> bool:
    """An image whose alt text is empty or a file name: screen readers would say nothing useful."""
    return any(not alt.strip() or _FILE_NAME_RE.match(alt.strip()) for alt in _IMAGE_RE.findall(body))


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _joins_without_space(before: str, after: str) -> bool:
    """A line break between two Japanese (or other wide) characters is no word space: drop it."""
    return bool(before) and bool(after) and _wide(before[-1]) and _wide(after[0])


def _neighbours(tokens: list[Token], index: int) -> tuple[str, str]:
    before = next((t.content for t in reversed(tokens[:index]) if t.content), "")
    after = next((t.content for t in tokens[index + 1 :] if t.content), "")
    return before, after


def _render_softbreak(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    return "" if _joins_without_space(*_neighbours(tokens, idx)) else "\n"


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
    children = token.children or []
    for index, child in enumerate(children):
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content if child.type != "html_inline" else "")
        elif child.type in ("softbreak",):
            parts.append("" if _joins_without_space(*_neighbours(children, index)) else " ")
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
                lines.append(
                    textwrap.fill(
                        part,
                        width=76,
                        initial_indent=first,
                        subsequent_indent=rest,
                        break_long_words=False,
                        break_on_hyphens=False,
                    )
                    or first.rstrip()
                )
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


def mail(
    settings: Settings, *, language: str, subject: str, preheader: str, body: str, web_url: str | None = None
) -> RenderedMail:
    """The mail in one language, placeholders left for the sender; the footer says why it arrives."""
    with use_language(language):
        content = Markup(body_html(body))
    text, html = render_mail(
        "newsletters/mail",
        language,
        inline_css=True,
        text_values={"content": body_text(body)},
        subject=subject,
        preheader=preheader,
        content=content,
        web_url=web_url,
        base_url=settings.base_url,
    )
    return RenderedMail(subject=subject, html=html, text=text)


def fill_preview(value: str, *, name: str, email: str, unsubscribe_url: str, html: bool = True) -> str:
    """What one recipient would see (the sender does the same on the wire; values are escaped for HTML)."""
    fill = escape if html else str
    return (
        value.replace("%%name%%", fill(name))
        .replace("%%email%%", fill(email))
        .replace("%%unsubscribe_url%%", fill(unsubscribe_url))
    )


def web_html(source: str, language: str) -> Markup:
    """The archive's version: placeholders become neutral words in the newsletter's own language (not the
    visitor's), so no page holds anyone's data and "Beste %%name%%" reads "Beste lid"."""
    html = body_html(source)
    neutral = escape(translate_for(language, NEUTRAL_NAME))
    html = html.replace("%%name%%", neutral).replace("%%email%%", "").replace("%%unsubscribe_url%%", "/me")
    return Markup(html)


def web_subject(subject: str, language: str) -> str:
    return subject.replace("%%name%%", translate_for(language, NEUTRAL_NAME)).replace("%%email%%", "")
