// `npm run bench`: filter CPU time per request through the host's socket-free stream driver (no
// sockets, no event loop in the timed code), and the SigV4 signer on its own.
//
// Scenarios
//   a) 2 KB chat request + 1 KB JSON response (OpenAI → OpenAI passthrough)
//   b) 2 KB streaming request + SSE response of 200 content chunks (as OpenAI sends it with
//      include_usage, which the gateway injects and then strips)
//   c) the same with 2000 content chunks: per-chunk cost must not grow with stream length
//   d) OpenAI → Anthropic: a 2 KB chat request (system prompt, multi-turn with a tool call and
//      its result, one tool definition) translated to a Messages request, and a 1 KB Anthropic
//      JSON response translated back to a chat.completion
//   e) the same request streaming + an Anthropic SSE stream of 200 events (message_start,
//      content_block_start, 195 text deltas, content_block_stop, message_delta, message_stop)
//      translated event by event into chat.completion.chunk events
//   f) the same with 2000 events: per-event cost must not grow with stream length
//   j) OpenAI → Gemini: the request of d/e for a Gemini model, streaming, translated to a
//      GenerateContentRequest, and a Gemini :streamGenerateContent?alt=sse stream of 200 events
//      (CRLF-framed, one text part and cumulative usageMetadata each) into chat.completion.chunk
//   k) the same with 2000 events: per-event cost must not grow with stream length
//   g) local-mode token limits: scenario a's traffic through the gateway without limits, with one
//      local rule and with three local rules (different keys, a model glob, cost weights), loaded
//      side by side and timed in the same interleaved rounds; the cost of admission (estimate +
//      CAS reservation in shared data) and commit (actual usage) per request
//   r) global mode against the real envoyproxy/ratelimit + Redis (tests/support/ratelimit.ts):
//      gRPC round trips per request, counted at the host's proxy_grpc_call (and cross-checked
//      against the service's Redis INCRBYs): admitted = check + debit, denied = check only
//   h) OpenAI → Bedrock Converse: scenario e's request (streaming, SigV4-signed) + a ConverseStream
//      answer of 200 AWS eventstream frames (messageStart, 196 text deltas, contentBlockStop,
//      messageStop, metadata), one frame per write, decoded (both CRCs) and translated frame by
//      frame into chat.completion.chunk events; the native baseline decodes the same frames in
//      JavaScript (prelude, CRCs, headers) and round-trips each payload through JSON
//   i) the same with 2000 frames: per-frame cost must not grow with stream length
//   s) SigV4 signing of a Bedrock Converse POST with a 2 KiB body (assembly/auth/sigv4.ts built
//      alone from bench/wasm/sigv4.ts, plain WebAssembly, no proxy-wasm host); per KiB = the slope
//      between a 2 KiB and a 66 KiB body
// Compared in the same run with
//   no-op   tests/filters/noop (build/noop.wasm): the same runtime, every callback returns
//           Continue — what the host and the proxy-wasm plumbing cost before the filter works
//   native  V8's own TextDecoder + JSON.parse + JSON.stringify of the same bodies (for streams,
//           of every event's data payload) — what "just parsing the JSON" costs in the host's engine
//   node:crypto (scenario s) the same signature with Node's OpenSSL SHA-256/HMAC (bench/sigv4.ts),
//           with the derived signing key cached as the wasm signer does, and without the cache
//
//   node --import tsx bench/run.ts [--json] [--scale 0.2] [--only a,b,c,d,e,f,g,h,i,j,k,r,s] [--wasm other.wasm]
//
// Timing: process.hrtime.bigint() around each whole request (headers, body, response, teardown
// with on_log/on_done/on_delete); for streams also around the response-body phase alone, divided
// by the number of SSE events = per-event cost. Warm-up iterations first (V8 tiers wasm up),
// then median and p90 over the measured iterations. Before anything is timed, each scenario's
// traffic goes through once and the result is checked (routed, credentials, translated shape,
// usage logged; identical Authorization headers for s), so no number is that of an error path.

import { existsSync, statSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { isDeepStrictEqual } from "node:util";
import { PluginHost, type Worker } from "../tests/host/plugin-host.ts";
import { slotCounter } from "../tests/limits/support.ts";
import { assertChatCompletion, assertChatCompletionChunk } from "../tests/support/openai-schema.ts";
import { parseOpenAISse } from "../tests/support/sse.ts";
import { normalizeAnthropicRequest } from "../tests/providers/fixture-case.ts";
import {
  chatRequest, chatResponse, sseStream, anthropicChatRequest, anthropicMessage, anthropicSseStream, converseBody,
  ANTHROPIC_TOOL, ANTHROPIC_TOOL_CALL_ID, type SseStream, type AnthropicSse,
} from "./bodies.ts";
import { NodeSigV4, WasmSigV4, type SigV4Input } from "./sigv4.ts";
import { BEDROCK_CONFIG, BEDROCK_STREAM_HEADERS, bedrockConverseStream, checkBedrockStream, nativeFrame } from "./bedrock.ts";
import { Clusters } from "../tests/host/clusters.ts";
import { startRateLimit } from "../tests/support/ratelimit.ts";
import { RedisMonitor } from "../tests/limits/support.ts";
import { GEMINI_CONFIG, geminiChatRequest, geminiSseStream, checkGeminiTranslation, type GeminiSse } from "./gemini.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DEFAULT_GATEWAY_WASM = join(ROOT, "build", "ai-gateway.wasm");
const NOOP_SRC = join(ROOT, "tests", "filters", "noop", "index.ts");
const NOOP_WASM = join(ROOT, "build", "noop.wasm");
const SIGV4_SRC = [join(ROOT, "bench", "wasm", "sigv4.ts"), join(ROOT, "assembly", "auth", "sigv4.ts")];
const SIGV4_WASM = join(ROOT, "build", "bench-sigv4.wasm");
const SIGV4_VECTOR = join(ROOT, "tests", "fixtures", "sigv4", "bedrock", "bedrock-converse");

const args = process.argv.slice(2);
const asJson = args.includes("--json");
const argOf = (n: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : undefined; };
const scale = Number(argOf("--scale") ?? "1");
const only = new Set((argOf("--only") ?? "a,b,c,d,e,f,g,h,i,j,k,r,s").split(","));
// --wasm build/ai-gateway.debug.wasm: the build with function names, for `node --cpu-prof`.
const GATEWAY_WASM = argOf("--wasm") ?? DEFAULT_GATEWAY_WASM;
if (!(scale > 0)) throw new Error("--scale must be a positive number");

// The gateway's configuration as in the e2e tests: one OpenAI backend, routing by model.
const GATEWAY_CONFIG = JSON.stringify({
  backends: [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.test", auth: { type: "bearer", key: "sk-upstream-secret" } }],
  models: [{ match: "gpt-4o-mini", backend: "openai" }, { match: "gpt-*", backend: "openai" }],
  max_request_bytes: 1048576,
});
// Scenario g: the same gateway with local token limits (limits as large as the RLS allows, day
// windows, so nothing is ever refused during the run).
const MAX_LIMIT = 4294967295;
const LIMIT_RULES_1 = [{ name: "tpd", key: ["client"], window: "day", tokens: MAX_LIMIT }];
const LIMIT_RULES_3 = [
  ...LIMIT_RULES_1,
  { name: "per-model", key: ["model"], match: { model: "gpt-*" }, window: "day", tokens: MAX_LIMIT, cost: { cached_input: 0.5 } },
  { name: "per-client-model", key: ["client", "model", "backend"], window: "day", tokens: MAX_LIMIT, cost: { input: 1, output: 4, request: 10 } },
];
const withLimits = (limits: object) => JSON.stringify({ ...JSON.parse(GATEWAY_CONFIG), limits });
// Scenarios d–f: one Anthropic backend (as tests/fixtures/providers/configs/anthropic.json).
const ANTHROPIC_KEY = "sk-ant-bench-secret";
const ANTHROPIC_CONFIG = JSON.stringify({
  backends: [{ name: "claude", schema: "anthropic", cluster: "anthropic", host: "api.anthropic.com", auth: { type: "header", header: "x-api-key", key: ANTHROPIC_KEY } }],
  models: [{ match: "claude-*", backend: "claude" }],
  max_request_bytes: 1048576,
});

// ------------------------------------------------------------------------------------ set-up

/** Builds a test entry with scripts/build.mjs when its wasm is older than any of its sources. */
function ensureBuilt(entry: string, out: string, sources: string[]): void {
  if (existsSync(out) && sources.every((src) => statSync(out).mtimeMs >= statSync(src).mtimeMs)) return;
  if (!asJson) console.error(`building ${out.slice(ROOT.length + 1)} …`);
  execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs"), "--entry", entry, "--out", out],
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
// What Anthropic answers with (tests/fixtures/providers/anthropic/*/upstream-response.meta.json).
const ANTHROPIC_JSON_HEADERS = (len: number): [string, string][] => [
  [":status", "200"], ["content-type", "application/json"], ["content-length", String(len)], ["request-id", "req_011CSHoEeqs5C35K2UUqR7Fy"],
];
const ANTHROPIC_SSE_HEADERS: [string, string][] = [[":status", "200"], ["content-type", "text/event-stream; charset=utf-8"], ["cache-control", "no-cache"], ["request-id", "req_011CSHoEeqs5C35K2UUqR7Fy"]];

interface Exchange { provider: "openai" | "anthropic" | "bedrock" | "gemini"; request: Uint8Array; json?: Uint8Array; sse?: SseStream | AnthropicSse | GeminiSse }

/** One request through the driver. Returns [total ns, response-body-phase ns]. */
function runOnce(worker: Worker, x: Exchange, record: boolean) {
  const t0 = process.hrtime.bigint();
  const s = worker.newStream({ record });
  s.requestHeaders(REQUEST_HEADERS(x.request.length)).requestBody(x.request, true);
  let tb: bigint, te: bigint;
  const anthropic = x.provider === "anthropic";
  if (x.json) {
    s.responseHeaders(anthropic ? ANTHROPIC_JSON_HEADERS(x.json.length) : JSON_RESPONSE_HEADERS(x.json.length));
    tb = process.hrtime.bigint();
    s.responseBody(x.json, true);
    te = process.hrtime.bigint();
  } else {
    s.responseHeaders(x.provider === "bedrock" ? BEDROCK_STREAM_HEADERS : anthropic ? ANTHROPIC_SSE_HEADERS : SSE_RESPONSE_HEADERS);
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
 *  credentials set, usage stripped and logged / translated both ways), so the numbers are not
 *  those of an error path. */
function checkGatewayWork(host: PluginHost, worker: Worker, x: Exchange): void {
  if (x.provider === "bedrock") { const before = host.logs.length; checkBedrockStream(host, before, runOnce(worker, x, true).driver, x.sse as ReturnType<typeof bedrockConverseStream>); }
  else if (x.provider === "anthropic") checkAnthropicTranslation(host, worker, x);
  else if (x.provider === "gemini") { const logsBefore = host.logs.length; checkGeminiTranslation(host, logsBefore, runOnce(worker, x, true).driver, x.request, x.sse as GeminiSse); }
  else checkOpenAIPassthrough(host, worker, x);
}

function checkOpenAIPassthrough(host: PluginHost, worker: Worker, x: Exchange): void {
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

/** The request reached Anthropic as a Messages request (§10), the client got the OpenAI shape
 *  back (schema-valid, the provider's text, usage in OpenAI semantics §11.2), usage was logged. */
function checkAnthropicTranslation(host: PluginHost, worker: Worker, x: Exchange): void {
  const logsBefore = host.logs.length;
  const { driver } = runOnce(worker, x, true);
  const fail = (why: string): never => { throw new Error(`benchmark sanity check failed (anthropic): ${why}\nlogs: ${host.logs.slice(logsBefore).map((l) => l.message).join("\n")}`); };
  const same = (what: string, got: unknown, want: unknown) => { if (!isDeepStrictEqual(got, want)) fail(`${what}:\n  got  ${JSON.stringify(got)}\n  want ${JSON.stringify(want)}`); };

  // Request side: Anthropic's URL, key and version header; the client's credential gone.
  const up = driver.upstream.headers ?? fail("no request reached the upstream (local reply?)");
  same("upstream :path", up.get(":path"), "/v1/messages");
  same("upstream :authority", up.get(":authority"), "api.anthropic.com");
  same("cluster header", up.get("x-ai-gateway-cluster"), "anthropic");
  same("x-api-key", up.get("x-api-key"), ANTHROPIC_KEY);
  same("anthropic-version", up.get("anthropic-version"), "2023-06-01");
  same("upstream authorization", up.get("authorization"), undefined);
  const upBody = driver.upstreamBody();
  same("upstream content-length", up.get("content-length"), String(Buffer.byteLength(upBody)));
  const sent = JSON.parse(td.decode(x.request));
  const stream = sent.stream === true;
  const [system, user1, call, result, answer, user2] = sent.messages;
  const tc = call.tool_calls[0];
  const fn = sent.tools[0].function;
  same("upstream Messages body (normalised per fixtures README rule 4)", normalizeAnthropicRequest(JSON.parse(upBody)), normalizeAnthropicRequest({
    model: sent.model, max_tokens: sent.max_completion_tokens,
    system: system.content,
    messages: [
      { role: "user", content: user1.content },
      { role: "assistant", content: [{ type: "tool_use", id: tc.id, name: tc.function.name, input: JSON.parse(tc.function.arguments) }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: result.tool_call_id, content: result.content }] },
      { role: "assistant", content: answer.content },
      { role: "user", content: user2.content },
    ],
    temperature: sent.temperature,
    ...(stream ? { stream: true } : {}),
    tools: [{ name: fn.name, description: fn.description, input_schema: fn.parameters }],
    tool_choice: { type: "auto" },
  }));
  if (tc.id !== ANTHROPIC_TOOL_CALL_ID || fn.name !== ANTHROPIC_TOOL.function.name) fail("bench/bodies.ts changed under the check");

  // Response side.
  if (!driver.downstream.endStream) fail("the response did not complete");
  const dh = driver.downstream.headers!;
  const down = driver.downstreamBody();
  let wantOutput: number, wantInput: number, wantCached: number;
  if (x.json) {
    const msg = JSON.parse(td.decode(x.json));
    same("client content-type", dh.get("content-type")?.split(";")[0], "application/json");
    same("client content-length", dh.get("content-length"), String(Buffer.byteLength(down)));
    const body = JSON.parse(down);
    assertChatCompletion(body, "client-facing completion");
    const u = msg.usage;
    wantInput = u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens;
    wantOutput = u.output_tokens;
    wantCached = u.cache_read_input_tokens;
    same("completion", { id: body.id, object: body.object, model: body.model, choices: body.choices, prompt: body.usage.prompt_tokens, completion: body.usage.completion_tokens, total: body.usage.total_tokens, cached: body.usage.prompt_tokens_details?.cached_tokens }, {
      id: msg.id, object: "chat.completion", model: msg.model,
      choices: [{ index: 0, message: { role: "assistant", content: msg.content[0].text, refusal: null }, logprobs: null, finish_reason: "stop" }],
      prompt: wantInput, completion: wantOutput, total: wantInput + wantOutput, cached: wantCached,
    });
  } else {
    const sse = x.sse as AnthropicSse;
    const start = JSON.parse(sse.payloads[0]).message;
    const mdelta = JSON.parse(sse.payloads[sse.payloads.length - 2]);
    same("client content-type", dh.get("content-type")?.split(";")[0], "text/event-stream");
    const got = parseOpenAISse(down); // strict: only `data: ` events, LF, ends with [DONE]
    if (!got.done) fail("the client's stream does not end with [DONE]");
    got.chunks.forEach((c, i) => assertChatCompletionChunk(c, `client chunk ${i}`));
    same("chunks", got.chunks.length, sse.texts.length + 2);
    same("ids", [...new Set(got.chunks.map((c) => `${c.id} ${c.object} ${c.model} ${c.created}`))].length, 1);
    same("first chunk", [got.chunks[0].id, got.chunks[0].choices[0].delta], [start.id, { role: "assistant", content: "" }]);
    same("content deltas", got.chunks.slice(1, -1).map((c) => c.choices[0].delta.content), sse.texts);
    same("finish chunk", got.chunks[got.chunks.length - 1].choices, [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }]);
    if (down.includes('"usage"')) fail("usage reached a client that did not ask for it");
    wantInput = start.usage.input_tokens + start.usage.cache_creation_input_tokens + start.usage.cache_read_input_tokens;
    wantOutput = mdelta.usage.output_tokens;
    wantCached = start.usage.cache_read_input_tokens;
  }
  const line = host.logs.slice(logsBefore).find((l) => / input_tokens=\d+/.test(l.message))?.message ?? fail("no usage log line");
  same("usage log line", /backend=(\S+) status=(\d+) input_tokens=(\d+) output_tokens=(\d+) cached_tokens=(\d+)/.exec(line)?.slice(1),
    ["claude", "200", String(wantInput), String(wantOutput), String(wantCached)]);
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
  else if (x.provider === "bedrock") for (const ev of x.sse!.events) sink += nativeFrame(ev);
  else for (const ev of x.sse!.events) {
    const text = td.decode(ev);
    const at = text.indexOf("data: "); // after Anthropic's "event: …" line
    const payload = text.slice(at + 6).trimEnd(); // "data: " … "\n\n" (Gemini: "\r\n\r\n")
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

// ------------------------------------------------------------------------------------ SigV4

const BEDROCK_REQUEST = (body: Uint8Array): SigV4Input => ({
  method: "POST", path: "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", host: "bedrock-runtime.us-east-1.amazonaws.com",
  contentType: "application/json", body, region: "us-east-1", service: "bedrock", amzDate: "20250101T000000Z",
  accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
});

/** The stored Bedrock Converse vector (tests/fixtures/sigv4/bedrock/bedrock-converse): input and authorization. */
function sigv4Vector(): { input: SigV4Input; authorization: string } {
  const ctx = JSON.parse(readFileSync(join(SIGV4_VECTOR, "context.json"), "utf8"));
  const raw = readFileSync(join(SIGV4_VECTOR, "bedrock-converse.req"), "utf8");
  const [head, body] = [raw.slice(0, raw.indexOf("\n\n")), raw.slice(raw.indexOf("\n\n") + 2)];
  const [requestLine, ...lines] = head.split("\n");
  const h = new Map(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1)]));
  const [method, path] = requestLine.split(" ");
  if (ctx.token || !ctx.addContentSha256 || [...h.keys()].sort().join() !== "content-type,host") throw new Error(`${SIGV4_VECTOR}: not the request shape this bench signs`);
  return {
    input: { method, path, host: h.get("host")!, contentType: h.get("content-type")!, body: Buffer.from(body, "utf8"), region: ctx.region, service: ctx.service, amzDate: ctx.amzDate, accessKeyId: ctx.akid, secretAccessKey: ctx.secret },
    authorization: readFileSync(join(SIGV4_VECTOR, "bedrock-converse.authz"), "utf8").trim(),
  };
}

interface SigSigner { name: string; prepare(r: SigV4Input): void; signOnce(r: SigV4Input): string }

/** Before timing: every signer produces the stored vector's header and, for each benchmark body,
 *  the same Authorization header as the others. */
function checkSigners(signers: SigSigner[], bodies: SigV4Input[]): void {
  const v = sigv4Vector();
  for (const r of [v.input, ...bodies]) {
    const got = signers.map((sg) => { sg.prepare(r); return sg.signOnce(r); });
    const want = r === v.input ? v.authorization : got[0];
    if (!/^AWS4-HMAC-SHA256 Credential=\S+, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/.test(want)) throw new Error(`benchmark sanity check failed: not a SigV4 header: ${want}`);
    got.forEach((a, i) => {
      if (a !== want) throw new Error(`benchmark sanity check failed: ${signers[i].name} signed the ${r.body.length}-byte body as\n  ${a}\nexpected\n  ${want}`);
    });
  }
}

function timeSigner(sg: SigSigner, r: SigV4Input, warmup: number, iterations: number): number[] {
  for (let i = 0; i < warmup; i++) sink += sg.signOnce(r).length;
  const out: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    const a = sg.signOnce(r);
    out.push(Number(process.hrtime.bigint() - t0));
    sink += a.length;
  }
  return out;
}

async function benchSigV4() {
  ensureBuilt("bench/wasm/sigv4.ts", SIGV4_WASM, [...SIGV4_SRC, ...["bytes", "sha256", "hmac", "hex"].map((f) => join(ROOT, "assembly", "util", f + ".ts"))]);
  const wasm = await WasmSigV4.load(SIGV4_WASM);
  const nodeCached = new NodeSigV4(true), nodeFresh = new NodeSigV4(false);
  const signers: SigSigner[] = [
    { name: "wasm (assembly/auth/sigv4.ts)", prepare: (r) => wasm.setRequest(r), signOnce: () => { wasm.sign(); return wasm.authorization(); } },
    { name: "node:crypto, signing key cached", prepare: () => {}, signOnce: (r) => nodeCached.sign(r) },
    { name: "node:crypto, key derived per request", prepare: () => {}, signOnce: (r) => nodeFresh.sign(r) },
  ];
  const SMALL = 2048, LARGE = 66 * 1024;
  const sizes = [{ bytes: SMALL, warmup: 2000, iterations: 20000 }, { bytes: LARGE, warmup: 100, iterations: 1000 }];
  const reqs = sizes.map((z) => BEDROCK_REQUEST(converseBody(z.bytes)));
  checkSigners(signers, reqs);
  const samples = signers.map(() => sizes.map(() => [] as number[]));
  sizes.forEach((z, k) => {
    const warmup = Math.max(1, Math.round(z.warmup * scale)), iterations = Math.max(5, Math.round(z.iterations * scale));
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      const n = Math.max(1, Math.round(iterations / rounds)), w = round === 0 ? warmup : Math.ceil(warmup / 10);
      signers.forEach((sg, i) => { sg.prepare(reqs[k]); samples[i][k].push(...timeSigner(sg, reqs[k], w, n)); });
    }
  });
  const rows = signers.map((sg, i) => {
    const small = stats(samples[i][0]), large = stats(samples[i][1]);
    return { signer: sg.name, request: small, large, perKiB: (large.median - small.median) / ((LARGE - SMALL) / 1024) };
  });
  // The wasm signer's key cache: one derivation for the whole run (one secret, day, region, service).
  return { bodyBytes: SMALL, largeBodyBytes: LARGE, rows, wasmKeyDerivations: wasm.keyDerivations, ratio: { wasmOverNodeCached: rows[0].request.median / rows[1].request.median, wasmOverNodeFresh: rows[0].request.median / rows[2].request.median } };
}

// ------------------------------------------------------------------------------------ g) local limits

/** The counter of a local rule's descriptor for client "-" (its slot in shared data, tests/limits/support.ts). */
function localUsed(host: PluginHost, descriptor: string): number {
  return slotCounter(host.sharedData, descriptor, 0);
}

/** Scenario a's usage (bench/bodies.ts chatResponse): 512 prompt (384 cached), 230 completion. */
function weighted(w: { input?: number; cached_input?: number; output?: number; request?: number }): number {
  const wi = w.input ?? 1, wc = w.cached_input ?? wi, wo = w.output ?? 1;
  return Math.ceil((512 - 384) * wi + 384 * wc + 230 * wo + (w.request ?? 0));
}

/** Before timing: the limit path really ran: x-ratelimit-* on the answer, every rule's counter
 *  moved by exactly its weighted cost of the response's usage, and the passthrough is intact. */
function checkLimitWork(host: PluginHost, worker: Worker, x: Exchange, rules: typeof LIMIT_RULES_3): void {
  const descriptors = rules.map((r) => `${r.name}|${r.key.map((k) => `${k}=${{ client: "-", model: "gpt-4o-mini", backend: "openai" }[k]}`).join("|")}`);
  const before = descriptors.map((d) => localUsed(host, d));
  checkOpenAIPassthrough(host, worker, x);
  const { driver } = runOnce(worker, x, true);
  const h = driver.downstream.headers!;
  if (h.get("x-ratelimit-limit-tokens") !== String(MAX_LIMIT) || !/^\d+$/.test(h.get("x-ratelimit-remaining-tokens") ?? ""))
    throw new Error(`benchmark sanity check failed (g): no x-ratelimit-* headers on the answer`);
  descriptors.forEach((d, i) => {
    const got = localUsed(host, d) - before[i], want = 2 * weighted((rules[i] as any).cost ?? {});
    if (got !== want) throw new Error(`benchmark sanity check failed (g): rule ${d} counted ${got}, expected ${want} for two requests`);
  });
}

async function benchLocalLimits() {
  const x: Exchange = { provider: "openai", request: chatRequest(2048, false), json: chatResponse(1024) };
  const variants = [
    { name: "no limits", config: GATEWAY_CONFIG, vmId: "bench_g0", rules: [] as typeof LIMIT_RULES_3 },
    { name: "1 local rule", config: withLimits({ mode: "local", rules: LIMIT_RULES_1 }), vmId: "bench_g1", rules: LIMIT_RULES_1 as typeof LIMIT_RULES_3 },
    { name: "3 local rules", config: withLimits({ mode: "local", rules: LIMIT_RULES_3 }), vmId: "bench_g3", rules: LIMIT_RULES_3 },
  ];
  const loaded = [];
  for (const v of variants) {
    const host = await PluginHost.load({ wasm: GATEWAY_WASM, plugin: { rootId: "ai_gateway", vmId: v.vmId, configuration: v.config }, workers: 1 });
    const worker = host.worker(0);
    if (v.rules.length) checkLimitWork(host, worker, x, v.rules); else checkOpenAIPassthrough(host, worker, x);
    loaded.push({ ...v, host, worker, samples: [] as number[] });
  }
  const warmup = Math.max(1, Math.round(500 * scale)), iterations = Math.max(5, Math.round(5000 * scale)), rounds = 5;
  for (let r = 0; r < rounds; r++) {
    const n = Math.max(1, Math.round(iterations / rounds)), w = r === 0 ? warmup : Math.ceil(warmup / 10);
    for (const l of loaded) l.samples.push(...timeFilter(l.worker, x, w, n).total);
  }
  for (const l of loaded) { if (l.worker.vm?.isFailed) throw new Error(`a VM failed during scenario g (${l.name})`); l.host.close(); }
  const base = stats(loaded[0].samples);
  return { rows: loaded.map((l) => { const st = stats(l.samples); return { variant: l.name, rules: l.rules.length, request: st, overheadNs: st.median - base.median, overheadPct: 100 * (st.median / base.median - 1) }; }) };
}

// ------------------------------------------------------------------------------------ r) global RLS round trips

async function benchGlobalRoundTrips() {
  const rls = await startRateLimit({ config: { domain: "ai_gateway", descriptors: [{ key: "rule", rate_limit: { unit: "minute", requests_per_unit: 1 } }] } });
  const monitor = await RedisMonitor.start(rls.redisPort);
  const clusters = new Clusters({ ratelimit: { host: "127.0.0.1", port: rls.grpcPort, http2: true } });
  let grpcCalls = 0;
  const grpcCall = clusters.grpcCall.bind(clusters);
  clusters.grpcCall = (...a: Parameters<typeof grpcCall>) => { grpcCalls++; return grpcCall(...a); };
  const x: Exchange = { provider: "openai", request: chatRequest(2048, false), json: chatResponse(1024) };
  const wait = async (what: string, cond: () => boolean) => {
    const t0 = Date.now();
    while (!cond()) { if (Date.now() - t0 > 5000) throw new Error(`benchmark (r): timed out waiting for ${what}`); await new Promise((ok) => setTimeout(ok, 1)); }
  };
  /** One request through the socket-free driver; the RLS answers over a real HTTP/2 connection. */
  const once = async (host: PluginHost, worker: Worker) => {
    const t0 = process.hrtime.bigint();
    const s = worker.newStream({ record: true });
    s.requestHeaders(REQUEST_HEADERS(x.request.length)).requestBody(x.request, true);
    await wait("the check", () => s.upstream.headers !== null || s.downstream.headers !== null);
    const admitted = s.upstream.headers !== null;
    if (admitted) s.responseHeaders(JSON_RESPONSE_HEADERS(x.json!.length)).responseBody(x.json!, true);
    s.complete();
    await wait("the debit", () => host.pendingCalls() === 0);
    return { admitted, status: s.downstream.headers?.get(":status"), remaining: s.downstream.headers?.get("x-ratelimit-remaining-tokens"), ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  };
  const config = (tokens: number) => withLimits({ mode: "global", rls_cluster: "ratelimit", timeout_ms: 1000, failure_mode: "deny", rules: [{ name: "tpd", key: ["client"], window: "day", tokens }] });
  const n = Math.max(10, Math.round(200 * scale));
  try {
    // Admitted: a budget that never runs out. Sanity: the budget shows in the headers and Redis
    // holds exactly the usage of the requests (742 tokens each).
    const big = await PluginHost.load({ wasm: GATEWAY_WASM, plugin: { rootId: "ai_gateway", vmId: "bench_r1", configuration: config(MAX_LIMIT) }, workers: 1, clusters });
    const first = await once(big, big.worker(0));
    if (!first.admitted || first.status !== "200" || first.remaining !== String(MAX_LIMIT)) throw new Error(`benchmark sanity check failed (r): ${JSON.stringify(first)}`);
    const calls0 = grpcCalls, incr0 = monitor.incrs.length;
    const ms: number[] = [];
    for (let i = 0; i < n; i++) { const r = await once(big, big.worker(0)); if (!r.admitted) throw new Error("benchmark (r): a request was refused"); ms.push(r.ms); }
    await new Promise((ok) => setTimeout(ok, 50));
    const admittedIncrs = monitor.incrs.slice(incr0);
    const admittedCalls = grpcCalls - calls0;
    if (admittedIncrs.filter((i) => i.hits === 0).length !== n || admittedIncrs.filter((i) => i.hits === 742).length !== n || admittedIncrs.length !== 2 * n)
      throw new Error(`benchmark sanity check failed (r): the service saw ${admittedIncrs.length} INCRBYs for ${n} requests`);
    big.close();
    // Denied: a 1000-token budget, spent by one request (742), refuses every 1024-token estimate.
    const small = await PluginHost.load({ wasm: GATEWAY_WASM, plugin: { rootId: "ai_gateway", vmId: "bench_r2", configuration: withLimits({ mode: "global", rls_cluster: "ratelimit", timeout_ms: 1000, failure_mode: "deny", rules: [{ name: "small", key: ["client"], window: "day", tokens: 1000 }] }) }, workers: 1, clusters });
    if (!(await once(small, small.worker(0))).admitted) throw new Error("benchmark sanity check failed (r): the first small-budget request was refused");
    const calls1 = grpcCalls, incr1 = monitor.incrs.length;
    const nd = Math.max(5, Math.round(n / 4));
    for (let i = 0; i < nd; i++) { const r = await once(small, small.worker(0)); if (r.admitted || r.status !== "429") throw new Error(`benchmark sanity check failed (r): expected a 429, got ${JSON.stringify(r)}`); }
    await new Promise((ok) => setTimeout(ok, 50));
    const deniedCalls = grpcCalls - calls1, deniedIncrs = monitor.incrs.slice(incr1);
    if (deniedIncrs.length !== nd || deniedIncrs.some((i) => i.hits !== 0)) throw new Error(`benchmark sanity check failed (r): the service saw ${JSON.stringify(deniedIncrs.slice(0, 5))}… for ${nd} denied requests`);
    small.close();
    return { admitted: { requests: n, grpcCalls: admittedCalls, perRequest: admittedCalls / n, redisIncrby: admittedIncrs.length, msPerRequest: stats(ms) }, denied: { requests: nd, grpcCalls: deniedCalls, perRequest: deniedCalls / nd, redisIncrby: deniedIncrs.length } };
  } finally {
    monitor.stop();
    clusters.close();
    await rls.stop();
  }
}

// ------------------------------------------------------------------------------------ main

interface Scenario { key: string; name: string; x: Exchange; warmup: number; iterations: number; chunks: number; streamLabel?: string }
const scenarios: Scenario[] = ([
  { key: "a", name: "2 KB request + 1 KB JSON response", x: { provider: "openai", request: chatRequest(2048, false), json: chatResponse(1024) }, warmup: 500, iterations: 5000, chunks: 0 },
  { key: "b", name: "2 KB request + SSE, 200 chunks", x: { provider: "openai", request: chatRequest(2048, true), sse: sseStream(200) }, warmup: 50, iterations: 400, chunks: 200, streamLabel: "OpenAI, 200 content chunks" },
  { key: "c", name: "2 KB request + SSE, 2000 chunks", x: { provider: "openai", request: chatRequest(2048, true), sse: sseStream(2000) }, warmup: 5, iterations: 50, chunks: 2000, streamLabel: "OpenAI, 2000 content chunks" },
  { key: "d", name: "Anthropic: 2 KB req + 1 KB JSON", x: { provider: "anthropic", request: anthropicChatRequest(2048, false), json: anthropicMessage(1024) }, warmup: 500, iterations: 5000, chunks: 0 },
  { key: "e", name: "Anthropic: 2 KB req + SSE, 200 ev", x: { provider: "anthropic", request: anthropicChatRequest(2048, true), sse: anthropicSseStream(200) }, warmup: 50, iterations: 400, chunks: 200, streamLabel: "Anthropic→OpenAI, 200 events" },
  { key: "f", name: "Anthropic: 2 KB req + SSE, 2000 ev", x: { provider: "anthropic", request: anthropicChatRequest(2048, true), sse: anthropicSseStream(2000) }, warmup: 5, iterations: 50, chunks: 2000, streamLabel: "Anthropic→OpenAI, 2000 events" },
  { key: "h", name: "Bedrock: 2 KB req + ES, 200 frames", x: { provider: "bedrock", request: anthropicChatRequest(2048, true), sse: bedrockConverseStream(200) }, warmup: 50, iterations: 400, chunks: 200, streamLabel: "ConverseStream→OpenAI, 200 frames" },
  { key: "i", name: "Bedrock: 2 KB req + ES, 2000 frames", x: { provider: "bedrock", request: anthropicChatRequest(2048, true), sse: bedrockConverseStream(2000) }, warmup: 5, iterations: 50, chunks: 2000, streamLabel: "ConverseStream→OpenAI, 2000 frames" },
  { key: "j", name: "Gemini: 2 KB req + SSE, 200 ev", x: { provider: "gemini", request: geminiChatRequest(2048, true), sse: geminiSseStream(200) }, warmup: 50, iterations: 400, chunks: 200, streamLabel: "Gemini→OpenAI, 200 events" },
  { key: "k", name: "Gemini: 2 KB req + SSE, 2000 ev", x: { provider: "gemini", request: geminiChatRequest(2048, true), sse: geminiSseStream(2000) }, warmup: 5, iterations: 50, chunks: 2000, streamLabel: "Gemini→OpenAI, 2000 events" },
] satisfies Scenario[]).filter((s) => only.has(s.key));

if (scenarios.length) ensureBuilt("tests/filters/noop/index.ts", NOOP_WASM, [NOOP_SRC]);
const gw = scenarios.some((s) => s.x.provider === "openai") ? await loadWorker(GATEWAY_WASM, "ai_gateway", GATEWAY_CONFIG) : undefined;
const gwAnthropic = scenarios.some((s) => s.x.provider === "anthropic") ? await loadWorker(GATEWAY_WASM, "ai_gateway", ANTHROPIC_CONFIG) : undefined;
const gwBedrock = scenarios.some((s) => s.x.provider === "bedrock") ? await loadWorker(GATEWAY_WASM, "ai_gateway", BEDROCK_CONFIG) : undefined;
const gwGemini = scenarios.some((s) => s.x.provider === "gemini") ? await loadWorker(GATEWAY_WASM, "ai_gateway", GEMINI_CONFIG) : undefined;
const noop = scenarios.length ? await loadWorker(NOOP_WASM, "noop", "") : undefined;

const results = [];
for (const sc of scenarios) {
  const g = (sc.x.provider === "bedrock" ? gwBedrock : sc.x.provider === "anthropic" ? gwAnthropic : sc.x.provider === "gemini" ? gwGemini : gw)!;
  checkGatewayWork(g.host, g.worker, sc.x);
  checkNoopPassthrough(noop!.worker, sc.x);
  const warmup = Math.max(1, Math.round(sc.warmup * scale)), iterations = Math.max(5, Math.round(sc.iterations * scale));
  // Interleave the three measurements in rounds so a slow phase of the machine hits all alike.
  const rounds = 5;
  const acc: Record<"filter" | "noop" | "native", Samples> = { filter: { total: [], perChunk: [] }, noop: { total: [], perChunk: [] }, native: { total: [], perChunk: [] } };
  for (let r = 0; r < rounds; r++) {
    const n = Math.max(1, Math.round(iterations / rounds)), w = r === 0 ? warmup : Math.ceil(warmup / 10);
    for (const [k, m] of [["filter", timeFilter(g.worker, sc.x, w, n)], ["noop", timeFilter(noop!.worker, sc.x, w, n)], ["native", timeNative(sc.x, w, n)]] as const) {
      acc[k].total.push(...m.total);
      acc[k].perChunk.push(...m.perChunk);
    }
  }
  const row = {
    scenario: sc.key, name: sc.name, provider: sc.x.provider, chunks: sc.chunks, events: sc.x.sse?.events.length ?? 0, streamLabel: sc.streamLabel, iterations: acc.filter.total.length,
    filter: { request: stats(acc.filter.total), perChunk: sc.chunks ? stats(acc.filter.perChunk) : undefined },
    noop: { request: stats(acc.noop.total), perChunk: sc.chunks ? stats(acc.noop.perChunk) : undefined },
    native: { request: stats(acc.native.total), perChunk: sc.chunks ? stats(acc.native.perChunk) : undefined },
  };
  results.push({ ...row, ratio: { filterOverNoop: row.filter.request.median / row.noop.request.median, filterOverNative: row.filter.request.median / row.native.request.median } });
  if (g.worker.vm?.isFailed || noop!.worker.vm?.isFailed) throw new Error(`a VM failed during scenario ${sc.key}`);
}

gw?.host.close();
gwAnthropic?.host.close();
gwBedrock?.host.close();
gwGemini?.host.close();
noop?.host.close();

const limits = only.has("g") ? await benchLocalLimits() : undefined;
const global = only.has("r") ? await benchGlobalRoundTrips() : undefined;
const sigv4 = only.has("s") ? await benchSigV4() : undefined;

if (asJson) {
  console.log(JSON.stringify({ node: process.version, scale, sink: sink > 0, results, limits, global, sigv4 }, null, 2));
} else {
  const ns = (v: number) => Math.round(v).toLocaleString("en-US");
  const pad = (s: string, n: number) => s.padStart(n);
  if (results.length) {
    console.log(`\nai-gateway filter CPU per request (socket-free driver, Node ${process.version}, ns)\n`);
    console.log(`${"scenario".padEnd(38)}${pad("filter med", 13)}${pad("p90", 12)}${pad("no-op med", 12)}${pad("p90", 11)}${pad("native med", 12)}${pad("p90", 11)}${pad("÷no-op", 9)}${pad("÷native", 9)}`);
    for (const r of results) {
      console.log(`${(r.scenario + ") " + r.name).padEnd(38)}${pad(ns(r.filter.request.median), 13)}${pad(ns(r.filter.request.p90), 12)}` +
        `${pad(ns(r.noop.request.median), 12)}${pad(ns(r.noop.request.p90), 11)}${pad(ns(r.native.request.median), 12)}${pad(ns(r.native.request.p90), 11)}` +
        `${pad(r.ratio.filterOverNoop.toFixed(2) + "x", 9)}${pad(r.ratio.filterOverNative.toFixed(2) + "x", 9)}`);
    }
  }
  const streams = results.filter((r) => r.chunks);
  if (streams.length) {
    console.log(`\nper SSE event (Bedrock: per eventstream frame) written upstream, response-body phase only (ns)\n`);
    console.log(`${"stream".padEnd(38)}${pad("events", 7)}${pad("filter med", 12)}${pad("p90", 10)}${pad("no-op med", 11)}${pad("p90", 9)}${pad("native med", 12)}${pad("filter-no-op", 14)}${pad("÷native", 9)}`);
    for (const r of streams) {
      console.log(`${(r.scenario + ") " + r.streamLabel).padEnd(38)}${pad(String(r.events), 7)}${pad(ns(r.filter.perChunk!.median), 12)}${pad(ns(r.filter.perChunk!.p90), 10)}` +
        `${pad(ns(r.noop.perChunk!.median), 11)}${pad(ns(r.noop.perChunk!.p90), 9)}${pad(ns(r.native.perChunk!.median), 12)}` +
        `${pad(ns(r.filter.perChunk!.median - r.noop.perChunk!.median), 14)}${pad((r.filter.perChunk!.median / r.native.perChunk!.median).toFixed(2) + "x", 9)}`);
    }
    for (const provider of ["openai", "anthropic", "bedrock", "gemini"]) {
      const pair = streams.filter((r) => r.provider === provider);
      if (pair.length !== 2) continue;
      const [s, l] = pair;
      console.log(`per-event filter cost (${provider}), ${l.events} vs ${s.events} events: ${(l.filter.perChunk!.median / s.filter.perChunk!.median).toFixed(2)}x` +
        ` (beyond no-op: ${((l.filter.perChunk!.median - l.noop.perChunk!.median) / (s.filter.perChunk!.median - s.noop.perChunk!.median)).toFixed(2)}x; ≈1 = flat in stream length)`);
    }
  }
  if (limits) {
    console.log(`\ng) local token limits, scenario a's traffic (2 KB request + 1 KB JSON), same run (ns per request)\n`);
    console.log(`${"variant".padEnd(38)}${pad("med", 10)}${pad("p90", 10)}${pad("+ns med", 10)}${pad("+%", 8)}`);
    for (const r of limits.rows) console.log(`${r.variant.padEnd(38)}${pad(ns(r.request.median), 10)}${pad(ns(r.request.p90), 10)}${pad(ns(r.overheadNs), 10)}${pad(r.overheadPct.toFixed(1) + "%", 8)}`);
  }
  if (global) {
    console.log(`\nr) global mode, real envoyproxy/ratelimit + Redis over HTTP/2 (socket-free driver, proxy_grpc_call counted at the host)`);
    console.log(`RLS round trips per request: admitted ${global.admitted.perRequest.toFixed(2)} (${global.admitted.grpcCalls} calls / ${global.admitted.requests}; Redis INCRBY ${global.admitted.redisIncrby}: check hits 0 + debit 742), ` +
      `denied ${global.denied.perRequest.toFixed(2)} (${global.denied.grpcCalls} / ${global.denied.requests}; INCRBY ${global.denied.redisIncrby}, all hits 0)`);
    console.log(`wall time per admitted request incl. both round trips: median ${global.admitted.msPerRequest.median.toFixed(2)} ms, p90 ${global.admitted.msPerRequest.p90.toFixed(2)} ms`);
  }
  if (sigv4) {
    const [w, nc] = sigv4.rows;
    console.log(`\ns) SigV4, Bedrock Converse POST, ${sigv4.bodyBytes / 1024} KiB body (ns per signature; per KiB = slope ${sigv4.bodyBytes / 1024}→${sigv4.largeBodyBytes / 1024} KiB)\n`);
    console.log(`${"signer".padEnd(38)}${pad("med", 10)}${pad("p90", 10)}${pad(`${sigv4.largeBodyBytes / 1024} KiB med`, 13)}${pad("per KiB", 10)}${pad("÷wasm", 8)}`);
    for (const r of sigv4.rows) {
      console.log(`${r.signer.padEnd(38)}${pad(ns(r.request.median), 10)}${pad(ns(r.request.p90), 10)}${pad(ns(r.large.median), 13)}${pad(ns(r.perKiB), 10)}${pad((r.request.median / w.request.median).toFixed(2) + "x", 8)}`);
    }
    console.log(`wasm ÷ node:crypto (cached key): ${sigv4.ratio.wasmOverNodeCached.toFixed(2)}x per request, ${(w.perKiB / nc.perKiB).toFixed(2)}x per KiB; ` +
      `wasm signing-key derivations in the run: ${sigv4.wasmKeyDerivations}`);
  }
  console.log(`\niterations: ${[...results.map((r) => `${r.scenario}=${r.iterations}`), ...(limits ? [`g=${limits.rows[0].request.n}×3`] : []), ...(sigv4 ? [`s=${sigv4.rows[0].request.n}+${sigv4.rows[0].large.n}`] : [])].join(", ")} (after warm-up); --json for machine-readable output`);
}
