#!/usr/bin/env bash
# Puts Prometheus' promtool under ~/.cache/paystream/prometheus (from Debian's `prometheus`
# package, unpacked, not installed: installing would start a Prometheus service) and prints its
# path. The metrics test runs `promtool check metrics` on what /metrics serves.
set -euo pipefail
dir="$HOME/.cache/paystream/prometheus"
tool="$dir/usr/bin/promtool"
if [ ! -x "$tool" ]; then
  if command -v promtool >/dev/null 2>&1; then
    command -v promtool
    exit 0
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) || {
    echo "promtool.sh: apt-get download prometheus failed (a Debian/Ubuntu machine with apt sources is needed)" >&2
    exit 1
  }
  mkdir -p "$dir"
  dpkg -x "$tmp"/prometheus_*.deb "$dir"
fi
"$tool" --version >/dev/null
echo "$tool"
