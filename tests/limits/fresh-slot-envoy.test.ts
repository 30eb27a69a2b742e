// Exact local limits on a brand-new counter slot, in real Envoy with 2 and 4 workers (issue 18
// part 2). Each round sends 60 requests at once over 60 already-open connections spread over the
// workers: 20 descriptors no request has used before (the x-round header), 3 requests each sent
// back to back, under a rule with room for 1 request per descriptor (every request costs exactly
// 1). Workers meet a descriptor's slot missing at the same instant; if two of them created it
// unconditionally, one reservation would be lost and the descriptor would admit 2. Every
// descriptor must admit exactly 1. (Twenty fresh slots per round rather than one: the race is a
// few microseconds wide, and each fresh slot is one more chance to hit it.)
//
// Real Envoy only: the host runs every worker on one event loop, so two workers never interleave
// between reading a missing slot and creating it.
//
//   FRESH_SLOT_ROUNDS=N   rounds per worker count (default 100)

import { test } from "node:test";
import assert from "node:assert/strict";
import { Gateway } from "../support/gateway.ts";
import { MockProvider } from "../../dev/mock-provider.ts";
import { Client } from "../support/envoy-load.ts";
import { okAnswer } from "./bounded.ts";
import { GATEWAY_WASM } from "./support.ts";

const ROUNDS = Number(process.env.FRESH_SLOT_ROUNDS ?? 100);
const DESCRIPTORS = 20, PER_DESCRIPTOR = 3, CONCURRENT = DESCRIPTORS * PER_DESCRIPTOR;

function config(): any {
  return {
    backends: [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: "sk-up" } }],
    models: [{ match: "gpt-*", backend: "openai" }],
    // Default max_keys (1000): with at most a few hundred descriptors in the window, nearly every
    // round's descriptor meets a slot that was never created. (No max_keys here, so the same test
    // runs on builds before slots existed, where every descriptor had a key of its own.)
    limits: { mode: "local", rules: [{ name: "fresh", key: ["header:x-round"], window: "day", tokens: 1, cost: { input: 0, output: 0, request: 1 } }] },
  };
}

/** Rounds per Envoy: 200 fresh slots of the 1000, so a descriptor practically never overflows. */
const ROUNDS_PER_ENVOY = 10;

for (const workers of [2, 4]) {
  test(`${workers} workers, ${ROUNDS} rounds of ${DESCRIPTORS} fresh slots × ${PER_DESCRIPTOR} concurrent requests with room for 1: no reservation lost`, { timeout: 900_000 }, async () => {
    const mock = await MockProvider.start();
    mock.register(okAnswer());
    const lost: string[] = [], none: string[] = [], odd: string[] = [];
    const statuses = new Map<number, number>();
    let describe = "";
    try {
      for (let r0 = 0; r0 < ROUNDS; r0 += ROUNDS_PER_ENVOY) {
        // A fresh Envoy (and so fresh shared data) every few rounds: the rule is new each time.
        const gw = await Gateway.start({
          platform: "envoy", wasm: GATEWAY_WASM, workers,
          plugin: { configuration: JSON.stringify(config()), vmId: `fresh-${workers}-${r0}` },
          routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
          clusters: { openai: { host: "127.0.0.1", port: mock.port } },
        });
        describe = gw.describe;
        const client = new Client(gw, CONCURRENT);
        try {
          await client.warm(CONCURRENT);
          const tag = Date.now().toString(36);
          for (let r = r0; r < Math.min(ROUNDS, r0 + ROUNDS_PER_ENVOY); r++) {
            const sent: { d: number; answer: Promise<{ status: number; body: Buffer }> }[] = [];
            for (let d = 0; d < DESCRIPTORS; d++) for (let k = 0; k < PER_DESCRIPTOR; k++) {
              sent.push({ d, answer: client.chat({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 1 }, { "x-round": `${tag}-${r}-${d}` }) });
            }
            const admitted = new Array<number>(DESCRIPTORS).fill(0);
            for (const s of sent) {
              const a = await s.answer;
              statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
              if (a.status === 200) admitted[s.d]++;
              else if (a.status !== 429 && odd.length < 5) odd.push(`${a.status} ${a.body.toString().slice(0, 200)}`);
            }
            admitted.forEach((n, d) => { if (n > 1) lost.push(`round ${r} slot ${d}: ${n} admitted`); if (n === 0) none.push(`round ${r} slot ${d}`); });
          }
          assert.deepEqual(gw.vmFailures(), []);
        } finally {
          client.close();
          await gw.stop();
        }
      }
    } finally { await mock.stop(); }
    console.log(`# ${describe}, ${workers} workers: ${ROUNDS * DESCRIPTORS} fresh slots, ${lost.length} lost reservations (${lost.slice(0, 5).join(", ")}), ${none.length} admitted none; statuses ${JSON.stringify([...statuses])}`);
    assert.deepEqual(odd, [], "only admissions and denials");
    assert.deepEqual(lost, [], "fresh slots that admitted more than their room (a lost reservation)");
    assert.deepEqual(none, [], "fresh slots that admitted nothing");
  });
}
