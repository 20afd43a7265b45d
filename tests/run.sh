#!/bin/sh
# The one test command: install into .venv, make sure the browser tests have Chromium and a Japanese font,
# then run pytest. Extra arguments go to pytest. CLUB_TEST_DATABASE_URL=postgresql+asyncpg://... runs the
# suite on PostgreSQL instead of SQLite files. The versions are requirements-dev.lock's, with their hashes.
# Without arguments it runs every test (slow and browser ones included) on all cores; a bare `pytest` skips the
# slow and browser tests (tests/conftest.py's pytest_configure).
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements-dev.lock
if ! command -v chromium >/dev/null 2>&1 || ! ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium and fonts-noto-cjk for the browser tests and Japanese PDFs" >&2
    (apt-get install -y -qq chromium fonts-noto-cjk >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; })
  else
    echo "The browser tests need Chromium (Debian: apt-get install chromium fonts-noto-cjk)." >&2
  fi
fi
exec .venv/bin/python -m pytest -m "" "$@"
