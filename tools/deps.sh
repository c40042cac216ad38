#!/usr/bin/env bash
# tools/deps.sh — install what fp4kit needs on Debian 12 if it is missing (run as root, or with sudo
# available). Idempotent: prints nothing and installs nothing when everything is present.
#   build: cmake, gcc, make, pkg-config, libcunit1-dev, libcjson-dev, libpcre2-dev (OpenMP comes with gcc)
#   extra (optional, pass names as arguments): e.g. clang libclang-rt-14-dev for the fuzzer
set -euo pipefail
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# Packages that only provide a program count as present when the program is on the PATH from
# elsewhere (e.g. a Node.js that did not come from Debian, whose npm conflicts with Debian's).
have_cmd_for() {
  case "$1" in
    cmake|gcc|make|pkg-config|npm|clang) command -v "$1" >/dev/null ;;
    nodejs) command -v node >/dev/null ;;
    gnuplot-nox) command -v gnuplot >/dev/null ;;
    *) return 1 ;;
  esac
}
for p in cmake gcc make pkg-config libcunit1-dev libcjson-dev libpcre2-dev "$@"; do
  have_pkg "$p" || have_cmd_for "$p" || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "fp4kit: installing missing packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "fp4kit: need root (or sudo) to install: ${need[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
