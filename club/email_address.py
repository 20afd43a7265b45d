"""The one rule for an email address, shared by every form and by the outbox.

A form stores what `normalize()` returns; the outbox puts `for_sending()` of it on the wire. Both run the same
checks, so an address a form accepts is never refused later when the mail is queued (that was a 500 page).

- Input typed with a Japanese IME (`ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ`) is folded with NFKC, not refused.
- The syntax is checked by the email-validator package, without DNS look-ups.
- The top-level domain must be two letters or more (`jan@example.c` is a typo, not an address), or an
  internationalised one (`xn--…`).
- The part before the @ must be ASCII: our SMTP transport does not speak SMTPUTF8.
- An international domain is kept and shown in Unicode (`例え.jp`); only the wire gets punycode.
"""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254
_TLD_RE = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


class InvalidEmailAddress(ValueError):
    pass


def _validate(value: str) -> tuple[str, str, str]:
    """(local part, Unicode domain, ASCII domain) of a valid address, or InvalidEmailAddress."""
    if "\r" in value or "\n" in value or "\x00" in value:
        raise InvalidEmailAddress("line breaks in an address")
    folded = unicodedata.normalize("NFKC", value).strip()
    if not folded:
        raise InvalidEmailAddress("empty")
    if len(folded) > MAX_LENGTH:
        raise InvalidEmailAddress("too long")
    try:
        checked = validate_email(
            folded,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError as exc:
        raise InvalidEmailAddress(str(exc)) from None
    ascii_domain = (checked.ascii_domain or "").lower()
    if not _TLD_RE.match(ascii_domain.rsplit(".", 1)[-1]):
        raise InvalidEmailAddress(f"incomplete domain: {checked.domain}")
    return checked.local_part.lower(), checked.domain.lower(), ascii_domain


def normalize(value: str) -> str:
    """The form of an address that is stored and compared: NFKC, lower case, the domain in Unicode."""
    local, domain, _ascii = _validate(value)
    return f"{local}@{domain}"


def for_sending(value: str) -> str:
    """The ASCII form for SMTP and mail headers (punycode domain), after the same checks as `normalize`."""
    local, _domain, ascii_domain = _validate(value)
    address = f"{local}@{ascii_domain}"
    if len(address) > MAX_LENGTH:
        raise InvalidEmailAddress("too long")
    return address


def is_valid(value: str) -> bool:
    try:
        _validate(value)
    except InvalidEmailAddress:
        return False
    return True


def display(value: str) -> str:
    """An address as people read it: an international domain in Unicode, even if it was stored as punycode."""
    try:
        return normalize(value)
    except InvalidEmailAddress:
        return value


def mask(value: str) -> str:
    """Enough of an address for its owner to recognise it, not enough to learn it: `h•••o@example.jp`."""
    local, _at, domain = display(value).rpartition("@")
    if len(local) <= 2:
        hidden = local[:1] + "•••"
    else:
        hidden = local[0] + "•••" + local[-1]
    return f"{hidden}@{domain}"
