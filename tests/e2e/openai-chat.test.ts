// End-to-end: the official openai client (and plain fetch for bad input) → the host running
// build/ai-gateway.wasm → the mock OpenAI provider. The contract under test is the filter's:
// routing by model, upstream credentials, usage injection/stripping on streams, the usage log
// line, provider error passthrough, and OpenAI-style errors for bad input without trapping.
// Every client-facing body and stream chunk is validated against OpenAI's published schema.

import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { request as httpRequest } from "node:http";
import OpenAI from "openai";
import {
  startE2E, stopE2E, fixture, openaiClient, waitForRequestLogLines, assertUsageLine, assertHealthy,
  OPENAI_FIXTURES, UPSTREAM_KEY, BACKEND_HOST, MAX_REQUEST_BYTES, type E2E,
} from "./harness.ts";
import { fixtureBytes } from "../../dev/mock-provider.ts";
import { assertChatCompletion, assertChatCompletionChunk, assertErrorResponse, assertChatCompletionRequest } from "../support/openai-schema.ts";
import { parseOpenAISse } from "../support/sse.ts";

let e: E2E;
let logFrom = 0;
before(async () => { e = await startE2E(); });
after(() => stopE2E(e));
beforeEach(() => { e.openai.reset(); e.decoy.reset(); logFrom = e.gateway.logs.length; });
afterEach(() => assertHealthy(e, logFrom));

const messages = [
  { role: "system" as const, content: "You are a concise assistant." },
  { role: "user" as const, content: "In one sentence: what happens when a Wasm filter traps in Envoy?" },
];
const fixtureJson = (name: string) => JSON.parse(fixtureBytes(fixture(name)).toString("utf8"));
const sseFile = (file: string) => parseOpenAISse(readFileSync(join(OPENAI_FIXTURES, file), "utf8"));

/** The one upstream request a test expects, with the checks every routed request must pass. */
function onlyUpstreamRequest() {
  assert.equal(e.openai.requests.length, 1, "exactly one upstream request");
  const r = e.openai.requests[0];
  assert.equal(r.method, "POST");
  assert.equal(r.path, "/v1/chat/completions");
  assert.equal(r.headers.host, BACKEND_HOST, ":authority is the backend's host");
  assert.equal(r.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
  assertChatCompletionRequest(r.json, "upstream request body");
  return r;
}

async function post(path: string, body: string | Buffer, headers: Record<string, string> = { "content-type": "application/json" }) {
  const res = await fetch(e.gateway.url + path, { method: "POST", headers, body: typeof body === "string" ? body : new Uint8Array(body) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

// ---------------------------------------------------------------------------------------------
// Routing, credentials, usage (non-streaming)

test("plain chat: the client gets the provider's completion unchanged; usage with cached and reasoning tokens is logged", async () => {
  e.openai.enqueue(fixture("chat-completion-reasoning-usage"));
  const { data, response } = await openaiClient(e.gateway).chat.completions.create({ model: "gpt-5-mini", messages }).withResponse();

  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  assertChatCompletion(data, "client-facing completion");
  assert.deepEqual(data, fixtureJson("chat-completion-reasoning-usage"));

  const up = onlyUpstreamRequest();
  assert.deepEqual(up.json, { model: "gpt-5-mini", messages }, "the body goes upstream as the client sent it");
  assert.equal("stream_options" in up.json, false, "no stream_options on a non-streaming request (OpenAI rejects it)");

  const [line] = await waitForRequestLogLines(e.gateway, logFrom, 1);
  assertUsageLine(line, { model: "gpt-5-mini", backend: "openai", status: 200, input: 1792, output: 645, cached: 1536, reasoning: 448 });
});

const routingCases = [
  { name: "exact model", client: "gpt-4o-mini", upstream: "gpt-4o-mini" },
  { name: "wildcard gpt-*", client: "gpt-4.1-nano", upstream: "gpt-4.1-nano" },
  { name: "alias with upstream_model", client: "fast", upstream: "gpt-4o-mini" },
];
for (const c of routingCases) {
  test(`routing (${c.name}): ${c.client} goes upstream as ${c.upstream}; the client sees the model the provider returned`, async () => {
    e.openai.enqueue(fixture("chat-completion-gpt-4o-mini"));
    const sent = { model: c.client, messages, temperature: 0.2, max_completion_tokens: 256, metadata: { team: "alpha" } };
    const data = await openaiClient(e.gateway).chat.completions.create(sent);
    assertChatCompletion(data);
    assert.equal(data.model, "gpt-4o-mini-2024-07-18");
    assert.deepEqual(data, fixtureJson("chat-completion-gpt-4o-mini"));

    const up = onlyUpstreamRequest();
    assert.deepEqual(up.json, { ...sent, model: c.upstream }, "only the model changes");
    const [line] = await waitForRequestLogLines(e.gateway, logFrom, 1);
    // Whether the log names the client's model or the upstream one is the filter's choice.
    assertUsageLine(line, { model: [c.client, c.upstream], backend: "openai", status: 200, input: 19, output: 10, cached: 0, reasoning: 0 });
  });
}

test("client credentials (authorization, api-key, x-api-key) never reach the provider", async () => {
  e.openai.enqueue(fixture("chat-completion-gpt-4o-mini"));
  const secrets = { apiKey: "sk-client-own-0123456789", "api-key": "azure-client-key-abcdef", "x-api-key": "anthropic-client-key-ghijkl" };
  const client = openaiClient(e.gateway, { apiKey: secrets.apiKey, defaultHeaders: { "api-key": secrets["api-key"], "x-api-key": secrets["x-api-key"] } });
  await client.chat.completions.create({ model: "gpt-4o-mini", messages });

  const up = onlyUpstreamRequest();
  assert.equal(up.headers["api-key"], undefined);
  assert.equal(up.headers["x-api-key"], undefined);
  const wire = up.rawHeaders.join("\n");
  for (const s of Object.values(secrets)) assert.ok(!wire.includes(s), `client secret ${s} leaked upstream`);
  assert.equal(up.rawHeaders.filter((h) => h.toLowerCase() === "authorization").length, 1, "one authorization header");
});

test("a client-supplied x-ai-gateway-cluster header cannot choose the cluster", async () => {
  e.openai.enqueue(fixture("chat-completion-gpt-4o-mini"));
  const res = await post("/v1/chat/completions", JSON.stringify({ model: "gpt-4o-mini", messages }),
    { "content-type": "application/json", "x-ai-gateway-cluster": "decoy" });
  assert.equal(res.status, 200);
  onlyUpstreamRequest(); // and assertHealthy checks that the decoy saw nothing

  // With a model the gateway does not know, the header must not route anywhere either.
  const unknown = await post("/v1/chat/completions", JSON.stringify({ model: "claude-sonnet-4-5", messages }),
    { "content-type": "application/json", "x-ai-gateway-cluster": "decoy" });
  assert.equal(unknown.status, 404);
});

test("a request body that arrives in several pieces is buffered and routed", async () => {
  e.openai.enqueue(fixture("chat-completion-gpt-4o-mini"));
  const body = Buffer.from(JSON.stringify({ model: "gpt-4o-mini", messages }));
  const cut = [0, 7, 40, 41, body.length];
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(`${e.gateway.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode!));
    });
    req.on("error", reject);
    (async () => {
      for (let i = 0; i + 1 < cut.length; i++) {
        req.write(body.subarray(cut[i], cut[i + 1]));
        await new Promise((r) => setTimeout(r, 15)); // separate writes → separate body callbacks
      }
      req.end();
    })();
  });
  assert.equal(status, 200);
  assert.deepEqual(onlyUpstreamRequest().body, body);
});

// ---------------------------------------------------------------------------------------------
// Streaming

test("stream without include_usage (official client): upstream is asked for usage, the client gets OpenAI's plain stream", async () => {
  e.openai.enqueue(fixture("chat-stream-include-usage"));
  const stream = await openaiClient(e.gateway).chat.completions.create({ model: "gpt-4o-mini", messages, stream: true });
  const got = [];
  for await (const chunk of stream) { assertChatCompletionChunk(chunk, `chunk ${got.length}`); got.push(chunk); }

  assert.deepEqual(got, sseFile("chat-stream-include-usage.as-without-include-usage.sse").chunks);
  const up = onlyUpstreamRequest();
  assert.equal(up.json.stream, true);
  assert.deepEqual(up.json.stream_options, { include_usage: true });
  const [line] = await waitForRequestLogLines(e.gateway, logFrom, 1);
  assertUsageLine(line, { model: "gpt-4o-mini", backend: "openai", status: 200, input: 1536, output: 8, cached: 1280, reasoning: 0 });
});

test("stream with include_usage (official client): the client gets the usage chunk and usage:null fields unchanged", async () => {
  e.openai.enqueue(fixture("chat-stream-include-usage"));
  const stream = await openaiClient(e.gateway).chat.completions.create({ model: "gpt-4o-mini", messages, stream: true, stream_options: { include_usage: true } });
  const got = [];
  for await (const chunk of stream) { assertChatCompletionChunk(chunk, `chunk ${got.length}`); got.push(chunk); }

  assert.deepEqual(got, sseFile("chat-stream-include-usage.sse").chunks);
  assert.deepEqual(onlyUpstreamRequest().json.stream_options, { include_usage: true });
  const [line] = await waitForRequestLogLines(e.gateway, logFrom, 1);
  assertUsageLine(line, { model: "gpt-4o-mini", backend: "openai", status: 200, input: 1536, output: 8, cached: 1280, reasoning: 0 });
});

// The same upstream stream cut at different places: events split across body callbacks, several
// events in one callback, the whole stream in one. The client-facing SSE must not depend on it.
const splits = [
  { name: "one write per event", split: "sse-events" as const },
  { name: "64-byte writes", split: { bytes: 64 } },
  { name: "7-byte writes", split: { bytes: 7 } },
  { name: "one write", split: "whole" as const },
];
for (const s of splits) for (const includeUsage of [false, true]) {
  test(`stream framing (${s.name}, include_usage=${includeUsage}): strict SSE, every chunk valid, exactly OpenAI's stream`, async () => {
    e.openai.enqueue(fixture("chat-stream-include-usage", { split: s.split, chunkDelayMs: 1 }));
    const body = { model: "gpt-4o-mini", messages, stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) };
    const res = await post("/v1/chat/completions", JSON.stringify(body));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const got = parseOpenAISse(res.text);
    got.chunks.forEach((c, i) => assertChatCompletionChunk(c, `chunk ${i}`));
    assert.ok(got.done, "ends with data: [DONE]");
    const want = sseFile(includeUsage ? "chat-stream-include-usage.sse" : "chat-stream-include-usage.as-without-include-usage.sse");
    assert.deepEqual(got.chunks, want.chunks);
    if (!includeUsage) assert.ok(!res.text.includes('"usage"'), "no usage member anywhere in the client's stream");
    const [line] = await waitForRequestLogLines(e.gateway, logFrom, 1);
    assertUsageLine(line, { model: "gpt-4o-mini", backend: "openai", status: 200, input: 1536, output: 8, cached: 1280, reasoning: 0 });
  });
}

test("tool calls round trip through the stream (official client's ChatCompletionStream)", async () => {
  e.openai.enqueue(fixture("chat-stream-tool-calls"), fixture("chat-completion-after-tools"));
  const client = openaiClient(e.gateway);
  const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [{
    type: "function",
    function: {
      name: "get_weather", description: "Current weather for a city",
      parameters: { type: "object", properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } }, required: ["city"] },
    },
  }];
  const turn1: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: "user", content: "Weather in Paris and London?" }];

  const stream = client.chat.completions.stream({ model: "gpt-4o-mini", messages: turn1, tools, parallel_tool_calls: true });
  let chunks = 0;
  stream.on("chunk", (c) => { assertChatCompletionChunk(c, `chunk ${chunks++}`); });
  const final = await stream.finalChatCompletion();
  const wantChunks = sseFile("chat-stream-tool-calls.as-without-include-usage.sse").chunks;
  assert.equal(chunks, wantChunks.length, "no usage chunk reached the client");
  const msg = final.choices[0].message;
  assert.equal(final.choices[0].finish_reason, "tool_calls");
  assert.deepEqual(msg.tool_calls?.map((t) => t.type === "function" ? [t.id, t.function.name, JSON.parse(t.function.arguments)] : t), [
    ["call_Xk3pR9vT2mQ8wL5nB7yH1cJd", "get_weather", { city: "Paris", unit: "celsius" }],
    ["call_Wm7nQ2xK9pL4vT8rB1yZ6cHs", "get_weather", { city: "London", unit: "celsius" }],
  ]);

  const turn2: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
    ...turn1,
    // Only the wire fields: the stream helper adds parsed_arguments, which is not part of the API.
    { role: "assistant", content: null, tool_calls: msg.tool_calls!.map((t) => t.type === "function" ? { id: t.id, type: t.type, function: { name: t.function.name, arguments: t.function.arguments } } : t) },
    { role: "tool", tool_call_id: "call_Xk3pR9vT2mQ8wL5nB7yH1cJd", content: JSON.stringify({ temp_c: 18, sky: "sunny" }) },
    { role: "tool", tool_call_id: "call_Wm7nQ2xK9pL4vT8rB1yZ6cHs", content: JSON.stringify({ temp_c: 12, sky: "light rain" }) },
  ];
  const answer = await client.chat.completions.create({ model: "gpt-4o-mini", messages: turn2, tools });
  assertChatCompletion(answer);
  assert.deepEqual(answer, fixtureJson("chat-completion-after-tools"));

  assert.equal(e.openai.requests.length, 2);
  const [up1, up2] = e.openai.requests;
  for (const r of [up1, up2]) {
    assert.equal(r.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
    assertChatCompletionRequest(r.json, "upstream request body");
  }
  assert.deepEqual(up1.json.tools, tools);
  assert.deepEqual(up1.json.stream_options, { include_usage: true });
  assert.deepEqual(up2.json.messages, turn2, "tool calls and results go upstream unchanged");
  const lines = await waitForRequestLogLines(e.gateway, logFrom, 2);
  assertUsageLine(lines[0], { model: "gpt-4o-mini", backend: "openai", status: 200, input: 86, output: 51, cached: 0, reasoning: 0 });
  assertUsageLine(lines[1], { model: "gpt-4o-mini", backend: "openai", status: 200, input: 171, output: 23, cached: 0, reasoning: 0 });
});

// ---------------------------------------------------------------------------------------------
// Provider errors

const providerErrors = [
  { fixture: "error-401-invalid-api-key", status: 401, cls: OpenAI.AuthenticationError, code: "invalid_api_key" },
  { fixture: "error-429-rate-limit-exceeded", status: 429, cls: OpenAI.RateLimitError, code: "rate_limit_exceeded" },
  { fixture: "error-500-server-error", status: 500, cls: OpenAI.InternalServerError, code: null },
];
for (const pe of providerErrors) for (const stream of [false, true]) {
  test(`provider error ${pe.status} passes through (stream=${stream}): ${pe.cls.name} with the provider's message`, async () => {
    e.openai.enqueue(fixture(pe.fixture));
    const want = fixtureJson(pe.fixture);
    const call = openaiClient(e.gateway).chat.completions.create({ model: "gpt-4o-mini", messages, stream });
    const err = await call.then(() => assert.fail("expected an error"), (x: unknown) => x);
    assert.ok(err instanceof pe.cls, `got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    const apiErr = err as InstanceType<typeof OpenAI.APIError>;
    assert.equal(apiErr.status, pe.status);
    assert.equal(apiErr.code, pe.code);
    assert.ok(apiErr.message.includes(want.error.message), apiErr.message);
    assert.deepEqual(apiErr.error, want.error);
    onlyUpstreamRequest();
    const [line] = await waitForRequestLogLines(e.gateway, logFrom, 1);
    assert.equal(line.status, String(pe.status), line._line);
    assert.equal(line.backend, "openai", line._line);
  });
}

test("provider error bodies reach the client byte-for-byte, schema-valid", async () => {
  for (const pe of providerErrors) {
    e.openai.enqueue(fixture(pe.fixture));
    const res = await post("/v1/chat/completions", JSON.stringify({ model: "gpt-4o-mini", messages }));
    assert.equal(res.status, pe.status);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(res.text, fixtureBytes(fixture(pe.fixture)).toString("utf8"));
    assertErrorResponse(JSON.parse(res.text));
  }
  await waitForRequestLogLines(e.gateway, logFrom, providerErrors.length);
});

// ---------------------------------------------------------------------------------------------
// Bad input: answered by the filter with OpenAI-style errors, never a trap, never upstream

const goodBody = (extra: object = {}) => JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], ...extra });
const oversized = () => {
  // Valid JSON, a configured model, one byte over max_request_bytes.
  const shell = goodBody({ messages: [{ role: "user", content: "" }] });
  return goodBody({ messages: [{ role: "user", content: "x".repeat(MAX_REQUEST_BYTES + 1 - shell.length) }] });
};
const badInputs: { name: string; body: () => string | Buffer; contentType?: string; status: number; code?: string }[] = [
  { name: "malformed JSON (truncated)", body: () => '{"model": "gpt-4o-mini", "messages": [', status: 400 },
  { name: "malformed JSON (trailing garbage)", body: () => goodBody() + "}", status: 400 },
  { name: "empty body", body: () => "", status: 400 },
  { name: "body is a JSON array", body: () => "[]", status: 400 },
  { name: "invalid UTF-8 inside a string", body: () => Buffer.concat([Buffer.from('{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}]}')]), status: 400 },
  // Deep nesting must not overflow a recursive parser's stack (a trap in Wasm).
  { name: "100 000 nested arrays", body: () => "[".repeat(100000) + "]".repeat(100000), status: 400 },
  { name: "100 000 nested objects as the model", body: () => '{"model": ' + '{"a":'.repeat(100000) + "1" + "}".repeat(100000) + "}", status: 400 },
  { name: "missing model", body: () => JSON.stringify({ messages: [{ role: "user", content: "hi" }] }), status: 400 },
  { name: "model is not a string", body: () => JSON.stringify({ model: 42, messages: [{ role: "user", content: "hi" }] }), status: 400 },
  { name: "unknown model", body: () => goodBody({ model: "claude-sonnet-4-5" }), status: 404, code: "model_not_found" },
  { name: "body over max_request_bytes", body: oversized, status: 413 },
  { name: "content-type text/plain", body: () => goodBody(), contentType: "text/plain", status: 415 },
];
for (const b of badInputs) {
  test(`bad input: ${b.name} → ${b.status}, OpenAI error JSON, nothing upstream, next request still works`, async () => {
    const body = b.body();
    if (b.name === "body over max_request_bytes") assert.equal(Buffer.byteLength(body), MAX_REQUEST_BYTES + 1);
    const res = await post("/v1/chat/completions", body, { "content-type": b.contentType ?? "application/json" });
    assert.equal(res.status, b.status, res.text.slice(0, 300));
    assert.equal((res.headers.get("content-type") ?? "").split(";")[0].trim(), "application/json");
    const json = JSON.parse(res.text);
    assertErrorResponse(json, "error body");
    assert.equal(typeof json.error.message, "string");
    assert.ok(json.error.message.length > 0, "a message that says what is wrong");
    if (b.code) assert.equal(json.error.code, b.code);
    assert.equal(e.openai.requests.length, 0, "nothing reached the provider");

    // The VM that answered is still healthy: a good request right after goes through.
    e.openai.enqueue(fixture("chat-completion-gpt-4o-mini"));
    const ok = await openaiClient(e.gateway).chat.completions.create({ model: "gpt-4o-mini", messages });
    assert.equal(ok.model, "gpt-4o-mini-2024-07-18");
  });
}

// ---------------------------------------------------------------------------------------------
// Concurrency: many requests at once, across both workers, streams and plain, each with its usage

test("40 concurrent requests (streaming and not) all succeed with one usage line each", async () => {
  e.openai.register(fixture("chat-completion-gpt-4o-mini"), fixture("chat-stream-include-usage"));
  const client = openaiClient(e.gateway);
  const jobs = Array.from({ length: 40 }, async (_, i) => {
    if (i % 2 === 0) return (await client.chat.completions.create({ model: "gpt-4o-mini", messages })).usage?.total_tokens;
    let n = 0;
    for await (const c of await client.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true })) { assertChatCompletionChunk(c); n++; }
    return n;
  });
  const results = await Promise.all(jobs);
  assert.deepEqual(results, results.map((_, i) => (i % 2 === 0 ? 29 : sseFile("chat-stream-include-usage.as-without-include-usage.sse").chunks.length)));
  const lines = await waitForRequestLogLines(e.gateway, logFrom, 40);
  assert.equal(lines.filter((l) => l.input_tokens === "19").length, 20);
  assert.equal(lines.filter((l) => l.input_tokens === "1536" && l.cached_tokens === "1280").length, 20);
});
