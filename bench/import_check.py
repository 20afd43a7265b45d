"""Checking a large member list from the import page: how long the upload's answer takes, and how long until
the preview is ready, with 20,000 members already in the club. Starts the server the README's way.

    python -m bench.import_check [--rows 100000] [--members 20000] [--database-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from pathlib import Path

import httpx

from bench.support import admin_session, fill_members, fresh_database, start_server, stop_server

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def member_file(rows: int) -> bytes:
    lines = ["email,name,city,language,interests,newsletter,consent_date"]
    lines += [f"import{index}@example.org,Member {index},gent,nl,food,yes,2024-03-15" for index in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def measure(base: str, cookie: str, data: bytes) -> None:
    async with httpx.AsyncClient(base_url=base, cookies={"club_session": cookie}, timeout=300) as http:
        page = await http.get("/admin/members/import")
        token = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
        started = time.perf_counter()
        answer = await http.post(
            "/admin/members/import", data={"csrf_token": token}, files={"file": ("members.csv", data, "text/csv")}
        )
        answered = time.perf_counter() - started
        assert answer.status_code == 303, answer.status_code
        job_url = answer.headers["location"]
        progress_pages = 0
        while True:
            page = await http.get(job_url)
            if 'id="check-progress"' not in page.text:
                break
            progress_pages += 1
            await asyncio.sleep(0.5)
        ready = time.perf_counter() - started
        assert 'id="valid-rows"' in page.text, page.text[:2000]
        counts = re.findall(r'id="(?:total|valid|problem)-rows">([^<(]*)', page.text)
    print(f"upload answered after     {answered:6.2f} s")
    print(f"preview ready after       {ready:6.2f} s  ({progress_pages} progress pages seen on the way)")
    print("rows, good, with a problem:", counts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, fresh_database(args.database_url, Path(workdir)) as url:
        asyncio.run(fill_members(url, args.members))
        cookie = asyncio.run(admin_session(url))
        process, base = start_server(url, Path(workdir) / "var")
        try:
            asyncio.run(measure(base, cookie, member_file(args.rows)))
        finally:
            stop_server(process)


if __name__ == "__main__":
    main()
