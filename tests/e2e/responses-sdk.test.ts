// End-to-end with the official openai client (unmodified) speaking the Responses API
// (`responses.create`, `responses.stream`) to the gateway: client → the gateway (build/ai-gateway.wasm
// in real Envoy, or the imitation host with GATEWAY_PLATFORM=host; tests/support/gateway.ts) →
// mock providers.
//
// - OpenAI pass-through: the mock answers with OpenAI Responses JSON and SSE
//   (tests/fixtures/responses/openai/); the upstream body is the client's with the route's model.
// - Translated Anthropic, Bedrock and Gemini: the chat translation cases of
//   tests/fixtures/providers/ are reused. The client sends the Responses equivalent of the case's
//   chat request; the gateway must send the provider the very request the chat case expects, and
//   the client's Response (or stream) must carry the content, tool calls and usage the chat case's
//   client gets — the answers of both formats come from the same provider bytes.
//
// Every Response and every stream event is validated against the Responses schemas of OpenAI's
// OpenAPI document (tests/support/openai-responses.schema.json) and the stream's contract
// (sequence numbers, event order), since the SDK itself is lenient.

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { Gateway } from "../support/gateway.ts";
import { MockProvider, splitBody, type Fixture } from "../../dev/mock-provider.ts";
import { openaiClient, vmFailures, waitForRequestLogLines, assertUsageLine, GATEWAY_WASM, ROOT } from "./harness.ts";
import { loadCase, Bindings, assertUpstreamRequest, PROVIDER_FIXTURES, CLIENT_SECRETS, type ProviderCase } from "../providers/fixture-case.ts";
import { ProviderGateways, mockFixture, seenFromRecorded, assertCaseUsage, type ProviderEnv } from "../providers/gateway-env.ts";
import { assertResponsesSchema, responsesSchemaErrors } from "../support/openai-schema.ts";
import { parseResponsesSse, responsesStreamProblems } from "../support/responses-sse.ts";
import { responsesRequest } from "../support/responses-from-chat.ts";

const gateways = new ProviderGateways();
// Compiling the Responses schemas takes seconds on a busy machine: done before any connection is
// open, so no test pauses longer than the host's keep-alive timeout between two requests.
before(() => { responsesSchemaErrors("Response", {}); });
const used: { gateway: Gateway; mock: MockProvider }[] = [];
afterEach(async () => {
  for (const env of used.splice(0)) {
    const t0 = Date.now();
    while ((await env.gateway.liveContexts()) !== 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await env.gateway.liveContexts(), 0, "stream contexts left behind");
    assert.deepEqual(vmFailures(env.gateway, 0), [], "no VM failed");
    env.mock.assertNoFailures();
    assert.deepEqual(env.mock.pendingFixtures(), [], "every enqueued fixture was used");
  }
});

function clientFor(gateway: Gateway): OpenAI {
  return openaiClient(gateway, {
    apiKey: CLIENT_SECRETS.authorization.slice("Bearer ".length),
    defaultHeaders: { "api-key": CLIENT_SECRETS["api-key"], "x-api-key": CLIENT_SECRETS["x-api-key"] },
  });
}

// ---------------------------------------------------------------------------------------------
// Checks every Responses exchange gets

function assertResponse(r: unknown, what: string): void {
  // output_text is the SDK's convenience member (also in the schema, as a string).
  assertResponsesSchema("Response", JSON.parse(JSON.stringify(r)), what);
}

async function runStream(client: OpenAI, params: any): Promise<{ events: any[]; text: string; final: any }> {
  const stream = client.responses.stream(params);
  const events: any[] = [];
  let text = "";
  stream.on("event", (e) => { events.push(structuredClone(e)); });
  stream.on("response.output_text.delta", (e) => { text += e.delta; });
  const final = await stream.finalResponse();
  events.forEach((e, i) => assertResponsesSchema("ResponseStreamEvent", e, `event ${i} (${e.type})`));
  assert.deepEqual(responsesStreamProblems(events), []);
  return { events, text, final };
}

function calls(r: any): { name: string; call_id: string; args: unknown }[] {
  return r.output.filter((o: any) => o.type === "function_call").map((o: any) => ({ name: o.name, call_id: o.call_id, args: JSON.parse(o.arguments) }));
}

// ---------------------------------------------------------------------------------------------
// OpenAI pass-through

const OPENAI_KEY = "sk-openai-upstream-secret";
const RFIX = join(ROOT, "tests", "fixtures", "responses", "openai");
const PASS_CONFIG = {
  backends: [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: OPENAI_KEY } }],
  models: [{ match: "gpt-*", backend: "openai" }, { match: "mini", backend: "openai", upstream_model: "gpt-4.1-mini" }],
};
let passEnv: { gateway: Gateway; mock: MockProvider } | undefined;
after(async () => { await gateways.stopAll(); if (passEnv) { await passEnv.gateway.stop(); await passEnv.mock.stop(); } });

async function pass(): Promise<{ gateway: Gateway; mock: MockProvider }> {
  if (!passEnv) {
    const mock = await MockProvider.start();
    const gateway = await Gateway.start({
      wasm: GATEWAY_WASM, plugin: { configuration: JSON.stringify(PASS_CONFIG) }, workers: 2,
      routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
      clusters: { openai: { host: "127.0.0.1", port: mock.port } },
    });
    passEnv = { gateway, mock };
  }
  passEnv.mock.reset();
  used.push(passEnv);
  return passEnv;
}

function fileAnswer(name: string): Fixture {
  const bytes = readFileSync(join(RFIX, name));
  const sse = name.endsWith(".sse");
  return {
    name, description: "", status: 200, headers: { "content-type": sse ? "text/event-stream; charset=utf-8" : "application/json" },
    parts: sse ? splitBody(bytes, "sse-events").map((b) => ({ bytes: b, delayMs: 1 })) : [{ bytes, delayMs: 0 }], streamed: sse, abortAfterBody: false,
  };
}
const fileJson = (name: string) => JSON.parse(readFileSync(join(RFIX, name), "utf8"));

/** The upstream request: the client's body with only the model renamed, our key, never the client's. */
function assertPassedThrough(mock: MockProvider, i: number, clientBody: any, model: string): void {
  const r = mock.requests[i];
  assert.equal(r.path, "/v1/responses");
  assert.equal(r.headers.authorization, `Bearer ${OPENAI_KEY}`);
  for (const v of Object.values(CLIENT_SECRETS)) assert.ok(!r.rawHeaders.join("\n").includes(v), "a client credential reached the provider");
  assert.deepEqual(r.json, { ...clientBody, model });
}

const WEATHER_TOOL = { type: "function" as const, name: "get_weather", description: "Current weather for a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false }, strict: true };

test("OpenAI pass-through: responses.create gets OpenAI's Response; usage counted; model renamed by the route", async () => {
  const env = await pass();
  env.mock.enqueue(fileAnswer("text.json"));
  const logFrom = env.gateway.logs.length;
  const body = { model: "mini", instructions: "Be brief.", input: "What does Envoy do?" };
  const r = await clientFor(env.gateway).responses.create(body);
  assertResponse(r, "Response");
  const want = fileJson("text.json");
  assert.equal(r.output_text, want.output[0].content[0].text);
  assert.deepEqual(r.usage, want.usage);
  assertPassedThrough(env.mock, 0, body, "gpt-4.1-mini");
  const [line] = await waitForRequestLogLines(env.gateway, logFrom, 1);
  assertUsageLine(line, { model: "mini", backend: "openai", status: 200, input: 31, output: 19, cached: 0, reasoning: 0 });
});

test("OpenAI pass-through: responses.stream passes OpenAI's events; usage read from response.completed", async () => {
  const env = await pass();
  env.mock.enqueue(fileAnswer("text.sse"));
  const logFrom = env.gateway.logs.length;
  const body = { model: "gpt-4.1-mini", input: "What does Envoy do?" };
  const { text, final } = await runStream(clientFor(env.gateway), body);
  assert.equal(text, "Envoy proxies sit between clients and services. They route, retry and observe traffic.");
  assert.equal(final.output_text, text);
  assert.equal(final.usage.output_tokens, 19);
  assertPassedThrough(env.mock, 0, { ...body, stream: true }, "gpt-4.1-mini");
  const [line] = await waitForRequestLogLines(env.gateway, logFrom, 1);
  assertUsageLine(line, { model: "gpt-4.1-mini", backend: "openai", status: 200, input: 31, output: 19, cached: 0, reasoning: 0 });
});

test("OpenAI pass-through: JSON-schema output and reasoning tokens", async () => {
  const env = await pass();
  env.mock.enqueue(fileAnswer("json-schema.json"));
  const logFrom = env.gateway.logs.length;
  const body = { model: "gpt-5-mini", input: "Capital of France?", reasoning: { effort: "low" as const },
    text: { format: { type: "json_schema" as const, name: "city", schema: { type: "object", properties: { name: { type: "string" }, country: { type: "string" } }, required: ["name", "country"], additionalProperties: false }, strict: true } } };
  const r = await clientFor(env.gateway).responses.create(body);
  assertResponse(r, "Response");
  assert.deepEqual(JSON.parse(r.output_text), { name: "Paris", country: "France" });
  assertPassedThrough(env.mock, 0, body, "gpt-5-mini");
  const [line] = await waitForRequestLogLines(env.gateway, logFrom, 1);
  assertUsageLine(line, { model: "gpt-5-mini", backend: "openai", status: 200, input: 52, output: 80, cached: 0, reasoning: 64 });
});

test("OpenAI pass-through: a two-turn function call (stream, then function_call_output) and previous_response_id pass as sent", async () => {
  const env = await pass();
  const client = clientFor(env.gateway);
  env.mock.enqueue(fileAnswer("function-call.sse"));
  const first = { model: "gpt-4.1-mini", input: [{ role: "user" as const, content: "Weather in Paris?" }], tools: [WEATHER_TOOL] };
  const { final } = await runStream(client, first);
  assert.deepEqual(calls(final), [{ name: "get_weather", call_id: "call_Wz8kPq2LmN4rT6vY", args: { city: "Paris" } }]);
  env.mock.enqueue(fileAnswer("function-result-answer.json"));
  const second = { model: "gpt-4.1-mini", previous_response_id: final.id, input: [{ type: "function_call_output" as const, call_id: "call_Wz8kPq2LmN4rT6vY", output: "{\"temp_c\":18,\"sky\":\"sunny\"}" }], tools: [WEATHER_TOOL] };
  const r = await client.responses.create(second);
  assertResponse(r, "Response");
  assert.equal(r.output_text, "It is 18°C and sunny in Paris.");
  assertPassedThrough(env.mock, 1, second, "gpt-4.1-mini");
});

// ---------------------------------------------------------------------------------------------
// Translated: the chat cases' providers, the client speaking Responses

interface Expected { text: string; reasoning: string; calls: { name: string; args: unknown }[]; finish: string }

/** What the chat case's client gets: text, reasoning text, tool calls, finish reason. */
function expectedFromChat(c: ProviderCase): Expected {
  if (c.clientStream) {
    let text = "", reasoning = "", finish = "";
    const tc: { name: string; args: string }[] = [];
    for (const e of c.clientStream) {
      if (e === "[DONE]") continue;
      const ch = e.choices?.[0];
      if (!ch) continue;
      text += ch.delta?.content ?? "";
      reasoning += ch.delta?.reasoning_content ?? "";
      for (const t of ch.delta?.tool_calls ?? []) {
        tc[t.index] ??= { name: "", args: "" };
        if (t.function?.name) tc[t.index].name = t.function.name;
        tc[t.index].args += t.function?.arguments ?? "";
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    return { text, reasoning, finish, calls: tc.map((t) => ({ name: t.name, args: JSON.parse(t.args) })) };
  }
  const msg = (c.clientResponse!.body as any).choices[0].message;
  return {
    text: msg.content ?? "", reasoning: msg.reasoning_content ?? "", finish: (c.clientResponse!.body as any).choices[0].finish_reason,
    calls: (msg.tool_calls ?? []).map((t: any) => ({ name: t.function.name, args: JSON.parse(t.function.arguments) })),
  };
}

async function translatedCase(id: string): Promise<{ c: ProviderCase; env: ProviderEnv; client: OpenAI; logFrom: number }> {
  const c = loadCase(join(PROVIDER_FIXTURES, id));
  const env = await gateways.for(c);
  env.mock.reset();
  env.mock.enqueue(mockFixture(c));
  used.push(env);
  return { c, env, client: clientFor(env.gateway), logFrom: env.gateway.logs.length };
}

/** The client's Response (or stream) carries what the chat case's client gets, and the case's usage. */
async function checkAgainstChat(id: string): Promise<any> {
  const { c, env, client, logFrom } = await translatedCase(id);
  const req = responsesRequest(c.request);
  const want = expectedFromChat(c);
  let r: any;
  if (c.request.stream) {
    const s = await runStream(client, req);
    assert.equal(s.text, want.text, "the text deltas");
    r = s.final;
  } else {
    r = await client.responses.create(req);
  }
  assertResponse(r, `${id}: Response`);
  // The provider got exactly the request the chat case expects.
  assert.equal(env.mock.requests.length, 1, "one upstream request");
  assertUpstreamRequest(c, seenFromRecorded(env.mock.requests[0]), new Bindings());
  assert.equal(r.output_text, want.text, "output_text");
  assert.deepEqual(calls(r).map(({ name, args }) => ({ name, args })), want.calls, "function calls");
  const reasoning = r.output.filter((o: any) => o.type === "reasoning").map((o: any) => o.summary.map((s: any) => s.text).join("")).join("");
  assert.equal(reasoning, want.reasoning, "reasoning summary");
  if (want.finish === "length") { assert.equal(r.status, "incomplete"); assert.deepEqual(r.incomplete_details, { reason: "max_output_tokens" }); }
  else assert.equal(r.status, "completed");
  const cu = (c.clientResponse?.body as any)?.usage;
  const u = c.usage ?? { input: cu.prompt_tokens, output: cu.completion_tokens, cached: cu.prompt_tokens_details?.cached_tokens ?? 0, reasoning: cu.completion_tokens_details?.reasoning_tokens ?? 0 };
  assert.deepEqual([r.usage.input_tokens, r.usage.output_tokens, r.usage.input_tokens_details.cached_tokens, r.usage.output_tokens_details.reasoning_tokens, r.usage.total_tokens],
    [u.input, u.output, u.cached, u.reasoning, u.input + u.output], "usage");
  await assertCaseUsage(env, { ...c, usage: u }, logFrom, 200);
  return r;
}

const TRANSLATED: Record<string, string[]> = {
  anthropic: ["anthropic/non-stream-text-response", "anthropic/stream-text", "anthropic/non-stream-tool-use-response", "anthropic/stream-tool-use", "anthropic/response-format-json-schema"],
  bedrock: ["bedrock-converse/plain-chat", "bedrock-converse/stream-text", "bedrock-converse/stream-tool-use", "bedrock-converse/response-format-json-schema", "bedrock-converse/reasoning-effort-service-tier"],
  gemini: ["gemini/plain-chat", "gemini/stream-text", "gemini/stream-tool-calls", "gemini/tools-auto-function-calls", "gemini/response-format-json-schema", "gemini/reasoning-effort-thinking", "gemini/stream-include-usage-thoughts-cached"],
};
for (const [provider, ids] of Object.entries(TRANSLATED)) {
  for (const id of ids) {
    test(`translated ${provider}: ${id} — the Responses client gets the chat case's content and usage`, async () => { await checkAgainstChat(id); });
  }
}

// ---------------------------------------------------------------------------------------------
// Translated: a two-turn function call (the second turn sends function_call_output)

const TWO_TURN: { provider: string; call: string; answer: string; toolResultIn: (body: any, callIds: string[]) => boolean }[] = [
  {
    provider: "anthropic", call: "anthropic/non-stream-tool-use-response", answer: "anthropic/non-stream-text-response",
    // The calls come back as tool_use blocks and the outputs as tool_result blocks with the same ids.
    toolResultIn: (b, ids) => ids.every((id) =>
      b.messages.some((m: any) => m.role === "assistant" && m.content.some((x: any) => x.type === "tool_use" && x.id === id)) &&
      b.messages.some((m: any) => m.role === "user" && Array.isArray(m.content) && m.content.some((x: any) => x.type === "tool_result" && x.tool_use_id === id))),
  },
  {
    provider: "bedrock", call: "bedrock-converse/stream-tool-use", answer: "bedrock-converse/plain-chat",
    toolResultIn: (b, ids) => ids.every((id) =>
      b.messages.some((m: any) => m.role === "assistant" && m.content.some((x: any) => x.toolUse?.toolUseId === id)) &&
      b.messages.some((m: any) => m.role === "user" && m.content.some((x: any) => x.toolResult?.toolUseId === id))),
  },
  {
    provider: "gemini", call: "gemini/tools-auto-function-calls", answer: "gemini/plain-chat",
    // Gemini has no call ids: the gateway's made-up ids map back to the functions' names.
    toolResultIn: (b) => b.contents.some((c: any) => c.role === "model" && c.parts.some((p: any) => p.functionCall)) &&
      b.contents.some((c: any) => c.parts.some((p: any) => p.functionResponse?.response !== undefined)),
  },
];

for (const t of TWO_TURN) {
  test(`translated ${t.provider}: a two-turn function call — the function_call_output reaches the provider as its tool result`, async () => {
    const { c, env, client } = await translatedCase(t.call);
    const first = responsesRequest(c.request);
    const r1 = c.request.stream ? (await runStream(client, first)).final : await client.responses.create(first);
    assertResponse(r1, "turn 1");
    const fcs = r1.output.filter((o: any) => o.type === "function_call");
    assert.ok(fcs.length > 0, "turn 1 asks for a function call");
    const c2 = loadCase(join(PROVIDER_FIXTURES, t.answer));
    env.mock.enqueue(mockFixture(c2));
    const second = {
      ...first, stream: undefined,
      input: [...first.input, ...r1.output, ...fcs.map((f: any, i: number) => ({ type: "function_call_output", call_id: f.call_id, output: JSON.stringify({ result: i, ok: true }) }))],
    };
    delete second.stream;
    const r2 = await client.responses.create(second);
    assertResponse(r2, "turn 2");
    const want = expectedFromChat(c2);
    assert.equal(r2.output_text, want.text);
    assert.equal(env.mock.requests.length, 2);
    const up = env.mock.requests[1].json;
    assert.ok(t.toolResultIn(up, fcs.map((f: any) => f.call_id)), `the provider got the calls and their results: ${JSON.stringify(up).slice(0, 1500)}`);
    assert.ok(JSON.stringify(up).includes(JSON.stringify(JSON.stringify({ result: 0, ok: true })).slice(1, -1)) || JSON.stringify(up).includes("\"result\":0"), "the output text reached the provider");
  });
}

// ---------------------------------------------------------------------------------------------
// Refusals, errors

test("translated: stateful parameters are refused with a 400 in the OpenAI envelope that says why; nothing goes upstream", async () => {
  const { env, client } = await translatedCase("anthropic/non-stream-text-response");
  const cases: [any, string, RegExp][] = [
    [{ previous_response_id: "resp_123" }, "previous_response_id", /keeps no response state/],
    [{ conversation: "conv_123" }, "conversation", /keeps no response state/],
    [{ store: true }, "store", /does not store responses/],
    [{ background: true }, "background", /does not store responses/],
    [{ tools: [{ type: "web_search" }] }, "tools", /web_search tools are not supported/],
    [{ input: [{ type: "item_reference", id: "msg_1" }] }, "input", /item references/],
    [{ truncation: "auto" }, "truncation", /disabled/],
    [{ include: ["message.output_text.logprobs"] }, "include", /logprobs/],
  ];
  for (const [extra, param, message] of cases) {
    await assert.rejects(client.responses.create({ model: "claude-sonnet-4-5", input: "Hi", ...extra }), (e: any) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `${param}: ${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.param, param);
      assert.match(e.message, message);
      return true;
    });
  }
  assert.equal(env.mock.requests.length, 0);
  env.mock.reset(); // the case's answer was never asked for
});

test("translated: a provider's HTTP error reaches the client as the SDK's error class with the provider's message", async () => {
  const { c, client } = await translatedCase("anthropic/error-429-rate-limit");
  await assert.rejects(client.responses.create({ model: c.request.model, input: "Hi" }), (e: any) => {
    assert.ok(e instanceof OpenAI.RateLimitError, `${e?.constructor?.name}: ${e?.message}`);
    assertResponsesSchema("ErrorResponse", { error: e.error }, "error body");
    return true;
  });
});

for (const id of ["anthropic/stream-error-event", "bedrock-converse/stream-exception-mid-stream", "gemini/stream-error-midstream"]) {
  test(`translated: ${id} — a provider error mid-stream ends the stream with error and response.failed; the SDK raises it`, async () => {
    const { c, env, client } = await translatedCase(id);
    const body = { ...responsesRequest(c.request), stream: true };
    const res = await fetch(`${env.gateway.url}/v1/responses`, { method: "POST", headers: { "content-type": "application/json", ...CLIENT_SECRETS }, body: JSON.stringify(body) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const events = parseResponsesSse(await res.text());
    events.forEach((e, i) => assertResponsesSchema("ResponseStreamEvent", e, `event ${i} (${e.type})`));
    assert.deepEqual(responsesStreamProblems(events), []);
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(-2), ["error", "response.failed"], types.join(", "));
    assert.equal(events.at(-1).response.status, "failed");
    assert.ok(events.at(-2).message.length > 0);
    // The SDK treats the error event as the end of the stream and raises it.
    env.mock.enqueue(mockFixture(c));
    await assert.rejects(client.responses.stream(responsesRequest(c.request)).finalResponse(), (e: any) => { assert.ok(env.mock.requests.length === 2, `the SDK request reached the provider (${e?.message} ${e?.cause?.message ?? ""})`); return true; });
  });
}
