"""Recruiting, across ambassadors, mail and members: the join link in an ambassador's welcome mail and the one in
their QR code both lead a visitor to a confirmed membership that counts for the ambassador, on their page and on
their certificate. Real mail through an SMTP server on loopback, the real QR image decoded."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from club.ambassadors import service
from tests.factories import csrf_token, eventually, log_in, make_admin, make_person, running_sender
from tests.helpers import client_from, link_in, signup, text_of

JOIN_LINK_RE = re.compile(r"http://testserver(/join\?ref=[a-z0-9]+)")


def decode_qr(png: bytes) -> str:
    [barcode] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode
    return str(barcode.text)


def pdf_text(pdf: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return text.replace("\x00", "")  # pypdf reads fpdf2's two-byte glyph codes with a NUL before each character


def recruits_card(html: str) -> str:
    match = re.search(r'data-figure="recruits">\s*<p class="big-number">([^<]*)</p>\s*<p>([^<]*)</p>', html)
    assert match, html
    return f"{match.group(1)} {match.group(2)}"


@pytest.fixture(autouse=True)
async def interests(db):  # type: ignore[no-untyped-def]
    """The join form's interests (PostgreSQL runs empty every table between tests, seeds included)."""
    from club.members.service import seed_interests

    if await seed_interests(db):
        await db.commit()


@pytest.mark.parametrize("source", ["welcome mail", "QR code"])
async def test_a_visitor_who_follows_the_ambassadors_link_counts_for_them(app, client, db, engine, smtp_server, source):
    mailbox, port = smtp_server
    sofie = await make_person(db, name="Sofie Claeys", email="sofie@example.org", language="en")
    ambassador = client_from(app, "198.51.100.10")
    await log_in(ambassador, db, sofie)
    await log_in(client, db, await make_admin(db))
    today = service.club_today()
    token = await csrf_token(client, "/admin/ambassadors/appoint")
    appointed = await client.post(
        "/admin/ambassadors/appoint",
        data={
            "csrf_token": token,
            "email": "sofie@example.org",
            "starts_on": (today - dt.timedelta(days=1)).isoformat(),
            "ends_on": (today + dt.timedelta(days=20)).isoformat(),  # the certificate opens in the last month
            "home_institution": "ugent",
            "host_institution": "kanazawa-university",
            "stationed_in": "kanazawa",
        },
    )
    assert appointed.status_code == 303
    visitor = client_from(app, "198.51.100.30")
    async with running_sender(engine, port):
        await mailbox.wait_for(1)
        [welcome] = mailbox.to("sofie@example.org")
        match = JOIN_LINK_RE.search(text_of(welcome))
        assert match, text_of(welcome)
        mailed_link = match.group(1)
        qr_link = decode_qr((await ambassador.get("/activities/qr.png")).content)
        assert qr_link == "http://testserver" + mailed_link  # the printed code and the mail agree
        link = mailed_link if source == "welcome mail" else qr_link.removeprefix("http://testserver")

        join_page = await visitor.get(link)
        assert join_page.status_code == 200
        ref = link.split("ref=", 1)[1]
        assert f'name="ref" value="{ref}"' in join_page.text
        # Switching the page's language on the way keeps the ref.
        switched = await visitor.post(
            "/language", data={"csrf_token": await csrf_token(visitor, link), "language": "ja", "next": link}
        )
        assert switched.headers["location"] == link
        join_page = await visitor.get(switched.headers["location"])
        assert f'name="ref" value="{ref}"' in join_page.text
        form_token = re.search(r'name="csrf_token" value="([^"]+)"', join_page.text).group(1)  # type: ignore[union-attr]
        joined = await visitor.post("/join", data=signup(form_token, ref=ref))
        assert joined.status_code == 303

        await mailbox.wait_for(2)
        [confirmation] = mailbox.to("hanako@example.jp")
        confirm_path = link_in(confirmation)
        confirm_page = await visitor.get(confirm_path)
        form_token = re.search(r'name="csrf_token" value="([^"]+)"', confirm_page.text).group(1)  # type: ignore[union-attr]
        confirmed = await visitor.post(confirm_path, data={"csrf_token": form_token})
        assert confirmed.status_code == 303 and confirmed.headers["location"].startswith("/me")
        await eventually(lambda: _has_mail(mailbox, 3))

    assert recruits_card((await ambassador.get("/activities")).text) == "1 new member through your link"
    terms = await ambassador.get("/me/ambassador")
    assert "1 new member" in terms.text and "1 new members" not in terms.text
    pdf = await ambassador.get(re.search(r'href="(/me/ambassador/certificate/\d+\.pdf)"', terms.text).group(1))  # type: ignore[union-attr]
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    certificate = pdf_text(pdf.content)
    assert re.search(r"(?<![\d,.])1 new member\b", certificate), certificate
    assert "new members" not in certificate
    await visitor.aclose()
    await ambassador.aclose()


async def _has_mail(mailbox, count: int) -> bool:  # type: ignore[no-untyped-def]
    return len(mailbox.envelopes) >= count
