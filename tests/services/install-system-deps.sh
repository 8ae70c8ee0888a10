#!/usr/bin/env bash
# Debian packages the tests use: a real single-node Slurm, an XRootD server, and openssl (a stand-in grid
# proxy for the HTCondor contract test).
# Without root or apt-get, the tests that need them say so and are skipped.
set -u
pkgs=(slurm-wlm munge xrootd-server xrootd-client openssl)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-system-deps: cannot install ${missing[*]} (need root and apt-get); their tests will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null \
  || echo "install-system-deps: apt-get failed for ${missing[*]}; their tests will be skipped" >&2
exit 0
