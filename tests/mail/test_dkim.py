from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import dkim
import pytest

from club.mail.dkim import DkimSigner, signer_from_settings
from club.mail.message import Address, MessageTemplate

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test key")


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    folder = tmp_path_factory.mktemp("dkim")
    private = folder / "club.key"
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(private), "2048"], check=True, capture_output=True)
    public_der = subprocess.run(
        ["openssl", "rsa", "-in", str(private), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_der)
    return private, record


def signed_newsletter(key_file: Path) -> bytes:
    template = MessageTemplate(
        sender=Address("club@ghent-kanazawa.example", "Club 金沢"),
        subject="Nieuwsbrief 金沢",
        text="Beste %%name%%\n",
        html="<p>Beste %%name%%</p>",
        list_unsubscribe_mailto="unsubscribe@ghent-kanazawa.example",
        bulk=True,
    )
    raw = template.render(
        Address("an@example.org", "An"),
        message_id="<1@ghent-kanazawa.example>",
        unsubscribe_url="https://club.example/u/1",
    )
    signer = signer_from_settings("ghent-kanazawa.example", "club2026", key_file)
    assert signer is not None
    return signer.sign(raw)


def dns_for(record: bytes):  # type: ignore[no-untyped-def]
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"club2026._domainkey.ghent-kanazawa.example." else None

    return lookup


def test_signature_verifies_and_covers_the_required_headers(key_pair: tuple[Path, bytes]) -> None:
    key_file, record = key_pair
    signed = signed_newsletter(key_file)
    assert dkim.verify(signed, dnsfunc=dns_for(record))
    signature = signed.split(b"\r\n\r\n", 1)[0].decode()
    headers = re.search(r"\bh=([^;]+);", signature.replace("\r\n", "").replace(" ", ""))
    assert headers is not None
    covered = set(headers.group(1).lower().split(":"))
    assert {"from", "subject", "list-unsubscribe", "list-unsubscribe-post"} <= covered


def test_a_changed_subject_breaks_the_signature(key_pair: tuple[Path, bytes]) -> None:
    key_file, record = key_pair
    signed = signed_newsletter(key_file)
    tampered = signed.replace(b"Subject: ", b"Subject: =?utf-8?b?RlJFRQ==?= ", 1)
    assert not dkim.verify(tampered, dnsfunc=dns_for(record))


def test_signing_is_off_unless_fully_configured() -> None:
    assert signer_from_settings("example.org", None, "/nonexistent") is None
    assert signer_from_settings(None, "sel", "/nonexistent") is None
    assert isinstance(DkimSigner(domain="a.example", selector="s", private_key=b""), DkimSigner)
