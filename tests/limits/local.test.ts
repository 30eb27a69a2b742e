// Local-mode token limits under load and at the edges (issue 5 item 7), real sockets, the real
// filter in the Envoy-faithful host with 4 workers sharing shared data:
//   - concurrency: 200 requests (half streaming), 50 at a time, against one budget; the overshoot
//     (committed tokens beyond the limit) is measured and checked against the design's bound;
//   - a second window resets; a client abort mid-stream commits input estimate + streamed output
//     estimate; an upstream error (no usage) gives the reservation back;
//   - the 429 (OpenAI error schema, Retry-After, x-ratelimit-*) and the headers on allowed answers.
//
// The design's bound (assembly/filter/limits.ts): admission reserves the estimate (input =
// ceil(body bytes / 4), output = max_tokens) with compare-and-swap and refuses a reservation that
// would pass the limit; the commit swaps the estimate for the actual cost. So the counter is
// always <= limit + sum over admitted requests of max(0, actual − estimate). With max_tokens on
// every request the output part of that is 0 (a provider never exceeds max_tokens); the input
// part is 0 when the provider counts at most bytes/4 input tokens. One caveat the code documents:
// two workers creating a brand-new counter slot at the same instant can lose one reservation; the
// host runs all workers on one event loop, so that race cannot happen here (and is not measured).

import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import OpenAI from "openai";
import { fixtureFromSpec, type Fixture } from "../../dev/mock-provider.ts";
import { assertErrorResponse, assertChatCompletion, assertChatCompletionChunk } from "../support/openai-schema.ts";
import { parseOpenAISse } from "../support/sse.ts";
import { LOG_INFO } from "../e2e/harness.ts";
import {
  startLimitGateway, chat, limitHeaders, denial, sharedCounter, assertClean, estimateUsage, weightedCost, sleep,
  type Reply, type LimitEnv,
} from "./support.ts";

const LIMIT = { timeout: 60_000 };

const OPENAI_BACKEND = { backends: [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: "sk-up" } }], models: [{ match: "gpt-*", backend: "openai" }] };

function config(rules: any[], extra: any = {}): any {
  return { ...OPENAI_BACKEND, limits: { mode: "local", rules, ...extra } };
}

// ------------------------------------------------------------------------------------------------
// Provider answers with chosen usage

const BASE = { id: "chatcmpl-LIMITS0000000000000000000001", created: 1756316240, model: "gpt-4o-mini-2024-07-18", system_fingerprint: "fp_560af6e559" };
const usageOf = (prompt: number, completion: number) => ({
  prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
});

/** A JSON completion with that usage, sent in two writes 15 ms apart (so requests overlap). */
function jsonAnswer(prompt: number, completion: number, match?: object): Fixture {
  const body = JSON.stringify({ ...BASE, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: "Budget check.", refusal: null, annotations: [] }, logprobs: null, finish_reason: "stop" }], usage: usageOf(prompt, completion) });
  const cut = body.length >> 1;
  return fixtureFromSpec("json-answer", { status: 200, headers: { "content-type": "application/json" }, match, chunks: [{ text: body.slice(0, cut) }, { text: body.slice(cut), delayMs: 15 }] }, ".");
}

/** SSE events as OpenAI sends them with include_usage (the gateway injects it): content chunks, finish, usage, [DONE]. */
function sseEvents(contentChunks: number, prompt: number, completion: number): string[] {
  const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ ...BASE, object: "chat.completion.chunk", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
  const ev = [chunk({ role: "assistant", content: "", refusal: null }, null)];
  for (let i = 0; i < contentChunks; i++) ev.push(chunk({ content: ` word${i}` }, null));
  ev.push(chunk({}, "stop"));
  ev.push(`data: ${JSON.stringify({ ...BASE, object: "chat.completion.chunk", choices: [], usage: usageOf(prompt, completion) })}\n\n`);
  ev.push("data: [DONE]\n\n");
  return ev;
}

function sseAnswer(events: string[], delayMs: number, match?: object, abortAfterBody = false): Fixture {
  return fixtureFromSpec("sse-answer", { status: 200, headers: { "content-type": "text/event-stream; charset=utf-8" }, match, abortAfterBody, chunks: events.map((text) => ({ text, delayMs })) }, ".");
}

/** A chat request body of exactly `bytes` bytes with max_tokens. */
function requestOf(bytes: number, maxTokens: number, stream: boolean, model = "gpt-4o-mini"): string {
  const build = (fill: number) => JSON.stringify({ model, messages: [{ role: "user", content: "x".repeat(fill) }], max_tokens: maxTokens, ...(stream ? { stream: true } : {}) });
  const s = build(bytes - build(0).length);
  assert.equal(Buffer.byteLength(s), bytes);
  return s;
}

async function withEnv(cfg: any, workers: number, fn: (env: LimitEnv) => Promise<void>): Promise<void> {
  const env = await startLimitGateway(cfg, { workers, vmId: `local-${Math.random().toString(36).slice(2)}` });
  try { await fn(env); } finally { await env.stop(); }
}

// ------------------------------------------------------------------------------------------------
// Concurrency and overshoot

interface LoadResult {
  admitted: { json: number; stream: number }; denied: number; counter: number; committedExpected: number;
  overshoot: number; bound: number; workersUsed: number; maxInFlight: number; ms: number;
}

async function loadRun(env: LimitEnv, opts: { limit: number; n: number; concurrency: number; bytes: number; maxTokens: number; json: [number, number]; stream: [number, number] }): Promise<LoadResult> {
  const { gateway, mock } = env;
  mock.register(jsonAnswer(opts.json[0], opts.json[1], { path: "/v1/chat/completions", stream: false }));
  mock.register(sseAnswer(sseEvents(6, opts.stream[0], opts.stream[1]), 3, { path: "/v1/chat/completions", stream: true }));
  const logFrom = gateway.logs.length;
  const est = estimateUsage(opts.bytes, opts.maxTokens);
  const E = weightedCost({}, est);
  let next = 0, inFlight = 0, maxInFlight = 0;
  const admitted = { json: 0, stream: 0 };
  let denied = 0;
  const t0 = performance.now();
  const workerLoop = async () => {
    while (next < opts.n) {
      const i = next++;
      const stream = i % 2 === 1;
      inFlight++; maxInFlight = Math.max(maxInFlight, inFlight);
      const r = await chat(gateway, requestOf(opts.bytes, opts.maxTokens, stream));
      inFlight--;
      if (r.status === 200) {
        if (stream) { assert.ok(parseOpenAISse(r.text).done, `stream without [DONE] (status ${r.status}): ${r.text.slice(-600)}`); admitted.stream++; } else { assertChatCompletion(r.json); admitted.json++; }
      } else {
        const d = denial(r);
        assert.equal(d.requested, E);
        denied++;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, workerLoop));
  const ms = performance.now() - t0;
  await assertClean(gateway, logFrom);
  mock.assertNoFailures();
  const A = { json: opts.json[0] + opts.json[1], stream: opts.stream[0] + opts.stream[1] };
  const committedExpected = admitted.json * A.json + admitted.stream * A.stream;
  const counter = await sharedCounter(gateway, "budget|client=-", 3600);
  const bound = admitted.json * Math.max(0, A.json - E) + admitted.stream * Math.max(0, A.stream - E);
  const workersUsed = new Set(gateway.logs.slice(logFrom).filter((l) => l.level === LOG_INFO && / status=200 /.test(l.message)).map((l) => l.vm)).size;
  return { admitted, denied, counter, committedExpected, overshoot: Math.max(0, counter - opts.limit), bound, workersUsed, maxInFlight, ms };
}

/** Waits until at least `marginS` seconds remain in the current hour (the load runs in one hour window). */
async function awayFromHourEdge(marginS = 20): Promise<void> {
  const left = 3600 - (Math.floor(Date.now() / 1000) % 3600);
  if (left < marginS) await sleep(left * 1000 + 200);
}

for (const variant of [
  // Provider input <= bytes/4 and output <= max_tokens: estimate >= actual, bound 0.
  { name: "estimate >= actual", json: [90, 60] as [number, number], stream: [95, 50] as [number, number] },
  // Provider counts more input tokens than bytes/4 (e.g. dense non-English text): bound > 0.
  { name: "input underestimated", json: [160, 60] as [number, number], stream: [140, 55] as [number, number] },
]) {
  test(`4 workers, 200 requests (half streaming) at concurrency 50 against one limit: overshoot within the bound (${variant.name})`, LIMIT, async () => {
    await awayFromHourEdge();
    const limit = 5000, bytes = 400, maxTokens = 60; // estimate: 100 input + 60 output = 160 per request
    await withEnv(config([{ name: "budget", key: ["client"], window: "hour", tokens: limit }]), 4, async (env) => {
      const r = await loadRun(env, { limit, n: 200, concurrency: 50, bytes, maxTokens, json: variant.json, stream: variant.stream });
      console.log(`# overshoot (${variant.name}): ${JSON.stringify(r)}`);
      assert.equal(r.workersUsed, 4, "requests spread over the 4 workers");
      assert.ok(r.maxInFlight >= 40, `requests overlapped (max in flight ${r.maxInFlight})`);
      assert.equal(r.admitted.json + r.admitted.stream + r.denied, 200);
      assert.ok(r.denied > 0 && r.admitted.json > 0 && r.admitted.stream > 0, "the limit was reached by both kinds");
      assert.equal(r.counter, r.committedExpected, "the counter holds exactly the actual cost of every admitted request");
      assert.ok(r.overshoot <= r.bound, `overshoot ${r.overshoot} > design bound ${r.bound}`);
      // Admission must not be needlessly strict: once refused, less than one estimate (160) plus
      // the reservation slack (estimate − actual per admitted request) was left.
      const slack = (r.admitted.json + r.admitted.stream) * 160 - r.committedExpected;
      assert.ok(limit - r.counter < 160 + Math.max(0, slack), `headroom ${limit - r.counter} left unused`);
    });
  });
}

// ------------------------------------------------------------------------------------------------

test("a second window resets: denied in one second, admitted in the next", LIMIT, async () => {
  const limit = 300;
  await withEnv(config([{ name: "burst", key: ["client"], window: "second", tokens: limit }]), 2, async (env) => {
    const small = requestOf(100, 100, false);      // estimate 25 + 100 = 125
    const large = requestOf(100, 280, false);      // estimate 25 + 280 = 305 → capped at 300
    for (let attempt = 1; ; attempt++) {
      assert.ok(attempt <= 4, "could not stay inside one second");
      while (Date.now() % 1000 > 300) await sleep(5);
      const second = Math.floor(Date.now() / 1000);
      env.mock.enqueue(jsonAnswer(19, 10));
      const a = await chat(env.gateway, small);
      assert.equal(a.status, 200, a.text);
      await assertClean(env.gateway);
      const b = await chat(env.gateway, large);
      if (Math.floor(Date.now() / 1000) !== second) { env.mock.reset(); await sleep(1100); continue; }
      const d = denial(b);
      assert.deepEqual({ used: d.used, limit: d.limit, requested: d.requested }, { used: 29, limit, requested: limit });
      assert.equal(b.headers["retry-after"], "1");
      assert.equal(b.headers["x-ratelimit-reset-tokens"], "1s");
      await sleep((second + 1) * 1000 - Date.now() + 50);
      env.mock.enqueue(jsonAnswer(19, 10));
      const c = await chat(env.gateway, large);
      assert.equal(c.status, 200, `new window: ${c.text}`);
      assert.deepEqual(limitHeaders(c), { limit, remaining: 0, reset: 1 });
      break;
    }
    await assertClean(env.gateway);
  });
});

/** Streams a chat request with node:http and destroys the connection once `events` SSE events arrived. */
function abortAfterEvents(url: string, body: string, events: number): Promise<{ status: number; received: string }> {
  return new Promise((ok, fail) => {
    const req = http.request(`${url}/v1/chat/completions`, { method: "POST", agent: false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
        if (text.split("\n\n").length - 1 >= events) { req.destroy(); ok({ status: res.statusCode ?? 0, received: text }); }
      });
      res.on("end", () => fail(new Error(`stream ended before ${events} events: ${text}`)));
    });
    req.on("error", () => { /* our own destroy */ });
    req.end(body);
  });
}

test("client abort mid-stream: commits the input estimate + the streamed output estimate", LIMIT, async () => {
  const limit = 1_000_000;
  await withEnv(config([{ name: "budget", key: ["client"], window: "hour", tokens: limit }]), 2, async (env) => {
    await awayFromHourEdge(10);
    const events = sseEvents(10, 500, 300);
    env.mock.enqueue(sseAnswer(events, 150)); // 150 ms between upstream events: the abort lands between two
    const body = requestOf(400, 1000, true);  // estimate: 100 input + 1000 output
    const seen = 4;
    const r = await abortAfterEvents(env.gateway.url, body, seen);
    assert.equal(r.status, 200);
    await assertClean(env.gateway);
    const streamedBytes = events.slice(0, seen).reduce((n, e) => n + Buffer.byteLength(e), 0);
    const expected = Math.ceil(400 / 4) + Math.ceil(streamedBytes / 4);
    assert.equal(await sharedCounter(env.gateway, "budget|client=-", 3600), expected, `input estimate 100 + ${streamedBytes} streamed bytes / 4`);
    // The same through the client's eyes: a probe capped at the limit is refused with that usage.
    const d = denial(await chat(env.gateway, requestOf(400, 5_000_000, false)));
    assert.equal(d.used, expected);
    await sleep(200); // the mock notices the closed connection at its next write
    env.mock.assertNoFailures();
  });
});

test("upstream errors and a broken stream: no usage, the reservation is given back (or the streamed part charged)", LIMIT, async () => {
  const limit = 1_000_000;
  await withEnv(config([{ name: "budget", key: ["client"], window: "hour", tokens: limit }]), 2, async (env) => {
    await awayFromHourEdge(10);
    const body = requestOf(400, 200, false), R = 100 + 200;
    const errFixture = (status: number, type: string, code: string) => fixtureFromSpec("err", { status, headers: { "content-type": "application/json" }, body: JSON.stringify({ error: { message: "upstream says no", type, param: null, code } }) }, ".");
    for (const [status, type, code] of [[500, "server_error", "server_error"], [429, "tokens", "rate_limit_exceeded"], [400, "invalid_request_error", "bad"]] as const) {
      env.mock.enqueue(errFixture(status, type, code));
      const r = await chat(env.gateway, body);
      assert.equal(r.status, status, r.text);
      // The error answer still reports the gateway's budget with this request's reservation held.
      assert.deepEqual(limitHeaders(r), { limit, remaining: limit - R, reset: limitHeaders(r).reset });
      await assertClean(env.gateway);
      assert.equal(await sharedCounter(env.gateway, "budget|client=-", 3600), 0, `HTTP ${status}: reservation returned`);
    }
    // Upstream unreachable: the router's 503, no usage, nothing charged.
    const dead = await startLimitGateway(config([{ name: "budget", key: ["client"], window: "hour", tokens: limit }]), { clusters: { openai: { host: "127.0.0.1", port: 1 } }, vmId: "local-dead-upstream" });
    try {
      const r = await chat(dead.gateway, body);
      assert.equal(r.status, 503);
      await assertClean(dead.gateway);
      assert.equal(await sharedCounter(dead.gateway, "budget|client=-", 3600), 0, "connect failure: reservation returned");
    } finally { await dead.stop(); }
    // The next good request sees the whole budget minus only its own reservation.
    env.mock.enqueue(jsonAnswer(19, 10));
    const ok = await chat(env.gateway, body);
    assert.deepEqual(limitHeaders(ok), { limit, remaining: limit - R, reset: limitHeaders(ok).reset });
    await assertClean(env.gateway);
    assert.equal(await sharedCounter(env.gateway, "budget|client=-", 3600), 29);
    // A stream the provider cuts before its usage chunk: input estimate + streamed bytes / 4.
    const events = sseEvents(5, 500, 300).slice(0, 4);
    env.mock.enqueue(sseAnswer(events, 2, undefined, true));
    const cut = await chat(env.gateway, requestOf(400, 1000, true)).catch((e) => ({ status: -1, text: String(e) } as Reply));
    await assertClean(env.gateway);
    const streamed = events.reduce((n, e) => n + Buffer.byteLength(e), 0);
    assert.equal(await sharedCounter(env.gateway, "budget|client=-", 3600), 29 + 100 + Math.ceil(streamed / 4), `cut stream (client saw status ${cut.status})`);
    env.mock.assertNoFailures();
  });
});

test("the 429: OpenAI error schema, Retry-After, x-ratelimit-*; allowed answers (JSON and SSE) carry the headers too", LIMIT, async () => {
  const limit = 2000;
  await withEnv(config([{ name: "tpm", key: ["client"], window: "minute", tokens: limit }]), 2, async (env) => {
    while (60 - (Math.floor(Date.now() / 1000) % 60) < 10) await sleep(200); // stay inside one minute
    const body = requestOf(400, 200, false); // reservation 300
    env.mock.enqueue(jsonAnswer(700, 300));
    const a = await chat(env.gateway, body);
    assert.equal(a.status, 200);
    assertChatCompletion(a.json);
    const ha = limitHeaders(a);
    assert.equal(ha.limit, limit);
    assert.equal(ha.remaining, limit - 300);
    assert.ok(ha.reset >= 1 && ha.reset <= 60, `reset ${ha.reset}s within the minute window`);
    await assertClean(env.gateway);
    // A stream: headers arrive before the body, with the budget after the 1st commit (1000).
    env.mock.enqueue(sseAnswer(sseEvents(3, 150, 50), 2));
    const s = await chat(env.gateway, requestOf(400, 200, true));
    assert.equal(s.status, 200);
    parseOpenAISse(s.text).chunks.forEach((c) => assertChatCompletionChunk(c));
    assert.equal(limitHeaders(s).remaining, limit - 1000 - 300);
    await assertClean(env.gateway);
    // Used 1000 + 200 = 1200: a 1000-token estimate no longer fits.
    const big = requestOf(400, 900, false);
    const r = await chat(env.gateway, big);
    assert.equal(r.status, 429);
    assert.match(r.headers["content-type"], /^application\/json/);
    assertErrorResponse(r.json, "the gateway's 429");
    assert.deepEqual({ type: r.json.error.type, code: r.json.error.code, param: r.json.error.param }, { type: "tokens", code: "rate_limit_exceeded", param: null });
    const d = denial(r);
    assert.deepEqual({ rule: d.rule, limit: d.limit, used: d.used, requested: d.requested }, { rule: "tpm", limit, used: 1200, requested: 1000 });
    const h = limitHeaders(r);
    assert.deepEqual({ limit: h.limit, remaining: h.remaining }, { limit, remaining: 800 });
    assert.match(r.headers["retry-after"], /^\d+$/);
    assert.equal(Number(r.headers["retry-after"]), h.reset, "Retry-After = seconds to the window's end");
    assert.ok(h.reset >= 1 && h.reset <= 60);
    assert.equal(env.mock.requests.length, 2, "the denied request never reached the provider");
    // The official client sees a RateLimitError with OpenAI's code and the headers.
    const client = new OpenAI({ baseURL: `${env.gateway.url}/v1`, apiKey: "sk-client", maxRetries: 0 });
    await assert.rejects(client.chat.completions.create(JSON.parse(big)), (e: any) => {
      assert.ok(e instanceof OpenAI.RateLimitError, `got ${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.status, 429);
      assert.equal(e.code, "rate_limit_exceeded");
      assert.equal(e.headers.get("x-ratelimit-remaining-tokens"), "800");
      return true;
    });
    // The denial reserved nothing: a request that fits the remaining 800 still passes.
    env.mock.enqueue(jsonAnswer(10, 10));
    const fits = await chat(env.gateway, requestOf(400, 700, false)); // 100 + 700 = 800
    assert.equal(fits.status, 200, fits.text);
    assert.equal(limitHeaders(fits).remaining, 0);
    await assertClean(env.gateway);
    env.mock.assertNoFailures();
  });
});

// ------------------------------------------------------------------------------------------------
// Regressions: these failed against a9a999d (Anthropic abort committed input + 1; a commit after a
// window rollover was added to the dead window) and pass since dfe7b8f.

test("Anthropic stream aborted by the client: the output streamed so far is charged, not just message_start's 1 token", LIMIT, async () => {
  const cfg = {
    backends: [{ name: "claude", schema: "anthropic", cluster: "anthropic", host: "api.anthropic.com", auth: { type: "header", header: "x-api-key", key: "sk-ant" } }],
    models: [{ match: "claude-*", backend: "claude" }],
    limits: { mode: "local", rules: [{ name: "budget", key: ["client"], window: "hour", tokens: 1_000_000 }] },
  };
  await withEnv(cfg, 2, async (env) => {
    await awayFromHourEdge(10);
    const text = "abcd ".repeat(80); // 400 bytes of text per delta
    const events = [
      `event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01LimitAbort","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":500,"output_tokens":1}}}\n\n`,
      `event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n`,
      ...Array.from({ length: 10 }, () => `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${text}"}}\n\n`),
      `event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n`,
      `event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":1000}}\n\n`,
      `event: message_stop\ndata: {"type":"message_stop"}\n\n`,
    ];
    env.mock.enqueue(fixtureFromSpec("anthropic-long", { status: 200, headers: { "content-type": "text/event-stream; charset=utf-8" }, chunks: events.map((t) => ({ text: t, delayMs: 150 })) }, "."));
    // 2000 bytes: the input estimate (500) equals the input Anthropic reports.
    const build = (fill: number) => JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 1000, stream: true, messages: [{ role: "user", content: "z".repeat(fill) }] });
    const body = build(2000 - build(0).length);
    const r = await abortAfterEvents(env.gateway.url, body, 5); // role chunk + 4 content chunks
    const streamedText = parseOpenAISse(r.received.slice(0, r.received.lastIndexOf("\n\n") + 2)).chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
    assert.ok(streamedText.length >= 3 * text.length, `client got ${streamedText.length} bytes of text`);
    await assertClean(env.gateway);
    const used = await sharedCounter(env.gateway, "budget|client=-", 3600);
    const all = events.reduce((n, e) => n + Buffer.byteLength(e), 0);
    assert.ok(used >= 500 + Math.ceil(Buffer.byteLength(streamedText) / 4) && used <= 500 + Math.ceil(all / 4),
      `committed ${used}: expected input 500 + at least ${Math.ceil(Buffer.byteLength(streamedText) / 4)} for the streamed text`);
    await sleep(200);
  });
});

test("a reservation committed after its window rolled over charges the new window, even if nothing touched the slot since", LIMIT, async () => {
  const limit = 100_000;
  await withEnv(config([{ name: "persec", key: ["client"], window: "second", tokens: limit }]), 2, async (env) => {
    const body = requestOf(400, 300, true); // reservation 100 + 300
    for (let attempt = 1; ; attempt++) {
      assert.ok(attempt <= 3, "timing: could not admit late in a second and finish early in the next");
      while (Date.now() % 1000 < 650 || Date.now() % 1000 > 700) await sleep(2);
      const admittedIn = Math.floor(Date.now() / 1000);
      const ev = sseEvents(1, 300, 200); // the usage chunk comes 550 ms after the content
      env.mock.enqueue(fixtureFromSpec("straddle", { status: 200, headers: { "content-type": "text/event-stream" }, chunks: ev.map((t, i) => ({ text: t, delayMs: i === ev.length - 2 ? 550 : 0 })) }, "."));
      const r = await chat(env.gateway, body);
      assert.equal(r.status, 200);
      await assertClean(env.gateway);
      const committedIn = Math.floor(Date.now() / 1000);
      if (committedIn !== admittedIn + 1 || Date.now() % 1000 > 600) { await sleep(500); continue; }
      // Now in the next window: it must hold the request's actual cost (500).
      assert.equal(await sharedCounter(env.gateway, "persec|client=-", 1), 500, "the late commit charged the new window");
      break;
    }
  });
});
