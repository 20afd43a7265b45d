#!/usr/bin/env python3
"""One client flooding `POST /login` (far past its rate limit) while members open `/me`.

    .venv/bin/python bench/login_flood.py [--seconds 10] [--database-url postgresql+asyncpg://...]

Serves the app the README's way, measures the median and p99 of a logged-in member's `/me` (wrk, 4 connections)
alone, then while wrk floods `POST /login` from one address with 12 connections, and prints both, their ratio,
and how many flood answers were 429. Figures, not pass/fail.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import urllib.request  # noqa: E402

from bench.support import admin_session, fresh_database, start_server, stop_server, wrk  # noqa: E402

FLOOD_SCRIPT = """
wrk.method = "POST"
wrk.body = "email=flood%40example.org&csrf_token={token}"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "club_csrf={cookie}"
"""


def csrf(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url + "/login") as response:
        cookie = re.search(r"club_csrf=([^;]+)", response.headers.get("set-cookie", "")).group(1)  # type: ignore
        token = re.search(r'name="csrf_token" value="([^"]+)"', response.read().decode()).group(1)  # type: ignore
    return cookie, token


def flood(url: str, seconds: int, script: Path, out: dict[str, str]) -> None:
    result = subprocess.run(
        ["wrk", "-t1", "-c12", f"-d{seconds}s", "-s", str(script), url + "/login"], capture_output=True, text=True
    )
    out["stdout"] = result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="login-flood-") as tmp,
        fresh_database(args.database_url, Path(tmp)) as database_url,
    ):
        process, url = start_server(database_url, Path(tmp), env={"CLUB_RUN_SENDER": "0"})
        try:
            session = asyncio.run(admin_session(database_url))
            alone = wrk(url + "/me", args.seconds, 4, cookie=session)
            cookie, token = csrf(url)
            script = Path(tmp) / "flood.lua"
            script.write_text(FLOOD_SCRIPT.format(token=token, cookie=cookie))
            out: dict[str, str] = {}
            flooder = threading.Thread(target=flood, args=(url, args.seconds + 2, script, out))
            flooder.start()
            beside = wrk(url + "/me", args.seconds, 4, cookie=session)
            flooder.join()
        finally:
            stop_server(process)
    flood_rps = re.search(r"Requests/sec:\s+([\d.]+)", out.get("stdout", ""))
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out.get("stdout", ""))
    figures = {
        "me_p50_ms_alone": alone.get("p50_ms"),
        "me_p99_ms_alone": alone.get("p99_ms"),
        "me_p50_ms_during_flood": beside.get("p50_ms"),
        "me_p99_ms_during_flood": beside.get("p99_ms"),
        "slowdown_p50": round(beside["p50_ms"] / alone["p50_ms"], 2) if alone.get("p50_ms") else None,
        "me_errors": alone["errors"] + beside["errors"],
        "flood_rps": float(flood_rps.group(1)) if flood_rps else None,
        "flood_refused": int(refused.group(1)) if refused else 0,
        "database": "postgresql" if args.database_url else "sqlite",
    }
    for key, value in figures.items():
        print(f"  {key}: {value}")
    print(json.dumps({"bench": "login_flood", **figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
