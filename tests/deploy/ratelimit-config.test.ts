// envoy/ratelimit/config.yaml (the envoyproxy/ratelimit config docker compose mounts) against the
// global limit rules of the shipped Envoy configs: the filter sends, per rule, the descriptor
// [("rule", name), (key, value)...] with the rule's limit as an override; the file repeats every
// rule at exactly that depth with the same unit and tokens, and has no rule nobody sends. Then the
// real service (scripts/install-ratelimit.sh) loads the file and reports those limits for those
// descriptors through its /json endpoint (no override sent: the file alone).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parse as parseYaml } from "yaml";
import { ROOT, shippedEnvoyConfigs, readYaml, wasmFilters } from "./support.ts";
import { startRateLimit, type RateLimitService } from "../support/ratelimit.ts";

const FILE = join(ROOT, "envoy", "ratelimit", "config.yaml");
const text = readFileSync(FILE, "utf8");
const rls = parseYaml(text);

interface Rule { source: string; domain: string; name: string; keys: string[]; window: string; tokens: number }

function globalRules(): Rule[] {
  const out: Rule[] = [];
  for (const f of shippedEnvoyConfigs()) {
    for (const w of wasmFilters(readYaml(f))) {
      const l = w.plugin.limits;
      if (l?.mode !== "global") continue;
      for (const r of l.rules) out.push({ source: relative(ROOT, f), domain: l.domain ?? "ai_gateway", name: r.name, keys: (r.key ?? []).map((k: string) => k.toLowerCase()), window: r.window ?? "minute", tokens: r.tokens });
    }
  }
  return out;
}

test("envoy/ratelimit/config.yaml has every global limit rule of the shipped configs, at the depth the filter sends", () => {
  const rules = globalRules();
  assert.ok(rules.length >= 2 && new Set(rules.map((r) => r.source)).size >= 2, "rules from envoy.yaml and envoy.compose.yaml");
  for (const r of rules) {
    assert.equal(rls.domain, r.domain, `${r.source}: limits.domain`);
    const top = rls.descriptors.filter((d: any) => d.key === "rule" && d.value === r.name);
    assert.equal(top.length, 1, `${r.source}: rule ${r.name} appears once`);
    let node = top[0];
    for (const k of r.keys) {
      assert.equal(node.rate_limit, undefined, `rule ${r.name}: no limit above the last key`);
      const next = (node.descriptors ?? []).filter((d: any) => d.key === k && d.value === undefined);
      assert.equal(next.length, 1, `rule ${r.name}: key-only entry "${k}" (any value, one counter per value)`);
      node = next[0];
    }
    assert.deepEqual(node.rate_limit, { unit: r.window, requests_per_unit: r.tokens }, `rule ${r.name}: same window and tokens as ${r.source}`);
    assert.equal(node.descriptors, undefined, `rule ${r.name}: nothing deeper`);
  }
  const names = new Set(rules.map((r) => r.name));
  for (const d of rls.descriptors) assert.ok(d.key === "rule" && names.has(d.value), `stale entry ${d.key}=${d.value}: no shipped config sends it`);
});

let service: RateLimitService;
before(async () => { service = await startRateLimit({ config: text }); }, { timeout: 60_000 });
after(async () => { await service?.stop(); });

async function ask(entries: [string, string][]): Promise<any> {
  const body = JSON.stringify({ domain: rls.domain, descriptors: [{ entries: entries.map(([key, value]) => ({ key, value })) }] });
  const r = await fetch(`http://127.0.0.1:${service.httpPort}/json`, { method: "POST", headers: { "content-type": "application/json" }, body });
  assert.ok(r.status === 200 || r.status === 429, `/json answered ${r.status}`);
  return r.json();
}

test("the real rate limit service loads the file and applies each rule's limit to the filter's descriptors", { timeout: 30_000 }, async () => {
  for (const r of globalRules()) {
    const res = await ask([["rule", r.name], ...r.keys.map((k): [string, string] => [k, `probe-${k}`])]);
    const limit = res.statuses?.[0]?.currentLimit;
    assert.deepEqual(limit && { unit: limit.unit, requests_per_unit: limit.requestsPerUnit }, { unit: r.window.toUpperCase(), requests_per_unit: r.tokens }, `rule ${r.name}: ${JSON.stringify(res)}`);
  }
  // Not vacuous: a descriptor that is one key short, or of an unknown rule, matches no limit.
  const r0 = globalRules().find((r) => r.keys.length > 0)!;
  assert.equal((await ask([["rule", r0.name]])).statuses?.[0]?.currentLimit, undefined);
  assert.equal((await ask([["rule", "no-such-rule"], ["client", "x"]])).statuses?.[0]?.currentLimit, undefined);
});
