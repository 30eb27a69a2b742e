// Local limits keep a fixed number of shared-data keys whatever values clients send (issue 18
// part 1), in the imitation host with 2 workers (host only: Envoy cannot list shared data): thousands of distinct header values and model names leave
// at most rules × (max_keys + 1) counter keys, and the legitimate keys' limits still hold
// exactly. The same scenario runs in real Envoy in bounded-envoy.test.ts, where shared data
// cannot be listed and memory is measured instead; this one counts the keys themselves.

import { test } from "node:test";
import assert from "node:assert/strict";
import { startLimitGateway, assertClean, sharedCounter } from "./support.ts";
import { boundedConfig, okAnswer, flood, legitBefore, legitAfter, LEGIT_LIMIT } from "./bounded.ts";

const MAX_KEYS = 64;
const FLOOD = 3000;

test(`${FLOOD} distinct header values and model names: at most 2 × (${MAX_KEYS} + 1) counter keys, legitimate limits exact`, { timeout: 600_000 }, async () => {
  const env = await startLimitGateway(boundedConfig(MAX_KEYS), { platform: "host", workers: 2, vmId: `bounded-${Math.random().toString(36).slice(2)}` });
  try {
    env.mock.register(okAnswer());
    await legitBefore(env.gateway);
    const f = await flood(env.gateway, FLOOD, 16, "h");
    assert.deepEqual([...f.other], [], "only 200 and 429");
    // Each rule: its slots, then the overflow counter's budget; everything else is refused.
    assert.ok(f.ok <= 2 * MAX_KEYS + LEGIT_LIMIT && f.ok >= MAX_KEYS / 2, `flood admitted ${f.ok}`);
    const keys = env.gateway.host!.sharedData.keys().filter((k) => k.startsWith("ai_gateway.lim."));
    const counters = keys.filter((k) => !k.endsWith("~stamp"));
    assert.ok(counters.length <= 2 * (MAX_KEYS + 1), `${counters.length} counter keys after ${FLOOD} distinct values: ${counters.slice(0, 5).join(", ")}…`);
    for (const k of counters) assert.match(k, /^ai_gateway\.lim\.per-(user|model)#(\d+|\*)$/);
    // The overflow counters hold the flood that found no slot: exactly at their limit.
    assert.equal(await sharedCounter(env.gateway, "per-user|header:x-user=alice", 86400, MAX_KEYS), 2);
    await legitAfter(env.gateway);
    await assertClean(env.gateway);
  } finally { await env.stop(); }
});

test("max_keys 4: the 5th distinct value in a window is counted in the rule's overflow counter, shared with the 6th", { timeout: 60_000 }, async () => {
  const cfg = boundedConfig(4);
  cfg.limits.rules = [cfg.limits.rules[0]];
  const env = await startLimitGateway(cfg, { platform: "host", workers: 2, vmId: `bounded4-${Math.random().toString(36).slice(2)}` });
  try {
    env.mock.register(okAnswer());
    const { chat } = await import("./support.ts");
    const send = (u: string) => chat(env.gateway, { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 1 }, { "x-user": u });
    // 4 slots, 4 probes per value (every slot): the first 4 values each get one.
    for (const u of ["a", "b", "c", "d"]) assert.equal((await send(u)).status, 200);
    for (const u of ["a", "b", "c", "d"]) assert.equal(await sharedCounter(env.gateway, `per-user|header:x-user=${u}`, 86400, 4), 1, u);
    // e and f share the overflow counter: LEGIT_LIMIT requests between them, then 429 for both.
    let ok = 0;
    for (let i = 0; i < LEGIT_LIMIT; i++) ok += (await send(i % 2 ? "e" : "f")).status === 200 ? 1 : 0;
    assert.equal(ok, LEGIT_LIMIT);
    assert.equal((await send("e")).status, 429);
    assert.equal((await send("f")).status, 429);
    assert.equal((await send("a")).status, 200, "a's own counter is untouched by the overflow");
    const keys = env.gateway.host!.sharedData.keys().filter((k) => k.startsWith("ai_gateway.lim.per-user"));
    assert.deepEqual(keys.sort(), ["ai_gateway.lim.per-user#*", "ai_gateway.lim.per-user#0", "ai_gateway.lim.per-user#1", "ai_gateway.lim.per-user#2", "ai_gateway.lim.per-user#3"]);
    await assertClean(env.gateway);
  } finally { await env.stop(); }
});
