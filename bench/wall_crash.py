#!/usr/bin/env python3
"""The crowd on the wall that crashed the server (issue 12, item 1), as a repeatable check with figures.

    .venv/bin/python bench/wall_crash.py [--database ../shared/repro/wall-crash.sqlite3.gz] [--seconds 30]
                                         [--runs 1] [--connections 16] [--path '/ambassadors?city=ghent']

Copies the database (gzipped or not) into a temporary folder, serves it the README's way (`python server.py`, with
the Python that runs this script and its fault handler on), loads the page with wrk (16 connections, 30 s), and
prints per run: requests per second, median and p99, non-2xx/3xx answers, and whether the server is still alive.
Exits 1 when the server died or answered a 5xx, so it can guard a change; the figures are for reading, not asserts.
Run it with each Python the README allows (e.g. a 3.12 or 3.13 venv) to check them all.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

from bench.support import ROOT, free_port, wrk  # noqa: E402

# ../shared beside the checkout (a worktree sits one folder deeper).
DEFAULT_DATABASE = next(
    (
        path
        for path in (folder / "shared" / "repro" / "wall-crash.sqlite3.gz" for folder in ROOT.parents)
        if path.is_file()
    ),
    ROOT.parent / "shared" / "repro" / "wall-crash.sqlite3.gz",
)


def copy_database(source: Path, target: Path) -> None:
    if source.suffix == ".gz":
        with gzip.open(source, "rb") as packed, target.open("wb") as out:
            shutil.copyfileobj(packed, out)
    else:
        shutil.copyfile(source, target)


def serve(database: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLUB_")}
    environment.update(
        {
            "CLUB_VAR_DIR": str(workdir),
            "CLUB_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "CLUB_RUN_SENDER": "0",
            "CLUB_LOG_LEVEL": "warning",
            "PYTHONFAULTHANDLER": "1",
        }
    )
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "server.py", "--port", str(port), "--quiet"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("server exited at start:\n" + log_path.read_text(errors="replace"))
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).read()
            return process, url, log_path
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not start")


def alive(process: subprocess.Popen[bytes], url: str) -> bool:
    if process.poll() is not None:
        return False
    try:
        return urllib.request.urlopen(url + "/healthz", timeout=5).status == 200
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", type=Path, default=DEFAULT_DATABASE)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--path", default="/ambassadors?city=ghent")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("this bench needs wrk (Debian: apt-get install wrk)")
    if not args.database.is_file():
        raise SystemExit(f"no database at {args.database}")
    print(
        f"Python {platform.python_version()}, {args.connections} connections on {args.path}, "
        f"{args.runs} run(s) of {args.seconds} s, database {args.database.name}"
    )
    with tempfile.TemporaryDirectory(prefix="wall-crash-") as tmp:
        workdir = Path(tmp)
        database = workdir / "club.sqlite3"
        copy_database(args.database, database)
        process, url, log_path = serve(database, workdir)
        results = []
        healthy = True
        try:
            for run in range(1, args.runs + 1):
                figures = wrk(url + args.path, args.seconds, args.connections)
                up = alive(process, url)
                figures["alive"] = up
                results.append(figures)
                print(
                    f"  run {run}: {figures['rps']:.1f} req/s, median {figures.get('p50_ms', '?')} ms, "
                    f"p99 {figures.get('p99_ms', '?')} ms, non-2xx/3xx {int(figures['errors'])}, "
                    f"server {'alive' if up else 'DEAD'}"
                )
                if not up or figures["errors"]:
                    healthy = False
                if not up:
                    print(log_path.read_text(errors="replace")[-3000:])
                    break
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    print(json.dumps({"bench": "wall_crash", "python": platform.python_version(), "runs": results, "healthy": healthy}))
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
