#!/usr/bin/env bash
# Installs what tests/deploy/ needs to check the deployment files the project ships:
#   * .cache/tools/validate-envoy: tools/validate-envoy (Go) built against
#     github.com/envoyproxy/go-control-plane/envoy (Envoy's API types + protoc-gen-validate rules),
#     pinned in tools/validate-envoy/go.mod and go.sum;
#   * .cache/schemas/: schemas taken from Go modules at pinned versions (`go mod download`; the
#     module checksum database authenticates every download):
#       - Gateway API CRDs (sigs.k8s.io/gateway-api, standard channel),
#       - Envoy Gateway CRDs (github.com/envoyproxy/gateway, the plain copies its helm chart installs),
#       - the compose specification JSON schema (github.com/compose-spec/compose-go/v2).
# Idempotent: skipped when the stamp (pins + the validator's source hash) is unchanged. The Go
# build takes about 20 s on two cores with an empty build cache; everything else is a few MB of
# module downloads. Needs Go >= 1.25 and the Go module proxy. Fails loudly when anything fails.
# tests/deploy/support.ts runs this script itself before the deployment tests (so `npm test` needs
# no extra step); it is cheap when everything is already in place.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# Pins. Envoy Gateway v1.9.1 runs Envoy v1.39.1 (its DefaultEnvoyProxyImage) and is built against
# gateway-api v1.6.1 (its go.mod); go-control-plane/envoy v1.39.0 is the Envoy 1.39 API, the same
# Envoy minor as the docker-compose image (envoyproxy/envoy:v1.39.1).
GATEWAY_API="sigs.k8s.io/gateway-api@v1.6.1"
ENVOY_GATEWAY="github.com/envoyproxy/gateway@v1.9.1"
COMPOSE_GO="github.com/compose-spec/compose-go/v2@v2.16.2"

TOOL_DIR="$ROOT/tools/validate-envoy"
OUT="$ROOT/.cache/tools"
SCHEMAS="$ROOT/.cache/schemas"
BIN="$OUT/validate-envoy"
STAMP="$OUT/validators.stamp"

log() { echo "install-validators: $*" >&2; }
die() { echo "install-validators: ERROR: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH (Go >= 1.25 builds tools/validate-envoy)"
# Without HOME, go has no default build or module cache: keep them in the repo's cache instead.
gocache="$(go env GOCACHE 2>/dev/null || true)"
if [ -z "$gocache" ] || [ "$gocache" = off ] || [ -z "$(go env GOMODCACHE 2>/dev/null || true)" ]; then
  export GOCACHE="$ROOT/.cache/go/build" GOMODCACHE="$ROOT/.cache/go/mod"
fi
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

want="$(cat "$0" "$TOOL_DIR/go.mod" "$TOOL_DIR/go.sum" "$TOOL_DIR"/*.go | sha256sum | cut -c1-64) $GATEWAY_API $ENVOY_GATEWAY $COMPOSE_GO"
if [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  log "up to date ($BIN, $SCHEMAS)"
  exit 0
fi

start=$(date +%s)
mkdir -p "$OUT"
log "building tools/validate-envoy with $(go version | cut -d' ' -f3)"
(cd "$TOOL_DIR" && go build -trimpath -o "$BIN.tmp" .) || die "go build of tools/validate-envoy failed"
mv "$BIN.tmp" "$BIN"

# Module directory of a pinned module (downloaded and checksum-verified by go).
moddir() {
  local dir
  dir="$(cd "$TOOL_DIR" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$dir" ] && [ -d "$dir" ] || die "go mod download $1 failed"
  echo "$dir"
}

rm -rf "$SCHEMAS.tmp" && mkdir -p "$SCHEMAS.tmp/crds" "$SCHEMAS.tmp/compose"
gwapi="$(moddir "$GATEWAY_API")"
cp "$gwapi"/config/crd/standard/gateway.networking.k8s.io_*.yaml "$SCHEMAS.tmp/crds/"
eg="$(moddir "$ENVOY_GATEWAY")"
cp "$eg"/charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_*.yaml "$SCHEMAS.tmp/crds/"
compose="$(moddir "$COMPOSE_GO")"
cp "$compose/schema/compose-spec.json" "$SCHEMAS.tmp/compose/"
chmod -R u+w "$SCHEMAS.tmp"   # the module cache is read-only
printf '%s\n%s\n%s\n' "$GATEWAY_API" "$ENVOY_GATEWAY" "$COMPOSE_GO" > "$SCHEMAS.tmp/SOURCES"
rm -rf "$SCHEMAS" && mv "$SCHEMAS.tmp" "$SCHEMAS"

echo "$want" > "$STAMP"
log "done in $(( $(date +%s) - start ))s: $BIN, $(ls "$SCHEMAS/crds" | wc -l) CRDs and the compose schema in $SCHEMAS"
