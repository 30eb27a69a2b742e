// `npm run bench:envoy`: CPU time per request of a real Envoy process running the filter, against
// Envoy alone and a no-op proxy-wasm filter in the same run.
//
//   npm run bench:envoy [-- --rounds 3 --duration 3 --warmup 1 --conns 8 --only pass,local,...]
//
// Set-up (all from the project's own scripts, into .cache/): the release .wasm and the no-op
// filter (tests/filters/noop) via scripts/build.mjs; the Go half (bench/envoy/main.go, standard
// library only) built with `go build`; the real envoyproxy/ratelimit + Redis via
// scripts/install-ratelimit.sh; Envoy through scripts/install-envoy.sh (which honours ENVOY_BIN).
//
// One Envoy process (--concurrency 1: one worker) pinned to core 0 with taskset; the Go mock
// upstream, the Go load generator, the rate limit service and Redis pinned to core 1. The Envoy
// has one listener per variant: `alone` (router straight to the mock), `noop` (+ the no-op
// wasm), `gw` (+ the gateway: OpenAI, Anthropic, Bedrock and Gemini backends, all clusters
// pointing at the mock), `local` (+ one local token limit rule), `global` (+ one global rule
// against the real ratelimit service). Scenarios send their traffic to one listener; the mock
// picks its answer by the x-bench-case request header, which the gateway passes upstream.
//
// Before anything is measured, each scenario's request goes through once from Node and its
// answer is checked in full (OpenAI schema of the completion or of every chunk, the usage, the
// SSE framing); the load generator then checks every answer of the run (status, markers, event
// count, length) and a single wrong answer fails the run.
//
// Measured: utime+stime of the Envoy process (/proc/<pid>/stat) over the measured window,
// divided by the requests completed in it. Rounds are interleaved (every scenario once per
// round, then again), the table gives the median and the spread (min–max) over the rounds, and
// the differences against `alone` and `noop` of the same run. Per stream event: the slope
// between a short and a long stream, gateway minus Envoy alone:
//   ((gw(long) − gw(short)) − (alone(long) − alone(short))) / (long − short events)
// for a burst (the mock writes the whole stream at once: many events per read) and one event
// per read (the mock writes and flushes each event after a short pause).

import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { chatRequest, chatResponse, sseStream, anthropicChatRequest, anthropicMessage, anthropicSseStream, type SseStream } from "./bodies.ts";
import { geminiChatRequest, GEMINI_MODEL } from "./gemini.ts";
import { assertChatCompletion, assertChatCompletionChunk } from "../tests/support/openai-schema.ts";
import { parseOpenAISse } from "../tests/support/sse.ts";
import { startRateLimit, freePorts, type RateLimitService } from "../tests/support/ratelimit.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const argOf = (n: string, d: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const ROUNDS = Number(argOf("--rounds", "3"));
const DURATION = Number(argOf("--duration", "4"));
const WARMUP = Number(argOf("--warmup", "1"));
const CONNS = Number(argOf("--conns", "8"));
// Stream lengths (events). One-per-read streams are shorter: the mock's pauses, not Envoy, bound
// their request rate, and the CPU clock ticks at 10 ms.
const SHORT = 10, LONG = Number(argOf("--long", "210")), LONG_EACH = Number(argOf("--long-each", "60"));
const EACH_DELAY_US = Number(argOf("--delay-us", "100"));
const ONLY = argOf("--only", "");
const GATEWAY_WASM = argOf("--wasm", join(ROOT, "build", "ai-gateway.wasm"));
// --compare other.wasm: the request scenarios also run on a second build (listeners "gwB",
// "localB"), interleaved in the same rounds: an A/B of one change with the same noise.
const COMPARE_WASM = argOf("--compare", "");
const ENVOY_CORE = argOf("--envoy-core", "0"), LOAD_CORE = argOf("--load-core", "1");

const log = (s: string) => process.stderr.write(s + "\n");
const run = (cmd: string, a: string[], env?: Record<string, string>) =>
  execFileSync(cmd, a, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } }).toString();

// ------------------------------------------------------------------------------------ set-up

function envoyBin(): string {
  // scripts/install-envoy.sh installs the pinned Envoy into .cache/ (or checks ENVOY_BIN) and
  // prints the binary's path on stdout.
  const installer = join(ROOT, "scripts", "install-envoy.sh");
  if (existsSync(installer)) {
    const out = run("bash", [installer]).trim().split("\n");
    const bin = out[out.length - 1].trim();
    if (existsSync(bin)) return bin;
  }
  if (process.env.ENVOY_BIN) return process.env.ENVOY_BIN;
  throw new Error("bench:envoy needs Envoy: scripts/install-envoy.sh or ENVOY_BIN");
}

log("bench:envoy: building the filter, the no-op filter and the Go load generator/mock …");
run(process.execPath, [join(ROOT, "scripts", "build.mjs"), "--if-needed"]);
const NOOP_WASM = join(ROOT, "build", "noop.wasm");
run(process.execPath, [join(ROOT, "scripts", "build.mjs"), "--entry", join(ROOT, "tests", "filters", "noop", "index.ts"), "--out", NOOP_WASM]);
mkdirSync(join(ROOT, ".cache"), { recursive: true });
const GO_BIN = join(ROOT, ".cache", "bench-envoy");
execFileSync("go", ["build", "-o", GO_BIN, "."], { cwd: join(ROOT, "bench", "envoy"), stdio: "inherit", env: { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod" } });
const wantGlobal = !ONLY || ONLY.split(",").includes("global");
if (wantGlobal) run("bash", [join(ROOT, "scripts", "install-ratelimit.sh")]);
const ENVOY = envoyBin();
const envoyVersion = (run(ENVOY, ["--version"]).match(/version: \S+/) ?? ["version: ?"])[0];

// ------------------------------------------------------------------------------------ traffic

const enc = new TextEncoder();
const REQ_OPENAI = chatRequest(2048, false), REQ_OPENAI_STREAM = chatRequest(2048, true);
const REQ_CLAUDE = anthropicChatRequest(2048, false), REQ_CLAUDE_STREAM = anthropicChatRequest(2048, true);
const withModel = (body: Uint8Array, model: string) => enc.encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(body)), model }));
const REQ_BEDROCK = withModel(REQ_CLAUDE, "bedrock-claude");
const REQ_GEMINI = geminiChatRequest(2048, false);

const prose = (n: number) => "the gateway routes each request by model and reads token usage ".repeat(Math.ceil(n / 64)).slice(0, n);
const BEDROCK_JSON = enc.encode(JSON.stringify({
  output: { message: { role: "assistant", content: [{ text: prose(700) }] } }, stopReason: "end_turn",
  usage: { inputTokens: 412, outputTokens: 230, totalTokens: 642 }, metrics: { latencyMs: 1234 },
}));
const GEMINI_JSON = enc.encode(JSON.stringify({
  candidates: [{ content: { role: "model", parts: [{ text: prose(700) }] }, finishReason: "STOP", index: 0 }],
  usageMetadata: { promptTokenCount: 430, candidatesTokenCount: 230, totalTokenCount: 660 }, modelVersion: GEMINI_MODEL, responseId: "Y52yaPKZEqHLz7IPq6a08QQ",
}));

interface MockCase { status: number; headers: Record<string, string>; chunks: string[]; each?: boolean; delay_us?: number }
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const cases: Record<string, MockCase> = {
  "openai-json": { status: 200, headers: { "content-type": "application/json" }, chunks: [b64(chatResponse(1024))] },
  "anthropic-json": { status: 200, headers: { "content-type": "application/json" }, chunks: [b64(anthropicMessage(1024))] },
  "bedrock-json": { status: 200, headers: { "content-type": "application/json", "x-amzn-requestid": "bench-1" }, chunks: [b64(BEDROCK_JSON)] },
  "gemini-json": { status: 200, headers: { "content-type": "application/json" }, chunks: [b64(GEMINI_JSON)] },
};
const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };
// Stream lengths in events (SSE events as the upstream sends them).
const streams: Record<string, (n: number) => SseStream> = {
  openai: (n) => sseStream(n - 4), // role chunk + content chunks + finish + usage + [DONE]
  anthropic: (n) => anthropicSseStream(n),
};
for (const [p, make] of Object.entries(streams)) {
  for (const n of new Set([SHORT, LONG, LONG_EACH])) {
    const s = make(n);
    if (s.events.length !== n) throw new Error(`stream ${p}: ${s.events.length} events, wanted ${n}`);
    cases[`${p}-sse-${n}-burst`] = { status: 200, headers: SSE_HEADERS, chunks: s.events.map(b64) };
    cases[`${p}-sse-${n}-each`] = { status: 200, headers: SSE_HEADERS, chunks: s.events.map(b64), each: true, delay_us: EACH_DELAY_US };
  }
}

// ------------------------------------------------------------------------------------ processes

const dir = mkdtempSync(join(tmpdir(), "bench-envoy-"));
const children: ChildProcess[] = [];
let rls: RateLimitService | undefined;
async function cleanup() {
  for (const c of children) { try { process.kill(-c.pid!, "SIGTERM"); } catch { /* gone */ } }
  if (rls) await rls.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.on("SIGINT", () => { void cleanup().then(() => process.exit(130)); });

function startPinned(core: string, cmd: string, a: string[], env?: Record<string, string>): ChildProcess {
  const c = spawn("taskset", ["-c", core, cmd, ...a], { detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  children.push(c);
  return c;
}

async function firstLine(c: ChildProcess): Promise<string> {
  return new Promise((ok, fail) => {
    let buf = "";
    c.stdout!.on("data", (d) => { buf += d; const i = buf.indexOf("\n"); if (i >= 0) ok(buf.slice(0, i)); });
    c.on("exit", (code) => fail(new Error(`exited with ${code} before printing its port`)));
  });
}

const MAX_LIMIT = 4294967295;
const BACKENDS = [
  { name: "openai", schema: "openai", cluster: "mock", host: "api.openai.test", auth: { type: "bearer", key: "sk-upstream-secret" } },
  { name: "claude", schema: "anthropic", cluster: "mock", host: "api.anthropic.test", auth: { type: "header", header: "x-api-key", key: "sk-ant-bench-secret" } },
  { name: "bedrock", schema: "bedrock-converse", cluster: "mock", region: "us-east-1",
    auth: { type: "aws-sigv4", region: "us-east-1", access_key: "AKIDEXAMPLE", secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" } },
  { name: "gemini", schema: "gemini", cluster: "mock", auth: { type: "x-goog-api-key", key: "AIzaSy-bench-secret" } },
];
const MODELS = [
  { match: "gpt-*", backend: "openai" }, { match: "claude-*", backend: "claude" },
  { match: "bedrock-claude", backend: "bedrock", upstream_model: "anthropic.claude-3-5-sonnet-20240620-v1:0" },
  { match: "gemini-*", backend: "gemini" },
];
const gwConfig = (limits?: object) => JSON.stringify({ backends: BACKENDS, models: MODELS, max_request_bytes: 1048576, ...(limits ? { limits } : {}) });

function wasmFilter(name: string, wasm: string, rootId: string, configuration: string) {
  return {
    name: "envoy.filters.http.wasm",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
      config: {
        name, root_id: rootId, failure_policy: "FAIL_CLOSED", allow_on_headers_stop_iteration: true,
        vm_config: { vm_id: name, runtime: "envoy.wasm.runtime.v8", code: { local: { filename: wasm } } },
        configuration: { "@type": "type.googleapis.com/google.protobuf.StringValue", value: configuration },
      },
    },
  };
}

function listener(name: string, port: number, filters: object[], viaGateway: boolean) {
  const routes = viaGateway
    ? [{ match: { prefix: "/", headers: [{ name: "x-ai-gateway-cluster", present_match: true }] }, request_headers_to_remove: ["x-ai-gateway-cluster"], route: { cluster_header: "x-ai-gateway-cluster", timeout: "0s" } },
       { match: { prefix: "/" }, direct_response: { status: 404 } }]
    : [{ match: { prefix: "/" }, route: { cluster: "mock", timeout: "0s" } }];
  return {
    name, address: { socket_address: { address: "127.0.0.1", port_value: port } },
    per_connection_buffer_limit_bytes: 9437184,
    filter_chains: [{ filters: [{
      name: "envoy.filters.network.http_connection_manager",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix: name, codec_type: "AUTO",
        route_config: { name, virtual_hosts: [{ name, domains: ["*"], routes }] },
        http_filters: [...filters, { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
      },
    }] }],
  };
}

const cluster = (name: string, port: number, http2 = false) => ({
  name, type: "STATIC", connect_timeout: "1s",
  ...(http2 ? { typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicit_http_config: { http2_protocol_options: {} } } } } : {}),
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
});

// ------------------------------------------------------------------------------------ scenarios

type Variant = "alone" | "noop" | "gw" | "local" | "global" | "gwB" | "localB";
interface Scenario { name: string; variant: Variant; case: string; body: Uint8Array; stream: boolean; events?: number; kind: "json" | "sse"; group: string }
const scenarios: Scenario[] = [];
const jsonScenario = (name: string, variant: Variant, c: string, body: Uint8Array, group: string) => scenarios.push({ name, variant, case: c, body, stream: false, kind: "json", group });
jsonScenario("alone", "alone", "openai-json", REQ_OPENAI, "base");
jsonScenario("noop", "noop", "openai-json", REQ_OPENAI, "base");
jsonScenario("pass", "gw", "openai-json", REQ_OPENAI, "req");
jsonScenario("local", "local", "openai-json", REQ_OPENAI, "req");
jsonScenario("global", "global", "openai-json", REQ_OPENAI, "req");
jsonScenario("anthropic", "gw", "anthropic-json", REQ_CLAUDE, "req");
jsonScenario("bedrock", "gw", "bedrock-json", REQ_BEDROCK, "req");
jsonScenario("gemini", "gw", "gemini-json", REQ_GEMINI, "req");
if (COMPARE_WASM) {
  jsonScenario("pass-B", "gwB", "openai-json", REQ_OPENAI, "reqB");
  jsonScenario("local-B", "localB", "openai-json", REQ_OPENAI, "reqB");
  jsonScenario("anthropic-B", "gwB", "anthropic-json", REQ_CLAUDE, "reqB");
}
for (const p of Object.keys(streams)) {
  for (const mode of ["burst", "each"]) {
    for (const n of [SHORT, mode === "burst" ? LONG : LONG_EACH]) {
      for (const v of ["alone", "gw"] as Variant[]) {
        scenarios.push({ name: `${p}-${mode}-${n}-${v}`, variant: v, case: `${p}-sse-${n}-${mode}`, body: p === "openai" ? REQ_OPENAI_STREAM : REQ_CLAUDE_STREAM, stream: true, events: n, kind: "sse", group: `${p}-${mode}` });
      }
    }
  }
}
const selected = ONLY ? scenarios.filter((s) => ONLY.split(",").some((o) => s.name === o || s.group === o || s.name.startsWith(o + "-")) || s.group === "base") : scenarios;

// What the client sees when it streams from `alone` (the upstream's own answer) or the gateway.
interface Expect { status: number; contains: string[]; count?: string; count_n?: number; length?: number; length_tol?: number }

/** Sends one request from Node, checks the answer in full and derives the load generator's per-answer check. */
async function validate(s: Scenario, url: string): Promise<Expect> {
  const r = await fetch(url, { method: "POST", body: s.body as unknown as BodyInit, headers: { "content-type": "application/json", authorization: "Bearer sk-client", "x-bench-case": s.case } });
  const text = await r.text();
  const where = `scenario ${s.name}`;
  if (r.status !== 200) throw new Error(`${where}: status ${r.status}: ${text.slice(0, 400)}`);
  const upstreamIsOpenAI = s.case.startsWith("openai");
  const clientSeesOpenAI = s.variant !== "alone" && s.variant !== "noop" || upstreamIsOpenAI;
  if (s.kind === "json") {
    const body = JSON.parse(text);
    if (clientSeesOpenAI) {
      assertChatCompletion(body);
      if (!(body.usage?.prompt_tokens > 0 && body.usage?.completion_tokens > 0)) throw new Error(`${where}: no usage in ${text.slice(0, 300)}`);
      if (!(body.choices[0].message.content.length > 100)) throw new Error(`${where}: short content`);
    }
    return { status: 200, contains: clientSeesOpenAI ? ['"chat.completion"', '"usage"'] : [], length: text.length, length_tol: 64 };
  }
  if (!clientSeesOpenAI) {
    const n = text.split("\n\n").filter((e) => e.startsWith("event: ")).length;
    if (n !== s.events) throw new Error(`${where}: ${n} events, wanted ${s.events}`);
    return { status: 200, contains: ["event: message_stop"], count: "\n\n", count_n: n, length: text.length, length_tol: 0 };
  }
  const parsed = parseOpenAISse(text);
  let usage = false;
  for (const e of parsed.chunks) {
    assertChatCompletionChunk(e);
    if (e.usage) usage = true;
  }
  if (!usage && s.variant === "alone") throw new Error(`${where}: no usage chunk`);
  if (!parsed.done) throw new Error(`${where}: the stream does not end with [DONE]`);
  const n = (text.match(/^data: /gm) ?? []).length;
  if (n < (s.events! - 5)) throw new Error(`${where}: ${n} data events for ${s.events} upstream events`);
  return { status: 200, contains: ["data: [DONE]"], count: "data: ", count_n: n, length: text.length, length_tol: 256 };
}

interface Result { requests: number; errors: number; cpu_us_per_request: number; rss_kib: number; first_error?: string }

function loadRun(s: Scenario, url: string, pid: number, expect: Expect, bodyFile: string): Promise<Result> {
  const a = ["load", "-url", url, "-body", bodyFile, "-pid", String(pid), "-conns", String(CONNS),
    "-warmup", `${WARMUP}s`, "-duration", `${DURATION}s`, "-expect", JSON.stringify(expect),
    "-headers", JSON.stringify({ "content-type": "application/json", authorization: "Bearer sk-client", "x-bench-case": s.case })];
  return new Promise((ok, fail) => {
    const c = spawn("taskset", ["-c", LOAD_CORE, GO_BIN, ...a], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    c.stdout.on("data", (d) => { out += d; });
    c.on("exit", (code) => {
      let r: Result;
      try { r = JSON.parse(out.trim().split("\n").pop()!); } catch { return fail(new Error(`${s.name}: load generator exited ${code}: ${out}`)); }
      if (code !== 0) return fail(new Error(`${s.name}: ${r.errors} wrong answers, first: ${r.first_error}`));
      ok(r);
    });
  });
}

// ------------------------------------------------------------------------------------ main

const median = (a: number[]) => { const b = [...a].sort((x, y) => x - y); const m = b.length >> 1; return b.length % 2 ? b[m] : (b[m - 1] + b[m]) / 2; };
const fmt = (x: number) => x.toFixed(x < 10 ? 2 : 0);

try {
  const casesFile = join(dir, "cases.json");
  writeFileSync(casesFile, JSON.stringify(cases));
  const mock = startPinned(LOAD_CORE, GO_BIN, ["mock", "-cases", casesFile]);
  const mockPort = Number(await firstLine(mock));

  const [adminPort, pAlone, pNoop, pGw, pLocal, pGlobal, pGwB, pLocalB] = await freePorts(8);
  const ports: Record<Variant, number> = { alone: pAlone, noop: pNoop, gw: pGw, local: pLocal, global: pGlobal, gwB: pGwB, localB: pLocalB };
  const clusters = [cluster("mock", mockPort)];
  const listeners = [
    listener("alone", pAlone, [], false),
    listener("noop", pNoop, [wasmFilter("noop", NOOP_WASM, "noop", "")], false),
    listener("gw", pGw, [wasmFilter("gw", GATEWAY_WASM, "ai_gateway", gwConfig())], true),
    listener("local", pLocal, [wasmFilter("local", GATEWAY_WASM, "ai_gateway", gwConfig({ mode: "local", rules: [{ name: "tpd", key: ["client"], window: "day", tokens: MAX_LIMIT }] }))], true),
  ];
  if (COMPARE_WASM) {
    listeners.push(listener("gwB", pGwB, [wasmFilter("gwB", COMPARE_WASM, "ai_gateway", gwConfig())], true));
    listeners.push(listener("localB", pLocalB, [wasmFilter("localB", COMPARE_WASM, "ai_gateway", gwConfig({ mode: "local", rules: [{ name: "tpd", key: ["client"], window: "day", tokens: MAX_LIMIT }] }))], true));
  }
  if (selected.some((s) => s.variant === "global")) {
    rls = await startRateLimit({ config: { domain: "ai_gateway", descriptors: [{ key: "rule", rate_limit: { unit: "minute", requests_per_unit: 1 } }] } });
    clusters.push(cluster("ratelimit", rls.grpcPort, true));
    listeners.push(listener("global", pGlobal, [wasmFilter("global", GATEWAY_WASM, "ai_gateway", gwConfig({
      mode: "global", rls_cluster: "ratelimit", domain: "ai_gateway", timeout_ms: 1000, failure_mode: "deny",
      rules: [{ name: "tpd", key: ["client"], window: "day", tokens: MAX_LIMIT }] }))], true));
  }
  const bootstrap = join(dir, "envoy.json");
  writeFileSync(bootstrap, JSON.stringify({
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
    static_resources: { listeners, clusters },
  }));
  const envoy = startPinned(ENVOY_CORE, ENVOY, ["-c", bootstrap, "--concurrency", "1", "--log-level", "warn", "--base-id", String(process.pid % 60000 + 1000)]);
  let envoyLog = "";
  envoy.stderr!.on("data", (d) => { envoyLog += d; if (envoyLog.length > 100000) envoyLog = envoyLog.slice(-50000); });
  const t0 = Date.now();
  for (;;) {
    if (envoy.exitCode !== null) throw new Error(`envoy exited (${envoy.exitCode}): ${envoyLog.slice(-3000)}`);
    try { if ((await fetch(`http://127.0.0.1:${adminPort}/ready`)).status === 200) break; } catch { /* not yet */ }
    if (Date.now() - t0 > 30000) throw new Error(`envoy not ready after 30 s: ${envoyLog.slice(-3000)}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
  // taskset started Envoy by exec: the child's pid is Envoy's.
  const pid = envoy.pid!;

  const expects = new Map<string, Expect>();
  const bodyFiles = new Map<string, string>();
  for (const s of selected) {
    const url = `http://127.0.0.1:${ports[s.variant]}/v1/chat/completions`;
    expects.set(s.name, await validate(s, url));
    const f = join(dir, `${s.name}.body`);
    writeFileSync(f, s.body);
    bodyFiles.set(s.name, f);
  }
  log(`bench:envoy: ${envoyVersion}; ${selected.length} scenarios checked; ${ROUNDS} rounds × (${WARMUP}s warm-up + ${DURATION}s), ${CONNS} connections, Envoy on core ${ENVOY_CORE}, load on core ${LOAD_CORE}`);

  const samples = new Map<string, number[]>();
  const rss: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of selected) {
      const r = await loadRun(s, `http://127.0.0.1:${ports[s.variant]}/v1/chat/completions`, pid, expects.get(s.name)!, bodyFiles.get(s.name)!);
      if (!samples.has(s.name)) samples.set(s.name, []);
      samples.get(s.name)!.push(r.cpu_us_per_request);
      rss.push(r.rss_kib);
      log(`  round ${round + 1} ${s.name.padEnd(28)} ${String(r.requests).padStart(7)} req  ${fmt(r.cpu_us_per_request).padStart(7)} µs/req  rss ${Math.round(r.rss_kib / 1024)} MiB`);
    }
  }

  const med = (n: string) => median(samples.get(n)!);
  const spread = (n: string) => { const a = samples.get(n)!; return `${fmt(Math.min(...a))}–${fmt(Math.max(...a))}`; };
  const alone = med("alone"), noop = med("noop");
  const lines: string[] = [];
  lines.push(`Envoy ${envoyVersion}, 1 worker on core ${ENVOY_CORE}, ${CONNS} connections, medians of ${ROUNDS} interleaved rounds (${DURATION} s each); CPU µs per request of the Envoy process`);
  lines.push("");
  lines.push("| scenario | CPU µs/request (median) | spread | − Envoy alone | − no-op wasm |");
  lines.push("|---|---|---|---|---|");
  const label: Record<string, string> = {
    alone: "Envoy alone, router to the mock", noop: "+ no-op proxy-wasm filter", pass: "+ ai-gateway, OpenAI passthrough (2 KB req, 1 KB answer)",
    local: "+ local token limit", "pass-B": "passthrough, --compare build", "local-B": "local limit, --compare build", "anthropic-B": "OpenAI → Anthropic, --compare build", global: "+ global token limit (envoyproxy/ratelimit + Redis)", anthropic: "+ OpenAI → Anthropic", bedrock: "+ OpenAI → Bedrock Converse", gemini: "+ OpenAI → Gemini",
  };
  for (const s of selected.filter((x) => x.kind === "json")) {
    const m = med(s.name);
    lines.push(`| ${label[s.name] ?? s.name} | ${fmt(m)} | ${spread(s.name)} | ${s.name === "alone" ? "–" : fmt(m - alone)} | ${s.name === "alone" || s.name === "noop" ? "–" : fmt(m - noop)} |`);
  }
  if (COMPARE_WASM) {
    lines.push("");
    lines.push(`A/B against ${COMPARE_WASM} (same rounds; paired differences, this build minus the compared one):`);
    lines.push("");
    for (const n of ["pass", "local", "anthropic"]) {
      const a = samples.get(n), b = samples.get(`${n}-B`);
      if (!a || !b) continue;
      const d = a.map((x, i) => x - b[i]);
      lines.push(`- ${n}: median ${fmt(median(d))} µs/request (rounds: ${d.map(fmt).join(", ")})`);
    }
  }
  const streamGroups = [...new Set(selected.filter((s) => s.kind === "sse").map((s) => s.group))];
  if (streamGroups.length) {
    lines.push("");
    lines.push(`Per stream event (slope between ${SHORT} and ${LONG} events in a burst, ${SHORT} and ${LONG_EACH} one per read ${EACH_DELAY_US} µs apart; gateway minus Envoy alone):`);
    lines.push("");
    lines.push("| stream | Envoy alone µs/event | gateway µs/event | filter µs/event (median) | per round |");
    lines.push("|---|---|---|---|---|");
    for (const g of streamGroups) {
      const [p, mode] = g.split("-");
      const name = (n: number, v: string) => `${p}-${mode}-${n}-${v}`;
      const long = mode === "burst" ? LONG : LONG_EACH;
      const per = (v: string, i: number) => (samples.get(name(long, v))![i] - samples.get(name(SHORT, v))![i]) / (long - SHORT);
      const rounds = samples.get(name(long, "gw"))!.map((_, i) => per("gw", i) - per("alone", i));
      const slope = (v: string) => (med(name(long, v)) - med(name(SHORT, v))) / (long - SHORT);
      lines.push(`| ${p === "openai" ? "OpenAI passthrough" : "Anthropic → OpenAI"}, ${mode === "burst" ? "burst (many events per read)" : "one event per read"} | ${fmt(slope("alone"))} | ${fmt(slope("gw"))} | ${fmt(median(rounds))} | ${rounds.map(fmt).join(", ")} |`);
    }
  }
  lines.push("");
  lines.push(`Envoy RSS: ${Math.round(Math.min(...rss) / 1024)}–${Math.round(Math.max(...rss) / 1024)} MiB over the run; release .wasm ${readFileSync(GATEWAY_WASM).length} bytes`);
  console.log(lines.join("\n"));
} finally {
  await cleanup();
}
