// End-to-end with the official Anthropic client (@anthropic-ai/sdk, unmodified, baseURL at the
// gateway) speaking the Messages API to the gateway: client → Gateway (build/ai-gateway.wasm in
// the Envoy-faithful host, real sockets) → an Anthropic mock (native path: the Messages body
// passes with the route's model name) and an OpenAI mock (translated path: chat request and
// back). messages.create, messages.stream with text and tool use (finalMessage, the SDK's own
// event accumulation), the SDK's error classes for the gateway's and the providers' errors, and
// token limits counted for Messages traffic on both paths.
// Every event the SDK sees is also checked against the Messages schema and stream contract
// (tests/support/anthropic-messages.ts), since the SDK itself is lenient.

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import { Gateway } from "../support/gateway.ts";
import { MockProvider, type Fixture } from "../../dev/mock-provider.ts";
import { GATEWAY_WASM, ROOT, waitForRequestLogLines, assertUsageLine, vmFailures } from "./harness.ts";
import { assertMessagesSchema, assembleMessage, messagesStreamProblems } from "../support/anthropic-messages.ts";

const CLIENT_KEY = "gw-key-team-messages";
const ANTHROPIC_KEY = "sk-ant-upstream-secret";
const OPENAI_KEY = "sk-openai-upstream-secret";
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const FIX = join(ROOT, "tests", "fixtures", "providers");

function config(limits?: unknown) {
  return {
    backends: [
      { name: "claude", schema: "anthropic", cluster: "anthropic", host: "api.anthropic.com", auth: { type: "header", header: "x-api-key", key: ANTHROPIC_KEY } },
      { name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: OPENAI_KEY } },
    ],
    models: [
      { match: "claude-*", backend: "claude" },
      { match: "sonnet", backend: "claude", upstream_model: "claude-sonnet-4-5-20250929" },
      { match: "gpt-*", backend: "openai" },
    ],
    clients: [{ name: "team-m", key_sha256: sha(CLIENT_KEY) }],
    ...(limits ? { limits } : {}),
  };
}

interface Env { gateway: Gateway; anthropic: MockProvider; openai: MockProvider }
async function startEnv(limits?: unknown): Promise<Env> {
  const anthropic = await MockProvider.start();
  const openai = await MockProvider.start();
  const gateway = await Gateway.start({
    wasm: GATEWAY_WASM, plugin: { configuration: JSON.stringify(config(limits)) }, workers: 2,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters: { anthropic: { host: "127.0.0.1", port: anthropic.port }, openai: { host: "127.0.0.1", port: openai.port } },
  });
  return { gateway, anthropic, openai };
}
async function stopEnv(e: Env | undefined) { if (!e) return; await e.gateway.stop(); await e.anthropic.stop(); await e.openai.stop(); }

let env: Env;
before(async () => { env = await startEnv(); });
after(() => stopEnv(env));
afterEach(async () => {
  const t0 = Date.now();
  while ((await env.gateway.liveContexts()) !== 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await env.gateway.liveContexts(), 0, "stream contexts left behind");
  assert.deepEqual(vmFailures(env.gateway, 0), [], "no VM failed");
  for (const m of [env.anthropic, env.openai]) {
    m.assertNoFailures();
    assert.deepEqual(m.pendingFixtures(), [], "every enqueued fixture was used");
    m.reset();
  }
});

/** The official client, unmodified: x-api-key (or an auth token as Authorization: Bearer). No retries. */
function client(gateway: Gateway, opts: { apiKey?: string | null; authToken?: string } = {}): Anthropic {
  return new Anthropic({ baseURL: gateway.url, apiKey: opts.apiKey === undefined ? CLIENT_KEY : opts.apiKey, authToken: opts.authToken ?? null, maxRetries: 0 });
}

function answer(status: number, contentType: string, body: string | Buffer, sse = false): Fixture {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  const parts = sse
    ? bytes.toString("utf8").split(/(?<=\n\n)/).map((t) => ({ bytes: Buffer.from(t, "utf8"), delayMs: 1 }))
    : [{ bytes, delayMs: 0 }];
  return { name: `${status} ${contentType}`, description: "", status, headers: { "content-type": contentType }, parts, streamed: sse, abortAfterBody: false };
}
const fixtureFile = (rel: string) => readFileSync(join(FIX, rel));

/** The provider got our key only: never the client's, never the client's anthropic-* headers. */
function assertNoClientSecrets(m: MockProvider): void {
  for (const r of m.requests) {
    const raw = r.rawHeaders.join("\n");
    assert.ok(!raw.includes(CLIENT_KEY), "the client's gateway key reached the provider");
  }
}

const TOOLS: Anthropic.Tool[] = [{ name: "get_weather", description: "Current weather for a city", input_schema: { type: "object", properties: { location: { type: "string", description: "City name" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } }, required: ["location"] } }];

// ---------------------------------------------------------------------------------------------
// Native: an Anthropic backend

test("native: messages.create gets the provider's Message; the body went upstream with the route's model name and the gateway's key", async () => {
  const body = fixtureFile("anthropic/messages-native-json/upstream-response.json");
  env.anthropic.enqueue(answer(200, "application/json", body));
  const logFrom = env.gateway.logs.length;
  const msg = await client(env.gateway).messages.create({ model: "sonnet", max_tokens: 1024, messages: [{ role: "user", content: "Say hello." }] });
  assertMessagesSchema("Message", msg);
  assert.deepEqual(JSON.parse(JSON.stringify(msg)), JSON.parse(body.toString("utf8")));
  const up = env.anthropic.requests[0];
  assert.equal(up.path, "/v1/messages");
  assert.equal(up.headers["x-api-key"], ANTHROPIC_KEY);
  assert.equal(up.headers["anthropic-version"], "2023-06-01");
  assert.equal(up.json.model, "claude-sonnet-4-5-20250929");
  assert.equal(up.json.max_tokens, 1024);
  assertNoClientSecrets(env.anthropic);
  const [line] = await waitForRequestLogLines(env.gateway, logFrom, 1);
  assertUsageLine(line, { model: "sonnet", backend: "claude", status: 200, input: 2060, output: 6, cached: 2048, reasoning: 0 });
});

test("native: messages.stream with text and tool use: the SDK assembles the provider's events (finalMessage, text, input JSON)", async () => {
  env.anthropic.enqueue(answer(200, "text/event-stream; charset=utf-8", fixtureFile("anthropic/stream-tool-use/upstream-response.sse"), true));
  const logFrom = env.gateway.logs.length;
  const stream = client(env.gateway).messages.stream({ model: "claude-opus-4-8", max_tokens: 1024, messages: [{ role: "user", content: "What's the weather in Paris?" }], tools: TOOLS });
  const events: any[] = [];
  let text = "";
  // The SDK grows message_start.message into its snapshot: keep a copy of each event as it came.
  stream.on("streamEvent", (e) => { events.push(structuredClone(e)); });
  stream.on("text", (t) => { text += t; });
  const final = await stream.finalMessage();
  assert.deepEqual(messagesStreamProblems(events), []);
  assertMessagesSchema("Message", assembleMessage(events), "the message the events assemble to");
  assert.equal(text, "I'll check the current weather in Paris for you.");
  assert.equal(final.stop_reason, "tool_use");
  const tool = final.content.find((b) => b.type === "tool_use") as Anthropic.ToolUseBlock;
  assert.deepEqual([tool.id, tool.name, tool.input], ["toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", { location: "Paris" }]);
  assert.deepEqual([final.usage.input_tokens, final.usage.output_tokens], [377, 65]);
  assert.equal(env.anthropic.requests[0].json.stream, true);
  const [line] = await waitForRequestLogLines(env.gateway, logFrom, 1);
  assertUsageLine(line, { model: "claude-opus-4-8", backend: "claude", status: 200, input: 377, output: 65, cached: 0, reasoning: 0 });
});

test("native: an auth token (Authorization: Bearer) identifies the client as well as x-api-key", async () => {
  env.anthropic.enqueue(answer(200, "application/json", fixtureFile("anthropic/messages-native-json/upstream-response.json")));
  const msg = await client(env.gateway, { apiKey: null, authToken: CLIENT_KEY }).messages.create({ model: "sonnet", max_tokens: 16, messages: [{ role: "user", content: "Hi" }] });
  assert.equal(msg.content[0].type, "text");
  assert.equal(env.anthropic.requests[0].headers.authorization, undefined, "the client's bearer token does not go upstream");
  assertNoClientSecrets(env.anthropic);
});

test("a client sending both an unknown Bearer token and its gateway key as x-api-key is identified by the key", async () => {
  // (The SDK refuses apiKey + authToken together; other Messages clients and proxies do send both.)
  env.anthropic.enqueue(answer(200, "application/json", fixtureFile("anthropic/messages-native-json/upstream-response.json")));
  const res = await fetch(`${env.gateway.url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", authorization: "Bearer some-other-token", "x-api-key": CLIENT_KEY },
    body: JSON.stringify({ model: "sonnet", max_tokens: 16, messages: [{ role: "user", content: "Hi" }] }),
  });
  const msg = await res.json();
  assert.equal(res.status, 200, JSON.stringify(msg));
  assert.equal(msg.content[0].type, "text");
  const raw = env.anthropic.requests[0].rawHeaders.join("\n");
  assert.ok(!raw.includes("some-other-token"), "no client credential goes upstream");
  assertNoClientSecrets(env.anthropic);
});

test("native: provider errors keep their SDK class: 429 → RateLimitError, 529 → InternalServerError with overloaded_error", async () => {
  env.anthropic.enqueue(answer(429, "application/json", fixtureFile("anthropic/error-429-rate-limit/upstream-response.json")));
  await assert.rejects(client(env.gateway).messages.create({ model: "claude-test-model", max_tokens: 8, messages: [{ role: "user", content: "Hi" }] }), (e: any) => {
    assert.ok(e instanceof Anthropic.RateLimitError, `${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.type, "rate_limit_error");
    assert.match(e.message, /would exceed the rate limit/);
    return true;
  });
  env.anthropic.enqueue(answer(529, "application/json", fixtureFile("anthropic/error-529-overloaded/upstream-response.json")));
  await assert.rejects(client(env.gateway).messages.create({ model: "claude-test-model", max_tokens: 8, messages: [{ role: "user", content: "Hi" }] }), (e: any) => {
    assert.ok(e instanceof Anthropic.InternalServerError, `${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.status, 529);
    assert.equal(e.type, "overloaded_error");
    return true;
  });
});

// ---------------------------------------------------------------------------------------------
// Translated: an OpenAI backend

const OPENAI_TEXT = JSON.stringify({
  id: "chatcmpl-e2e0001", object: "chat.completion", created: 1741570000, model: "gpt-4o-mini-2024-07-18",
  choices: [{ index: 0, message: { role: "assistant", content: "Hello from OpenAI.", refusal: null }, logprobs: null, finish_reason: "stop" }],
  usage: { prompt_tokens: 21, completion_tokens: 5, total_tokens: 26, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
});

function chunk(delta: object, finish: string | null = null): string {
  return `data: ${JSON.stringify({ id: "chatcmpl-e2e0002", object: "chat.completion.chunk", created: 1741570001, model: "gpt-4o-mini-2024-07-18", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
}
const OPENAI_TOOL_STREAM = [
  chunk({ role: "assistant", content: "" }),
  chunk({ content: "Let me look" }),
  chunk({ content: " that up." }),
  chunk({ tool_calls: [{ index: 0, id: "call_w1", type: "function", function: { name: "get_weather", arguments: "" } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: "{\"location\":" } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: "\"Paris\",\"unit\":\"celsius\"}" } }] }),
  chunk({}, "tool_calls"),
  `data: ${JSON.stringify({ id: "chatcmpl-e2e0002", object: "chat.completion.chunk", created: 1741570001, model: "gpt-4o-mini-2024-07-18", choices: [], usage: { prompt_tokens: 400, completion_tokens: 50, total_tokens: 450, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } } })}\n\n`,
  "data: [DONE]\n\n",
].join("");

test("translated: messages.create to an OpenAI backend returns a Message; OpenAI got a chat request with our key", async () => {
  env.openai.enqueue(answer(200, "application/json", OPENAI_TEXT));
  const logFrom = env.gateway.logs.length;
  const msg = await client(env.gateway).messages.create({ model: "gpt-4o-mini", max_tokens: 100, system: "Be brief.", messages: [{ role: "user", content: "Hello?" }] });
  assertMessagesSchema("Message", msg);
  assert.equal(msg.id, "msg_chatcmpl-e2e0001");
  assert.deepEqual(msg.content, [{ type: "text", text: "Hello from OpenAI." }]);
  assert.equal(msg.stop_reason, "end_turn");
  assert.deepEqual([msg.usage.input_tokens, msg.usage.output_tokens], [21, 5]);
  const up = env.openai.requests[0];
  assert.equal(up.path, "/v1/chat/completions");
  assert.equal(up.headers.authorization, `Bearer ${OPENAI_KEY}`);
  assert.equal(up.headers["x-api-key"], undefined);
  assert.equal(up.headers["anthropic-version"], undefined, "the client's anthropic-version is not for OpenAI");
  assert.deepEqual(up.json.messages, [{ role: "system", content: "Be brief." }, { role: "user", content: "Hello?" }]);
  assert.equal(up.json.max_completion_tokens, 100);
  assertNoClientSecrets(env.openai);
  const [line] = await waitForRequestLogLines(env.gateway, logFrom, 1);
  assertUsageLine(line, { model: "gpt-4o-mini", backend: "openai", status: 200, input: 21, output: 5, cached: 0, reasoning: 0 });
});

test("translated: messages.stream with text and tool use from an OpenAI stream: finalMessage has the text and the parsed tool input; the tool round trip goes back as chat messages", async () => {
  env.openai.enqueue(answer(200, "text/event-stream", OPENAI_TOOL_STREAM, true));
  const anthropic = client(env.gateway);
  const params = { model: "gpt-4o-mini", max_tokens: 300, messages: [{ role: "user" as const, content: "Weather in Paris?" }], tools: TOOLS };
  const stream = anthropic.messages.stream(params);
  const events: any[] = [];
  // The SDK grows message_start.message into its snapshot: keep a copy of each event as it came.
  stream.on("streamEvent", (e) => { events.push(structuredClone(e)); });
  const final = await stream.finalMessage();
  assert.deepEqual(messagesStreamProblems(events), []);
  assertMessagesSchema("Message", assembleMessage(events), "the message the events assemble to");
  assert.equal(final.stop_reason, "tool_use");
  assert.deepEqual(final.content[0], { type: "text", text: "Let me look that up." });
  assert.deepEqual(final.content[1], { type: "tool_use", id: "call_w1", name: "get_weather", input: { location: "Paris", unit: "celsius" } });
  assert.deepEqual([final.usage.input_tokens, final.usage.output_tokens], [400, 50], "message_delta carries the include_usage chunk's usage");
  const up0 = env.openai.requests[0].json;
  assert.deepEqual(up0.stream_options, { include_usage: true });
  assert.equal(up0.tools[0].function.name, "get_weather");

  // The tool round trip: the SDK's assistant message and a tool_result go back through the gateway.
  env.openai.enqueue(answer(200, "application/json", OPENAI_TEXT));
  const second = await anthropic.messages.create({
    ...params,
    messages: [...params.messages, { role: "assistant", content: final.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: "call_w1", content: "21°C" }] }],
  });
  assert.equal(second.content[0].type, "text");
  const up1 = env.openai.requests[1].json;
  assert.deepEqual(up1.messages.slice(1), [
    { role: "assistant", content: "Let me look that up.", tool_calls: [{ id: "call_w1", type: "function", function: { name: "get_weather", arguments: JSON.stringify({ location: "Paris", unit: "celsius" }) } }] },
    { role: "tool", tool_call_id: "call_w1", content: "21°C" },
  ]);
});

test("translated: an OpenAI error event mid-stream rejects the SDK stream with the provider's message", async () => {
  env.openai.enqueue(answer(200, "text/event-stream", chunk({ role: "assistant", content: "Hel" }) + `data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}\n\n`, true));
  const stream = client(env.gateway).messages.stream({ model: "gpt-4o-mini", max_tokens: 50, messages: [{ role: "user", content: "Hi" }] });
  await assert.rejects(stream.finalMessage(), (e: any) => {
    assert.ok(e instanceof Anthropic.APIError, `${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.type, "api_error");
    assert.match(e.message, /The server had an error while processing your request/);
    return true;
  });
});

test("translated: OpenAI's 401 becomes AuthenticationError with OpenAI's message", async () => {
  env.openai.enqueue(answer(401, "application/json", readFileSync(join(ROOT, "tests/fixtures/openai/error-401-invalid-api-key.body.json"))));
  await assert.rejects(client(env.gateway).messages.create({ model: "gpt-4o-mini", max_tokens: 8, messages: [{ role: "user", content: "Hi" }] }), (e: any) => {
    assert.ok(e instanceof Anthropic.AuthenticationError, `${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.type, "authentication_error");
    assert.match(e.message, /Incorrect API key provided/);
    return true;
  });
});

// ---------------------------------------------------------------------------------------------
// The gateway's own errors

test("gateway errors reach the SDK as its classes: unknown model → NotFoundError, no max_tokens → BadRequestError, wrong key → AuthenticationError; nothing goes upstream", async () => {
  const c = client(env.gateway);
  await assert.rejects(c.messages.create({ model: "mystery-model", max_tokens: 8, messages: [{ role: "user", content: "Hi" }] }), (e: any) => {
    assert.ok(e instanceof Anthropic.NotFoundError, `${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.type, "not_found_error");
    return true;
  });
  await assert.rejects(c.messages.create({ model: "claude-test-model", messages: [{ role: "user", content: "Hi" }] } as any), (e: any) => {
    assert.ok(e instanceof Anthropic.BadRequestError, `${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.type, "invalid_request_error");
    assert.match(e.message, /max_tokens/);
    return true;
  });
  await assert.rejects(client(env.gateway, { apiKey: "not-a-gateway-key" }).messages.create({ model: "claude-test-model", max_tokens: 8, messages: [{ role: "user", content: "Hi" }] }), (e: any) => {
    assert.ok(e instanceof Anthropic.AuthenticationError, `${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.type, "authentication_error");
    return true;
  });
  assert.equal(env.anthropic.requests.length + env.openai.requests.length, 0);
});

// ---------------------------------------------------------------------------------------------
// Token limits

test("token limits count Messages traffic on both paths: the provider's usage is committed, and the next request over the budget gets RateLimitError", async () => {
  // cost = input + output; the budget holds the first two requests' estimates and usage but not a third.
  const lim = await startEnv({ mode: "local", rules: [{ name: "messages-budget", key: ["client"], window: "day", tokens: 1000, cost: { input: 1, output: 1 } }] });
  try {
    const c = client(lim.gateway);
    let logFrom = lim.gateway.logs.length;
    // 1. Native stream: 377 input + 65 output = 442.
    lim.anthropic.enqueue(answer(200, "text/event-stream; charset=utf-8", fixtureFile("anthropic/stream-tool-use/upstream-response.sse"), true));
    await c.messages.stream({ model: "claude-opus-4-8", max_tokens: 100, messages: [{ role: "user", content: "Weather?" }], tools: TOOLS }).finalMessage();
    await waitForRequestLogLines(lim.gateway, logFrom, 1);
    // 2. Translated stream: 400 + 50 = 450 (usage from the include_usage chunk) → 892 used.
    logFrom = lim.gateway.logs.length;
    lim.openai.enqueue(answer(200, "text/event-stream", OPENAI_TOOL_STREAM, true));
    await c.messages.stream({ model: "gpt-4o-mini", max_tokens: 100, messages: [{ role: "user", content: "Weather?" }], tools: TOOLS }).finalMessage();
    await waitForRequestLogLines(lim.gateway, logFrom, 1);
    // 3. 892 used + this estimate (> 108) is over 1000: refused before anything goes upstream.
    await assert.rejects(c.messages.create({ model: "gpt-4o-mini", max_tokens: 100, messages: [{ role: "user", content: "Once more?" }] }), (e: any) => {
      assert.ok(e instanceof Anthropic.RateLimitError, `${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.type, "rate_limit_error");
      assert.match(e.message, /limit 1000, used 892,/, "used = 442 (native) + 450 (translated)");
      assert.equal(e.headers.get("x-ratelimit-limit-tokens"), "1000");
      assert.ok(Number(e.headers.get("retry-after")) > 0);
      return true;
    });
    assert.equal(lim.anthropic.requests.length + lim.openai.requests.length, 2);
  } finally {
    await stopEnv(lim);
  }
});
