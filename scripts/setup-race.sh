#!/usr/bin/env bash
# What the race server's tests need from the distribution: a PostgreSQL server (the tests start
# their own private cluster with it) and Chromium with its WebDriver for the browser tests.
# Re-running it is cheap: it installs only what is missing.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
"$(dirname "$0")/apt-install-missing" setup-race "${need[@]}"
# Debian starts a system cluster on install; the tests run their own, so it may stay or go.
echo "setup-race: PostgreSQL $(ls /usr/lib/postgresql | sort -n | tail -1), $(chromium --version 2>/dev/null | head -1)"
