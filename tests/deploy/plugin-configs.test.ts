// The plugin configuration inside every shipped Envoy config (envoy/*.yaml), Envoy Gateway
// policy (envoy/gateway/wasm-*.yaml) and README example is loaded by the real filter in the test
// host (base VM, canary, worker: what Envoy does before accepting a config) with the environment
// the deployment gives the VM, and must be accepted.
//
// Backends whose schema this build does not support yet are skipped, and only when the schema is
// one of names.md (bedrock-*, gemini, vertex-*): the filter itself says which schemas it supports
// (the "supported: …" list of its error for an unknown schema), so once the providers are merged
// nothing is skipped and every backend is judged. The skipped backends are printed.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import {
  ROOT, shippedEnvoyConfigs, readYaml, readYamlDocuments, wasmFilters, envNamesOf, fakeEnv, loadPlugin, supportedSchemas, withoutPendingBackends, PENDING_SCHEMAS,
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
  for (const must of ["openai", "azure-openai", "anthropic"]) assert.ok(s.includes(must), `${must} in ${s}`);
  t.diagnostic(`supported by this build: ${s.join(", ")}; not yet: ${PENDING_SCHEMAS.filter((p) => !s.includes(p)).join(", ") || "none"}`);
});

const all = sources();
test("plugin configurations found: envoy/*.yaml, envoy/gateway/wasm-*.yaml, README", () => {
  assert.ok(all.length >= 5, all.map((s) => s.name).join("\n"));
  assert.ok(all.some((s) => s.name.startsWith("envoy/envoy.yaml")) && all.some((s) => s.name.startsWith("envoy/envoy.compose.yaml")));
  assert.ok(all.some((s) => s.name.startsWith("README.md")), "the README's configuration example is checked too");
});

for (const src of all) {
  test(`the real filter accepts the plugin configuration of ${src.name}`, { timeout: 60_000 }, async (t) => {
    const prepared = withoutPendingBackends(src.plugin, await supportedSchemas());
    assert.deepEqual(prepared.problems, []);
    if (prepared.skipped.length) t.diagnostic(`skipped, schema unknown to this build: ${prepared.skipped.join(", ")}`);
    assert.ok(prepared.plugin.backends.length > 0, "something left to load");
    const r = await loadPlugin(JSON.stringify(prepared.plugin), src.env);
    assert.equal(r.error, "", `the filter refused it: ${r.error}`);
    assert.ok(r.ok);
  });
}

test("the skip is narrow: a misspelt schema and a broken supported backend still fail", async () => {
  const envoy = all.find((s) => s.name.startsWith("envoy/envoy.yaml"))!;
  const typo = structuredClone(envoy.plugin);
  typo.backends[0].schema = "bedrock-converze";
  assert.match(withoutPendingBackends(typo, await supportedSchemas()).problems.join("\n"), /schema "bedrock-converze" is neither supported/);

  const broken = withoutPendingBackends(envoy.plugin, await supportedSchemas()).plugin;
  broken.backends[0].auth.env = "NOT_PASSED_TO_THE_VM";
  const r = await loadPlugin(JSON.stringify(broken), envoy.env);
  assert.equal(r.ok, false);
  assert.match(r.error, /^backends\[0\]\.auth\.env: environment variable NOT_PASSED_TO_THE_VM is not set in the Wasm VM/);

  // Without the env Envoy passes, the shipped config is refused (the env wiring matters).
  const noEnv = await loadPlugin(JSON.stringify(withoutPendingBackends(envoy.plugin, await supportedSchemas()).plugin), {});
  assert.equal(noEnv.ok, false);
  assert.match(noEnv.error, /environment variable \w+ is not set in the Wasm VM/);
});
