"""The development mailbox with many mails: how long /admin/mailbox takes to open.

    python -m bench.mailbox [--mails 5000] [--requests 20]

Fills var/mailbox of a fresh checkout's data folder with N real messages (as the mailbox's SMTP server writes them),
starts the server the README's way, logs in as an admin and times the first page of /admin/mailbox. Prints the
median and the slowest request, and a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run by path: bench/http.py must not shadow the standard library's http
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import httpx  # noqa: E402

from bench.support import admin_session, start_server, stop_server  # noqa: E402
from club.mail.message import Address, build_message  # noqa: E402

FROM = Address("club@ghent-kanazawa.example", "Ghent–Kanazawa Supporters Club")


def fill(folder: Path, mails: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    start = time.time_ns() - mails * 1_000_000
    for i in range(mails):
        raw = build_message(
            sender=FROM,
            to=Address(f"lid{i}@example.be", f"Lid {i} 山田"),
            subject=f"Bevestig je inschrijving {i} 金沢",
            text="Klik https://club.example/c/x\n" * 40,
            html="<p>Klik <a href='https://club.example/c/x'>hier</a></p>" * 40,
        )
        (folder / f"{start + i * 1_000_000}-{secrets.token_hex(4)}.eml").write_bytes(raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="club-bench-mailbox-") as workdir:
        var_dir = Path(workdir) / "var"
        fill(var_dir / "mailbox", args.mails)
        database_url = f"sqlite+aiosqlite:///{var_dir / 'bench.sqlite3'}"
        process, url = start_server(database_url, var_dir)
        try:
            cookie = asyncio.run(admin_session(database_url))
            timings = []
            with httpx.Client(base_url=url, cookies={"club_session": cookie}, timeout=60) as client:
                for _ in range(args.requests):
                    started = time.perf_counter()
                    response = client.get("/admin/mailbox")
                    timings.append(time.perf_counter() - started)
                    assert response.status_code == 200, response.status_code
        finally:
            stop_server(process)
    median, slowest = statistics.median(timings), max(timings)
    print(f"/admin/mailbox with {args.mails:,} mails: median {median * 1000:.0f} ms, slowest {slowest * 1000:.0f} ms")
    print(json.dumps({"mails": args.mails, "median_ms": round(median * 1000, 1), "max_ms": round(slowest * 1000, 1)}))


if __name__ == "__main__":
    main()
