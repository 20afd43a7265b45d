"""Optional DKIM signing (dkimpy) of built messages.

dkimpy does RSA in pure Python, a few milliseconds per message: fine for transactional mail and modest newsletters,
and the reason signing is off unless CLUB_DKIM_DOMAIN, CLUB_DKIM_SELECTOR and CLUB_DKIM_KEY_FILE are all set.
"""

from __future__ import annotations

from pathlib import Path

import dkim

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"reply-to",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)


class DkimSigner:
    def __init__(self, *, domain: str, selector: str, private_key: bytes) -> None:
        self.domain = domain.encode("ascii")
        self.selector = selector.encode("ascii")
        self.private_key = private_key

    @classmethod
    def from_file(cls, *, domain: str, selector: str, key_file: str | Path) -> DkimSigner:
        return cls(domain=domain, selector=selector, private_key=Path(key_file).read_bytes())

    def sign(self, message: bytes) -> bytes:
        """The message with a DKIM-Signature header prepended."""
        present = {line.split(b":", 1)[0].strip().lower() for line in _header_block(message).split(b"\r\n")}
        include = [h for h in SIGNED_HEADERS if h in present]
        signature = dkim.sign(
            message,
            self.selector,
            self.domain,
            self.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=include,
        )
        return signature + message


def _header_block(message: bytes) -> bytes:
    end = message.find(b"\r\n\r\n")
    return message if end < 0 else message[:end]


def signer_from_settings(domain: str | None, selector: str | None, key_file: str | Path | None) -> DkimSigner | None:
    if domain and selector and key_file:
        return DkimSigner.from_file(domain=domain, selector=selector, key_file=key_file)
    return None
