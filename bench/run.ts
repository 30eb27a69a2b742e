// `npm run bench`: filter CPU time per request on the passthrough (OpenAI → OpenAI) path, through
// the host's socket-free stream driver (no sockets, no event loop in the timed code).
//
// Scenarios
//   a) 2 KB chat request + 1 KB JSON response
//   b) 2 KB streaming request + SSE response of 200 content chunks (as OpenAI sends it with
//      include_usage, which the gateway injects and then strips)
//   c) the same with 2000 content chunks: per-chunk cost must not grow with stream length
// Compared in the same run with
//   no-op   tests/filters/noop (build/noop.wasm): the same runtime, every callback returns
//           Continue — what the host and the proxy-wasm plumbing cost before the filter works
//   native  V8's own TextDecoder + JSON.parse + JSON.stringify of the same bodies (for streams,
//           of every event's payload) — what "just parsing the JSON" costs in the host's engine
//
//   node --import tsx bench/run.ts [--json] [--scale 0.2] [--only a,b,c] [--wasm other.wasm]
//
// Timing: process.hrtime.bigint() around each whole request (headers, body, response, teardown
// with on_log/on_done/on_delete); for streams also around the response-body phase alone, divided
// by the number of SSE events = per-chunk cost. Warm-up iterations first (V8 tiers wasm up),
// then median and p90 over the measured iterations.

import { existsSync, statSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { PluginHost, type Worker } from "../tests/host/plugin-host.ts";
import { chatRequest, chatResponse, sseStream, type SseStream } from "./bodies.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DEFAULT_GATEWAY_WASM = join(ROOT, "build", "ai-gateway.wasm");
const NOOP_SRC = join(ROOT, "tests", "filters", "noop", "index.ts");
const NOOP_WASM = join(ROOT, "build", "noop.wasm");

const args = process.argv.slice(2);
const asJson = args.includes("--json");
const argOf = (n: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : undefined; };
const scale = Number(argOf("--scale") ?? "1");
const only = new Set((argOf("--only") ?? "a,b,c").split(","));
// --wasm build/ai-gateway.debug.wasm: the build with function names, for `node --cpu-prof`.
const GATEWAY_WASM = argOf("--wasm") ?? DEFAULT_GATEWAY_WASM;
if (!(scale > 0)) throw new Error("--scale must be a positive number");

// The gateway's configuration as in the e2e tests: one OpenAI backend, routing by model.
const GATEWAY_CONFIG = JSON.stringify({
  backends: [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.test", auth: { type: "bearer", key: "sk-upstream-secret" } }],
  models: [{ match: "gpt-4o-mini", backend: "openai" }, { match: "gpt-*", backend: "openai" }],
  max_request_bytes: 1048576,
});

// ------------------------------------------------------------------------------------ set-up

function ensureNoopBuilt(): void {
  if (existsSync(NOOP_WASM) && statSync(NOOP_WASM).mtimeMs >= statSync(NOOP_SRC).mtimeMs) return;
  if (!asJson) console.error("building build/noop.wasm …");
  execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs"), "--entry", "tests/filters/noop/index.ts", "--out", "build/noop.wasm"],
    { cwd: ROOT, stdio: asJson ? "ignore" : ["ignore", "ignore", "inherit"] });
}

async function loadWorker(wasm: string, rootId: string, configuration: string): Promise<{ host: PluginHost; worker: Worker }> {
  if (!existsSync(wasm)) throw new Error(`${wasm} is missing (npm run build)`);
  const host = await PluginHost.load({ wasm, plugin: { rootId, configuration }, workers: 1 });
  return { host, worker: host.worker(0) };
}

const REQUEST_HEADERS = (len: number): [string, string][] => [
  [":method", "POST"], [":path", "/v1/chat/completions"], [":authority", "gateway.local"], [":scheme", "http"],
  ["content-type", "application/json"], ["content-length", String(len)], ["authorization", "Bearer sk-client"],
  ["user-agent", "OpenAI/JS 6.49.0"], ["accept", "application/json"],
];
const JSON_RESPONSE_HEADERS = (len: number): [string, string][] => [
  [":status", "200"], ["content-type", "application/json"], ["content-length", String(len)], ["openai-version", "2020-10-01"],
];
const SSE_RESPONSE_HEADERS: [string, string][] = [[":status", "200"], ["content-type", "text/event-stream; charset=utf-8"], ["openai-version", "2020-10-01"]];

interface Exchange { request: Uint8Array; json?: Uint8Array; sse?: SseStream }

/** One request through the driver. Returns [total ns, response-body-phase ns]. */
function runOnce(worker: Worker, x: Exchange, record: boolean) {
  const t0 = process.hrtime.bigint();
  const s = worker.newStream({ record });
  s.requestHeaders(REQUEST_HEADERS(x.request.length)).requestBody(x.request, true);
  let tb: bigint, te: bigint;
  if (x.json) {
    s.responseHeaders(JSON_RESPONSE_HEADERS(x.json.length));
    tb = process.hrtime.bigint();
    s.responseBody(x.json, true);
    te = process.hrtime.bigint();
  } else {
    s.responseHeaders(SSE_RESPONSE_HEADERS);
    tb = process.hrtime.bigint();
    const ev = x.sse!.events;
    for (let i = 0; i < ev.length; i++) s.responseBody(ev[i], i === ev.length - 1);
    te = process.hrtime.bigint();
  }
  s.complete();
  const t1 = process.hrtime.bigint();
  return { total: Number(t1 - t0), body: Number(te - tb), driver: s };
}

/** Before timing anything: prove the filter did the real work on this exact traffic (routed,
 *  credentials set, usage stripped and logged), so the numbers are not those of an error path. */
function checkGatewayWork(host: PluginHost, worker: Worker, x: Exchange): void {
  const logsBefore = host.logs.length;
  const { driver } = runOnce(worker, x, true);
  const up = driver.upstream.headers;
  const fail = (why: string) => { throw new Error(`benchmark sanity check failed: ${why}\nlogs: ${host.logs.slice(logsBefore).map((l) => l.message).join("\n")}`); };
  if (!up) fail("no request reached the upstream (local reply?)");
  if (up!.get("x-ai-gateway-cluster") !== "openai") fail(`cluster header = ${up!.get("x-ai-gateway-cluster")}`);
  if (up!.get("authorization") !== "Bearer sk-upstream-secret") fail("upstream authorization not set");
  if (!driver.downstream.endStream) fail("the response did not complete");
  const down = driver.downstreamBody();
  if (x.json && down !== Buffer.from(x.json).toString()) fail("the JSON response was changed");
  if (x.sse) {
    if (!JSON.parse(driver.upstreamBody()).stream_options?.include_usage) fail("include_usage not injected upstream");
    if (down.includes('"usage"')) fail("usage left in the client's stream");
    const events = down.split("\n\n").length - 1;
    if (events !== x.sse.events.length - 1) fail(`client got ${events} events, expected ${x.sse.events.length - 1}`);
  }
  const line = host.logs.slice(logsBefore).find((l) => / input_tokens=\d+/.test(l.message));
  if (!line) fail("no usage log line");
}

function checkNoopPassthrough(worker: Worker, x: Exchange): void {
  const { driver } = runOnce(worker, x, true);
  if (!driver.context || !driver.context.vm) throw new Error("benchmark sanity check failed: the no-op filter was not in the chain");
  const want = x.json ? Buffer.from(x.json).toString() : Buffer.concat(x.sse!.events).toString();
  if (driver.upstreamBody() !== Buffer.from(x.request).toString() || driver.downstreamBody() !== want)
    throw new Error("benchmark sanity check failed: the no-op filter changed the traffic");
}

// ------------------------------------------------------------------------------------ timing

interface Stats { median: number; p90: number; n: number }
function stats(samples: number[]): Stats {
  const s = Float64Array.from(samples).sort();
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p90: q(0.9), n: s.length };
}

/** Raw samples: whole-request ns, and response-body-phase ns per SSE event. */
interface Samples { total: number[]; perChunk: number[] }

function timeFilter(worker: Worker, x: Exchange, warmup: number, iterations: number): Samples {
  for (let i = 0; i < warmup; i++) runOnce(worker, x, false);
  const out: Samples = { total: [], perChunk: [] };
  const events = x.sse ? x.sse.events.length : 1;
  for (let i = 0; i < iterations; i++) {
    const r = runOnce(worker, x, false);
    out.total.push(r.total);
    out.perChunk.push(r.body / events);
  }
  return out;
}

const td = new TextDecoder();
let sink = 0; // keeps V8 from dropping the native work as dead code
function nativeOnce(x: Exchange): number {
  const t0 = process.hrtime.bigint();
  sink += JSON.stringify(JSON.parse(td.decode(x.request))).length;
  if (x.json) sink += JSON.stringify(JSON.parse(td.decode(x.json))).length;
  else for (const ev of x.sse!.events) {
    const text = td.decode(ev);
    const payload = text.slice(6, text.length - 2); // "data: " … "\n\n"
    if (payload !== "[DONE]") sink += JSON.stringify(JSON.parse(payload)).length;
  }
  return Number(process.hrtime.bigint() - t0);
}

function timeNative(x: Exchange, warmup: number, iterations: number): Samples {
  for (let i = 0; i < warmup; i++) nativeOnce(x);
  const out: Samples = { total: [], perChunk: [] };
  const events = x.sse ? x.sse.events.length : 1;
  for (let i = 0; i < iterations; i++) {
    const t = nativeOnce(x);
    out.total.push(t);
    out.perChunk.push(t / events);
  }
  return out;
}

// ------------------------------------------------------------------------------------ main

interface Scenario { key: string; name: string; x: Exchange; warmup: number; iterations: number; chunks: number }
const scenarios: Scenario[] = [
  { key: "a", name: "2 KB request + 1 KB JSON response", x: { request: chatRequest(2048, false), json: chatResponse(1024) }, warmup: 500, iterations: 5000, chunks: 0 },
  { key: "b", name: "2 KB request + SSE, 200 chunks", x: { request: chatRequest(2048, true), sse: sseStream(200) }, warmup: 50, iterations: 400, chunks: 200 },
  { key: "c", name: "2 KB request + SSE, 2000 chunks", x: { request: chatRequest(2048, true), sse: sseStream(2000) }, warmup: 5, iterations: 50, chunks: 2000 },
].filter((s) => only.has(s.key));

ensureNoopBuilt();
const gw = await loadWorker(GATEWAY_WASM, "ai_gateway", GATEWAY_CONFIG);
const noop = await loadWorker(NOOP_WASM, "noop", "");

const results = [];
for (const sc of scenarios) {
  checkGatewayWork(gw.host, gw.worker, sc.x);
  checkNoopPassthrough(noop.worker, sc.x);
  const warmup = Math.max(1, Math.round(sc.warmup * scale)), iterations = Math.max(5, Math.round(sc.iterations * scale));
  // Interleave the three measurements in rounds so a slow phase of the machine hits all alike.
  const rounds = 5;
  const acc: Record<"filter" | "noop" | "native", Samples> = { filter: { total: [], perChunk: [] }, noop: { total: [], perChunk: [] }, native: { total: [], perChunk: [] } };
  for (let r = 0; r < rounds; r++) {
    const n = Math.max(1, Math.round(iterations / rounds)), w = r === 0 ? warmup : Math.ceil(warmup / 10);
    for (const [k, m] of [["filter", timeFilter(gw.worker, sc.x, w, n)], ["noop", timeFilter(noop.worker, sc.x, w, n)], ["native", timeNative(sc.x, w, n)]] as const) {
      acc[k].total.push(...m.total);
      acc[k].perChunk.push(...m.perChunk);
    }
  }
  const row = {
    scenario: sc.key, name: sc.name, chunks: sc.chunks, iterations: acc.filter.total.length,
    filter: { request: stats(acc.filter.total), perChunk: sc.chunks ? stats(acc.filter.perChunk) : undefined },
    noop: { request: stats(acc.noop.total), perChunk: sc.chunks ? stats(acc.noop.perChunk) : undefined },
    native: { request: stats(acc.native.total), perChunk: sc.chunks ? stats(acc.native.perChunk) : undefined },
  };
  results.push({ ...row, ratio: { filterOverNoop: row.filter.request.median / row.noop.request.median, filterOverNative: row.filter.request.median / row.native.request.median } });
  if (gw.worker.vm?.isFailed || noop.worker.vm?.isFailed) throw new Error(`a VM failed during scenario ${sc.key}`);
}

gw.host.close();
noop.host.close();

if (asJson) {
  console.log(JSON.stringify({ node: process.version, scale, sink: sink > 0, results }, null, 2));
} else {
  const ns = (v: number) => Math.round(v).toLocaleString("en-US");
  const pad = (s: string, n: number) => s.padStart(n);
  console.log(`\nai-gateway filter CPU per request (socket-free driver, Node ${process.version}, ns)\n`);
  console.log(`${"scenario".padEnd(36)}${pad("filter med", 13)}${pad("p90", 12)}${pad("no-op med", 12)}${pad("p90", 11)}${pad("native med", 12)}${pad("p90", 11)}${pad("÷no-op", 9)}${pad("÷native", 9)}`);
  for (const r of results) {
    console.log(`${(r.scenario + ") " + r.name).padEnd(36)}${pad(ns(r.filter.request.median), 13)}${pad(ns(r.filter.request.p90), 12)}` +
      `${pad(ns(r.noop.request.median), 12)}${pad(ns(r.noop.request.p90), 11)}${pad(ns(r.native.request.median), 12)}${pad(ns(r.native.request.p90), 11)}` +
      `${pad(r.ratio.filterOverNoop.toFixed(2) + "x", 9)}${pad(r.ratio.filterOverNative.toFixed(2) + "x", 9)}`);
  }
  const streams = results.filter((r) => r.chunks);
  if (streams.length) {
    console.log(`\nper SSE event, response-body phase only (ns)\n`);
    console.log(`${"stream".padEnd(36)}${pad("filter med", 13)}${pad("p90", 12)}${pad("no-op med", 12)}${pad("p90", 11)}${pad("native med", 12)}${pad("filter-no-op", 14)}`);
    for (const r of streams) {
      console.log(`${(r.chunks + " content chunks").padEnd(36)}${pad(ns(r.filter.perChunk!.median), 13)}${pad(ns(r.filter.perChunk!.p90), 12)}` +
        `${pad(ns(r.noop.perChunk!.median), 12)}${pad(ns(r.noop.perChunk!.p90), 11)}${pad(ns(r.native.perChunk!.median), 12)}${pad(ns(r.filter.perChunk!.median - r.noop.perChunk!.median), 14)}`);
    }
    if (streams.length === 2) {
      const [s, l] = streams;
      console.log(`\nper-event filter cost, ${l.chunks} vs ${s.chunks} chunks: ${(l.filter.perChunk!.median / s.filter.perChunk!.median).toFixed(2)}x (≈1 = flat in stream length)`);
    }
  }
  console.log(`\niterations: ${results.map((r) => `${r.scenario}=${r.iterations}`).join(", ")} (after warm-up); --json for machine-readable output`);
}
