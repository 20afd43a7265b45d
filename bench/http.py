#!/usr/bin/env python3
"""HTTP throughput of the app served the README's way (python server.py), measured in one run.

    .venv/bin/python bench/http.py [--seconds 5] [--connections 16] [--database-url URL]

Prints requests per second for /healthz and the home page and their ratio (goal: the home page at half the rate
of /healthz or better). The load comes from wrk (Debian's `wrk` package) when it is installed, otherwise from a
small asyncio client in this process (slower, so the figures are then lower bounds). Figures, not pass/fail.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run by path, this folder comes first on sys.path, and this very file would then shadow the standard library's
# http package for everything imported below (httpx, asyncio's helpers): take the folder off first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(database_url: str | None, var_dir: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUB_")}
    env.update({"CLUB_VAR_DIR": str(var_dir), "CLUB_LOG_LEVEL": "warning", "PYTHONUNBUFFERED": "1"})
    if database_url:
        env["CLUB_DATABASE_URL"] = database_url
    process = subprocess.Popen([sys.executable, "server.py", "--port", str(port), "--quiet"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, url
        except OSError:
            if process.poll() is not None:
                raise SystemExit("server exited:\n" + (process.stdout.read() if process.stdout else "")) from None
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start")


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    result = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", "Accept-Language: nl", url],
        capture_output=True, text=True, check=True,
    )
    out = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    figures = {"rps": rps}
    for label, key in (("50%", "p50_ms"), ("99%", "p99_ms")):
        match = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)", out)
        if match:
            value = float(match.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[match.group(2)]
            figures[key] = round(value, 2)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["errors"] = float(errors.group(1)) if errors else 0.0
    return figures


async def python_load(url: str, seconds: int, connections: int) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.monotonic() < stop:
            started = time.perf_counter()
            response = await client.get(url, headers={"Accept-Language": "nl"})
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code >= 400:
                errors += 1

    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(limits=limits) as client:
        began = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(connections)))
        elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "errors": float(errors),
    }


def measure(url: str, seconds: int, connections: int) -> dict[str, float]:
    if shutil.which("wrk"):
        return wrk(url, seconds, connections)
    return asyncio.run(python_load(url, seconds, connections))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    driver = "wrk" if shutil.which("wrk") else "python"
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(args.database_url, Path(tmp))
        try:
            measure(url + "/", 1, 4)  # warm up: templates compiled, connections pooled
            health = measure(url + "/healthz", args.seconds, args.connections)
            home = measure(url + "/", args.seconds, args.connections)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    ratio = home["rps"] / health["rps"] if health["rps"] else 0.0
    print(f"driver: {driver}, {args.connections} connections, {args.seconds} s each, one uvicorn process")
    for label, figures in (("/healthz", health), ("/ (home)", home)):
        print(f"{label:9}: {figures['rps']:9.1f} req/s  p50 {figures.get('p50_ms', 0):.2f} ms"
              f"  p99 {figures.get('p99_ms', 0):.2f} ms")
    print(f"ratio home/healthz: {ratio:.2f} (goal >= 0.50)")
    print(json.dumps({"healthz_rps": health["rps"], "home_rps": home["rps"], "ratio": round(ratio, 3),
                      "home_p50_ms": home.get("p50_ms"), "home_p99_ms": home.get("p99_ms"), "driver": driver}))


if __name__ == "__main__":
    main()
