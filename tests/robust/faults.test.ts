// Fault injection over real sockets: the release filter in the Envoy-faithful host Gateway, the
// REAL envoyproxy/ratelimit service (tests/support/ratelimit.ts; missing binaries fail the test),
// and small servers on 127.0.0.1 that misbehave on purpose: a provider that answers 5xx, hangs,
// resets or closes mid-stream; OAuth token endpoints that fail, hang or answer garbage; a gRPC
// endpoint that answers garbage in place of the rate limit service. Each fault has the behaviour
// stated in docs/robustness.md ("Faults"), asserted here with an upper bound on the latency the
// client sees, and ends with nothing left behind (no stream context, no callout, no failed VM).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Gateway } from "../support/gateway.ts";
import { startRateLimit, type RateLimitService } from "../support/ratelimit.ts";
import { TcpProxy, sharedCounter, assertClean, until, sleep } from "../limits/support.ts";
import { Upstream, closedPort, type Reply } from "../auth/support.ts";
import { schemaErrors } from "../support/openai-schema.ts";
import { GATEWAY_WASM, ROOT } from "./harness.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => { for (const c of cleanup.reverse()) await c().catch(() => {}); });
let vmSeq = 0;

// ------------------------------------------------------------------------------- misbehaving provider

type Behaviour =
  | { kind: "json"; status: number; body: string; contentType?: string }
  | { kind: "sse"; events: string[]; delayMs: number; close?: "after-headers" | "mid-stream" | "mid-event"; keep?: number }
  | { kind: "hang" } | { kind: "reset" } | { kind: "close" };

/** A provider on 127.0.0.1 that answers each request with the next queued behaviour. */
class FaultProvider {
  readonly queue: Behaviour[] = [];
  received = 0;
  /** Bytes written to the gateway for the last request's body. */
  lastBodyBytes = 0;
  private sockets = new Set<Socket>();
  private constructor(private server: http.Server, readonly port: number) {}

  static async start(): Promise<FaultProvider> {
    let p!: FaultProvider;
    const server = http.createServer((req, res) => void p.handle(req, res));
    server.on("connection", (s) => { p.sockets.add(s); s.on("close", () => p.sockets.delete(s)); });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    p = new FaultProvider(server, (server.address() as AddressInfo).port);
    cleanup.push(() => p.stop());
    return p;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for await (const _ of req) { /* drain */ }
    this.received++;
    this.lastBodyBytes = 0;
    const b = this.queue.shift() ?? { kind: "json", status: 200, body: completion("unqueued") };
    const write = (d: string) => { this.lastBodyBytes += Buffer.byteLength(d); res.write(d); };
    switch (b.kind) {
      case "json":
        res.writeHead(b.status, { "content-type": b.contentType ?? "application/json", "content-length": Buffer.byteLength(b.body) });
        res.end(b.body);
        return;
      case "hang": return; // never answers; the gateway's route timeout must end it
      case "reset": req.socket.resetAndDestroy(); return;
      case "close": req.socket.destroy(); return;
      case "sse": {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.flushHeaders();
        const keep = b.close ? (b.keep ?? 0) : b.events.length;
        for (let i = 0; i < keep; i++) { await sleep(b.delayMs); if (res.destroyed) return; write(b.events[i]); }
        if (b.close === "mid-event") { await sleep(b.delayMs); write(b.events[keep].slice(0, Math.floor(b.events[keep].length / 2))); }
        if (b.close) { await sleep(30); req.socket.destroy(); return; }
        res.end();
      }
    }
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }
}

const BASE = { id: "chatcmpl-FAULT0000000000000000000001", created: 1756316240, model: "gpt-4o-mini-2024-07-18" };
function completion(content = "ok"): string {
  return JSON.stringify({ ...BASE, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, logprobs: null, finish_reason: "stop" }],
    usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 } });
}
function sseEvents(n: number): string[] {
  const ev = (delta: object, finish: string | null) => `data: ${JSON.stringify({ ...BASE, object: "chat.completion.chunk", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
  return [ev({ role: "assistant", content: "" }, null), ...Array.from({ length: n }, (_, i) => ev({ content: `word${i} ` }, null)), ev({}, "stop"),
    `data: ${JSON.stringify({ ...BASE, object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 10, completion_tokens: n, total_tokens: 10 + n } })}\n\n`, "data: [DONE]\n\n"];
}

// ------------------------------------------------------------------------------------ client side

interface Got { status: number; headers: http.IncomingHttpHeaders; text: string; json: any; ms: number; outcome: "complete" | "reset" | "client-abort" }

/** One POST over a fresh connection; `abortAfterEvents` disconnects once that many SSE events arrived. */
function post(gw: Gateway, body: object | string, o: { abortAfterEvents?: number; path?: string } = {}): Promise<Got> {
  const data = typeof body === "string" ? body : JSON.stringify(body);
  const t0 = performance.now();
  return new Promise((ok, fail) => {
    const req = http.request(`${gw.url}${o.path ?? "/v1/chat/completions"}`, { method: "POST", agent: false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data) } }, (res) => {
      let text = "";
      let done = false;
      const finish = (outcome: Got["outcome"]) => {
        if (done) return;
        done = true;
        let json: any;
        try { json = JSON.parse(text); } catch { json = undefined; }
        ok({ status: res.statusCode ?? 0, headers: res.headers, text, json, ms: performance.now() - t0, outcome });
      };
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
        if (o.abortAfterEvents !== undefined && text.split("\n\n").length - 1 >= o.abortAfterEvents) { req.destroy(); finish("client-abort"); }
      });
      res.on("error", () => finish("reset"));
      res.on("close", () => finish(res.complete ? "complete" : "reset"));
    });
    req.on("error", (e) => {
      // A reset before any response byte (e.g. the upstream closed right after its headers).
      if ((e as NodeJS.ErrnoException).code === "ECONNRESET") ok({ status: 0, headers: {}, text: "", json: undefined, ms: performance.now() - t0, outcome: "reset" });
      else if (o.abortAfterEvents === undefined) fail(e);
    });
    req.end(data);
  });
}

function assertError(g: Got, status: number, what: string, code?: string): void {
  assert.equal(g.status, status, `${what}: status (body ${g.text.slice(0, 200)})`);
  assert.match(String(g.headers["content-type"]), /^application\/json/, `${what}: content-type`);
  assert.deepEqual(schemaErrors("ErrorResponse", g.json), [], `${what}: OpenAI error envelope: ${g.text.slice(0, 200)}`);
  if (code) assert.equal(g.json.error.code, code, `${what}: error code`);
}

function within(g: Got, maxMs: number, what: string, minMs = 0): void {
  assert.ok(g.ms < maxMs && g.ms >= minMs, `${what}: answered in ${g.ms.toFixed(0)} ms, bound [${minMs}, ${maxMs})`);
  console.log(`# ${what}: ${g.status} ${g.outcome} in ${g.ms.toFixed(0)} ms (bound ${maxMs} ms)`);
}

async function gateway(config: object, clusters: Record<string, { host: string; port: number; http2?: boolean }>, o: { routeTimeoutMs?: number; env?: Record<string, string> } = {}): Promise<Gateway> {
  const gw = await Gateway.start({
    wasm: GATEWAY_WASM, plugin: { configuration: JSON.stringify(config), env: o.env, vmId: `faults_${process.pid}_${++vmSeq}` }, workers: 2,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster", timeoutMs: o.routeTimeoutMs }], clusters,
  });
  cleanup.push(() => gw.stop());
  return gw;
}

const chatReq = (model: string, extra: object = {}) => ({ model, messages: [{ role: "user", content: "hello there, how are you today?" }], max_tokens: 50, ...extra });

// ======================================================================= providers and clients

const BUDGET = "budget|client=-";
let provider: FaultProvider;
let pgw: Gateway;
const ROUTE_TIMEOUT = 1000;

before(async () => {
  provider = await FaultProvider.start();
  pgw = await gateway({
    backends: [
      { name: "oa", schema: "openai", cluster: "oa", host: "api.openai.com", auth: { type: "bearer", key: "sk-up" } },
      { name: "claude", schema: "anthropic", cluster: "claude", host: "api.anthropic.com", auth: { type: "x-api-key", key: "sk-ant-up" } },
    ],
    models: [{ match: "gpt-*", backend: "oa" }, { match: "claude-*", backend: "claude" }],
    limits: { mode: "local", rules: [{ name: "budget", key: ["client"], window: "hour", tokens: 1_000_000_000 }] },
  }, { oa: { host: "127.0.0.1", port: provider.port }, claude: { host: "127.0.0.1", port: provider.port } }, { routeTimeoutMs: ROUTE_TIMEOUT });
});

/** The local counter moved by exactly `delta` (reservation returned: 0). Waits for on_log. */
async function charged(before: number, delta: number, what: string): Promise<void> {
  await assertClean(pgw);
  assert.equal((await sharedCounter(pgw, BUDGET, 3600)) - before, delta, `${what}: tokens charged`);
}

test("provider answers 5xx: the client gets that status with the OpenAI error envelope, nothing charged", async () => {
  const cases: [Behaviour, number, string][] = [
    [{ kind: "json", status: 500, body: JSON.stringify({ error: { message: "The server had an error", type: "server_error", param: null, code: null } }) }, 500, "gpt-4o-mini"],
    [{ kind: "json", status: 503, body: "<html><body>503 Service Temporarily Unavailable</body></html>", contentType: "text/html" }, 503, "gpt-4o-mini"],
    [{ kind: "json", status: 502, body: "" }, 502, "gpt-4o-mini"],
    [{ kind: "json", status: 529, body: JSON.stringify({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }) }, 503, "claude-sonnet-4-5"],
    [{ kind: "json", status: 500, body: "not json" }, 500, "claude-sonnet-4-5"],
  ];
  for (const [b, status, model] of cases) {
    const before = await sharedCounter(pgw, BUDGET, 3600);
    provider.queue.push(b);
    const g = await post(pgw, chatReq(model));
    assertError(g, status, `${model} ← ${b.kind === "json" ? b.status : b.kind}`);
    within(g, 1000, `provider ${b.kind === "json" ? b.status : ""} (${model})`);
    await charged(before, 0, `${status}`);
  }
  const g = await post(pgw, chatReq("gpt-4o-mini"));
  assert.equal(g.status, 200, "the next request is served");
});

test("provider never answers: 504 with the OpenAI error envelope at the route timeout, nothing charged", async () => {
  const before = await sharedCounter(pgw, BUDGET, 3600);
  provider.queue.push({ kind: "hang" });
  const g = await post(pgw, chatReq("gpt-4o-mini"));
  assertError(g, 504, "hang");
  within(g, ROUTE_TIMEOUT + 1000, "provider hangs (route timeout 1000 ms)", ROUTE_TIMEOUT - 50);
  await charged(before, 0, "timeout");
});

test("provider resets or closes the connection before answering: 503 with the OpenAI error envelope, fast, nothing charged", async () => {
  for (const kind of ["reset", "close"] as const) {
    const before = await sharedCounter(pgw, BUDGET, 3600);
    provider.queue.push({ kind });
    const g = await post(pgw, chatReq("gpt-4o-mini", { stream: true }));
    assertError(g, 503, kind);
    within(g, 1000, `provider ${kind} before headers`);
    await charged(before, 0, kind);
  }
});

test("provider closes mid-stream (after headers, after some events, mid-event): the client's stream is reset with the events before it intact; what was streamed is charged", async () => {
  const events = sseEvents(6);
  for (const [close, keep] of [["after-headers", 0], ["mid-stream", 4], ["mid-event", 3]] as const) {
    const before = await sharedCounter(pgw, BUDGET, 3600);
    provider.queue.push({ kind: "sse", events, delayMs: 20, close, keep });
    const body = chatReq("gpt-4o-mini", { stream: true });
    const g = await post(pgw, body);
    assert.equal(g.status, 200, close);
    assert.equal(g.outcome, "reset", `${close}: the client sees the connection reset, not a clean end`);
    const whole = g.text.split("\n\n").filter((e) => e.startsWith("data: {"));
    assert.equal(whole.length, keep, `${close}: the ${keep} events before the close arrive whole`);
    for (const e of whole) assert.deepEqual(schemaErrors("CreateChatCompletionStreamResponse", JSON.parse(e.slice(6))), []);
    within(g, 1000, `provider closes ${close}`);
    // Charged: nothing when nothing arrived; else the input estimate + what the provider sent (bytes / 4).
    const input = Math.ceil(Buffer.byteLength(JSON.stringify({ ...body })) / 4);
    await until(`${close}: the provider finished writing`, () => provider.lastBodyBytes > 0 || keep === 0);
    const expect = keep === 0 ? 0 : input + Math.ceil(provider.lastBodyBytes / 4);
    await charged(before, expect, close);
  }
});

test("client disconnects mid-stream: nothing is left behind within the bound, the streamed part is charged", async () => {
  const before = await sharedCounter(pgw, BUDGET, 3600);
  provider.queue.push({ kind: "sse", events: sseEvents(20), delayMs: 40 });
  const body = chatReq("gpt-4o-mini", { stream: true });
  const g = await post(pgw, body, { abortAfterEvents: 3 });
  assert.equal(g.outcome, "client-abort");
  const t0 = performance.now();
  await until("contexts to go", async () => (await pgw.liveContexts()) === 0, 1000);
  console.log(`# client disconnect: contexts gone ${(performance.now() - t0).toFixed(0)} ms after`);
  await assertClean(pgw);
  const delta = (await sharedCounter(pgw, BUDGET, 3600)) - before;
  const input = Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4);
  assert.ok(delta > input && delta < input + Math.ceil(sseEvents(20).join("").length / 4), `charged ${delta}: the input estimate ${input} plus part of the stream`);
});

// ================================================================================ rate limit service

const RLS_CONFIG = { domain: "ai_gateway", descriptors: [{ key: "rule", rate_limit: { unit: "minute", requests_per_unit: 1 } }] };
let rls: RateLimitService;
let slowProxy: TcpProxy;

/** A gRPC endpoint that answers every call with garbage of one kind (a fault injector, not an RLS). */
async function garbageGrpc(mode: "garbage-message" | "truncated-frame" | "http-500" | "grpc-unavailable" | "empty-message"): Promise<number> {
  const server = http2.createServer();
  server.on("stream", (stream) => {
    stream.on("data", () => {});
    stream.on("end", () => {
      if (mode === "http-500") { stream.respond({ ":status": 500, "content-type": "text/html" }); stream.end("<html>oops</html>"); return; }
      if (mode === "grpc-unavailable") { stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "14", "grpc-message": "down" }, { endStream: true }); return; }
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      const payload = mode === "empty-message" ? Buffer.alloc(0) : Buffer.from("\xff\xff\xff\xff\x0f garbage that is not protobuf \x07\x08", "latin1");
      const frame = Buffer.alloc(5); frame.writeUInt32BE(mode === "truncated-frame" ? 1000 : payload.length, 1);
      stream.end(Buffer.concat([frame, payload]));
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  cleanup.push(() => new Promise<void>((ok) => server.close(() => ok())));
  return (server.address() as AddressInfo).port;
}

function globalConfig(failureMode: "allow" | "deny"): object {
  return {
    backends: [{ name: "oa", schema: "openai", cluster: "oa", host: "api.openai.com", auth: { type: "bearer", key: "sk-up" } }],
    models: [{ match: "gpt-*", backend: "oa" }],
    limits: { mode: "global", rls_cluster: "ratelimit", domain: "ai_gateway", timeout_ms: 100, failure_mode: failureMode, rules: [{ name: `faults-${failureMode}`, key: ["client"], window: "hour", tokens: 10_000_000 }] },
  };
}

async function rlsGateway(mode: "allow" | "deny", rlsPort: number): Promise<Gateway> {
  return gateway(globalConfig(mode), { oa: { host: "127.0.0.1", port: provider.port }, ratelimit: { host: "127.0.0.1", port: rlsPort, http2: true } });
}

/** Allow passes (200, no budget headers), deny answers 503 rate_limit_service_unavailable; both within `maxMs`. */
async function failureModes(rlsPort: number, what: string, maxMs: number, minMs = 0): Promise<void> {
  for (const mode of ["allow", "deny"] as const) {
    const gw = await rlsGateway(mode, rlsPort);
    const from = gw.logs.length;
    const g = await post(gw, chatReq("gpt-4o-mini"));
    if (mode === "allow") {
      assert.equal(g.status, 200, `${what}, allow: ${g.text.slice(0, 200)}`);
      assert.equal(g.headers["x-ratelimit-limit-tokens"], undefined, "no budget known: no x-ratelimit-* headers");
    } else assertError(g, 503, `${what}, deny`, "rate_limit_service_unavailable");
    within(g, maxMs, `rate limit service ${what}, failure_mode ${mode}`, minMs);
    await assertClean(gw, from);
    assert.ok(gw.logs.slice(from).some((l) => /rate limit check failed/.test(l.message)), `${what}: the failure is logged`);
  }
}

before(async () => {
  rls = await startRateLimit({ config: RLS_CONFIG });
  cleanup.push(() => rls.stop());
  slowProxy = await TcpProxy.start(rls.grpcPort);
  cleanup.push(() => slowProxy.stop());
});

test("rate limit service up (the real envoyproxy/ratelimit): admitted with the budget in x-ratelimit-* headers", async () => {
  const gw = await rlsGateway("deny", rls.grpcPort);
  const g = await post(gw, chatReq("gpt-4o-mini"));
  assert.equal(g.status, 200, g.text);
  assert.equal(g.headers["x-ratelimit-limit-tokens"], "10000000");
  within(g, 1000, "rate limit service up");
  await assertClean(gw);
});

test("rate limit service down (connection refused): failure_mode allow passes, deny answers 503, both fast", async () => {
  await failureModes(await closedPort(), "down", 1000);
});

test("rate limit service slow (answers after 1.5 s, timeout_ms 100): allow passes, deny answers 503, both at about timeout_ms", async () => {
  slowProxy.delayMs = 1500;
  try { await failureModes(slowProxy.port, "slow", 1000, 95); } finally { slowProxy.delayMs = 0; slowProxy.dropConnections(); }
});

test("rate limit service answering garbage (bad protobuf, truncated gRPC frame, HTTP 500, gRPC UNAVAILABLE): treated as down", async () => {
  for (const mode of ["garbage-message", "truncated-frame", "http-500", "grpc-unavailable"] as const) {
    await failureModes(await garbageGrpc(mode), mode, 1000);
  }
});

test("rate limit service answering an empty message (overall_code UNKNOWN): admitted in both failure modes, as Envoy's own ratelimit filter does", async () => {
  const port = await garbageGrpc("empty-message");
  for (const mode of ["allow", "deny"] as const) {
    const gw = await rlsGateway(mode, port);
    const g = await post(gw, chatReq("gpt-4o-mini"));
    assert.equal(g.status, 200, `${mode}: ${g.text.slice(0, 200)}`);
    within(g, 1000, `rate limit service empty answer, failure_mode ${mode}`);
    await assertClean(gw);
  }
});

// ================================================================================ token endpoints

const GCP_KEY = readFileSync(join(ROOT, "tests", "fixtures", "gcp", "rsa2048.pkcs8.pem"), "utf8");
const TOKEN_TIMEOUT = 500;
type TokenFault = "500" | "hang" | "not-json" | "no-token" | "token-not-string";

function tokenReply(f: TokenFault | "ok"): Reply | "hang" {
  switch (f) {
    case "ok": return { status: 200, body: { access_token: "ya29.fault-test-token", expires_in: 3599, token_type: "Bearer" } };
    case "500": return { status: 500, body: { error: "internal_failure" } };
    case "hang": return "hang";
    case "not-json": return { status: 200, body: "<html>login</html>", headers: { "content-type": "text/html" } };
    case "no-token": return { status: 200, body: { token_type: "Bearer", expires_in: 3599 } };
    case "token-not-string": return { status: 200, body: { access_token: 12345, expires_in: "soon" } };
  }
}

for (const kind of ["gcp-service-account", "azure-entra"] as const) {
  test(`${kind} token endpoint failing (500, hanging past timeout_ms, not JSON, no token, wrong types): 503 upstream_auth_unavailable within the bound, nothing sent upstream; then recovery`, async () => {
    let fault: TokenFault | "ok" = "500";
    const tokens = await Upstream.start(() => tokenReply(fault));
    cleanup.push(() => tokens.stop());
    const auth = kind === "gcp-service-account"
      ? { type: kind, token_cluster: "tok", timeout_ms: TOKEN_TIMEOUT, credentials: { type: "service_account", client_email: "gw@p.iam.gserviceaccount.com", private_key: GCP_KEY, private_key_id: "k1", token_uri: "https://oauth2.googleapis.com/token" } }
      : { type: kind, token_cluster: "tok", timeout_ms: TOKEN_TIMEOUT, tenant_id: "tenant-1", client_id: "client-1", client_secret: "secret-1" };
    const gw = await gateway({
      backends: [{ name: "b", schema: "openai", cluster: "b", host: "provider.example", auth }], models: [{ match: "gpt-*", backend: "b" }],
    }, { b: { host: "127.0.0.1", port: provider.port }, tok: { host: "127.0.0.1", port: tokens.port } });
    const sentBefore = provider.received;
    for (const f of ["500", "hang", "not-json", "no-token", "token-not-string"] as const) {
      fault = f;
      const from = gw.logs.length;
      const g = await post(gw, chatReq("gpt-4o-mini"));
      assertError(g, 503, `${kind} ${f}`, "upstream_auth_unavailable");
      if (f === "hang") within(g, TOKEN_TIMEOUT + 1000, `${kind} token endpoint hangs (timeout_ms ${TOKEN_TIMEOUT})`, TOKEN_TIMEOUT - 50);
      else within(g, 1000, `${kind} token endpoint ${f}`);
      await assertClean(gw, from);
    }
    assert.equal(provider.received, sentBefore, "nothing reached the provider without a token");
    fault = "ok";
    const g = await post(gw, chatReq("gpt-4o-mini"));
    assert.equal(g.status, 200, `recovered: ${g.text.slice(0, 200)}`);
    await assertClean(gw);
  });
}
