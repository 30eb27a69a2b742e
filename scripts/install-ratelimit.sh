#!/usr/bin/env bash
# Installs what the global token-limit integration tests need (tests/support/ratelimit.ts):
#   * redis-server, from Debian's packages (apt-get), when it is not on PATH;
#   * envoyproxy/ratelimit (the real Envoy rate limit service, Go) built from source at a pinned
#     commit with `go install`, into <repo>/.cache/bin/service_cmd.
# Idempotent: each step is skipped when already done (the binary's embedded module version is
# compared with the pin, so changing the pin rebuilds). Needs root for apt-get, Go >= 1.25.6 and
# the Go module proxy. Fails loudly (non-zero exit) when anything cannot be installed.
#
# The pin: commit 3fb702589d36ba7cb46ca33ba462a13e35ffc048 (master, 2026-01-22, "bump go version
# 1.25.6 (#1047)"). It contains PR #802 (38500fe, 2024-12-27): per-descriptor hits_addend, where
# a wrapper set to 0 means "check without consuming". The module proxy serves it under the
# pseudo-version below (it does not resolve bare commit hashes here).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RATELIMIT_MODULE="github.com/envoyproxy/ratelimit"
RATELIMIT_COMMIT="3fb702589d36ba7cb46ca33ba462a13e35ffc048"
RATELIMIT_VERSION="v1.4.1-0.20260122083618-3fb702589d36"
BIN_DIR="$ROOT/.cache/bin"
BIN="$BIN_DIR/service_cmd"

log() { echo "install-ratelimit: $*"; }
die() { echo "install-ratelimit: ERROR: $*" >&2; exit 1; }

# --- redis-server -------------------------------------------------------------------------------
if command -v redis-server >/dev/null 2>&1; then
  log "redis-server present: $(redis-server --version | head -1)"
else
  command -v apt-get >/dev/null 2>&1 || die "redis-server is missing and apt-get is not available"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "redis-server is missing; run this script as root to apt-get install it"
    SUDO="sudo"
  fi
  log "installing redis-server with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  command -v redis-server >/dev/null 2>&1 || die "apt-get install redis-server did not put redis-server on PATH"
  log "installed $(redis-server --version | head -1)"
fi

# --- envoyproxy/ratelimit -----------------------------------------------------------------------
built_version() { go version -m "$BIN" 2>/dev/null | awk '$1 == "mod" && $2 == "'"$RATELIMIT_MODULE"'" { print $3 }'; }

command -v go >/dev/null 2>&1 || die "go is not on PATH (needed to build $RATELIMIT_MODULE; Go >= 1.25.6)"
if [ -x "$BIN" ] && [ "$(built_version)" = "$RATELIMIT_VERSION" ]; then
  log "ratelimit $RATELIMIT_VERSION already built: $BIN"
else
  log "building $RATELIMIT_MODULE@$RATELIMIT_VERSION (commit $RATELIMIT_COMMIT) with $(go version)"
  mkdir -p "$BIN_DIR"
  # Without HOME, go has no default build or module cache: keep them in the repo's cache instead.
  gocache="$(go env GOCACHE 2>/dev/null || true)"
  if [ -z "$gocache" ] || [ "$gocache" = off ] || [ -z "$(go env GOMODCACHE 2>/dev/null || true)" ]; then
    export GOCACHE="$ROOT/.cache/go/build" GOMODCACHE="$ROOT/.cache/go/mod"
  fi
  start=$(date +%s)
  # GOTOOLCHAIN=local: build with the installed Go, never download another toolchain.
  GOBIN="$BIN_DIR" GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS= \
    go install "$RATELIMIT_MODULE/src/service_cmd@$RATELIMIT_VERSION" \
    || die "go install $RATELIMIT_MODULE/src/service_cmd@$RATELIMIT_VERSION failed"
  [ "$(built_version)" = "$RATELIMIT_VERSION" ] || die "built $BIN does not report module version $RATELIMIT_VERSION"
  log "built $BIN in $(( $(date +%s) - start ))s"
fi
