"""A mail says which language it is in, and the club signs it in that language: a Japanese sign-up's confirmation
mail (members feature, built by the mail feature) carries Content-Language: ja and the club's Japanese name."""

from __future__ import annotations

from email import message_from_bytes
from email.header import decode_header, make_header
from email.policy import compat32

from tests.factories import csrf_token, running_sender


async def test_a_japanese_sign_up_gets_a_mail_that_says_ja_and_is_signed_in_japanese(client, engine, smtp_server):
    mailbox, port = smtp_server
    token = await csrf_token(client, "/join")
    response = await client.post(
        "/join",
        data={
            "email": "hanako@example.jp",
            "name": "山田 花子",
            "city": "kanazawa",
            "language": "ja",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303, response.text
    async with running_sender(engine, port):
        await mailbox.wait_for(1)
    raw = message_from_bytes(mailbox.envelopes[0][2], policy=compat32)
    assert raw["Content-Language"] == "ja"
    sender = str(make_header(decode_header(raw["From"])))
    assert sender == "ゲント・金沢サポーターズクラブ <club@ghent-kanazawa.example>"
    assert raw["List-Id"] is None  # a transactional mail is no list mail
