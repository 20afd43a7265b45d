"""Fast MIME building for personalised mail.

`EmailMessage` costs about a millisecond per message, too slow for a newsletter to thousands. A `MessageTemplate`
does the expensive part once per (newsletter, language): it encodes the subject and the sender, splits both bodies
at their placeholders and fixes the MIME skeleton. `render()` then fills in one recipient with string joins and the
C-level quoted-printable or base64 codecs from `binascii`. A one-off mail uses the same path (`build_message`).

Placeholders in `text` and `html` are written `%%name%%`, `%%email%%`, `%%unsubscribe_url%%` and `%%link%%` (the
recipient's own link in a mail to many that is not a newsletter, such as an invitation's answer page); values are
HTML-escaped in the HTML part. Every value that reaches a header is checked: CR, LF and NUL raise `ValueError`,
non-ASCII text becomes RFC 2047 encoded-words, long headers are folded, so no line exceeds 78 octets.

A mail says its language (`Content-Language`, taken from the HTML's `<html lang>` unless given) and the sender's
display name is the club's name in that language when the catalogs have it. A newsletter also carries `List-Id`.
"""

from __future__ import annotations

import binascii
import html as html_lib
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate

# What a newsletter may use; %%link%% is for a feature's mail to many (an invitation).
PLACEHOLDERS = ("name", "email", "unsubscribe_url")
_PLACEHOLDER_RE = re.compile(r"%%(" + "|".join((*PLACEHOLDERS, "link")) + r")%%")
_FORBIDDEN = re.compile(r"[\r\n\x00]")
# An addr-spec we are willing to put on the wire: dot-atom local part, ASCII host name (IDNs arrive as punycode).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS_RE = re.compile(
    rf"^{_ATOM}(?:\.{_ATOM})*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$"
    r"|^" + _ATOM + r"(?:\." + _ATOM + r")*@localhost$"
)
_SAFE_PHRASE_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ .-]*$")
_SAFE_TEXT_RE = re.compile(r"^[\x21-\x7e]+(?: [\x21-\x7e]+)*$")
_SAFE_URL_RE = re.compile(r"^https?://[\x21-\x7e]+$")
_MAX_LINE = 78
_HTML_LANG_RE = re.compile(r"<html\b[^>]*?\blang=\"([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)\"", re.IGNORECASE)
_LANGUAGE_TAG_RE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")
# 39 octets make a 64-character base64 encoded-word, which fits on a header's first line next to its name.
_WORD_OCTETS = 39


def check_header_value(value: str, what: str = "header value") -> str:
    if _FORBIDDEN.search(value):
        raise ValueError(f"{what} must not contain CR, LF or NUL: {value!r}")
    return value


def check_address(email: str) -> str:
    check_header_value(email, "address")
    if len(email) > 254 or not _ADDRESS_RE.match(email) or len(email.split("@", 1)[0]) > 64:
        raise ValueError(f"not a deliverable e-mail address: {email!r}")
    return email


def _encoded_words(value: str) -> list[str]:
    """RFC 2047 base64 encoded-words, never splitting a character across words."""
    words: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for char in value:
        octets = char.encode("utf-8")
        if size + len(octets) > _WORD_OCTETS:
            words.append(b"".join(chunk))
            chunk, size = [], 0
        chunk.append(octets)
        size += len(octets)
    if chunk:
        words.append(b"".join(chunk))
    return ["=?utf-8?b?" + binascii.b2a_base64(w, newline=False).decode("ascii") + "?=" for w in words]


def _fold(name: str, tokens: list[str], separator: str = " ") -> str:
    """`Name: tok tok tok` folded before a token whenever the line would pass 78 octets."""
    lines: list[str] = []
    line = name + ":"
    for index, token in enumerate(tokens):
        piece = (separator if index else " ") + token
        if index and len(line) + len(piece) > _MAX_LINE:
            lines.append(line + separator.rstrip())
            line = " " + token
            continue
        line += piece
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def encode_text_header(name: str, value: str) -> str:
    """An unstructured header (Subject and the like), folded, with non-ASCII as encoded-words."""
    check_header_value(value, name)
    if value == "":
        return f"{name}: \r\n"
    words = value.split(" ")
    if _SAFE_TEXT_RE.match(value) and "=?" not in value and max(len(w) for w in words) <= _MAX_LINE - 2:
        return _fold(name, words)
    return _fold(name, _encoded_words(value))


@dataclass(frozen=True, slots=True)
class Address:
    email: str
    name: str = ""

    def __post_init__(self) -> None:
        check_address(self.email)
        check_header_value(self.name, "display name")
        # Runs of whitespace in a display name do not survive header unfolding anyway: make them one space.
        object.__setattr__(self, "name", " ".join(self.name.split()))

    def tokens(self) -> list[str]:
        if not self.name:
            return [self.email]
        return [*_phrase(self.name), f"<{self.email}>"]

    def header(self, name: str) -> str:
        return _fold(name, self.tokens())


def _phrase(name: str) -> list[str]:
    """A display name as header tokens: quoted when ASCII, RFC 2047 encoded-words otherwise."""
    if "=?" in name:
        # Looks like an encoded-word: many decoders would decode it even inside quotes.
        return _encoded_words(name)
    if _SAFE_PHRASE_RE.match(name):
        return ['"' + name + '"']
    if name.isascii() and name.isprintable():
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return ['"' + quoted + '"'] if len(quoted) < _MAX_LINE - 10 else _encoded_words(name)
    return _encoded_words(name)


def html_language(html: str) -> str | None:
    """The language an HTML mail declares on its <html> element."""
    match = _HTML_LANG_RE.search(html[:2000])
    return match.group(1) if match else None


def localised_sender(sender: Address, language: str | None) -> Address:
    """The sender with its display name in `language`, when the catalogs translate that name (the club's own name
    does; a name configured in CLUB_MAIL_FROM that they do not know stays as it is)."""
    if not language or not sender.name:
        return sender
    from club.i18n import LANGUAGES, translate_for  # imported here: the message builder needs no catalogs otherwise

    if language not in LANGUAGES:
        return sender
    for candidate in (sender.name, sender.name.replace("-", "\u2013")):
        translated = translate_for(language, candidate)
        if translated != candidate or language == "en":
            return Address(sender.email, translated if translated != candidate else sender.name)
    return sender


def domain_of(email: str) -> str:
    return email.rsplit("@", 1)[1]


def make_message_id(domain: str, token: str | None = None) -> str:
    return f"<{token or secrets.token_hex(16)}@{domain}>"


def _normalise_lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _split(body: str) -> list[str]:
    """Alternating literal, placeholder, literal, ... (placeholders at odd indexes)."""
    return _PLACEHOLDER_RE.split(_normalise_lines(body))


def _mostly_ascii(parts: list[str]) -> bool:
    raw = "".join(parts[::2]).encode("utf-8")
    return len(raw) < 64 or sum(1 for b in raw if b > 127) * 5 < len(raw)


def _b64_lines(data: bytes) -> bytes:
    encoded = binascii.b2a_base64(data, newline=False)
    return b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


_date_cache: tuple[int, str] = (0, "")


def _date_header() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, "Date: " + formatdate(now, usegmt=True) + "\r\n")
    return _date_cache[1]


class MessageTemplate:
    """One mail's skeleton, filled in per recipient by `render()`."""

    __slots__ = (
        "sender",
        "bulk",
        "_static_headers",
        "_text",
        "_html",
        "_text_qp",
        "_html_qp",
        "_boundary",
        "_part_text",
        "_part_html",
        "_closing",
        "_mailto",
    )

    def __init__(
        self,
        *,
        sender: Address,
        subject: str,
        text: str,
        html: str,
        reply_to: Address | None = None,
        list_unsubscribe_mailto: str | None = None,
        bulk: bool = False,
        language: str | None = None,
        list_id: str | None = None,
        attachments: Sequence[tuple[str, str, bytes]] = (),
    ) -> None:
        language = language or html_language(html)
        if language is not None and not _LANGUAGE_TAG_RE.match(language):
            raise ValueError(f"not a language tag: {language!r}")
        sender = localised_sender(sender, language)
        self.sender = sender
        self.bulk = bulk
        if list_unsubscribe_mailto is not None:
            check_address(list_unsubscribe_mailto)
        self._mailto = list_unsubscribe_mailto
        self._boundary = "=_club_" + secrets.token_hex(12)
        headers = [sender.header("From"), encode_text_header("Subject", subject)]
        if reply_to is not None:
            headers.append(reply_to.header("Reply-To"))
        if bulk:
            list_id = list_id or f"newsletter.{domain_of(sender.email)}"
            check_header_value(list_id, "List-Id")
            headers.append(_fold("List-Id", [*(_phrase(sender.name) if sender.name else []), f"<{list_id}>"]))
        if language is not None:
            headers.append(f"Content-Language: {language}\r\n")
        headers.append("MIME-Version: 1.0\r\n")
        self._static_headers = "".join(headers)
        self._text = _split(text)
        self._html = _split(html)
        self._text_qp = _mostly_ascii(self._text)
        self._html_qp = _mostly_ascii(self._html)
        b = self._boundary
        self._part_text = (
            f'Content-Type: multipart/alternative;\r\n boundary="{b}"\r\n\r\n'
            f'--{b}\r\nContent-Type: text/plain; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {'quoted-printable' if self._text_qp else 'base64'}\r\n\r\n"
        ).encode("ascii")
        self._part_html = (
            f'\r\n--{b}\r\nContent-Type: text/html; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {'quoted-printable' if self._html_qp else 'base64'}\r\n\r\n"
        ).encode("ascii")
        self._closing = f"\r\n--{b}--\r\n".encode("ascii")
        if attachments:
            self._wrap_in_mixed(attachments)

    def _wrap_in_mixed(self, attachments: Sequence[tuple[str, str, bytes]]) -> None:
        """multipart/mixed around the text and HTML, then each (filename, content type, content) in base64."""
        mixed = "=_club_mixed_" + secrets.token_hex(12)
        self._part_text = (
            f'Content-Type: multipart/mixed;\r\n boundary="{mixed}"\r\n\r\n--{mixed}\r\n'.encode("ascii")
            + self._part_text
        )
        parts = [self._closing]
        for filename, content_type, content in attachments:
            check_header_value(filename, "filename")
            check_header_value(content_type, "content type")
            if not filename.isascii() or '"' in filename or not content_type.isascii():
                raise ValueError(f"attachment name and type must be plain ASCII: {filename!r}, {content_type!r}")
            parts.append(
                f'\r\n--{mixed}\r\nContent-Type: {content_type}; name="{filename}"\r\n'
                f'Content-Disposition: attachment; filename="{filename}"\r\n'
                "Content-Transfer-Encoding: base64\r\n\r\n".encode("ascii")
                + _b64_lines(content)
            )
        parts.append(f"\r\n--{mixed}--\r\n".encode("ascii"))
        self._closing = b"".join(parts)

    def render(
        self, to: Address, *, message_id: str, unsubscribe_url: str | None = None, link: str | None = None
    ) -> bytes:
        check_header_value(message_id, "Message-ID")
        values = {"name": to.name, "email": to.email, "unsubscribe_url": unsubscribe_url or "", "link": link or ""}
        headers = [self._static_headers, to.header("To"), _date_header(), f"Message-ID: {message_id}\r\n"]
        if self.bulk:
            if unsubscribe_url is None or not _SAFE_URL_RE.match(unsubscribe_url) or ">" in unsubscribe_url:
                raise ValueError(f"a newsletter needs an https unsubscribe link, not {unsubscribe_url!r}")
            targets = [f"<{unsubscribe_url}>"]
            if self._mailto:
                targets.append(f"<mailto:{self._mailto}?subject=unsubscribe>")
            headers.append(_fold("List-Unsubscribe", targets, separator=", "))
            headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        text = self._fill(self._text, values, escape=False)
        html = self._fill(self._html, values, escape=True)
        return b"".join(
            (
                "".join(headers).encode("ascii"),
                self._part_text,
                self._encode(text, self._text_qp),
                self._part_html,
                self._encode(html, self._html_qp),
                self._closing,
            )
        )

    @staticmethod
    def _fill(parts: list[str], values: Mapping[str, str], *, escape: bool) -> bytes:
        if len(parts) == 1:
            return parts[0].encode("utf-8")
        filled = parts.copy()
        for i in range(1, len(parts), 2):
            value = values[parts[i]].replace("\r", " ").replace("\n", " ")
            filled[i] = html_lib.escape(value) if escape else value
        return "".join(filled).encode("utf-8")

    @staticmethod
    def _encode(data: bytes, qp: bool) -> bytes:
        if qp:
            encoded = binascii.b2a_qp(data, istext=True)
            # b2a_qp copies the line ending of the input's first line; with no line at all it soft-breaks with LF.
            return encoded if b"\r\n" in data else encoded.replace(b"\n", b"\r\n")
        return _b64_lines(data)


def build_message(
    *,
    sender: Address,
    to: Address,
    subject: str,
    text: str,
    html: str,
    message_id: str | None = None,
    reply_to: Address | None = None,
) -> bytes:
    """A one-off (transactional) mail: no List-Unsubscribe headers, placeholders filled like a newsletter's."""
    template = MessageTemplate(sender=sender, subject=subject, text=text, html=html, reply_to=reply_to)
    return template.render(to, message_id=message_id or make_message_id(domain_of(sender.email)))
