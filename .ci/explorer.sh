#!/usr/bin/env bash
# Checks that the committed GraphiQL/Swagger UI assets in flrepo/static/ are exactly what a fresh
# build of explorer/ produces (the build is deterministic), and makes sure Debian's Chromium is
# there for tests/test_browser.py. Called by .ci/run; safe to run again.
#
# After changing anything in explorer/, regenerate the assets and commit them:
#     cd explorer && npm ci && npm run build
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS

if ! command -v npm >/dev/null; then
    echo "explorer.sh: npm is missing; install Node.js 18 or newer" >&2
    exit 1
fi
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
(cd explorer && npm ci --no-audit --no-fund --loglevel=error \
    && FLREPO_STATIC_OUT="$fresh" npm run build --silent)
if ! diff -r -q "$fresh" flrepo/static; then
    echo "explorer.sh: flrepo/static does not match a fresh build of explorer/;" \
        "run \`cd explorer && npm ci && npm run build\` and commit flrepo/static" >&2
    exit 1
fi

if [ ! -x /usr/bin/chromium ]; then
    echo "explorer.sh: installing Debian's chromium for the browser test"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version 2>/dev/null || true

echo "explorer.sh: done in $((SECONDS - started)) s"
