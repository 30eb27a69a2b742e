// Envoy Gateway example (envoy/gateway/*.yaml) against the CRD schemas of the versions it
// targets (Gateway API v1.6.1 standard channel, Envoy Gateway v1.9.1; scripts/install-validators.sh
// takes them from the Go modules), broken copies refused, the policies rendered by
// scripts/gateway-policy.mjs valid, and the wiring between the filter configuration, the route,
// the backends, the env and the patch that sets what EnvoyExtensionPolicy cannot.
// (The filter configuration itself is loaded by the real filter in plugin-configs.test.ts.)

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join, relative } from "node:path";
import { parse as parseYaml } from "yaml";
import { ROOT, WASM, SCHEMAS, ensureValidators, gatewayManifests, readYamlDocuments, envNamesOf } from "./support.ts";
import { loadCrds, validateManifest, type Kind } from "./crd.ts";
import { renderHttpPolicy, renderOciPolicy } from "../../scripts/gateway-policy.mjs";

let kinds: Map<string, Kind>;
before(() => { ensureValidators(); kinds = loadCrds(join(SCHEMAS, "crds")); }, { timeout: 180_000 });

const dir = join(ROOT, "envoy", "gateway");
const all = () => gatewayManifests().flatMap((f) => readYamlDocuments(f).map((m) => ({ file: relative(ROOT, f), m })));

test("every Envoy Gateway manifest is valid against its CRD schema", (t) => {
  const docs = all();
  assert.ok(docs.length >= 12, `manifests found: ${docs.length}`);
  const problems: string[] = [];
  const cel = new Map<string, number>();
  for (const { file, m } of docs) {
    for (const e of validateManifest(kinds, m)) problems.push(`${file}: ${m.kind} ${m.metadata?.name}: ${e}`);
    const k = kinds.get(`${m.apiVersion}/${m.kind}`);
    if (k) cel.set(m.kind, k.celRules);
  }
  assert.deepEqual(problems, []);
  // Honest about the limit of schema validation: these rules run only in the API server.
  t.diagnostic(`CEL rules (x-kubernetes-validations) not evaluated here: ${[...cel].map(([k, n]) => `${k} ${n}`).join(", ")}`);
});

interface Mutation { name: string; kind: string; edit: (m: any) => void; error: RegExp }

const MUTATIONS: Mutation[] = [
  { name: "unknown field (EnvoyExtensionPolicy has no failurePolicy)", kind: "EnvoyExtensionPolicy", edit: (m) => { m.spec.wasm[0].failurePolicy = "FAIL_CLOSED"; }, error: /^\/spec\/wasm\/0 must NOT have additional properties \(failurePolicy\)$/ },
  { name: "wrong type (port as a string)", kind: "Backend", edit: (m) => { m.spec.endpoints[0].fqdn.port = "443"; }, error: /^\/spec\/endpoints\/0\/fqdn\/port must be integer$/ },
  { name: "enum (code type)", kind: "EnvoyExtensionPolicy", edit: (m) => { m.spec.wasm[0].code.type = "Git"; }, error: /^\/spec\/wasm\/0\/code\/type must be equal to one of the allowed values/ },
  { name: "required field (backendRef name)", kind: "HTTPRoute", edit: (m) => { delete m.spec.rules[0].backendRefs[0].name; }, error: /^\/spec\/rules\/0\/backendRefs\/0 must have required property 'name'$/ },
  { name: "pattern (upper-case TLS host name)", kind: "BackendTLSPolicy", edit: (m) => { m.spec.validation.hostname = "API.openai.com"; }, error: /^\/spec\/validation\/hostname must match pattern/ },
  { name: "range (listener port)", kind: "Gateway", edit: (m) => { m.spec.listeners[0].port = 70000; }, error: /^\/spec\/listeners\/0\/port must be <= 65535$/ },
  { name: "namespace missing on a namespaced kind", kind: "HTTPRoute", edit: (m) => { delete m.metadata.namespace; }, error: /^\/metadata must have required property 'namespace'$/ },
  { name: "namespace on a cluster-scoped kind", kind: "GatewayClass", edit: (m) => { m.metadata.namespace = "ai-gateway"; }, error: /^\/metadata\/namespace boolean schema is false$/ },
  { name: "version no CRD serves", kind: "EnvoyExtensionPolicy", edit: (m) => { m.apiVersion = "gateway.envoyproxy.io/v1"; }, error: /^no CRD serves gateway\.envoyproxy\.io\/v1 EnvoyExtensionPolicy$/ },
  { name: "patch operation (op)", kind: "EnvoyPatchPolicy", edit: (m) => { m.spec.jsonPatches[0].operation.op = "merge"; }, error: /^\/spec\/jsonPatches\/0\/operation\/op must be equal to one of the allowed values/ },
];

for (const mu of MUTATIONS) {
  test(`a broken manifest is refused: ${mu.name}`, () => {
    const found = all().find(({ m }) => m.kind === mu.kind);
    assert.ok(found, `no ${mu.kind} among the manifests`);
    const m = structuredClone(found.m);
    assert.deepEqual(validateManifest(kinds, m), [], "valid before the change");
    mu.edit(m);
    const errors = validateManifest(kinds, m);
    assert.ok(errors.some((e) => mu.error.test(e)), `expected ${mu.error}, got:\n${errors.join("\n")}`);
  });
}

test("scripts/gateway-policy.mjs renders valid policies with the real location and checksum", () => {
  const wasmSha = createHash("sha256").update(readFileSync(WASM)).digest("hex");
  const http = parseYaml(renderHttpPolicy("https://files.example.org/v1/ai-gateway.wasm", readFileSync(WASM)));
  assert.deepEqual(validateManifest(kinds, http), []);
  assert.deepEqual(http.spec.wasm[0].code, { type: "HTTP", http: { url: "https://files.example.org/v1/ai-gateway.wasm", sha256: wasmSha } });
  const digest = "sha256:" + "ab".repeat(32);
  const oci = parseYaml(renderOciPolicy("ttl.sh/ai-gateway-wasm-1234:2h", digest));
  assert.deepEqual(validateManifest(kinds, oci), []);
  assert.deepEqual(oci.spec.wasm[0].code, { type: "Image", image: { url: "ttl.sh/ai-gateway-wasm-1234:2h", sha256: "ab".repeat(32) } });
  // Everything but the code source is the shipped policy.
  const shipped = readYamlDocuments(join(dir, "wasm-oci.yaml"))[0];
  assert.deepEqual({ ...oci.spec.wasm[0], code: null }, { ...shipped.spec.wasm[0], code: null });
  assert.throws(() => renderOciPolicy("ttl.sh/x:1h", "sha256:1234"), /not a sha256 digest/);
  assert.throws(() => renderHttpPolicy("file:///etc/passwd", Buffer.from("x")), /not an http\(s\) URL/);
});

test("the Envoy Gateway example is wired: route per backend, TLS to its host, env, patch of the generated filter", () => {
  const base = readYamlDocuments(join(dir, "ai-gateway.yaml"));
  const one = (kind: string, name?: string) => {
    const xs = base.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
    assert.equal(xs.length, 1, `one ${kind}${name ? " " + name : ""} in ai-gateway.yaml`);
    return xs[0];
  };
  const gateway = one("Gateway"), route = one("HTTPRoute"), proxy = one("EnvoyProxy"), cls = one("GatewayClass"), patch = one("EnvoyPatchPolicy");
  assert.equal(gateway.spec.gatewayClassName, cls.metadata.name);
  assert.deepEqual(cls.spec.parametersRef, { group: "gateway.envoyproxy.io", kind: "EnvoyProxy", name: proxy.metadata.name, namespace: proxy.metadata.namespace });
  const proxyEnv = new Map(proxy.spec.provider.kubernetes.envoyDeployment.container.env.map((e: any) => [e.name, e]));

  const policies = ["wasm-http.yaml", "wasm-oci.yaml"].map((f) => readYamlDocuments(join(dir, f))[0]);
  assert.deepEqual(policies[0].metadata, policies[1].metadata, "the two variants replace each other (same name)");
  assert.deepEqual(policies[0].spec.wasm[0].config, policies[1].spec.wasm[0].config, "same filter configuration in both variants");

  for (const p of policies) {
    assert.deepEqual(p.spec.targetRefs, [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: route.metadata.name }]);
    assert.equal(p.metadata.namespace, route.metadata.namespace);
    assert.equal(p.spec.wasm.length, 1);
    const w = p.spec.wasm[0];
    assert.equal(w.rootID, "ai_gateway");
    assert.equal(w.failOpen, false);
    const config = w.config;

    // Secrets: variable names in the config, passed by hostKeys, set from a Secret in the proxy.
    for (const n of envNamesOf(config)) assert.ok(w.env.hostKeys.includes(n), `${n} not in env.hostKeys`);
    for (const n of w.env.hostKeys) {
      const e: any = proxyEnv.get(n);
      assert.ok(e?.valueFrom?.secretKeyRef?.name, `${n}: the EnvoyProxy sets it from a Secret`);
    }

    // A rule per backend on the header the filter sets, to a Backend of the backend's host over TLS.
    const header = config.cluster_header ?? "x-ai-gateway-cluster";
    for (const b of config.backends) {
      const rules = route.spec.rules.filter((r: any) => r.matches.some((m: any) => m.headers?.some((h: any) => h.name === header && h.value === b.cluster && (h.type ?? "Exact") === "Exact")));
      assert.equal(rules.length, 1, `backend ${b.name}: one rule matches ${header}: ${b.cluster}`);
      assert.ok(rules[0].filters?.some((f: any) => f.type === "RequestHeaderModifier" && f.requestHeaderModifier?.remove?.includes(header)),
        `backend ${b.name}: the rule removes ${header} before the request goes upstream`);
      const ref = rules[0].backendRefs?.[0];
      assert.equal(ref?.kind, "Backend");
      const backend = one("Backend", ref.name);
      assert.deepEqual(backend.spec.endpoints, [{ fqdn: { hostname: b.host, port: 443 } }], `backend ${b.name}: Backend ${ref.name} is ${b.host}:443`);
      assert.equal(ref.port, 443);
      const tls = base.filter((m) => m.kind === "BackendTLSPolicy" && m.spec.targetRefs.some((t: any) => t.kind === "Backend" && t.name === ref.name));
      assert.equal(tls.length, 1, `Backend ${ref.name}: one BackendTLSPolicy`);
      assert.deepEqual(tls[0].spec.validation, { hostname: b.host, wellKnownCACertificates: "System" });
    }
    // The filter only runs for requests that matched a rule of the route first: a catch-all.
    assert.ok(route.spec.rules.some((r: any) => r.matches.some((m: any) => !m.headers && m.path?.value === "/")), "a catch-all rule");

    // The patch targets the filter Envoy Gateway generates for this policy, on this Gateway's listener.
    const filterName = `envoy.filters.http.wasm/envoyextensionpolicy/${p.metadata.namespace}/${p.metadata.name}/wasm/0`;
    assert.deepEqual(patch.spec.targetRef, { group: "gateway.networking.k8s.io", kind: "Gateway", name: gateway.metadata.name });
    const listener = `${gateway.metadata.namespace}/${gateway.metadata.name}/${gateway.spec.listeners[0].name}`;
    const ops = patch.spec.jsonPatches.map((j: any) => {
      assert.equal(j.type, "type.googleapis.com/envoy.config.listener.v3.Listener");
      assert.equal(j.name, listener);
      assert.ok(j.operation.jsonPath.includes(`@.name=='${filterName}'`), `patch addresses ${filterName}`);
      assert.ok(j.operation.jsonPath.endsWith(".typed_config.config"), "patch addresses the PluginConfig");
      return [j.operation.op, j.operation.path, j.operation.value];
    });
    assert.deepEqual(ops, [["add", "/allow_on_headers_stop_iteration", true], ["add", "/failure_policy", "FAIL_RELOAD"]]);
  }
});
