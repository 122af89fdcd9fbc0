#!/usr/bin/env bash
# System packages the tests need: Debian's chromium (browser tests), CJK fonts (pages and
# PDF certificates), poppler-utils (PDF to PNG in tests), curl (the README tour test), wrk (the
# HTTP load of `python -m bench`; pgbench comes with the PostgreSQL server package).
# Installs only what is missing.
set -euo pipefail
need=()
for pkg in chromium fonts-noto-cjk fonts-wqy-zenhei poppler-utils curl wrk; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "setup-system: missing ${need[*]}; run as root: apt-get install -y ${need[*]}" >&2; exit 1; fi
else SUDO=""; fi
echo "setup-system: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
