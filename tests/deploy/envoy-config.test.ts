// Every Envoy config the project ships (envoy/*.yaml) against Envoy's own API types:
// tools/validate-envoy (go-control-plane v1.39 types, strict protojson, protoc-gen-validate rules
// inside every Any, deprecated fields refused) must accept them, and must refuse broken copies
// (unknown field, wrong type, bad enum, PGV rule, unresolvable Any, deprecated field) naming the
// YAML line. Then what the API types cannot see: the wiring between the plugin configuration and
// the Envoy config (clusters, route header, TLS to the backend host, env keys, access log).
// Needs Go (scripts/install-validators.sh runs on first use; missing Go fails, never skips).

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { join, relative, basename } from "node:path";
import { tmpdir } from "node:os";
import { parse as parseYaml } from "yaml";
import {
  ROOT, shippedEnvoyConfigs, envoyYamlFiles, validateEnvoy, ensureValidators, readYaml, readYamlDocuments, wasmFilters, clustersOf, endpointOf, envNamesOf, objects,
} from "./support.ts";

const SLOW = { timeout: 180_000 };
const MAIN = join(ROOT, "envoy", "envoy.yaml");

before(() => ensureValidators(), SLOW);

test("every envoy/*.yaml is a bootstrap checked here, except the stats_tags list", () => {
  for (const f of envoyYamlFiles()) {
    const y = readYaml(f);
    if (shippedEnvoyConfigs().includes(f)) assert.ok(y && typeof y === "object" && y.static_resources, `${relative(ROOT, f)}: an Envoy bootstrap`);
    else assert.ok(Array.isArray(y) && y.every((t: any) => typeof t.tag_name === "string"), `${relative(ROOT, f)}: a stats_tags list`);
  }
});

test("every shipped bootstrap and the Envoy Gateway EnvoyProxy carry envoy/stats-tags.yaml as stats_config.stats_tags", () => {
  // The metrics' Prometheus labels exist only if Envoy has these regexes (assembly/filter/metrics.ts).
  const tags = readYaml(join(ROOT, "envoy", "stats-tags.yaml"));
  assert.ok(Array.isArray(tags) && tags.length > 0);
  for (const f of shippedEnvoyConfigs()) assert.deepEqual(readYaml(f).stats_config?.stats_tags, tags, `${relative(ROOT, f)}: stats_config.stats_tags`);
  const proxy = readYamlDocuments(join(ROOT, "envoy", "gateway", "ai-gateway.yaml")).find((d: any) => d?.kind === "EnvoyProxy");
  assert.equal(proxy?.spec?.bootstrap?.type, "Merge");
  assert.deepEqual(parseYaml(proxy.spec.bootstrap.value).stats_config.stats_tags, tags, "EnvoyProxy spec.bootstrap (Merge)");
});

test("tools/validate-envoy accepts every shipped Envoy config (envoy/*.yaml)", SLOW, () => {
  const files = shippedEnvoyConfigs();
  assert.ok(files.length >= 2, `expected envoy/envoy.yaml and envoy/envoy.compose.yaml, found ${files.map((f) => relative(ROOT, f))}`);
  const r = validateEnvoy(files);
  assert.equal(r.status, 0, r.lines.join("\n"));
  assert.deepEqual(r.lines, files.map((f) => `${f}: ok`));
});

/** A broken copy of envoy/envoy.yaml: replace the first `from` (on the line it is on) by `to`. */
interface Broken { name: string; from: string | RegExp; to: string; error: RegExp }

const BROKEN: Broken[] = [
  { name: "unknown field", from: "stat_prefix: ai_gateway", to: "stat_prefx: ai_gateway", error: /unknown field "stat_prefx"/ },
  { name: "wrong type", from: "port_value: 8080", to: "port_value: eighty", error: /invalid value for uint32 field portValue: "eighty"/ },
  { name: "unknown enum value", from: "failure_policy: FAIL_RELOAD", to: "failure_policy: FAIL_SOMETIMES", error: /invalid value for enum field failurePolicy: "FAIL_SOMETIMES"/ },
  { name: "unresolvable Any type", from: "router.v3.Router", to: "router.v3.Routr", error: /unable to resolve "type\.googleapis\.com\/envoy\.extensions\.filters\.http\.router\.v3\.Routr"/ },
  { name: "PGV rule on a cluster (connect_timeout > 0)", from: "connect_timeout: 5s", to: "connect_timeout: 0s", error: /envoy\.config\.cluster\.v3\.Cluster: invalid Cluster\.ConnectTimeout: value must be greater than 0s/ },
  { name: "PGV rule inside an Any (HCM stat_prefix not empty)", from: "stat_prefix: ai_gateway", to: 'stat_prefix: ""', error: /HttpConnectionManager: invalid HttpConnectionManager\.StatPrefix: value length must be at least 1 runes/ },
  { name: "PGV rule inside an Any inside an Any (wasm code file name)", from: "filename: /etc/envoy/ai-gateway.wasm", to: 'filename: ""', error: /envoy\.config\.core\.v3\.DataSource: invalid DataSource\.Filename: value length must be at least 1 runes/ },
  { name: "deprecated field (fail_open instead of failure_policy)", from: "failure_policy: FAIL_RELOAD", to: "fail_open: true", error: /field envoy\.extensions\.wasm\.v3\.PluginConfig\.fail_open is deprecated/ },
  { name: "required field missing (cluster without a name)", from: /^  - name: openai$/m, to: "  - alt_stat_name: openai", error: /invalid Cluster\.Name: value length must be at least 1 runes/ },
];

test("tools/validate-envoy refuses broken configs, naming the YAML line", SLOW, () => {
  const src = readFileSync(MAIN, "utf8");
  const dir = mkdtempSync(join(tmpdir(), "validate-envoy-"));
  try {
    const files: { b: Broken; file: string; line: number }[] = [];
    BROKEN.forEach((b, i) => {
      const at = typeof b.from === "string" ? src.indexOf(b.from) : src.search(b.from);
      assert.ok(at >= 0, `${b.name}: ${b.from} not found in envoy/envoy.yaml`);
      const len = typeof b.from === "string" ? b.from.length : (src.match(b.from)![0].length);
      const text = src.slice(0, at) + b.to + src.slice(at + len);
      const file = join(dir, `broken-${i}.yaml`);
      writeFileSync(file, text);
      files.push({ b, file, line: src.slice(0, at).split("\n").length });
    });
    // One run over all of them plus a good file: each file is judged on its own.
    const r = validateEnvoy([...files.map((f) => f.file), MAIN]);
    assert.equal(r.status, 1, "exit status 1 when any file is invalid");
    assert.ok(r.lines.includes(`${MAIN}: ok`), "the valid file is still reported ok");
    for (const { b, file, line } of files) {
      const mine = r.lines.filter((l) => l.startsWith(file + ":"));
      assert.equal(mine.length, 1, `${b.name}: exactly one problem expected, got:\n${mine.join("\n")}`);
      assert.match(mine[0], b.error, b.name);
      assert.equal(Number(mine[0].slice(file.length + 1).split(":")[0]), line, `${b.name}: reported at the broken line ${line}: ${mine[0]}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- wiring the API types cannot see ---------------------------------------------------------

const FILTER_STATE_KEYS = ["path", "client", "model", "backend", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "limit"];
/** Literal secret fields of backends[].auth (a shipped config names environment variables instead). */
const LITERAL_SECRETS = ["key", "access_key", "secret_key", "session_token", "client_secret", "credentials"];

for (const file of shippedEnvoyConfigs()) {
  const name = relative(ROOT, file);
  test(`${name}: the wasm filter, routes, clusters, env and access log fit the plugin configuration`, () => {
    const envoy = readYaml(file);
    const filters = wasmFilters(envoy);
    assert.equal(filters.length, 1, "one AI gateway wasm filter");
    const w = filters[0];
    const plugin = w.plugin;
    const clusters = clustersOf(envoy);

    // Filter settings the design depends on.
    assert.equal(w.config.root_id, "ai_gateway", "root_id must match registerRootContext in assembly/index.ts");
    assert.equal(w.config.allow_on_headers_stop_iteration, true, "body-based routing needs allow_on_headers_stop_iteration");
    assert.ok(["FAIL_CLOSED", "FAIL_RELOAD", "FAIL_OPEN"].includes(w.config.failure_policy), "explicit failure_policy");
    assert.equal(w.config.fail_open, undefined, "fail_open is deprecated and conflicts with failure_policy");
    assert.equal(w.config.vm_config?.runtime, "envoy.wasm.runtime.v8");

    // The chain: the wasm filter, then the router last.
    const hcm = [...objects(envoy)].map(([, o]) => o).find((o) => Array.isArray(o.http_filters));
    const names = hcm.http_filters.map((f: any) => f.name);
    assert.equal(names[names.length - 1], "envoy.filters.http.router", "router is the last HTTP filter");
    assert.ok(names.indexOf("envoy.filters.http.wasm") >= 0 && names.indexOf("envoy.filters.http.wasm") < names.length - 1);

    // The buffer limit leaves the filter's own limits in charge (its 413 and error answers).
    const listener = envoy.static_resources.listeners[0];
    const bufferLimit = listener.per_connection_buffer_limit_bytes ?? 1048576;
    assert.ok(bufferLimit > (plugin.max_request_bytes ?? 1048576), "buffer limit above max_request_bytes");
    assert.ok(bufferLimit > (plugin.max_response_bytes ?? 8388608), "buffer limit above max_response_bytes");

    // The route the router takes after the filter set the cluster header.
    const header = plugin.cluster_header ?? "x-ai-gateway-cluster";
    const routes = [...objects(envoy)].map(([, o]) => o).filter((o) => o.match && (o.route || o.direct_response));
    const routed = routes.filter((r) => r.route?.cluster_header === header);
    assert.equal(routed.length, 1, `one route forwards by ${header}`);
    assert.ok(routed[0].match.headers?.some((h: any) => h.name === header && h.present_match === true), "it matches on the header being present");
    assert.ok(routed[0].request_headers_to_remove?.includes(header), `the route removes ${header} before the request goes upstream`);
    assert.ok(routes.indexOf(routed[0]) < routes.findIndex((r) => r.direct_response), "before the fallback");

    // Every cluster the filter names exists; the rate limit cluster speaks HTTP/2 (gRPC).
    for (const b of plugin.backends) {
      assert.ok(clusters.has(b.cluster), `backend ${b.name}: cluster ${b.cluster} is defined`);
      if (b.auth?.token_cluster) assert.ok(clusters.has(b.auth.token_cluster), `backend ${b.name}: token cluster ${b.auth.token_cluster}`);
    }
    if (plugin.limits?.mode === "global") {
      const rls = clusters.get(plugin.limits.rls_cluster ?? "ratelimit");
      assert.ok(rls, "the rate limit cluster is defined");
      const opts = rls.typed_extension_protocol_options?.["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
      assert.ok(opts?.explicit_http_config?.http2_protocol_options, "the rate limit cluster uses HTTP/2 (gRPC)");
    }

    // TLS clusters: SNI, endpoint and certificate name are the backend's host; CA bundle set.
    for (const b of plugin.backends) {
      const c = clusters.get(b.cluster);
      const tls = c.transport_socket?.typed_config;
      if (!tls) continue;
      const ep = endpointOf(c);
      if (b.host) {
        assert.equal(ep.address, b.host.split(":")[0], `backend ${b.name}: cluster ${b.cluster} connects to its host`);
        assert.equal(tls.sni, b.host.split(":")[0], `backend ${b.name}: SNI`);
      }
      assert.equal(ep.port, 443, `cluster ${b.cluster}: TLS on 443`);
    }
    for (const [cname, c] of clusters) {
      const tls = c.transport_socket?.typed_config;
      if (!tls) continue;
      assert.equal(tls["@type"], "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext");
      assert.equal(tls.sni, endpointOf(c).address, `cluster ${cname}: SNI is the endpoint host`);
      const vc = tls.common_tls_context?.validation_context;
      assert.ok(vc?.trusted_ca?.filename, `cluster ${cname}: the certificate is verified against a CA bundle`);
      assert.deepEqual(vc.match_typed_subject_alt_names, [{ san_type: "DNS", matcher: { exact: tls.sni } }], `cluster ${cname}: certificate name checked`);
    }

    // Secrets: only environment variable names in the config, each passed into the VM.
    for (const b of plugin.backends) {
      for (const f of LITERAL_SECRETS) assert.equal(b.auth?.[f], undefined, `backend ${b.name}: literal secret auth.${f} in a shipped config`);
    }
    const needed = envNamesOf(plugin);
    assert.ok(needed.length > 0);
    for (const n of needed) assert.ok(w.hostEnvKeys.includes(n), `${n} is read by the plugin configuration but not in host_env_keys`);
    for (const n of w.hostEnvKeys) assert.ok(needed.includes(n), `host_env_keys has ${n}, which no backend reads`);

    // The access log prints the filter's usage and routing decisions (the filter state keys the README lists).
    const formats = [...objects(hcm.access_log ?? [])].map(([, o]) => o.inline_string).filter((s) => typeof s === "string").join("\n");
    for (const k of FILTER_STATE_KEYS) assert.ok(formats.includes(`%FILTER_STATE(wasm.ai_gateway.${k}:PLAIN)%`), `access log prints ai_gateway.${k}`);
    // :path is the upstream path the filter rewrote (POST /v1/messages for a chat request to
    // Anthropic), and X-Envoy-Original-Path only comes from Envoy's own route rewrites: the path
    // the client sent is the filter's ai_gateway.path (tests/obs/request-log-status.test.ts).
    assert.ok(!/%REQ\([^)]*:PATH\)%/i.test(formats), "the access log does not print the rewritten :path");
  });
}

test("envoy/envoy.yaml has a TLS cluster for every backend schema of the provider table", () => {
  const plugin = wasmFilters(readYaml(MAIN))[0].plugin;
  const schemas = new Set(plugin.backends.map((b: any) => b.schema ?? (b.preset ? "openai-compatible preset" : "openai")));
  for (const s of ["openai", "azure-openai", "anthropic", "openai-compatible preset", "bedrock-converse", "bedrock-anthropic", "gemini", "vertex-gemini", "vertex-anthropic"]) {
    assert.ok(schemas.has(s) || (s === "openai-compatible preset" && plugin.backends.some((b: any) => b.preset)), `${basename(MAIN)} lacks a ${s} backend`);
  }
  const clusters = clustersOf(readYaml(MAIN));
  for (const b of plugin.backends) assert.ok(clusters.get(b.cluster).transport_socket, `backend ${b.name}: TLS`);
});
