#!/usr/bin/env bash
# tools/bundle-offline.sh — prepare .offline/ (git-ignored) for the GPU host, which has no package
# registry: the .debs the build links (CUnit, cJSON, PCRE2) and pkgconf (used only where pkg-config is
# missing). Name .offline in the device call's `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .offline/debs .offline/extra
[ -n "$(ls .offline/debs/libpcre2-dev_*.deb 2>/dev/null)" ] || (cd .offline/debs && apt-get download libcunit1 libcunit1-dev libcjson1 libcjson-dev libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3)
[ -n "$(ls .offline/extra/*.deb 2>/dev/null)" ] || (cd .offline/extra && apt-get download pkgconf pkgconf-bin libpkgconf3)
ls .offline/debs .offline/extra
