#!/usr/bin/env bash
# Builds the offline GraphiQL/Swagger UI assets into flrepo/static/ and makes sure Debian's
# Chromium is there for tests/test_browser.py. Called by .ci/run; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS

if ! command -v npm >/dev/null; then
    echo "explorer.sh: npm is missing; install Node.js 18 or newer" >&2
    exit 1
fi
(cd explorer && npm ci --no-audit --no-fund --loglevel=error && npm run build)

if [ ! -x /usr/bin/chromium ]; then
    echo "explorer.sh: installing Debian's chromium for the browser test"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version 2>/dev/null || true

echo "explorer.sh: done in $((SECONDS - started)) s"
