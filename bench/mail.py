"""Newsletter sending, end to end, against a fast SMTP sink on loopback.

    python bench/mail.py --recipients 100000 [--connections 16] [--database-url postgresql+asyncpg://...]

Starts bench/smtp_sink.py in its own process; measures the raw limit (aiosmtplib sending one pre-built message over
the same number of connections); queues N personalised deliveries of one newsletter into a fresh database; runs the
sender in its own process (claim, build, send, record) until all are recorded as sent. Prints the figures; the last
line is JSON with msgs_per_s, raw_msgs_per_s, ratio and peak_rss_mb (the sender process's), and CPU microseconds
per message on each side: on a shared machine the rates swing with other load, the CPU per message much less.
The raw side goes through the same `SmtpTransport` as the sender; aiosmtplib's stock `SMTP.sendmail` over as many
connections is measured too, for comparison only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run by path, this folder would come first on sys.path and bench/http.py would hide the standard library's http.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosmtplib  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from club.db import create_engine, create_sessionmaker  # noqa: E402
from club.mail.message import Address, build_message  # noqa: E402
from club.mail.models import Delivery  # noqa: E402
from club.mail.outbox import Recipient, queue_newsletter  # noqa: E402
from club.mail.sender import DatabaseStore, MailSender  # noqa: E402
from club.mail.transport import SmtpTransport  # noqa: E402
from club.migrate import upgrade  # noqa: E402


async def suppress_nobody(db: object, email: str, reason: str, when: object) -> None:
    """The sink accepts every address: nothing is ever suppressed. (club.accounts.service.suppress_address would
    import Starlette, whose `import http.cookies` finds bench/http.py first when this runs as a script.)"""


FROM = Address("club@ghent-kanazawa.example", "Ghent–Kanazawa Supporters Club")
TEXT = (
    "Beste %%name%%,\n\nDe zomer komt eraan en Kanazawa ook: dit jaar reist een delegatie van twaalf leden naar "
    "onze zusterstad. 金沢の皆さん、ヘントからこんにちは。\n\nLees alles op https://club.example/nieuws\n\n"
    "Uitschrijven: %%unsubscribe_url%%\n"
) * 3
HTML = (
    "<h1>Nieuwsbrief</h1><p>Beste %%name%%,</p><p>De zomer komt eraan en Kanazawa ook. 金沢の皆さん、"
    'ヘントからこんにちは。</p><p><a href="https://club.example/nieuws">Lees meer</a></p>'
    '<p style="font-size:12px"><a href="%%unsubscribe_url%%">Uitschrijven</a></p>'
) * 3


def start_sink() -> tuple[subprocess.Popen[str], int]:
    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("smtp_sink.py"))], stdout=subprocess.PIPE, text=True
    )
    assert sink.stdout is not None
    return sink, int(sink.stdout.readline().rsplit(":", 1)[1])


async def raw_rate(port: int, connections: int, count: int) -> tuple[float, float]:
    """Messages per second, and CPU microseconds per message of this process."""
    transport = SmtpTransport(host="127.0.0.1", port=port, connections=connections, timeout=30)
    message = build_message(
        sender=FROM, to=Address("raw@example.org", "Raw"), subject="Nieuwsbrief 金沢", text=TEXT, html=HTML
    )
    remaining = count

    async def pump() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await transport.send(FROM.email, ["raw@example.org"], message)

    await transport.send(FROM.email, ["raw@example.org"], message)
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(pump() for _ in range(connections)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await transport.close()
    return count / elapsed, cpu / count * 1e6


async def sendmail_rate(port: int, connections: int, count: int) -> float:
    """For comparison only: aiosmtplib's own `SMTP.sendmail`, one client per connection (the transport before it
    sent MAIL, RCPT and DATA itself)."""
    message = build_message(
        sender=FROM, to=Address("raw@example.org", "Raw"), subject="Nieuwsbrief 金沢", text=TEXT, html=HTML
    )
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) for _ in range(connections)]
    for client in clients:
        await client.connect()
    remaining = count

    async def pump(client: aiosmtplib.SMTP) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await client.sendmail(FROM.email, ["raw@example.org"], message)

    started = time.perf_counter()
    await asyncio.gather(*(pump(client) for client in clients))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.quit()
    return count / elapsed


async def queue(database_url: str, recipients: int) -> float:
    engine = create_engine(database_url)
    started = time.perf_counter()
    async with create_sessionmaker(engine)() as db:
        people = (
            Recipient(f"lid{i}@example.org", f"Lid {i} 山田", unsubscribe_url=f"https://club.example/u/{i:08d}")
            for i in range(recipients)
        )
        await queue_newsletter(
            db,
            subject="Nieuwsbrief: zomer in 金沢",
            text=TEXT,
            html=HTML,
            language="nl",
            recipients=people,
            reference="bench",
        )
        await db.commit()
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return elapsed


async def run_sender(database_url: str, port: int, connections: int, expect: int, batch: int) -> None:
    """The sender process: send until `expect` deliveries are recorded, then report."""
    engine = create_engine(database_url)
    transport = SmtpTransport(host="127.0.0.1", port=port, connections=connections, timeout=30)
    sender = MailSender(
        DatabaseStore(create_sessionmaker(engine), suppress=suppress_nobody),
        transport,
        mail_from=FROM,
        connections=connections,
        batch_size=batch,
    )
    started, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(sender.run())
    while sender.sent < expect:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    sender.stop()
    await task
    await transport.close()
    async with create_sessionmaker(engine)() as db:
        sent = await db.scalar(select(func.count()).where(Delivery.status == "sent"))
    await engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {"elapsed": elapsed, "cpu_us": cpu / expect * 1e6, "sent": sent, "peak_rss_mb": round(peak, 1)}
    print(json.dumps(report), flush=True)


def fresh_database(url: str | None) -> tuple[str, object]:
    if url is None:
        folder = tempfile.mkdtemp(prefix="club-bench-")
        return f"sqlite+aiosqlite:///{folder}/bench.sqlite3", None
    import asyncpg

    name = f"club_bench_{secrets.token_hex(4)}"
    admin = url.replace("postgresql+asyncpg://", "postgresql://")

    async def execute(statement: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    return url.rsplit("/", 1)[0] + "/" + name, lambda: asyncio.run(execute(f'DROP DATABASE "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--database-url", help="PostgreSQL server to bench on (a scratch database is made)")
    parser.add_argument("--raw-count", type=int, default=20_000)
    parser.add_argument("--sender-only", nargs=2, metavar=("DATABASE_URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sender_only:
        url, port = args.sender_only
        asyncio.run(run_sender(url, int(port), args.connections, args.recipients, args.batch_size))
        return

    sink, port = start_sink()
    database_url, drop = fresh_database(args.database_url)
    try:
        raw, raw_cpu_us = asyncio.run(raw_rate(port, args.connections, min(args.raw_count, args.recipients)))
        print(
            f"raw aiosmtplib, one pre-built message, {args.connections} connections: {raw:,.0f} msgs/s",
            flush=True,
        )
        stock = asyncio.run(sendmail_rate(port, args.connections, min(args.raw_count, args.recipients) // 2))
        print(f"for comparison, aiosmtplib's SMTP.sendmail: {stock:,.0f} msgs/s", flush=True)
        upgrade(database_url)
        queued_in = queue(database_url, args.recipients)
        queue_s = asyncio.run(queued_in)
        print(f"queued {args.recipients:,} deliveries in {queue_s:.2f}s", flush=True)
        result = subprocess.run(
            [
                sys.executable,
                __file__,
                "--sender-only",
                database_url,
                str(port),
                "--recipients",
                str(args.recipients),
                "--connections",
                str(args.connections),
                "--batch-size",
                str(args.batch_size),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        report = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        sink.terminate()
        sink.wait()
        if drop is not None:
            drop()  # type: ignore[operator]
    rate = args.recipients / report["elapsed"]
    print(
        f"end to end (claim, build, send, record): {rate:,.0f} msgs/s; {report['sent']:,} recorded as sent; "
        f"sender peak RSS {report['peak_rss_mb']} MB",
        flush=True,
    )
    print(
        json.dumps(
            {
                "recipients": args.recipients,
                "connections": args.connections,
                "database": "postgresql" if args.database_url else "sqlite",
                "queue_s": round(queue_s, 2),
                "msgs_per_s": round(rate),
                "raw_msgs_per_s": round(raw),
                "ratio": round(rate / raw, 3),
                "peak_rss_mb": report["peak_rss_mb"],
                # CPU per message of the sending process (all its threads): steadier than rates on a busy machine.
                "cpu_us_per_msg": round(report["cpu_us"]),
                "raw_cpu_us_per_msg": round(raw_cpu_us),
                "sendmail_msgs_per_s": round(stock),
                "ratio_to_sendmail": round(rate / stock, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
