#!/usr/bin/env bash
# System packages the test suite needs, from Debian's archive: chromium for the browser
# tests (driven by the PyPI playwright package; never `playwright install`) and a CJK
# font so Japanese renders in screenshots, the emoji font for the stamps and icons, and
# Node for the client's reducer tests (`node --test tests/client/`, its built-in runner);
# nginx (the deployment test runs deploy/nginx in front of two nodes, as the tests own
# user, never as a service) and the PostgreSQL client (`tsunagu backup` runs pg_dump).
set -euo pipefail
packages=(chromium fonts-noto-cjk fonts-noto-color-emoji nodejs nginx-light postgresql-client)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]} (run this script as root)" >&2
  exit 1
fi
echo "installing ${missing[*]} from Debian's packages..."
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
