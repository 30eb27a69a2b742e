#!/usr/bin/env bash
# Builds .cache/tools/eg-translate: tools/eg-translate (Go), Envoy Gateway's own resource loader,
# Gateway API translator, Wasm cache and xDS translator (EnvoyPatchPolicy included) at the version
# pinned in tools/eg-translate/go.mod (github.com/envoyproxy/gateway v1.9.1), from the Go module
# proxy (the checksum database authenticates every module). tests/deploy/eg-translate.test.ts runs
# it on envoy/gateway/*.yaml and runs the Envoy config it produces in real Envoy.
# Why not egctl: `egctl x translate` builds its translator without a Wasm cache, so it cannot
# translate an EnvoyExtensionPolicy with a Wasm filter (see tools/eg-translate/main.go).
# Idempotent: skipped when the stamp (this script + the tool's go.mod, go.sum, source) is unchanged
# and the binary reports the pinned version (0.5 s). Cold (empty Go module and build caches) it
# downloads about 400 modules and compiles about 1,900 packages (Envoy Gateway, go-control-plane,
# Kubernetes client libraries): 860 CPU-seconds measured, i.e. about 7 to 8 minutes on two idle
# cores, plus the downloads; with the Go build cache warm, about 20 CPU-seconds (README, Toolchain
# notes). Needs Go >= 1.26 and the Go module proxy. Fails loudly when anything fails.
# tests/deploy/eg-translate.test.ts runs this script itself (so `npm test` needs no extra step).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
EG_VERSION="v1.9.1"   # must match tools/eg-translate/go.mod
TOOL_DIR="$ROOT/tools/eg-translate"
OUT="$ROOT/.cache/tools"
BIN="$OUT/eg-translate"
STAMP="$OUT/eg-translate.stamp"

log() { echo "install-eg-translate: $*" >&2; }
die() { echo "install-eg-translate: ERROR: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH (Go >= 1.26 builds tools/eg-translate)"
grep -q "^require github.com/envoyproxy/gateway $EG_VERSION\$\|^	github.com/envoyproxy/gateway $EG_VERSION\$" "$TOOL_DIR/go.mod" \
  || die "tools/eg-translate/go.mod does not pin github.com/envoyproxy/gateway $EG_VERSION"
# Without HOME, go has no default build or module cache: keep them in the repo's cache instead.
gocache="$(go env GOCACHE 2>/dev/null || true)"
if [ -z "$gocache" ] || [ "$gocache" = off ] || [ -z "$(go env GOMODCACHE 2>/dev/null || true)" ]; then
  export GOCACHE="$ROOT/.cache/go/build" GOMODCACHE="$ROOT/.cache/go/mod"
fi
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

want="$(cat "$0" "$TOOL_DIR/go.mod" "$TOOL_DIR/go.sum" "$TOOL_DIR"/*.go | sha256sum | cut -c1-64) $EG_VERSION"
if [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ "$("$BIN" -version 2>/dev/null)" = "$EG_VERSION" ]; then
  log "up to date ($BIN, Envoy Gateway $EG_VERSION)"
  exit 0
fi

start=$(date +%s)
mkdir -p "$OUT"
log "building tools/eg-translate (Envoy Gateway $EG_VERSION) with $(go version | cut -d' ' -f3); several minutes on two cores when the Go caches are empty"
(cd "$TOOL_DIR" && go build -trimpath -o "$BIN.tmp" .) || die "go build of tools/eg-translate failed"
got="$("$BIN.tmp" -version)" || die "the built tool does not run"
[ "$got" = "$EG_VERSION" ] || die "built against Envoy Gateway $got, want $EG_VERSION"
mv "$BIN.tmp" "$BIN"
echo "$want" > "$STAMP"
log "done in $(( $(date +%s) - start ))s: $BIN (Envoy Gateway $got)"
