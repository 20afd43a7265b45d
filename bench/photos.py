"""Peak memory of photo uploads: N photos processed at once (as N concurrent uploads do, each in a worker thread),
for the worst picture the checks accept and for the 58 KB decompression bomb (7,745 × 7,745 px PNG). Prints the
process's peak RSS; run it once per case (a fresh process each, since peak RSS only grows):

    .venv/bin/python -m bench.photos --case worst-png --uploads 8
    .venv/bin/python -m bench.photos --case bomb --uploads 8
    .venv/bin/python -m bench.photos --case worst-jpeg --uploads 8
    .venv/bin/python -m bench.photos --case worst-png --implementation /tmp/old_photos.py   # another photos.py
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import resource
import subprocess
import sys
import threading
import time
from types import ModuleType

from PIL import Image


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux gives KiB


def made_elsewhere(case: str, max_pixels: int) -> bytes:
    """The picture, drawn in a child process: drawing a 50-megapixel image here would set the peak by itself."""
    code = f"import sys; from bench.photos import MAKERS; sys.stdout.buffer.write(MAKERS[{case!r}]({max_pixels}))"
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout


def bomb(max_pixels: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (7745, 7745), 255).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def worst_png(max_pixels: int) -> bytes:
    """An RGBA PNG (four bytes a pixel, and no reduced decoding for PNG) just under the pixel limit."""
    width = int((max_pixels * 4 / 3) ** 0.5)
    height = max_pixels // width
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), (22, 89, 90, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def worst_jpeg(max_pixels: int) -> bytes:
    width = int((max_pixels * 4 / 3) ** 0.5)
    height = max_pixels // width
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (22, 89, 90)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


MAKERS = {"bomb": bomb, "worst-png": worst_png, "worst-jpeg": worst_jpeg}


def load(path: str | None) -> ModuleType:
    if path is None:
        from club.ambassadors import photos

        return photos
    spec = importlib.util.spec_from_file_location("photos_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["photos_under_test"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=("worst-png", "worst-jpeg", "bomb"), default="worst-png")
    parser.add_argument("--uploads", type=int, default=8)
    parser.add_argument("--implementation", help="path of another photos.py to measure (e.g. the one before a change)")
    args = parser.parse_args()
    photos = load(args.implementation)
    limits = getattr(photos, "MAX_MEGAPIXELS", None)
    if isinstance(limits, dict):
        limit = limits["PNG" if args.case == "worst-png" else "JPEG"] * 1_000_000
    else:
        limit = int(photos.MAX_PIXELS)
    data = made_elsewhere(args.case, limit)
    outcomes: list[str] = []

    def upload() -> None:
        try:
            photo = photos.process(io.BytesIO(data))
            outcomes.append(f"accepted {photo.width}×{photo.height}")
        except Exception as exc:  # Invalid: the refusal a visitor sees
            message = getattr(exc, "message", str(exc)) % getattr(exc, "variables", {})
            outcomes.append(f"refused: {message}"[:130])

    before = peak_rss_mb()
    started = time.perf_counter()
    threads = [threading.Thread(target=upload) for _ in range(args.uploads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(f"implementation: {args.implementation or 'club/ambassadors/photos.py'}; pixel limit {limit:,}")
    print(f"case {args.case}: {len(data) / 1024:,.0f} KB file; {args.uploads} uploads at once in {elapsed:.2f} s")
    for outcome in sorted(set(outcomes)):
        print(f"  {outcomes.count(outcome)} × {outcome}")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB (before the uploads: {before:,.0f} MB)")


if __name__ == "__main__":
    sys.exit(main())
