#!/usr/bin/env bash
# tools/bundle-offline.sh — prepare .offline/ (git-ignored) for the GPU host, which has no package
# registry: debs/ holds the leaf libraries dpkg installs (CUnit, cJSON); extra/ holds packages that
# are only unpacked where the host lacks them (pkgconf; libpcre2-dev, whose runtime libpcre2-8-0 the
# host already has in a newer build that must not be downgraded). Name .offline in `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .offline/debs .offline/extra
[ -n "$(ls .offline/debs/libcjson-dev_*.deb 2>/dev/null)" ] || (cd .offline/debs && apt-get download libcunit1 libcunit1-dev libcjson1 libcjson-dev)
[ -n "$(ls .offline/extra/libpcre2-dev_*.deb 2>/dev/null)" ] || (cd .offline/extra && apt-get download pkgconf pkgconf-bin libpkgconf3 libpcre2-dev)
ls .offline/debs .offline/extra
