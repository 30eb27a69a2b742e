// `npm start`: the real filter (build/ai-gateway.wasm) in real Envoy as a local gateway. The
// first run installs the pinned Envoy into .cache/ (scripts/install-envoy.sh; ENVOY_BIN picks
// another binary). `npm start` builds the .wasm first when it is missing or older than the
// sources (scripts/build.mjs --if-needed).
//
//   npm start [-- --port 8080] [--workers 2] [--config plugin.json] [--key <gateway key>]
//             [--upstream <cluster>=<url>]… [--admin-port 9901] [--verbose] [--host]
//
// Without --config it runs an embedded configuration: three backends (OpenAI, Anthropic with full
// translation, DeepSeek as an OpenAI-compatible one), a local token limit per client, and one
// gateway client whose key is printed at start. A backend whose key is in the environment
// (OPENAI_API_KEY, ANTHROPIC_API_KEY, DEEPSEEK_API_KEY) goes to the real provider over TLS; the
// others are answered by the mock providers of dev/mock-provider.ts from fixture files, in this
// process. With --config the plugin configuration is yours: every backend's cluster goes to
// https://<backend host>:443 unless --upstream maps the cluster elsewhere (e.g. a local vLLM at
// --upstream vllm=http://127.0.0.1:8000); environment variables the configuration names are
// handed to the VM (Envoy: vm_config.environment_variables.host_env_keys).
//
// Envoy's admin listener (--admin-port) serves the filter's metrics: /stats (Envoy names) and
// /stats/prometheus (with the stats_tags of envoy/stats-tags.yaml applied).
//
// --host runs the same configuration in the imitation host of tests/host instead of Envoy (for a
// machine without Python to install Envoy with); it then serves /stats and /stats/prometheus itself.
//
// One line per request, from Envoy's access log (status, latency) and the filter state the filter
// sets (client, model, backend, tokens):
//   <time> client=… model=… backend=… input_tokens=… output_tokens=… status=… latency_ms=…

import { readFileSync } from "node:fs";
import http from "node:http";
import { parse as parseYaml } from "yaml";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes, createHash } from "node:crypto";
import { EnvoyGateway, EnvoyLoadError, type ClusterConfig, type AccessLogEntry, type GatewayOptions, type LogEntry } from "../dev/envoy-gateway.ts";
import { MockProvider, loadFixture, fixtureFromSpec, type Fixture } from "../dev/mock-provider.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WASM = join(ROOT, "build", "ai-gateway.wasm");
const FIX = join(ROOT, "tests", "fixtures");
const ROUTE_HEADER = "x-ai-gateway-cluster";

interface Args { port: number; adminPort: number; workers: number; config?: string; key?: string; upstreams: Map<string, string>; verbose: boolean; host: boolean }

function usage(msg?: string): never {
  if (msg) console.error(`error: ${msg}`);
  console.error("usage: npm start -- [--port 8080] [--admin-port 9901] [--workers 2] [--config plugin.json] [--key <gateway key>] [--upstream <cluster>=<url>]… [--verbose] [--host]");
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { port: 8080, adminPort: 9901, workers: 2, upstreams: new Map(), verbose: false, host: false };
  for (let i = 0; i < argv.length; i++) {
    const v = () => { const x = argv[++i]; if (x === undefined) usage(`${argv[i - 1]} needs a value`); return x; };
    const arg = argv[i];
    if (arg === "--port") { a.port = Number(v()); if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) usage("--port must be 0..65535"); }
    else if (arg === "--admin-port") { a.adminPort = Number(v()); if (!Number.isInteger(a.adminPort) || a.adminPort < 0 || a.adminPort > 65535) usage("--admin-port must be 0..65535"); }
    else if (arg === "--workers") { a.workers = Number(v()); if (!Number.isInteger(a.workers) || a.workers < 1 || a.workers > 64) usage("--workers must be 1..64"); }
    else if (arg === "--config") a.config = v();
    else if (arg === "--key") a.key = v();
    else if (arg === "--upstream") { const x = v(); const eq = x.indexOf("="); if (eq <= 0) usage("--upstream needs <cluster>=<url>"); a.upstreams.set(x.slice(0, eq), x.slice(eq + 1)); }
    else if (arg === "--verbose") a.verbose = true;
    else if (arg === "--host") a.host = true;
    else if (arg === "--help" || arg === "-h") usage();
    else usage(`unknown argument ${arg}`);
  }
  return a;
}

/** A backend of the embedded configuration and where its mock answers come from. */
interface Demo { backend: Record<string, unknown>; keyEnv: string; mock: () => Fixture[] }

const onStream = (f: Fixture, stream: boolean): Fixture => ({ ...f, match: { stream } });
const fromFiles = (name: string, dir: string, meta: string, body: string, stream: boolean): Fixture =>
  onStream(fixtureFromSpec(name, { ...JSON.parse(readFileSync(join(dir, meta), "utf8")), [stream ? "streamFile" : "bodyFile"]: body,
    ...(stream ? { split: "sse-events", chunkDelayMs: 20 } : {}) }, dir), stream);

const DEMO: Demo[] = [
  {
    backend: { name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", env: "OPENAI_API_KEY" } },
    keyEnv: "OPENAI_API_KEY",
    mock: () => [
      onStream(loadFixture(join(FIX, "openai", "chat-completion-gpt-4o-mini.fixture.json")), false),
      onStream(loadFixture(join(FIX, "openai", "chat-stream-include-usage.fixture.json"), { chunkDelayMs: 20 }), true),
    ],
  },
  {
    backend: { name: "anthropic", schema: "anthropic", cluster: "anthropic", host: "api.anthropic.com",
      auth: { type: "header", header: "x-api-key", env: "ANTHROPIC_API_KEY" }, default_max_tokens: 1024 },
    keyEnv: "ANTHROPIC_API_KEY",
    mock: () => [
      fromFiles("anthropic-message", join(FIX, "providers", "anthropic", "_shared"), "message-text.meta.json", "message-text.json", false),
      fromFiles("anthropic-stream", join(FIX, "providers", "anthropic", "stream-text"), "upstream-response.meta.json", "upstream-response.sse", true),
    ],
  },
  {
    backend: { name: "deepseek", schema: "openai", preset: "deepseek", cluster: "deepseek", host: "api.deepseek.com",
      auth: { type: "bearer", env: "DEEPSEEK_API_KEY" } },
    keyEnv: "DEEPSEEK_API_KEY",
    mock: () => [
      fromFiles("deepseek-chat", join(FIX, "providers", "deepseek", "chat-prompt-cache-hit-tokens"), "upstream-response.meta.json", "upstream-response.json", false),
      onStream(loadFixture(join(FIX, "openai", "chat-stream-include-usage.fixture.json"), { chunkDelayMs: 20 }), true),
    ],
  },
];

const DEMO_MODELS = [
  { match: "gpt-*", backend: "openai" },
  { match: "claude-sonnet", backend: "anthropic", upstream_model: "claude-sonnet-4-5" },
  { match: "claude-*", backend: "anthropic" },
  { match: "deepseek-*", backend: "deepseek" },
];

const DEMO_LIMITS = {
  mode: "local",
  default_output_tokens: 256,
  rules: [{ name: "per-client-per-minute", key: ["client"], window: "minute", tokens: 2000 }],
};

function clusterFromUrl(url: string): ClusterConfig {
  let u: URL;
  try { u = new URL(url); } catch { usage(`bad URL ${url}`); }
  if (u.protocol !== "http:" && u.protocol !== "https:") usage(`${url}: only http:// and https:// upstreams`);
  const tls = u.protocol === "https:";
  return { host: u.hostname, port: u.port ? Number(u.port) : tls ? 443 : 80, tls };
}

interface Plan {
  config: Record<string, unknown>;
  clusters: Record<string, ClusterConfig>;
  env: Record<string, string>;
  /** cluster → where it goes, for the start banner */
  where: Map<string, string>;
  mocks: MockProvider[];
  key: string;
}

async function demoPlan(a: Args): Promise<Plan> {
  const key = a.key ?? `sk-local-${randomBytes(12).toString("hex")}`;
  const plan: Plan = {
    config: {
      backends: DEMO.map((d) => d.backend), models: DEMO_MODELS,
      clients: [{ name: "local-dev", key_sha256: createHash("sha256").update(key).digest("hex") }],
      limits: DEMO_LIMITS,
    },
    clusters: {}, env: {}, where: new Map(), mocks: [], key,
  };
  for (const d of DEMO) {
    const cluster = String(d.backend.cluster);
    const real = process.env[d.keyEnv];
    const up = a.upstreams.get(cluster);
    if (up) {
      plan.clusters[cluster] = clusterFromUrl(up);
      plan.env[d.keyEnv] = real ?? "local-upstream";
      plan.where.set(cluster, up);
    } else if (real) {
      plan.clusters[cluster] = { host: String(d.backend.host), port: 443, tls: true };
      plan.env[d.keyEnv] = real;
      plan.where.set(cluster, `https://${d.backend.host} (key from ${d.keyEnv})`);
    } else {
      const mock = await MockProvider.start();
      mock.register(...d.mock());
      plan.mocks.push(mock);
      plan.clusters[cluster] = { host: "127.0.0.1", port: mock.port };
      // The VM gets a stand-in key: the mock ignores it, and no real key exists to leak.
      plan.env[d.keyEnv] = `mock-${cluster}-key`;
      plan.where.set(cluster, `mock provider at ${mock.url} (fixtures; set ${d.keyEnv} for the real one)`);
    }
  }
  return plan;
}

function filePlan(a: Args): Plan {
  let config: Record<string, unknown>;
  try { config = JSON.parse(readFileSync(a.config!, "utf8")); } catch (e) { usage(`--config ${a.config}: ${(e as Error).message}`); }
  const plan: Plan = { config, clusters: {}, env: {}, where: new Map(), mocks: [], key: a.key ?? "" };
  const backends = Array.isArray(config.backends) ? config.backends as Record<string, unknown>[] : [];
  backends.forEach((b, i) => {
    const cluster = typeof b.cluster === "string" ? b.cluster : "";
    if (!cluster || plan.clusters[cluster]) return;
    const up = a.upstreams.get(cluster);
    if (up) { plan.clusters[cluster] = clusterFromUrl(up); plan.where.set(cluster, up); return; }
    if (typeof b.host !== "string" || !b.host) usage(`backends[${i}] has no "host": give it one, or --upstream ${cluster}=<url>`);
    plan.clusters[cluster] = { host: b.host, port: 443, tls: true };
    plan.where.set(cluster, `https://${b.host}`);
  });
  // Environment variables the configuration names (auth.env, …), as Envoy's vm_config would list them.
  const walk = (v: unknown): void => {
    if (typeof v === "string" && /^[A-Z_][A-Z0-9_]*$/.test(v) && process.env[v] !== undefined) plan.env[v] = process.env[v]!;
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(config);
  return plan;
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));
const clock = () => new Date().toTimeString().slice(0, 8);

/** What main needs from a running gateway, on either platform. */
interface Running {
  url: string;
  /** The metrics endpoint's base URL. */
  adminUrl: string;
  what: string;
  stop(): Promise<void>;
}

/** The gateway in real Envoy: Envoy's own admin listener serves the metrics. */
async function startInEnvoy(a: Args, o: GatewayOptions): Promise<Running> {
  const gw = await EnvoyGateway.start({ ...o, adminPort: a.adminPort, install: true, say: (l) => console.log(l) });
  return { url: gw.url, adminUrl: gw.adminUrl, what: `Envoy ${gw.version}`, stop: () => gw.stop() };
}

/** The gateway in the imitation host (--host), with a small admin listener for the metrics. */
async function startOnHost(a: Args, o: GatewayOptions): Promise<Running> {
  const { Gateway } = await import("../tests/host/gateway.ts");
  const { hostEnvKeys, ...plugin } = o.plugin;
  const env = { ...plugin.env };
  for (const k of hostEnvKeys ?? []) if (o.processEnv?.[k] !== undefined) env[k] = o.processEnv[k]!;
  const gw = await Gateway.start({ ...o, plugin: { ...plugin, env } });
  const admin = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/stats/prometheus") { res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }); res.end(gw.prometheus()); return; }
    if (path === "/stats") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(Object.entries(gw.stats()).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, v]) => `${k}: ${v}`).join("\n") + "\n");
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }); res.end("/stats or /stats/prometheus\n");
  });
  try {
    await new Promise<void>((resolve, reject) => { admin.once("error", reject); admin.listen(a.adminPort, "127.0.0.1", () => resolve()); });
  } catch (e) {
    await gw.stop();
    throw new Error(`admin port ${a.adminPort}: ${(e as Error).message} (choose another with --admin-port)`);
  }
  return {
    url: gw.url, adminUrl: `http://127.0.0.1:${(admin.address() as { port: number }).port}`, what: "the imitation host of tests/host",
    stop: async () => { admin.closeAllConnections(); admin.close(); await gw.stop(); },
  };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const plan = a.config ? filePlan(a) : await demoPlan(a);

  // One line per request from the access log: Envoy's status and duration, the filter's state.
  const print = (e: AccessLogEntry) => {
    const f = (k: string) => e.filterState[`wasm.ai_gateway.${k}`] ?? "-";
    const stream = e.responseContentType === undefined ? "-" : String(e.responseContentType.startsWith("text/event-stream"));
    console.log(`${clock()} client=${f("client")} model=${f("model")} backend=${f("backend")} input_tokens=${f("input_tokens")} ` +
      `output_tokens=${f("output_tokens")} status=${e.responseCode ?? 0} latency_ms=${Math.round(e.durationMs)} stream=${stream}`);
  };
  const options: GatewayOptions = {
    wasm: WASM,
    // Secrets reach the VM as Envoy's do: host_env_keys naming variables of the Envoy process.
    plugin: { configuration: JSON.stringify(plan.config), hostEnvKeys: Object.keys(plan.env), failurePolicy: "FAIL_CLOSED" },
    processEnv: { ...process.env, ...plan.env },
    workers: a.workers,
    port: a.port,
    routes: [{ match: { prefix: "/" }, clusterHeader: ROUTE_HEADER, requestHeadersToRemove: [ROUTE_HEADER], timeoutMs: 0 }],
    clusters: plan.clusters,
    statsTags: parseYaml(readFileSync(join(ROOT, "envoy", "stats-tags.yaml"), "utf8")),
    accessLog: print,
    onLog: (l: LogEntry) => {
      if (l.origin === "wasm" && l.message.startsWith("ai-gateway: request ")) { if (a.verbose) console.error(`[wasm vm${l.vm}] ${l.message}`); return; }
      if (a.verbose || l.level >= 3) console.error(`[${l.origin}${l.vm >= 0 ? ` vm${l.vm}` : ""}] ${l.message}`);
    },
  };
  let gw: Running;
  try {
    gw = a.host ? await startOnHost(a, options) : await startInEnvoy(a, options);
  } catch (e) {
    for (const m of plan.mocks) await m.stop();
    if (e instanceof EnvoyLoadError || (e as Error).name === "LoadError") {
      console.error(`the gateway refused its configuration: ${(e as Error).message}`);
      for (const l of (e as EnvoyLoadError).logs ?? []) console.error(`  ${l.message}`);
      process.exit(1);
    }
    console.error(`the gateway did not start: ${(e as Error).message}`);
    process.exit(1);
  }

  console.log(`ai-gateway listening on ${gw.url}  (real build/ai-gateway.wasm in ${gw.what}, ${a.workers} worker${a.workers > 1 ? "s" : ""})`);
  const models = Array.isArray(plan.config.models) ? plan.config.models as { match: string; backend: string; upstream_model?: string }[] : [];
  const backends = Array.isArray(plan.config.backends) ? plan.config.backends as { name: string; cluster: string }[] : [];
  console.log("models:");
  for (const m of models) {
    const b = backends.find((x) => x.name === m.backend);
    const dest = b ? plan.where.get(b.cluster) ?? b.cluster : "?";
    console.log(`  ${pad(m.match, 16)} → ${pad(m.backend + (m.upstream_model ? ` (as ${m.upstream_model})` : ""), 34)} ${dest}`);
  }
  if (!a.config) {
    console.log(`limit: ${DEMO_LIMITS.rules[0].tokens} tokens per client per minute (local rule "${DEMO_LIMITS.rules[0].name}")`);
    console.log(`gateway key (client "local-dev"): ${plan.key}`);
    console.log(`try:  curl -s ${gw.url}/v1/chat/completions -H "authorization: Bearer ${plan.key}" ` +
      `-H "content-type: application/json" -d '{"model":"claude-sonnet","messages":[{"role":"user","content":"Hello"}]}'`);
  }
  console.log(`metrics: ${gw.adminUrl}/stats/prometheus (and ${gw.adminUrl}/stats)`);
  console.log("Ctrl-C stops.");

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await gw.stop();
    for (const m of plan.mocks) await m.stop();
    console.log("stopped.");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}

await main();
