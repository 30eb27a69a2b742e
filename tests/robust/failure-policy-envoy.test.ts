// The failure policy the shipped configurations use, in real Envoy (issue 18 part 3). A trap kills
// a worker's VM; the policy decides what that worker does next. The shipped choice (envoy/envoy.yaml,
// envoy/envoy.compose.yaml, the Envoy Gateway patch) must be FAIL_RELOAD and must behave as
// documented there: the trapping request gets 503, and after the reload backoff the worker answers
// from a fresh VM, with shared data (what local limits, tokens and key penalties keep) intact.
//
// A probe module (tests/host/probes/trap.wat) stands in for the filter: it traps on demand, which
// the filter itself must never do. One worker, so every request meets the trapped VM.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Gateway } from "../support/gateway.ts";
import { probe } from "../host/probes/assemble.ts";
import { readYaml, readYamlDocuments, wasmFilters } from "../deploy/support.ts";
import { Client } from "../support/envoy-load.ts";
import { ROOT } from "./harness.ts";

function shippedPolicies(): { file: string; policy: string; backoff?: string }[] {
  const out: { file: string; policy: string; backoff?: string }[] = [];
  for (const f of ["envoy/envoy.yaml", "envoy/envoy.compose.yaml"]) {
    for (const w of wasmFilters(readYaml(join(ROOT, f)))) out.push({ file: f, policy: w.config.failure_policy, backoff: w.config.reload_config?.backoff?.base_interval });
  }
  for (const d of readYamlDocuments(join(ROOT, "envoy/gateway/ai-gateway.yaml"))) {
    if (d.kind !== "EnvoyPatchPolicy") continue;
    for (const p of d.spec.jsonPatches) if (p.operation.path === "/failure_policy") out.push({ file: "envoy/gateway/ai-gateway.yaml", policy: p.operation.value });
  }
  return out;
}

test("the shipped failure policy in real Envoy: a trap costs 503s for the reload backoff only, then a fresh VM answers with shared data intact", { timeout: 60_000 }, async () => {
  const shipped = shippedPolicies();
  assert.equal(shipped.length, 3, JSON.stringify(shipped));
  const policies = new Set(shipped.map((s) => s.policy));
  assert.equal(policies.size, 1, `one policy everywhere: ${JSON.stringify(shipped)}`);
  const policy = [...policies][0];
  // The seam's Envoy uses Envoy's default backoff (1 s), which the shipped files state explicitly.
  for (const s of shipped) if (s.backoff !== undefined) assert.equal(s.backoff, "1s", s.file);

  const gw = await Gateway.start({
    platform: "envoy", wasm: probe("trap"), workers: 1,
    plugin: { configuration: "", vmId: "trap-probe", failurePolicy: policy as any },
    routes: [{ match: { prefix: "/" }, directResponse: { status: 404 } }],
    clusters: {},
  });
  const client = new Client(gw, 1);
  try {
    const get = (h: Record<string, string> = {}) => client.request("GET", "/", h);
    const first = await get();
    assert.equal(first.status, 200);
    assert.equal(first.body.toString().trim(), "1 1", "the first VM's first request");
    assert.equal((await get({ "x-trap": "1" })).status, 503, "the trapping request");
    const t0 = performance.now();
    const after: string[] = [];
    let recovered: { ms: number; body: string } | null = null;
    while (performance.now() - t0 < 5000) {
      const a = await get();
      after.push(String(a.status));
      if (a.status === 200) { recovered = { ms: Math.round(performance.now() - t0), body: a.body.toString().trim() }; break; }
      await new Promise((r) => setTimeout(r, 100));
    }
    const fiveOhThrees = after.filter((s) => s === "503").length;
    console.log(`# ${gw.describe}, failure_policy ${policy}: after the trap ${fiveOhThrees} × 503, ${recovered ? `then 200 after ${recovered.ms} ms ("${recovered.body}")` : "no recovery within 5 s"}`);
    assert.ok(recovered, `${policy}: the worker still answers 503 5 s after a trap (${after.length} requests: ${after.join(" ")})`);
    assert.equal(recovered!.body, "1 2", "a fresh VM (its own count restarts) that sees the shared count of the old one");
    for (let i = 0; i < 10; i++) assert.equal((await get()).status, 200);
    const stats = await gw.stats();
    // The seam names the plugin under test "ai-gateway" (its stats prefix).
    assert.equal(stats["wasm.ai-gateway.vm_reload_success"], 1, "Envoy counted one successful reload of the probe's VM");
  } finally {
    client.close();
    await gw.stop();
  }
});
