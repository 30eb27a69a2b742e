// Metrics and access-log filter state of the real filter, in real Envoy (or the host platform):
// a fixed sequence of requests (two backends, two clients, a limit that denies, a provider error,
// unrouted and unauthenticated requests, model names with dots, slashes, colons and `;`/`=`),
// then every counter and histogram the filter defined is compared with values derived from the
// fixtures (not from the filter), the filter state seen by an access logger is checked, and
// Envoy's tag extraction with envoy/stats-tags.yaml is applied to every emitted name.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { Gateway, binsHold, type AccessLogEntry } from "../support/gateway.ts";
import { MockProvider, loadFixture, fixtureFromSpec } from "../../dev/mock-provider.ts";
import { TagProducer, formatTags, re2Incompatibilities } from "../host/tags.ts";
import { GATEWAY_WASM, OPENAI_FIXTURES, ROOT } from "../e2e/harness.ts";
import { statsTags, statName, sha256hex, chat, type Labels } from "./support.ts";

const KEY_A = "sk-gw-team-a-0123456789";
const KEY_B = "sk-gw-team-b-9876543210";
const ANTHROPIC_SHARED = join(ROOT, "tests", "fixtures", "providers", "anthropic", "_shared");

const CONFIG = {
  backends: [
    { name: "openai", schema: "openai", cluster: "openai", host: "api.openai.test", auth: { type: "bearer", key: "sk-upstream" } },
    { name: "claude", schema: "anthropic", cluster: "anthropic", host: "api.anthropic.test", auth: { type: "header", header: "x-api-key", key: "sk-ant-upstream" } },
  ],
  models: [
    { match: "anthropic.claude-3-5-sonnet-20240620-v1:0", backend: "claude" },
    { match: "claude-sonnet", backend: "claude", upstream_model: "claude-sonnet-4-5" },
    { match: "accounts/*", backend: "openai" },
    { match: "gpt-*", backend: "openai" },
  ],
  clients: [{ name: "team-a", key_sha256: sha256hex(KEY_A) }, { name: "team-b", key_sha256: sha256hex(KEY_B) }],
  limits: {
    mode: "local",
    rules: [
      { name: "per-client", key: ["client"], window: "day", tokens: 100000000 },
      // Limit 1: the first request is admitted into the empty window, the second is denied.
      { name: "tiny", key: ["model"], match: { model: "gpt-tiny" }, window: "day", tokens: 1 },
    ],
  },
};

const openaiFixture = (name: string) => loadFixture(join(OPENAI_FIXTURES, `${name}.fixture.json`));
const anthropicText = () => fixtureFromSpec("anthropic-message-text",
  { ...JSON.parse(readFileSync(join(ANTHROPIC_SHARED, "message-text.meta.json"), "utf8")), bodyFile: "message-text.json" }, ANTHROPIC_SHARED);

// Expected per request, from the fixtures: usage as the provider reports it.
const U_REASONING = { input: 1792, output: 645, cached: 1536, reasoning: 448 }; // chat-completion-reasoning-usage
const U_STREAM = { input: 1536, output: 8, cached: 1280, reasoning: 0 };        // chat-stream-include-usage
const U_MINI = { input: 19, output: 10, cached: 0, reasoning: 0 };              // chat-completion-gpt-4o-mini
const U_CLAUDE = { input: 12, output: 12, cached: 0, reasoning: 0 };            // anthropic message-text

let gw: Gateway;
let openai: MockProvider;
let anthropic: MockProvider;
const accessLog: AccessLogEntry[] = [];
const statuses: number[] = [];

const L = (model: string, client: string, backend = "openai", provider = backend === "claude" ? "anthropic" : "openai"): Labels =>
  ({ provider, model, backend, client });
const GPT41_A = L("gpt-4.1", "team-a");
const CLAUDE_B = L("claude-sonnet", "team-b", "claude");
const UNROUTED_B: Labels = { provider: "none", model: "unrouted", backend: "none", client: "team-b" };
const UNROUTED_UNKNOWN: Labels = { provider: "none", model: "unrouted", backend: "none", client: "unknown" };
const TINY_B = L("gpt-tiny", "team-b");
const BEDROCK_NAME_A = L("anthropic.claude-3-5-sonnet-20240620-v1:0", "team-a", "claude");
const FIREWORKS_A = L("accounts/fireworks/models/x", "team-a");
const ODD_A = L("gpt-4_x_y", "team-a"); // requested as "gpt-4;x=y": `;` and `=` cannot appear in a tag value

before(async () => {
  openai = await MockProvider.start();
  anthropic = await MockProvider.start();
  gw = await Gateway.start({
    wasm: GATEWAY_WASM,
    plugin: { configuration: JSON.stringify(CONFIG) },
    workers: 2,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters: { openai: { host: "127.0.0.1", port: openai.port }, anthropic: { host: "127.0.0.1", port: anthropic.port } },
    statsTags: statsTags(),
    accessLog: (e) => accessLog.push(e),
  });
  openai.enqueue(
    openaiFixture("chat-completion-reasoning-usage"),   // 1
    openaiFixture("chat-stream-include-usage"),         // 2
    openaiFixture("error-429-rate-limit-exceeded"),     // 6
    openaiFixture("chat-completion-gpt-4o-mini"),       // 7
    openaiFixture("chat-completion-gpt-4o-mini"),       // 10
    openaiFixture("chat-completion-gpt-4o-mini"),       // 11
  );
  anthropic.enqueue(anthropicText(), anthropicText()); // 3, 9
  const send = async (body: Record<string, unknown>, key?: string) => {
    const r = await chat(gw.url, body, key);
    statuses.push(r.status);
  };
  await send({ model: "gpt-4.1" }, KEY_A);                                        // 1
  await send({ model: "gpt-4.1", stream: true }, KEY_A);                          // 2
  await send({ model: "claude-sonnet" }, KEY_B);                                  // 3
  await send({ model: "nope" }, KEY_B);                                           // 4 404
  await send({ model: "gpt-4.1" });                                               // 5 401
  await send({ model: "gpt-4.1" }, KEY_A);                                        // 6 upstream 429
  await send({ model: "gpt-tiny" }, KEY_B);                                       // 7 admitted
  await send({ model: "gpt-tiny" }, KEY_B);                                       // 8 denied
  await send({ model: "anthropic.claude-3-5-sonnet-20240620-v1:0" }, KEY_A);      // 9
  await send({ model: "accounts/fireworks/models/x" }, KEY_A);                    // 10
  await send({ model: "gpt-4;x=y" }, KEY_A);                                      // 11
});

after(async () => {
  await gw?.stop();
  await openai?.stop();
  await anthropic?.stop();
});

test("the request sequence got the statuses the fixtures and the limits imply", () => {
  assert.deepEqual(statuses, [200, 200, 200, 404, 401, 429, 200, 429, 200, 200, 200]);
  openai.assertNoFailures();
  anthropic.assertNoFailures();
  assert.deepEqual(openai.pendingFixtures(), []);
  assert.deepEqual(anthropic.pendingFixtures(), []);
});

test("counters: requests, errors, limit decisions and token totals, exactly, with their tags in the name", async () => {
  const want: Record<string, number> = {};
  const c = (base: string, l: Labels, v: number, extra: [string, string][] = []) => { want[statName(base, l, extra)] = (want[statName(base, l, extra)] ?? 0) + v; };
  // requests
  c("ai_gateway.requests", GPT41_A, 3);
  c("ai_gateway.requests", CLAUDE_B, 1);
  c("ai_gateway.requests", UNROUTED_B, 1);
  c("ai_gateway.requests", UNROUTED_UNKNOWN, 1);
  c("ai_gateway.requests", TINY_B, 2);
  c("ai_gateway.requests", BEDROCK_NAME_A, 1);
  c("ai_gateway.requests", FIREWORKS_A, 1);
  c("ai_gateway.requests", ODD_A, 1);
  // errors: local replies by their response code details, provider errors by status
  c("ai_gateway.errors", UNROUTED_B, 1, [["error.type", "model_not_found"], ["ai_gateway.status_class", "4xx"]]);
  c("ai_gateway.errors", UNROUTED_UNKNOWN, 1, [["error.type", "invalid_api_key"], ["ai_gateway.status_class", "4xx"]]);
  c("ai_gateway.errors", GPT41_A, 1, [["error.type", "429"], ["ai_gateway.status_class", "4xx"]]);
  c("ai_gateway.errors", TINY_B, 1, [["error.type", "rate_limited"], ["ai_gateway.status_class", "4xx"]]);
  // limit decisions: the most restrictive rule of each admission
  const lim = (l: Labels, rule: string, d: string, n: number) => c("ai_gateway.limit.decisions", l, n, [["ai_gateway.limit.rule", rule], ["ai_gateway.limit.decision", d]]);
  lim(GPT41_A, "per-client", "ok", 3);
  lim(CLAUDE_B, "per-client", "ok", 1);
  lim(TINY_B, "tiny", "ok", 1);
  lim(TINY_B, "tiny", "denied", 1);
  lim(BEDROCK_NAME_A, "per-client", "ok", 1);
  lim(FIREWORKS_A, "per-client", "ok", 1);
  lim(ODD_A, "per-client", "ok", 1);
  // token totals
  const tokens = (l: Labels, u: typeof U_MINI) => {
    c("gen_ai.client.inference.usage.input_tokens", l, u.input);
    c("gen_ai.client.inference.usage.output_tokens", l, u.output);
    if (u.cached) c("gen_ai.client.inference.usage.cache_read.input_tokens", l, u.cached);
    if (u.reasoning) c("gen_ai.client.inference.usage.reasoning.output_tokens", l, u.reasoning);
  };
  tokens(GPT41_A, U_REASONING);
  tokens(GPT41_A, U_STREAM);
  tokens(CLAUDE_B, U_CLAUDE);
  tokens(TINY_B, U_MINI);
  tokens(BEDROCK_NAME_A, U_CLAUDE);
  tokens(FIREWORKS_A, U_MINI);
  tokens(ODD_A, U_MINI);

  const stats = await gw.stats();
  // The memory gauge is not a per-request counter: present, a whole number of 64 KiB pages, and
  // compared apart from the counters.
  const memory = stats["wasmcustom.ai_gateway.vm.linear_memory_bytes"];
  assert.ok(memory > 0 && memory % 65536 === 0, `ai_gateway.vm.linear_memory_bytes ${memory}`);
  const got = Object.fromEntries(Object.entries(stats).filter(([k]) => k.startsWith("wasmcustom.") && k !== "wasmcustom.ai_gateway.vm.linear_memory_bytes"));
  assert.deepEqual(got, want);
});

test("histograms: token usage per request exactly, one latency sample per request where it applies", async () => {
  // Envoy keeps histogram samples in log-linear bins (exact below 100, then 2 significant digits);
  // the host keeps them exactly. A sample "is" a value when its bin contains the value.
  const hist = await gw.histograms();
  const count = (name: string) => (hist.get(name) ?? []).reduce((n, b) => n + b.count, 0);
  const want = new Map<string, number[] | number>(); // exact samples, or a sample count for timings
  const tok = (l: Labels, type: string, values: number[]) => want.set(statName("gen_ai.client.token.usage", l, [["gen_ai.token.type", type]]), values.sort((a, b) => a - b));
  tok(GPT41_A, "input", [U_REASONING.input, U_STREAM.input]);
  tok(GPT41_A, "output", [U_REASONING.output, U_STREAM.output]);
  for (const [l, u] of [[CLAUDE_B, U_CLAUDE], [BEDROCK_NAME_A, U_CLAUDE], [TINY_B, U_MINI], [FIREWORKS_A, U_MINI], [ODD_A, U_MINI]] as const) {
    tok(l, "input", [u.input]);
    tok(l, "output", [u.output]);
  }
  const dur = (l: Labels, n: number, error?: string) => want.set(statName("gen_ai.client.operation.duration", l, error ? [["error.type", error]] : []), n);
  dur(GPT41_A, 2); dur(GPT41_A, 1, "429");
  dur(CLAUDE_B, 1);
  dur(UNROUTED_B, 1, "model_not_found");
  dur(UNROUTED_UNKNOWN, 1, "invalid_api_key");
  dur(TINY_B, 1); dur(TINY_B, 1, "rate_limited");
  dur(BEDROCK_NAME_A, 1); dur(FIREWORKS_A, 1); dur(ODD_A, 1);
  // Upstream latency: every request that got response headers from a provider (not local replies).
  const up = (l: Labels, n: number) => want.set(statName("ai_gateway.upstream.latency", l), n);
  up(GPT41_A, 3); up(CLAUDE_B, 1); up(TINY_B, 1); up(BEDROCK_NAME_A, 1); up(FIREWORKS_A, 1); up(ODD_A, 1);
  // Time to first token: streams only.
  want.set(statName("gen_ai.server.time_to_first_token", GPT41_A), 1);

  const names = [...hist.keys()].filter((k) => k.startsWith("wasmcustom.")).sort();
  assert.deepEqual(names, [...want.keys()].sort(), "the set of histograms");
  for (const [name, w] of want) {
    const bins = hist.get(name)!;
    if (typeof w === "number") {
      assert.equal(count(name), w, name);
      for (const b of bins) assert.ok(Number.isInteger(b.lower_bound) && b.lower_bound >= 0 && b.lower_bound < 10000, `${name}: ${JSON.stringify(b)} ms`);
    } else assert.ok(binsHold(bins, w), `${name}: samples ${JSON.stringify(w)}, bins ${JSON.stringify(bins)}`);
  }
});

test("access log: routing decisions and usage are filter state (wasm.ai_gateway.*) before on_log runs", () => {
  assert.equal(accessLog.length, 11, "one access log entry per request");
  const fs = accessLog.map((e) => e.filterState);
  const usage = (u: typeof U_MINI) => ({
    "wasm.ai_gateway.input_tokens": String(u.input), "wasm.ai_gateway.output_tokens": String(u.output),
    "wasm.ai_gateway.cached_tokens": String(u.cached), "wasm.ai_gateway.reasoning_tokens": String(u.reasoning),
  });
  const route = (client: string, model: string, backend: string, limit: string) => ({
    "wasm.ai_gateway.path": "/v1/chat/completions",
    "wasm.ai_gateway.client": client, "wasm.ai_gateway.model": model, "wasm.ai_gateway.backend": backend, "wasm.ai_gateway.limit": limit,
  });
  assert.deepEqual(fs[0], { ...route("team-a", "gpt-4.1", "openai", "ok"), ...usage(U_REASONING) });
  assert.deepEqual(fs[1], { ...route("team-a", "gpt-4.1", "openai", "ok"), ...usage(U_STREAM) }, "stream: usage set at the end of the body");
  assert.deepEqual(fs[2], { ...route("team-b", "claude-sonnet", "claude", "ok"), ...usage(U_CLAUDE) });
  assert.deepEqual(fs[3], { "wasm.ai_gateway.path": "/v1/chat/completions", "wasm.ai_gateway.client": "team-b" }, "unrouted: the client's path and the client");
  assert.deepEqual(fs[4], { "wasm.ai_gateway.path": "/v1/chat/completions" }, "unauthenticated: only the client's path");
  assert.deepEqual(fs[5], route("team-a", "gpt-4.1", "openai", "ok"), "provider error: no usage reported");
  assert.deepEqual(fs[6], { ...route("team-b", "gpt-tiny", "openai", "ok"), ...usage(U_MINI) });
  assert.deepEqual(fs[7], route("team-b", "gpt-tiny", "openai", "denied"));
  assert.deepEqual(fs[10], { ...route("team-a", "gpt-4;x=y", "openai", "ok"), ...usage(U_MINI) }, "filter state keeps the model as sent");
  assert.deepEqual(accessLog.map((e) => e.responseCode), statuses);
});

test("Envoy tag extraction with envoy/stats-tags.yaml turns every emitted name into a metric name and exact labels", async () => {
  const producer = new TagProducer(statsTags());
  const names = [...Object.keys(await gw.stats()), ...(await gw.histograms()).keys()].filter((k) => k.startsWith("wasmcustom."));
  assert.ok(names.length > 40, `${names.length} names`);
  const bases = new Set<string>();
  for (const name of names) {
    // Independent decoding of the encoding: "wasmcustom.<base>;k=v;k=v…".
    const [head, ...pairs] = name.split(";");
    const want = pairs.map((p) => { const i = p.indexOf("="); return { name: p.slice(0, i), value: p.slice(i + 1) }; });
    const { extractedName, tags } = producer.produceTags(name);
    assert.equal(extractedName, head, `extracted name of ${name}`);
    const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1);
    assert.deepEqual([...tags].sort(byName), [...want].sort(byName), `tags of ${name}`);
    assert.ok(!tags.some((t) => t.name.startsWith("envoy.")), `no default Envoy tag on ${name}`);
    bases.add(head.slice("wasmcustom.".length));
  }
  assert.deepEqual([...bases].sort(), [
    "ai_gateway.errors", "ai_gateway.limit.decisions", "ai_gateway.requests", "ai_gateway.upstream.latency",
    "gen_ai.client.inference.usage.cache_read.input_tokens", "gen_ai.client.inference.usage.input_tokens",
    "gen_ai.client.inference.usage.output_tokens", "gen_ai.client.inference.usage.reasoning.output_tokens",
    "gen_ai.client.operation.duration", "gen_ai.client.token.usage", "gen_ai.server.time_to_first_token",
    "ai_gateway.vm.linear_memory_bytes",
  ].sort());
  // Labels come out in stats_tags order, as Envoy's Prometheus output shows them.
  const t = producer.produceTags(statName("gen_ai.client.token.usage", GPT41_A, [["gen_ai.token.type", "input"]])).tags;
  assert.equal(formatTags(t), 'gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4.1",' +
    'ai_gateway_backend="openai",ai_gateway_client="team-a",gen_ai_token_type="input"');
});

test("Prometheus output (Envoy's /stats/prometheus with these stats_tags): metric families with labels", async () => {
  const prom = await gw.prometheus();
  const lines = prom.split("\n");
  const has = (l: string) => assert.ok(lines.includes(l), `missing line:\n${l}\nin:\n${prom}`);
  const lbl = (l: Labels, extra = "") => `gen_ai_operation_name="chat",gen_ai_provider_name="${l.provider}",gen_ai_request_model="${l.model}",` +
    `ai_gateway_backend="${l.backend}",ai_gateway_client="${l.client}"${extra}`;
  has("# TYPE ai_gateway_requests counter");
  has(`ai_gateway_requests{${lbl(GPT41_A)}} 3`);
  has(`ai_gateway_requests{${lbl(BEDROCK_NAME_A)}} 1`);
  has(`ai_gateway_requests{${lbl(FIREWORKS_A)}} 1`);
  has(`ai_gateway_requests{${lbl(ODD_A)}} 1`);
  has(`ai_gateway_errors{${lbl(TINY_B, ',error_type="rate_limited",ai_gateway_status_class="4xx"')}} 1`);
  has(`ai_gateway_limit_decisions{${lbl(TINY_B, ',ai_gateway_limit_rule="tiny",ai_gateway_limit_decision="denied"')}} 1`);
  has(`gen_ai_client_inference_usage_cache_read_input_tokens{${lbl(GPT41_A)}} ${U_REASONING.cached + U_STREAM.cached}`);
  has("# TYPE gen_ai_client_token_usage histogram");
  has(`gen_ai_client_token_usage_count{${lbl(GPT41_A, ',gen_ai_token_type="input"')}} 2`);
  // Envoy computes a histogram's sum from its log-linear bins (2 significant digits): within 1 %.
  const sumPrefix = `gen_ai_client_token_usage_sum{${lbl(GPT41_A, ',gen_ai_token_type="output"')}} `;
  const sumLine = lines.find((l) => l.startsWith(sumPrefix));
  assert.ok(sumLine, `missing line:\n${sumPrefix}…`);
  const sum = Number(sumLine.slice(sumPrefix.length)), wantSum = U_REASONING.output + U_STREAM.output;
  assert.ok(Math.abs(sum - wantSum) <= wantSum * 0.01, `${sumLine}: the sum of ${wantSum}`);
  has(`gen_ai_client_token_usage_bucket{${lbl(GPT41_A, ',gen_ai_token_type="output",le="10"')}} 1`);
  has(`gen_ai_client_operation_duration_count{${lbl(UNROUTED_UNKNOWN, ',error_type="invalid_api_key"')}} 1`);
  has(`gen_ai_server_time_to_first_token_count{${lbl(GPT41_A)}} 1`);
  // One family per metric: no name carries a tag value any more.
  for (const l of lines) if (l.startsWith("# TYPE ")) assert.match(l, /^# TYPE [a-z_][a-z0-9_]* (counter|gauge|histogram)$/, l);
});

test("stats_tags regexes are RE2 syntax, and RE2 (Go's regexp) extracts the same tags from every emitted name", async () => {
  const specs = statsTags();
  for (const s of specs) {
    assert.ok(s.tag_name && s.regex, JSON.stringify(s));
    assert.deepEqual(re2Incompatibilities(s.regex!), [], `${s.tag_name}: ${s.regex}`);
    assert.ok(s.regex!.startsWith("^wasmcustom\\."), `${s.tag_name}: anchored at the Wasm namespace (Envoy's prefix map)`);
  }
  const names = [...Object.keys(await gw.stats()), ...(await gw.histograms()).keys()].filter((k) => k.startsWith("wasmcustom."));
  // Go's regexp implements RE2's syntax and leftmost-first semantics: compile every regex and
  // report the first two capture groups of each name, as RE2::PartialMatch would.
  const dir = mkdtempSync(join(tmpdir(), "ai-gateway-re2-"));
  try {
    writeFileSync(join(dir, "main.go"), `package main
import ("encoding/json"; "os"; "regexp")
func main() {
  var in struct { Regexes []string; Names []string }
  if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil { panic(err) }
  out := [][][]int{}
  for _, r := range in.Regexes {
    re, err := regexp.Compile(r)
    if err != nil { os.Stderr.WriteString("RE2 rejects " + r + ": " + err.Error() + "\\n"); os.Exit(2) }
    row := [][]int{}
    for _, n := range in.Names { row = append(row, re.FindStringSubmatchIndex(n)) }
    out = append(out, row)
  }
  json.NewEncoder(os.Stdout).Encode(out)
}
`);
    const r = spawnSync("go", ["run", join(dir, "main.go")], {
      input: JSON.stringify({ Regexes: specs.map((s) => s.regex), Names: names }), encoding: "utf8", timeout: 120000,
    });
    assert.equal(r.error, undefined, `go must be on PATH (scripts/install-ratelimit.sh needs it too): ${r.error}`);
    assert.equal(r.status, 0, r.stderr);
    const go = JSON.parse(r.stdout) as (number[] | null)[][];
    specs.forEach((s, i) => names.forEach((n, j) => {
      const m = new RegExp(s.regex!, "d").exec(n);
      const js = m ? [...m.indices![0], ...(m.indices![1] ?? [-1, -1]), ...(m.indices![2] ?? [-1, -1])] : null;
      const re2 = go[i][j] ? go[i][j]!.slice(0, 6) : null;
      assert.deepEqual(re2, js, `${s.tag_name} on ${n}`);
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
