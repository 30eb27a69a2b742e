// Hostile key values against local limits (issue 18 part 1), shared by the host test
// (bounded.test.ts: counts shared-data keys directly) and the real-Envoy test
// (bounded-envoy.test.ts: Envoy's RSS and the wasm VMs' memory from its admin stats).
//
// Two rules count per client-chosen value: one keyed on a request header, one on the model (a
// `gpt-*` route lets any gpt-<anything> through). Every request costs exactly 1 token (cost
// weights: request 1, input and output 0), so a rule's limit is a number of requests and the
// legitimate keys' budgets can be checked exactly after the flood.

import assert from "node:assert/strict";
import { fixtureFromSpec, type Fixture } from "../../dev/mock-provider.ts";
import { chat, denial, type Reply } from "./support.ts";
import type { Gateway } from "../support/gateway.ts";

/** Every request costs 1 (so a limit counts requests); windows of a day keep the test inside one. */
const PER_REQUEST = { input: 0, output: 0, request: 1 };
export const LEGIT_LIMIT = 5;

export function boundedConfig(maxKeys: number): any {
  return {
    backends: [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: "sk-up" } }],
    models: [{ match: "gpt-*", backend: "openai" }],
    limits: {
      // The default (1000) is left implicit, so the same scenario runs on builds before max_keys.
      mode: "local", ...(maxKeys !== 1000 ? { max_keys: maxKeys } : {}),
      rules: [
        { name: "per-user", key: ["header:x-user"], window: "day", tokens: LEGIT_LIMIT, cost: PER_REQUEST },
        { name: "per-model", key: ["model"], window: "day", tokens: LEGIT_LIMIT, cost: PER_REQUEST },
      ],
    },
  };
}

export function okAnswer(): Fixture {
  const body = JSON.stringify({
    id: "chatcmpl-BOUNDED00000000000000000001", object: "chat.completion", created: 1756316240, model: "gpt-4o-mini-2024-07-18",
    choices: [{ index: 0, message: { role: "assistant", content: "ok", refusal: null, annotations: [] }, logprobs: null, finish_reason: "stop" }],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
  });
  return fixtureFromSpec("bounded-ok", { status: 200, headers: { "content-type": "application/json" }, match: { path: "/v1/chat/completions" }, chunks: [{ text: body }] }, ".");
}

const body = (model: string) => ({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 1 });

/** `n` requests, each with its own x-user value and its own model name, `concurrency` at a time. */
export async function flood(gw: Gateway, n: number, concurrency: number, tag: string, onProgress?: (done: number) => Promise<void> | void, every = 0): Promise<{ ok: number; limited: number; other: Map<number, number> }> {
  let next = 0, ok = 0, limited = 0;
  const other = new Map<number, number>();
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const r = await chat(gw, body(`gpt-${tag}-${i.toString(36)}`), { "x-user": `u-${tag}-${i.toString(36)}` });
      if (r.status === 200) ok++;
      else if (r.status === 429) limited++;
      else other.set(r.status, (other.get(r.status) ?? 0) + 1);
      if (every > 0 && onProgress && (i + 1) % every === 0) await onProgress(i + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, limited, other };
}

/** Sends as `user` with `model` until a 429 (at most limit + 2 tries); the 200s before it and the 429. */
export async function drain(gw: Gateway, user: string, model: string): Promise<{ admitted: number; denied: Reply }> {
  for (let admitted = 0; admitted <= LEGIT_LIMIT + 2; admitted++) {
    const r = await chat(gw, body(model), { "x-user": user });
    if (r.status === 429) return { admitted, denied: r };
    assert.equal(r.status, 200, `${user}/${model}: ${r.status} ${r.text}`);
  }
  assert.fail(`${user}/${model}: never limited after ${LEGIT_LIMIT + 3} requests`);
}

/**
 * The legitimate side of the scenario. Before the flood, alice (model gpt-4o) uses 2 of her 5;
 * after it she gets exactly 3 more (her slot survived the flood) and her 429 names her own rule.
 * A user first seen after the flood lands in the overflow counter (every slot is held this window)
 * and shares its budget, already spent by the flood: denied by per-user, as the docs state.
 */
export async function legitBefore(gw: Gateway): Promise<void> {
  for (let i = 0; i < 2; i++) assert.equal((await chat(gw, body("gpt-4o"), { "x-user": "alice" })).status, 200);
}

export async function legitAfter(gw: Gateway): Promise<void> {
  const alice = await drain(gw, "alice", "gpt-4o");
  assert.equal(alice.admitted, LEGIT_LIMIT - 2, "alice keeps her own counter through the flood: exactly her remaining 3");
  const d = denial(alice.denied);
  assert.equal(d.limit, LEGIT_LIMIT);
  assert.equal(d.used, LEGIT_LIMIT, "alice's counter is exactly at the limit");
  const late = await chat(gw, body("gpt-4o-mini"), { "x-user": "newcomer" });
  assert.equal(late.status, 429, `a value first seen after the flood shares the exhausted overflow counter: ${late.status} ${late.text}`);
  assert.equal(denial(late).rule, "per-user");
}
