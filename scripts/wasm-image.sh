#!/usr/bin/env bash
# Publishes build/ai-gateway.wasm for Envoy Gateway and prints the matching EnvoyExtensionPolicy
# (envoy/gateway/wasm-oci.yaml or wasm-http.yaml with the real location and sha256) on stdout:
#
#   bash scripts/wasm-image.sh oci <registry/image:tag>   build envoy/gateway/Dockerfile (FROM scratch,
#                                                         plugin.wasm), push it, use its digest
#   bash scripts/wasm-image.sh http <url>                 you host the file at <url> yourself
#
#   e.g.  bash scripts/wasm-image.sh oci ttl.sh/ai-gateway-wasm-$RANDOM:2h | kubectl apply -f -
#
# Needs Docker (with push access to the registry) for `oci`; `npm run build` first. Logs go to
# stderr so stdout can be piped to kubectl. Not run in this project's CI (no Docker there); the
# rendered policies are checked against the CRDs in tests/deploy/gateway.test.ts.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WASM="$ROOT/build/ai-gateway.wasm"
die() { echo "wasm-image: ERROR: $*" >&2; exit 1; }
[ -f "$WASM" ] || die "$WASM is missing: run npm run build first"

case "${1:-}" in
  oci)
    ref="${2:-}"; [ -n "$ref" ] || die "usage: $0 oci <registry/image:tag>"
    command -v docker >/dev/null 2>&1 || die "docker is not on PATH"
    ctx="$(mktemp -d)"; trap 'rm -rf "$ctx"' EXIT
    cp "$ROOT/envoy/gateway/Dockerfile" "$ctx/Dockerfile"
    cp "$WASM" "$ctx/plugin.wasm"
    # A single image manifest (no provenance/SBOM attestations, which would turn the push into an
    # index): Envoy Gateway checks sha256 against the manifest digest. The module itself does not
    # depend on the platform; one is named so every builder produces the same single manifest.
    echo "wasm-image: building $ref" >&2
    docker build --provenance=false --sbom=false --platform linux/amd64 -t "$ref" "$ctx" >&2
    echo "wasm-image: pushing $ref" >&2
    docker push "$ref" >&2
    digest="$(docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$ref" | sed -n 's/^.*@\(sha256:[a-f0-9]\{64\}\)$/\1/p' | head -1)"
    [ -n "$digest" ] || die "could not read the pushed digest of $ref (docker inspect RepoDigests)"
    echo "wasm-image: pushed $ref@$digest" >&2
    node "$ROOT/scripts/gateway-policy.mjs" oci "$ref" "$digest"
    ;;
  http)
    url="${2:-}"; [ -n "$url" ] || die "usage: $0 http <url where build/ai-gateway.wasm is served>"
    node "$ROOT/scripts/gateway-policy.mjs" http "$url" "$WASM"
    ;;
  *) die "usage: $0 oci <registry/image:tag> | http <url>" ;;
esac
