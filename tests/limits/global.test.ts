// Global-mode token limits against the REAL envoyproxy/ratelimit + Redis (tests/support/ratelimit.ts;
// `bash scripts/install-ratelimit.sh`; missing binaries FAIL these tests, they never skip).
// The filter talks gRPC to the service through a TCP proxy on 127.0.0.1 that counts HTTP/2
// requests (= gRPC calls) and can delay the service's answers; Redis MONITOR shows every INCRBY
// the service runs (hits 0 = the check, hits N = the debit). The service only knows the domain:
// each rule's limit travels as a descriptor override.
//
//   - exactly one check before and one debit after per admitted request, one check and no debit
//     per denied request; the Redis counter holds the sum of the actual costs
//   - remaining budget in x-ratelimit-*; 429 once the remaining budget is below the estimate
//   - a second window resets
//   - service down (stopped) and slow (answers delayed past timeout_ms): failure_mode allow
//     passes, deny answers 503, both within bounded latency; no trap, no leftover context

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startRateLimit, type RateLimitService } from "../support/ratelimit.ts";
import { fixtureFromSpec, type Fixture } from "../../dev/mock-provider.ts";
import { assertErrorResponse } from "../support/openai-schema.ts";
import { parseOpenAISse } from "../support/sse.ts";
import {
  startLimitGateway, chat, limitHeaders, denial, assertClean, sleep, TcpProxy, RedisMonitor, redisGet, weightedCost, estimateUsage,
  type LimitEnv,
} from "./support.ts";

const LIMIT = { timeout: 60_000 };
const RLS_CONFIG = { domain: "ai_gateway", descriptors: [{ key: "rule", rate_limit: { unit: "minute", requests_per_unit: 1 } }] };
const OPENAI_BACKEND = { backends: [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: "sk-up" } }], models: [{ match: "gpt-*", backend: "openai" }] };
const WINDOW_SECONDS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86400 };

let rls: RateLimitService;
let proxy: TcpProxy;
let monitor: RedisMonitor;

before(async () => {
  rls = await startRateLimit({ config: RLS_CONFIG });
  proxy = await TcpProxy.start(rls.grpcPort);
  monitor = await RedisMonitor.start(rls.redisPort);
});

after(async () => {
  monitor?.stop();
  await proxy?.stop();
  await rls?.stop();
});

/** timeout_ms 1000: the first check opens the HTTP/2 connection to the service, and a loaded
 *  machine can take longer than 100 ms for that; the tests of a slow service set their own. */
function globalConfig(rules: any[], extra: any = {}): any {
  return { ...OPENAI_BACKEND, limits: { mode: "global", rls_cluster: "ratelimit", domain: "ai_gateway", timeout_ms: 1000, failure_mode: "allow", rules, ...extra } };
}

async function withGlobal(cfg: any, fn: (env: LimitEnv) => Promise<void>, rlsPort = proxy.port): Promise<void> {
  const env = await startLimitGateway(cfg, { workers: 2, vmId: `global-${Math.random().toString(36).slice(2)}`, clusters: { ratelimit: { host: "127.0.0.1", port: rlsPort, http2: true } } });
  try { await fn(env); } finally { await env.stop(); }
}

const usageOf = (prompt: number, completion: number) => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } });
const BASE = { id: "chatcmpl-GLOBAL000000000000000000001", created: 1756316240, model: "gpt-4o-mini-2024-07-18" };

function jsonAnswer(prompt: number, completion: number, match?: object): Fixture {
  const body = JSON.stringify({ ...BASE, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: "ok", refusal: null }, logprobs: null, finish_reason: "stop" }], usage: usageOf(prompt, completion) });
  return fixtureFromSpec("json", { status: 200, headers: { "content-type": "application/json" }, match, chunks: [{ text: body, delayMs: 5 }] }, ".");
}

function sseAnswer(prompt: number, completion: number, match?: object): Fixture {
  const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ ...BASE, object: "chat.completion.chunk", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
  const ev = [chunk({ role: "assistant", content: "" }, null), chunk({ content: "ok" }, null), chunk({}, "stop"),
    `data: ${JSON.stringify({ ...BASE, object: "chat.completion.chunk", choices: [], usage: usageOf(prompt, completion) })}\n\n`, "data: [DONE]\n\n"];
  return fixtureFromSpec("sse", { status: 200, headers: { "content-type": "text/event-stream" }, match, chunks: ev.map((text) => ({ text, delayMs: 3 })) }, ".");
}

function requestOf(bytes: number, maxTokens: number, stream = false): string {
  const build = (fill: number) => JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "y".repeat(fill) }], max_tokens: maxTokens, ...(stream ? { stream: true } : {}) });
  return build(bytes - build(0).length);
}

/** The service's Redis key for a rule keyed on client "-" (reference §2.2), in the current window. */
function redisKey(rule: string, unit: string): string {
  const now = Math.floor(Date.now() / 1000), w = WINDOW_SECONDS[unit];
  return `ai_gateway_rule_${rule}_client_-_${now - (now % w)}`;
}

/** Calls and INCRBYs since a mark, once every callout has finished. */
async function settled(env: LimitEnv, mark: { calls: number; incrs: number }) {
  await assertClean(env.gateway);
  await sleep(30); // MONITOR lines trail the replies
  return { calls: proxy.requests - mark.calls, incrs: monitor.incrs.slice(mark.incrs) };
}
const markNow = () => ({ calls: proxy.requests, incrs: monitor.incrs.length });

async function awayFromEdge(unitSeconds: number, marginS: number): Promise<void> {
  const left = unitSeconds - (Math.floor(Date.now() / 1000) % unitSeconds);
  if (left < marginS) await sleep(left * 1000 + 200);
}

// ------------------------------------------------------------------------------------------------

test("check before, debit after: one of each per admitted request, one check and no debit per denied one", LIMIT, async () => {
  await awayFromEdge(3600, 15);
  const limit = 1000;
  await withGlobal(globalConfig([{ name: "seq", key: ["client"], window: "hour", tokens: limit }]), async (env) => {
    const key = redisKey("seq", "hour");
    let used = 0;
    const body = requestOf(400, 100);           // estimate 100 + 100 = 200
    const plan: { stream: boolean; prompt: number; completion: number }[] = [
      { stream: false, prompt: 150, completion: 50 }, { stream: true, prompt: 250, completion: 60 }, { stream: false, prompt: 300, completion: 40 },
    ];
    for (const p of plan) {
      const mark = markNow();
      env.mock.enqueue(p.stream ? sseAnswer(p.prompt, p.completion) : jsonAnswer(p.prompt, p.completion));
      const r = await chat(env.gateway, p.stream ? requestOf(400, 100, true) : body);
      assert.equal(r.status, 200, r.text);
      if (p.stream) assert.ok(parseOpenAISse(r.text).done);
      // The check's answer: what was left before this request.
      assert.deepEqual(limitHeaders(r), { limit, remaining: limit - used, reset: limitHeaders(r).reset });
      const s = await settled(env, mark);
      const cost = p.prompt + p.completion;
      assert.equal(s.calls, 2, "gRPC calls for one admitted request");
      assert.deepEqual(s.incrs, [{ key, hits: 0 }, { key, hits: cost }], "check (hits 0) then debit (actual cost)");
      used += cost;
      assert.equal(await redisGet(rls.redisPort, key), used);
    }
    // used 200 + 310 + 340 = 850: 150 left, the 200-token estimate is refused.
    const mark = markNow();
    const r = await chat(env.gateway, body);
    const d = denial(r);
    assertErrorResponse(r.json);
    assert.deepEqual({ rule: d.rule, limit: d.limit, used: d.used, requested: d.requested }, { rule: "seq", limit, used: 850, requested: 200 });
    const h = limitHeaders(r);
    assert.deepEqual({ limit: h.limit, remaining: h.remaining }, { limit, remaining: 150 });
    assert.equal(r.headers["retry-after"], String(h.reset));
    assert.ok(h.reset >= 1 && h.reset <= 3600);
    const s = await settled(env, mark);
    assert.equal(s.calls, 1, "a denied request: the check only");
    assert.deepEqual(s.incrs, [{ key, hits: 0 }]);
    assert.equal(await redisGet(rls.redisPort, key), 850, "nothing debited for the denied request");
    // An estimate above the whole limit asks for the limit, and is refused while anything is used.
    const capped = denial(await chat(env.gateway, requestOf(400, 1_000_000)));
    assert.deepEqual({ used: capped.used, requested: capped.requested }, { used: 850, requested: limit });
    // A request that fits the 150 left passes (and is debited).
    const mark2 = markNow();
    env.mock.enqueue(jsonAnswer(30, 20));
    const fits = await chat(env.gateway, requestOf(200, 100)); // estimate 50 + 100 = 150
    assert.equal(fits.status, 200, fits.text);
    assert.equal(limitHeaders(fits).remaining, 150);
    const s2 = await settled(env, mark2);
    assert.equal(s2.calls, 2);
    assert.deepEqual(s2.incrs, [{ key, hits: 0 }, { key, hits: 50 }]);
    assert.equal(env.mock.requests.length, 4, "the denied request never reached the provider");
    env.mock.assertNoFailures();
  });
});

test("concurrent load: gRPC calls = 2 per admitted + 1 per denied; Redis holds the actual costs; overshoot measured", LIMIT, async () => {
  await awayFromEdge(3600, 15);
  const limit = 3000, n = 60, concurrency = 12;
  await withGlobal(globalConfig([{ name: "conc", key: ["client"], window: "hour", tokens: limit }]), async (env) => {
    const key = redisKey("conc", "hour");
    env.mock.register(jsonAnswer(120, 60, { path: "/v1/chat/completions", stream: false }), sseAnswer(110, 50, { path: "/v1/chat/completions", stream: true }));
    const mark = markNow();
    let next = 0, admittedJson = 0, admittedStream = 0, denied = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const stream = i % 2 === 1;
        const r = await chat(env.gateway, requestOf(400, 100, stream)); // estimate 200
        if (r.status === 200) { if (stream) admittedStream++; else admittedJson++; } else { denial(r); denied++; }
      }
    }));
    const s = await settled(env, mark);
    const admitted = admittedJson + admittedStream;
    const counter = await redisGet(rls.redisPort, key);
    const overshoot = Math.max(0, counter - limit);
    console.log(`# global concurrency: ${JSON.stringify({ n, concurrency, admitted, denied, grpcCalls: s.calls, counter, overshoot, perAdmitted: (s.calls - denied) / admitted })}`);
    assert.equal(admitted + denied, n);
    assert.ok(denied > 0 && admitted > 0);
    assert.equal(s.calls, 2 * admitted + denied, "2 calls per admitted request, 1 per denied");
    assert.equal(s.incrs.filter((x) => x.hits === 0).length, n, "one check per request");
    assert.equal(s.incrs.filter((x) => x.hits > 0).length, admitted, "one debit per admitted request");
    assert.ok(s.incrs.every((x) => x.key === key));
    assert.equal(counter, admittedJson * 180 + admittedStream * 160, "the counter is the sum of the actual costs");
    // Check-then-debit has no reservation: requests admitted together all saw the same budget.
    // Bound: each admitted request passed a check with remaining >= its estimate (200), and at
    // most `concurrency` requests are unsettled at once, so the counter stays below limit +
    // concurrency · max actual cost.
    assert.ok(overshoot <= concurrency * 180, `overshoot ${overshoot}`);
    env.mock.assertNoFailures();
  });
});

test("a second window resets the remaining budget", LIMIT, async () => {
  const limit = 300;
  await withGlobal(globalConfig([{ name: "persec", key: ["client"], window: "second", tokens: limit }]), async (env) => {
    for (let attempt = 1; ; attempt++) {
      assert.ok(attempt <= 4, "could not stay inside one second");
      while (Date.now() % 1000 > 250) await sleep(5);
      const second = Math.floor(Date.now() / 1000);
      env.mock.enqueue(jsonAnswer(200, 80));
      const a = await chat(env.gateway, requestOf(100, 100)); // estimate 125
      assert.equal(a.status, 200, a.text);
      await assertClean(env.gateway); // the debit (280) has landed
      const b = await chat(env.gateway, requestOf(100, 100));
      if (Math.floor(Date.now() / 1000) !== second) { env.mock.reset(); await sleep(1100); continue; }
      const d = denial(b);
      assert.deepEqual({ used: d.used, limit: d.limit }, { used: 280, limit });
      assert.equal(b.headers["retry-after"], "1");
      await sleep((second + 1) * 1000 - Date.now() + 50);
      env.mock.enqueue(jsonAnswer(10, 10));
      const c = await chat(env.gateway, requestOf(100, 100));
      assert.equal(c.status, 200, `new window: ${c.text}`);
      assert.deepEqual(limitHeaders(c), { limit, remaining: limit, reset: 1 });
      break;
    }
    await assertClean(env.gateway);
  });
});

// ------------------------------------------------------------------------------------------------
// Service failures

const BOUND_MS = 1000; // generous for a 100 ms timeout on a loaded machine; measured values are printed

async function failureRound(env: LimitEnv, mode: "allow" | "deny", label: string, minMs: number): Promise<number[]> {
  const times: number[] = [];
  const logFrom = env.gateway.logs.length;
  for (let i = 0; i < 5; i++) {
    if (mode === "allow") env.mock.enqueue(jsonAnswer(10, 10));
    const r = await chat(env.gateway, requestOf(200, 50));
    times.push(r.ms);
    if (mode === "allow") {
      assert.equal(r.status, 200, `${label}, allow: ${r.text}`);
      assert.equal(r.headers["x-ratelimit-limit-tokens"], undefined, "no budget known: no x-ratelimit-* headers");
    } else {
      assert.equal(r.status, 503, `${label}, deny: ${r.text}`);
      assertErrorResponse(r.json);
      assert.equal(r.json.error.code, "rate_limit_service_unavailable");
    }
    assert.ok(r.ms >= minMs && r.ms < BOUND_MS, `${label}/${mode}: ${r.ms.toFixed(0)} ms outside [${minMs}, ${BOUND_MS})`);
  }
  await assertClean(env.gateway, logFrom, 5000);
  const warned = env.gateway.logs.slice(logFrom).filter((l) => /rate limit check failed/.test(l.message)).length;
  assert.equal(warned, 5, "each failure is logged");
  console.log(`# ${label}, failure_mode=${mode}: ms ${times.map((t) => t.toFixed(0)).join(", ")}`);
  return times;
}

test("service slow (answers delayed 1.5 s, timeout_ms 100): allow passes, deny answers 503, both after ~timeout", LIMIT, async () => {
  proxy.delayMs = 1500;
  try {
    for (const mode of ["allow", "deny"] as const) {
      await withGlobal(globalConfig([{ name: `slow-${mode}`, key: ["client"], window: "hour", tokens: 100000 }], { failure_mode: mode, timeout_ms: 100 }), async (env) => {
        const mark = markNow();
        await failureRound(env, mode, "slow", 95);
        // Nothing left behind once the delayed answers (and, for allow, the debits) are done.
        await sleep(1700);
        await assertClean(env.gateway);
        if (mode === "allow") env.mock.assertNoFailures();
        else assert.equal(env.mock.requests.length, 0, "deny: nothing reached the provider");
        assert.ok(proxy.requests - mark.calls >= 5, "the checks did reach the service");
      });
    }
  } finally {
    proxy.delayMs = 0;
    proxy.dropConnections();
  }
});

test("service down (stopped): allow passes, deny answers 503, both fast", LIMIT, async () => {
  const own = await startRateLimit({ config: RLS_CONFIG });
  let stopped = false;
  try {
    for (const mode of ["allow", "deny"] as const) {
      await withGlobal(globalConfig([{ name: `down-${mode}`, key: ["client"], window: "hour", tokens: 100000 }], { failure_mode: mode }), async (env) => {
        if (!stopped) {
          // Up: a normal admitted request with the budget in the headers.
          env.mock.enqueue(jsonAnswer(10, 10));
          const ok = await chat(env.gateway, requestOf(200, 50));
          assert.equal(ok.status, 200, ok.text);
          assert.equal(limitHeaders(ok).remaining, 100000);
          await assertClean(env.gateway);
          await own.stop();
          stopped = true;
        }
        await failureRound(env, mode, "down", 0);
        if (mode === "allow") env.mock.assertNoFailures();
      }, own.grpcPort);
    }
  } finally {
    await own.stop();
  }
});

test("estimates: capped at the limit (admitted into an empty window), default_output_tokens without max_tokens (global)", LIMIT, async () => {
  await awayFromEdge(3600, 15);
  const limit = 2000;
  await withGlobal(globalConfig([{ name: "dflt", key: ["client"], window: "hour", tokens: limit }], { default_output_tokens: 1800 }), async (env) => {
    // An estimate above the whole limit is capped at it: admitted into an empty window.
    env.mock.enqueue(jsonAnswer(200, 100));
    const first = await chat(env.gateway, { model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }], max_tokens: 1_000_000 });
    assert.equal(first.status, 200, first.text);
    assert.equal(limitHeaders(first).remaining, limit);
    await assertClean(env.gateway);
    // 1700 left; estimate = ceil(bytes/4) + 1800 > 1700 → refused.
    const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }] });
    const d = denial(await chat(env.gateway, body));
    assert.deepEqual({ used: d.used, requested: d.requested }, { used: 300, requested: weightedCost({}, estimateUsage(Buffer.byteLength(body), undefined, 1800)) });
    env.mock.assertNoFailures();
  });
});

// ------------------------------------------------------------------------------------------------
// Client aborts

/** Streams a request with node:http; destroys the connection after `events` SSE events (0: after `ms`). */
function abortClient(url: string, body: string, events: number, ms = 0): Promise<string> {
  return new Promise((ok, fail) => {
    const req = http.request(`${url}/v1/chat/completions`, { method: "POST", agent: false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => { text += d; if (events > 0 && text.split("\n\n").length - 1 >= events) { req.destroy(); ok(text); } });
      res.on("end", () => fail(new Error(`answered before the abort: ${res.statusCode} ${text}`)));
    });
    req.on("error", () => { /* our own destroy */ });
    if (ms > 0) setTimeout(() => { req.destroy(); ok(""); }, ms);
    req.end(body);
  });
}

function longStream(n: number, delayMs: number): { fixture: Fixture; events: string[] } {
  const events: string[] = [];
  for (let i = 0; i < n; i++) events.push(`data: ${JSON.stringify({ ...BASE, object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "w".repeat(100) }, logprobs: null, finish_reason: null }], usage: null })}\n\n`);
  return { events, fixture: fixtureFromSpec("long", { status: 200, headers: { "content-type": "text/event-stream" }, chunks: events.map((text) => ({ text, delayMs })) }, ".") };
}

test("client abort while the check is in flight: nothing reaches the provider, no debit, no leftover context", LIMIT, async () => {
  proxy.delayMs = 300;
  try {
    await withGlobal(globalConfig([{ name: "inflight", key: ["client"], window: "hour", tokens: 100000 }], { timeout_ms: 2000 }), async (env) => {
      const mark = markNow();
      await abortClient(env.gateway.url, requestOf(400, 100), 0, 60);
      await sleep(500); // the check's answer arrives after the stream is gone
      const s = await settled(env, mark);
      assert.equal(s.calls, 1, "the check only");
      assert.deepEqual(s.incrs.map((x) => x.hits), [0]);
      assert.equal(env.mock.requests.length, 0);
    });
  } finally {
    proxy.delayMs = 0;
  }
});

test("client abort mid-stream (global): the debit is the input estimate + the streamed output estimate", LIMIT, async () => {
  await awayFromEdge(3600, 15);
  await withGlobal(globalConfig([{ name: "abort", key: ["client"], window: "hour", tokens: 100000 }]), async (env) => {
    const { fixture, events } = longStream(8, 150);
    env.mock.enqueue(fixture);
    const body = requestOf(400, 1000, true);
    const mark = markNow();
    await abortClient(env.gateway.url, body, 3);
    const s = await settled(env, mark);
    const streamed = events.slice(0, 3).reduce((n, e) => n + Buffer.byteLength(e), 0);
    assert.equal(s.calls, 2);
    assert.deepEqual(s.incrs.map((x) => x.hits), [0, 100 + Math.ceil(streamed / 4)]);
    await sleep(200);
  });
});

// Regression: against a9a999d the streamed part was divided by 4 whatever bytes_per_token said.
test("bytes_per_token also applies to the streamed-output estimate in global mode", LIMIT, async () => {
  await awayFromEdge(3600, 15);
  await withGlobal(globalConfig([{ name: "bpt", key: ["client"], window: "hour", tokens: 100000 }], { bytes_per_token: 2 }), async (env) => {
    const { fixture, events } = longStream(8, 150);
    env.mock.enqueue(fixture);
    const body = requestOf(400, 1000, true);
    const mark = markNow();
    await abortClient(env.gateway.url, body, 3);
    const s = await settled(env, mark);
    const streamed = events.slice(0, 3).reduce((n, e) => n + Buffer.byteLength(e), 0);
    assert.deepEqual(s.incrs.map((x) => x.hits), [0, 200 + Math.ceil(streamed / 2)], "input 400/2 + streamed/2");
    await sleep(200);
  });
});
