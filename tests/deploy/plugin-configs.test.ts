// The plugin configuration inside every shipped Envoy config (envoy/*.yaml), Envoy Gateway
// policy (envoy/gateway/wasm-*.yaml) and README example is loaded by the real filter in the test
// host (base VM, canary, worker: what Envoy does before accepting a config) with the environment
// the deployment gives the VM, and must be accepted, every backend as shipped.
// Host-only: configurations loaded in-process one after another (an Envoy start each would take
// minutes); the shipped compose and Envoy Gateway configs also run in real Envoy (compose.test.ts, gateway-host.test.ts).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import {
  ROOT, shippedEnvoyConfigs, readYaml, readYamlDocuments, wasmFilters, envNamesOf, fakeEnv, loadPlugin, supportedSchemas,
} from "./support.ts";

interface Source { name: string; plugin: any; env: Record<string, string> }

/** Every plugin configuration the project ships, with the env its deployment passes to the VM. */
function sources(): Source[] {
  const out: Source[] = [];
  for (const f of shippedEnvoyConfigs()) {
    for (const w of wasmFilters(readYaml(f))) {
      // Envoy passes host_env_keys (values from its own environment) and key_values.
      out.push({ name: `${relative(ROOT, f)} ${w.path}`, plugin: w.plugin, env: { ...fakeEnv(w.hostEnvKeys), ...w.keyValues } });
    }
  }
  for (const f of ["wasm-http.yaml", "wasm-oci.yaml"]) {
    const p = readYamlDocuments(join(ROOT, "envoy", "gateway", f))[0];
    p.spec.wasm.forEach((w: any, i: number) => out.push({ name: `envoy/gateway/${f} spec.wasm[${i}].config`, plugin: w.config, env: fakeEnv(w.env?.hostKeys ?? []) }));
  }
  // README: every ```json block that is a plugin configuration.
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  for (const [i, m] of [...readme.matchAll(/```json\n([\s\S]*?)```/g)].entries()) {
    let j: any;
    try { j = JSON.parse(m[1]); } catch { continue; }
    if (j && typeof j === "object" && Array.isArray(j.backends)) out.push({ name: `README.md json block ${i + 1}`, plugin: j, env: fakeEnv(envNamesOf(j)) });
  }
  return out;
}

test("the filter names the backend schemas it supports", async (t) => {
  const s = await supportedSchemas();
  for (const must of ["openai", "azure-openai", "anthropic", "bedrock-converse", "bedrock-anthropic", "gemini", "vertex-gemini", "vertex-anthropic"]) {
    assert.ok(s.includes(must), `${must} in ${s}`);
  }
  t.diagnostic(`supported by this build: ${s.join(", ")}`);
});

const all = sources();
test("plugin configurations found: envoy/*.yaml, envoy/gateway/wasm-*.yaml, README", () => {
  assert.ok(all.length >= 5, all.map((s) => s.name).join("\n"));
  assert.ok(all.some((s) => s.name.startsWith("envoy/envoy.yaml")) && all.some((s) => s.name.startsWith("envoy/envoy.compose.yaml")));
  assert.ok(all.some((s) => s.name.startsWith("README.md")), "the README's configuration example is checked too");
});

for (const src of all) {
  test(`the real filter accepts the plugin configuration of ${src.name}`, { timeout: 60_000 }, async (t) => {
    assert.ok(src.plugin.backends.length > 0, "something to load");
    const r = await loadPlugin(JSON.stringify(src.plugin), src.env);
    assert.equal(r.error, "", `the filter refused it: ${r.error}`);
    assert.ok(r.ok);
  });
}

test("the check can fail: a misspelt schema, a missing env var, no env at all", async () => {
  const envoy = all.find((s) => s.name.startsWith("envoy/envoy.yaml"))!;
  const typo = structuredClone(envoy.plugin);
  typo.backends[0].schema = "bedrock-converze";
  const t1 = await loadPlugin(JSON.stringify(typo), envoy.env);
  assert.equal(t1.ok, false);
  assert.match(t1.error, /^backends\[0\]\.schema: unsupported schema "bedrock-converze"/);

  const broken = structuredClone(envoy.plugin);
  broken.backends[0].auth.env = "NOT_PASSED_TO_THE_VM";
  const r = await loadPlugin(JSON.stringify(broken), envoy.env);
  assert.equal(r.ok, false);
  assert.match(r.error, /^backends\[0\]\.auth\.env: environment variable NOT_PASSED_TO_THE_VM is not set in the Wasm VM/);

  // Without the env Envoy passes, the shipped config is refused (the env wiring matters).
  const noEnv = await loadPlugin(JSON.stringify(envoy.plugin), {});
  assert.equal(noEnv.ok, false);
  assert.match(noEnv.error, /environment variable \w+ is not set in the Wasm VM/);
});
