// The short fuzz run of `npm test` (the long one is `npm run fuzz`, docs/robustness.md): every
// target with a fixed seed, a sample of each systematic sweep and a few thousand random inputs,
// over the release build. Any input that breaks an invariant fails the test with the input's
// label, the problems and the reproducer command. Two checks first prove the harness itself can
// fail: a module that traps is reported as a trap, and malformed client output is reported.
// Host-only: fuzzing needs exact callback boundaries and thousands of inputs a second (the
// socket-free driver); Envoy cannot be told where to split a body.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Hosts, Findings, runExchange } from "./harness.ts";
import { TARGETS, type TargetStats } from "./targets.ts";
import { check, ENDPOINTS, type Exchange } from "./oracle.ts";
import { loadCases } from "../providers/fixture-case.ts";
import { probe } from "../host/probes/assemble.ts";

const SEED = "ci-1";
/** Random inputs and sweep sample per target: sized so the whole file stays well under a minute. */
const BUDGET: Record<string, { iterations: number; sweeps: number }> = {
  requests: { iterations: 2500, sweeps: 30 },
  responses: { iterations: 2500, sweeps: 30 },
  configs: { iterations: 150, sweeps: 25 },
};

const hosts = new Hosts();
after(() => hosts.close());
const cases = loadCases();
const figures: TargetStats[] = [];
after(() => {
  for (const s of figures) console.log(`# fuzz ${s.target}: ${s.inputs} inputs, ${s.exchanges} exchanges, ${s.traps} traps, ${s.findings} findings, ${(s.ms / 1000).toFixed(1)} s`);
});

test("the harness reports a trap: a module that traps on a request header fails the exchange", async () => {
  const trapping = new Hosts(probe("recorder"));
  try {
    const h = await trapping.get("000000T");
    const r = runExchange(h, { backends: [], models: [] }, { path: "/v1/chat/completions", body: Buffer.from("{}"), headers: { "x-trap": "1" } }, null, { clientFault: true });
    assert.ok(r.trapped, "trapped");
    assert.match(r.problems[0], /^TRAP: Function: proxy_on_request_headers failed: Uncaught RuntimeError: unreachable/);
  } finally { trapping.close(); }
});

test("the oracle reports malformed client output: a partial SSE event, a stream without [DONE], a 200 error body, a 5xx for a client fault", () => {
  const base: Exchange = {
    endpoint: ENDPOINTS[0], config: { backends: [], models: [] }, requestBytes: Buffer.from("{}"), upstream: null, response: null,
    client: { status: 400, headers: { "content-type": "application/json" }, body: Buffer.from('{"error":{"message":"m","type":"t","param":null,"code":null}}'), reset: null },
    secrets: [], logLines: ["ai-gateway: request client=- endpoint=/v1/chat/completions model=- backend=- status=400 usage=unknown"], clientFault: true,
  };
  assert.deepEqual(check(base, () => []), [], "a well-formed 400 passes");
  const sse = (text: string): Exchange => ({ ...base, response: { status: 200, headers: [], body: Buffer.alloc(0) }, client: { ...base.client, status: 200, headers: { "content-type": "text/event-stream" }, body: Buffer.from(text) }, logLines: [base.logLines[0].replace("400", "200")] });
  const chunk = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"logprobs":null,"finish_reason":null}]}';
  assert.deepEqual(check(sse(`data: ${chunk}\n\ndata: [DONE]\n\n`), () => []), []);
  assert.match(check(sse(`data: ${chunk}\n\ndata: {"id"`), () => []).join("\n"), /ends inside an event/);
  assert.match(check(sse(`data: ${chunk}\n\n`), () => []).join("\n"), /does not end with \[DONE\]/);
  assert.match(check({ ...base, client: { ...base.client, status: 200 } }, () => []).join("\n"), /success body/);
  assert.match(check({ ...base, client: { ...base.client, status: 503 }, logLines: [base.logLines[0].replace("400", "503")] }, () => []).join("\n"), /client fault with 503/);
});

test("the oracle reports malformed Messages API output: an OpenAI envelope, an event without its event: line, no message_stop, a block out of order, a model missing from the URL path", () => {
  const messages = ENDPOINTS.find((e) => e.name === "messages")!;
  const log = "ai-gateway: request client=- endpoint=/v1/messages model=- backend=- status=400 usage=unknown";
  const base: Exchange = {
    endpoint: messages, config: { backends: [], models: [] }, requestBytes: Buffer.from("{}"), upstream: null, response: null,
    client: { status: 400, headers: { "content-type": "application/json" }, body: Buffer.from('{"type":"error","error":{"type":"invalid_request_error","message":"m"}}'), reset: null },
    secrets: [], logLines: [log], clientFault: true,
  };
  assert.deepEqual(check(base, () => []), [], "a well-formed Anthropic 400 passes");
  assert.match(check({ ...base, client: { ...base.client, body: Buffer.from('{"error":{"message":"m","type":"t","param":null,"code":null}}') } }, () => []).join("\n"), /error body/);
  // A stream the filter wrote (a translating backend: the request routes to Gemini).
  const config = { backends: [{ name: "g", schema: "gemini", cluster: "g" }], models: [{ match: "m", backend: "g", upstream_model: "gemini-x" }] };
  const upstream = { headers: [[":path", "/v1beta/models/gemini-x:streamGenerateContent?alt=sse"], ["x-ai-gateway-cluster", "g"]] as [string, string][], body: Buffer.from("{}") };
  const sse = (text: string): Exchange => ({
    ...base, config, requestBytes: Buffer.from('{"model":"m"}'), upstream, response: { status: 200, headers: [], body: Buffer.alloc(0) },
    client: { ...base.client, status: 200, headers: { "content-type": "text/event-stream" }, body: Buffer.from(text) }, logLines: [log.replace("400", "200")],
  });
  const ev = (v: any) => `event: ${v.type}\ndata: ${JSON.stringify(v)}\n\n`;
  const start = { type: "message_start", message: { id: "msg_1", type: "message", role: "assistant", model: "m", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 0 } } };
  const open0 = { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } };
  const delta0 = { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "x" } };
  const stop0 = { type: "content_block_stop", index: 0 };
  const mdelta = { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 1 } };
  const good = [start, open0, delta0, stop0, mdelta, { type: "message_stop" }].map(ev).join("");
  assert.deepEqual(check(sse(good), () => []), [], "a well-formed Messages stream passes");
  assert.match(check(sse(good.replace("event: content_block_delta\n", "")), () => []).join("\n"), /no event: line, want event: content_block_delta/);
  assert.match(check(sse(good.replace(ev({ type: "message_stop" }), "")), () => []).join("\n"), /does not end with message_stop/);
  assert.match(check(sse([start, delta0, open0, stop0, mdelta, { type: "message_stop" }].map(ev).join("")), () => []).join("\n"), /stream: event 1: delta for block 0 but the open block is -1/);
  const noModel = { ...sse(good), upstream: { ...upstream, headers: [[":path", "/v1beta/models/other:generateContent"], ["x-ai-gateway-cluster", "g"]] as [string, string][] } };
  assert.match(check(noModel, () => []).join("\n"), /upstream model "other" in the path/);
});

for (const t of TARGETS) {
  test(`fuzz ${t.name}: ${t.description} — no trap, no leftover context, every answer well-formed (seed ${SEED})`, { timeout: 120_000 }, async () => {
    const findings = new Findings(".scratch/fuzz-ci");
    const b = BUDGET[t.name];
    const s = await t.run({ seed: SEED, iterations: b.iterations, sweeps: b.sweeps, cases, hosts, findings });
    figures.push(s);
    assert.ok(s.exchanges > 0 || s.inputs > 0, "inputs were tried");
    const first = findings.list.slice(0, 5).map((f) => `[${f.iteration}] ${f.caseId}: ${f.label}\n      ${f.problems.slice(0, 3).join("\n      ")}\n      reproduce: npm run fuzz -- --target ${f.target} --seed ${f.seed} --only ${f.iteration}`);
    assert.equal(findings.count, 0, `${findings.count} inputs broke an invariant:\n${findings.summary(10)}\n  ${first.join("\n  ")}`);
  });
}
