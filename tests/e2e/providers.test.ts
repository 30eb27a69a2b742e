// End-to-end with the official openai client (unmodified) against Anthropic and Azure OpenAI
// backends: client → Gateway (build/ai-gateway.wasm in the Envoy-faithful host, real sockets) →
// mock provider answering from the fixtures in tests/fixtures/providers/. Chat, the client's
// streaming helpers (ChatCompletionStream, finalChatCompletion), tools, embeddings, and provider
// errors surfacing as the matching APIError subclass with the provider's message.
// The wire-level details of the same cases are checked in tests/providers/translation.test.ts;
// here the point is that a strict, real client accepts what the gateway produces.

import { test, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { openaiClient, vmFailures } from "./harness.ts";
import { loadCase, Bindings, assertUpstreamRequest, assertMatches, assertStreamMatches, streamProblems, normalizeClientJson, PROVIDER_FIXTURES, CLIENT_SECRETS, type ProviderCase, type StreamEvent } from "../providers/fixture-case.ts";
import { ProviderGateways, mockFixture, seenFromRecorded, assertCaseUsage, type ProviderEnv } from "../providers/gateway-env.ts";
import { assertChatCompletion, assertChatCompletionChunk, assertEmbeddingResponse } from "../support/openai-schema.ts";
import { join } from "node:path";

const gateways = new ProviderGateways();
after(() => gateways.stopAll());

const used: ProviderEnv[] = [];
afterEach(async () => {
  // Every test ends healthy: no stream context left, no VM failure, the mock answered from a fixture.
  for (const env of used.splice(0)) {
    const t0 = Date.now();
    while ((await env.gateway.liveContexts()) !== 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await env.gateway.liveContexts(), 0, "stream contexts left behind");
    assert.deepEqual(vmFailures(env.gateway, 0), [], "no VM failed");
    env.mock.assertNoFailures();
    assert.deepEqual(env.mock.pendingFixtures(), [], "every enqueued fixture was used");
  }
});

/** Loads a case, starts (or reuses) its gateway, queues its upstream response. */
async function setUp(id: string): Promise<{ c: ProviderCase; env: ProviderEnv; client: OpenAI; logFrom: number }> {
  const c = loadCase(join(PROVIDER_FIXTURES, id));
  const env = await gateways.for(c);
  env.mock.reset();
  if (c.response) env.mock.enqueue(mockFixture(c));
  used.push(env);
  const client = openaiClient(env.gateway, {
    apiKey: CLIENT_SECRETS.authorization.slice("Bearer ".length),
    defaultHeaders: { "api-key": CLIENT_SECRETS["api-key"], "x-api-key": CLIENT_SECRETS["x-api-key"] },
  });
  return { c, env, client, logFrom: env.gateway.logs.length };
}

/** The provider got exactly the case's upstream request (the client's extra headers are allowed). */
function assertUpstream(c: ProviderCase, env: ProviderEnv): void {
  assert.equal(env.mock.requests.length, 1, "one upstream request");
  assertUpstreamRequest(c, seenFromRecorded(env.mock.requests[0]), new Bindings());
}

/** Runs the client's stream helper over a case and checks every chunk it saw. */
async function streamWithHelper(client: OpenAI, c: ProviderCase) {
  const stream = client.chat.completions.stream({ ...c.request, stream: true });
  const chunks: StreamEvent[] = [];
  stream.on("chunk", (chunk) => { chunks.push(chunk as unknown as StreamEvent); });
  const final = await stream.finalChatCompletion();
  return { chunks, final };
}

// ---------------------------------------------------------------------------------------------
// Anthropic

test("Anthropic chat: chat.completions.create returns the translated completion", async () => {
  const { c, env, client, logFrom } = await setUp("anthropic/plain-chat");
  const data = await client.chat.completions.create(c.request);
  assertChatCompletion(data);
  assertMatches(normalizeClientJson(data), normalizeClientJson((c.clientResponse!.body)), new Bindings(), "completion");
  assert.equal(data.choices[0].message.content, "Hello! How can I help you today?");
  assertUpstream(c, env);
  await assertCaseUsage(env, c, logFrom, 200);
});

test("Anthropic streaming: ChatCompletionStream assembles the text; every chunk is the fixture's", async () => {
  const { c, env, client, logFrom } = await setUp("anthropic/stream-text");
  const { chunks, final } = await streamWithHelper(client, c);
  chunks.forEach((ch, i) => assertChatCompletionChunk(ch, `chunk ${i}`));
  assertStreamMatches([...chunks, "[DONE]"], c.clientStream!, new Bindings());
  assert.deepEqual(streamProblems([...chunks, "[DONE]"]), []);
  assert.equal(final.choices[0].message.content, "Hello there! Ünïcødé ✓ 👋 \"quoted\"\nnext line");
  assert.equal(final.choices[0].finish_reason, "stop");
  assert.equal(final.id, "msg_01Hn8k2RPzYwq7TbVa4Ct9Lm");
  assertUpstream(c, env);
  await assertCaseUsage(env, c, logFrom, 200);
});

test("Anthropic streaming with include_usage: the helper's final completion carries the usage", async () => {
  const { c, client } = await setUp("anthropic/stream-text-include-usage");
  const { final } = await streamWithHelper(client, c);
  const u = final.usage;
  assert.ok(u, "the final completion has usage");
  assert.deepEqual([u.prompt_tokens, u.completion_tokens, u.total_tokens, u.prompt_tokens_details?.cached_tokens], [1045, 9, 1054, 1024],
    "prompt = 21 input + 1024 cache read; cached_tokens = cache read (providers.md §11.2)");
});

test("Anthropic tools (stream): the SDK fixture's tool_use becomes one tool call the helper parses", async () => {
  const { c, env, client } = await setUp("anthropic/stream-tool-use");
  const { chunks, final } = await streamWithHelper(client, c);
  chunks.forEach((ch, i) => assertChatCompletionChunk(ch, `chunk ${i}`));
  const choice = final.choices[0];
  assert.equal(choice.finish_reason, "tool_calls");
  assert.equal(choice.message.content, "I'll check the current weather in Paris for you.");
  assert.deepEqual(choice.message.tool_calls?.map((t) => (t.type === "function" ? [t.id, t.function.name, JSON.parse(t.function.arguments)] : t)),
    [["toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", { location: "Paris" }]]);
  assertUpstream(c, env);
});

test("Anthropic tools (non-stream): tool_use blocks become tool_calls with JSON arguments, content null", async () => {
  const { c, env, client } = await setUp("anthropic/non-stream-tool-use-response");
  const data = await client.chat.completions.create(c.request);
  assertChatCompletion(data);
  const m = data.choices[0].message;
  assert.equal(m.content, null);
  assert.equal(data.choices[0].finish_reason, "tool_calls");
  assert.deepEqual(m.tool_calls?.map((t) => (t.type === "function" ? [t.id, t.function.name, JSON.parse(t.function.arguments)] : t)), [
    ["toolu_01D7FLrfh4GYq7yT1ULFeyMV", "get_weather", { location: "Paris", unit: "celsius" }],
    ["toolu_01Ej9xUi3FvqzZ8pK2Wc4nRb", "get_time", {}],
  ]);
  assertUpstream(c, env);
});

test("Anthropic tool results: a second turn with tool messages reaches Anthropic as tool_result blocks", async () => {
  const { c, env, client } = await setUp("anthropic/tool-calls-and-results");
  const data = await client.chat.completions.create(c.request);
  assertChatCompletion(data);
  assertUpstream(c, env);
});

/** reasoning_content of a stream, as clients read it: the deltas joined (the helper keeps only the last). */
function streamedReasoning(chunks: StreamEvent[]): string {
  return chunks.map((ch: any) => ch.choices?.[0]?.delta?.reasoning_content ?? "").join("");
}

test("Anthropic thinking with tools, two turns: the client reads reasoning_content; the signed thinking block it got comes back on turn 2", async () => {
  const t1 = await setUp("anthropic/thinking-tool-use-turn-1");
  const first = await t1.client.chat.completions.create(t1.c.request);
  assertChatCompletion(first);
  assertUpstream(t1.c, t1.env);
  const m = first.choices[0].message as OpenAI.Chat.ChatCompletionMessage & { reasoning_content?: string; thinking_blocks?: unknown[] };
  assert.match(m.reasoning_content ?? "", /^The user wants Paris weather/);
  assert.equal(m.thinking_blocks?.length, 2, "the thinking block and the redacted one");
  assert.equal(first.choices[0].finish_reason, "tool_calls");
  // Turn 2: the SDK's own message object goes back as is, with the tool result; the mock's
  // request check (the turn-2 fixture) holds the signed block and the redacted data, unmodified.
  const t2 = await setUp("anthropic/thinking-tool-use-turn-2");
  const call = m.tool_calls![0];
  const second = await t2.client.chat.completions.create({
    ...t1.c.request,
    messages: [...t1.c.request.messages, m, { role: "tool", tool_call_id: call.id, content: "18°C, sunny" }],
  } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
  assertChatCompletion(second);
  assert.equal(second.choices[0].message.content, "It is 18°C and sunny in Paris.");
  assertUpstream(t2.c, t2.env);
});

test("Anthropic thinking (stream): the client reads reasoning_content from the deltas, then the answer", async () => {
  const { c, env, client, logFrom } = await setUp("anthropic/stream-thinking");
  const stream = await client.chat.completions.create({ ...c.request, stream: true } as OpenAI.Chat.ChatCompletionCreateParamsStreaming);
  const chunks: StreamEvent[] = [];
  for await (const ch of stream) { assertChatCompletionChunk(ch, `chunk ${chunks.length}`); chunks.push(ch as unknown as StreamEvent); }
  assertStreamMatches([...chunks, "[DONE]"], c.clientStream!, new Bindings());
  assert.equal(streamedReasoning(chunks), "1001 = 7 × 143 = 7 × 11 × 13.");
  assert.equal(chunks.map((ch: any) => ch.choices?.[0]?.delta?.content ?? "").join(""), "No: 1001 = 7 × 11 × 13.");
  assertUpstream(c, env);
  await assertCaseUsage(env, c, logFrom, 200);
});

const anthropicErrors = [
  { id: "anthropic/error-401-authentication", cls: OpenAI.AuthenticationError, status: 401 },
  { id: "anthropic/error-429-rate-limit", cls: OpenAI.RateLimitError, status: 429 },
  { id: "anthropic/error-529-overloaded", cls: OpenAI.InternalServerError, status: 503 },
  { id: "anthropic/error-529-overloaded-stream-request", cls: OpenAI.InternalServerError, status: 503 },
];
for (const e of anthropicErrors) {
  test(`Anthropic error (${e.id.split("/")[1]}): the client raises ${e.cls.name} (${e.status}) with Anthropic's message`, async () => {
    const { c, client } = await setUp(e.id);
    const err = await client.chat.completions.create(c.request).then(() => assert.fail("expected an error"), (x: unknown) => x);
    assert.ok(err instanceof e.cls, `got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    const apiErr = err as InstanceType<typeof OpenAI.APIError>;
    assert.equal(apiErr.status, e.status);
    const want = (c.clientResponse!.body as any).error.message as string;
    assert.ok(apiErr.message.includes(want), `message ${JSON.stringify(apiErr.message)} should contain ${JSON.stringify(want)}`);
  });
}

test("Anthropic mid-stream error event: the client's stream throws an APIError with the provider's message", async () => {
  const { c, client } = await setUp("anthropic/stream-error-event");
  const seen: string[] = [];
  const err = await (async () => {
    const params: OpenAI.Chat.ChatCompletionCreateParamsStreaming = { ...c.request, stream: true };
    const stream = await client.chat.completions.create(params);
    for await (const chunk of stream) seen.push(chunk.choices[0]?.delta?.content ?? "");
  })().then(() => assert.fail("expected the stream to throw"), (x: unknown) => x);
  assert.ok(err instanceof OpenAI.APIError, `got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
  assert.ok((err as Error).message.includes("Overloaded"), (err as Error).message);
  assert.deepEqual(seen, ["", "Partial answer"], "the chunks before the error reached the client");
});

// ---------------------------------------------------------------------------------------------
// Azure OpenAI

test("Azure chat: deployment URL + api-key upstream; the client gets Azure's completion", async () => {
  const { c, env, client, logFrom } = await setUp("azure/chat");
  const data = await client.chat.completions.create(c.request);
  assertChatCompletion(data);
  assert.deepEqual(data, c.clientResponse!.body);
  assertUpstream(c, env);
  await assertCaseUsage(env, c, logFrom, 200);
});

test("Azure streaming: the helper copes with the prompt_filter_results chunk and assembles the answer", async () => {
  const { c, env, client } = await setUp("azure/stream-prompt-filter-results");
  const { chunks, final } = await streamWithHelper(client, c);
  assertStreamMatches([...chunks, "[DONE]"], c.clientStream!, new Bindings());
  assert.equal(final.choices[0].message.content, "Hello there!");
  assert.equal(final.choices[0].finish_reason, "stop");
  assertUpstream(c, env);
});

test("Azure tools (stream): two parallel tool calls assembled by the helper", async () => {
  const { c, env, client } = await setUp("azure/stream-tool-calls");
  const { final } = await streamWithHelper(client, c);
  assert.equal(final.choices[0].finish_reason, "tool_calls");
  assert.deepEqual(final.choices[0].message.tool_calls?.map((t) => (t.type === "function" ? [t.id, t.function.name, JSON.parse(t.function.arguments)] : t)), [
    ["call_q8WzX3nV5bK1mP7rT2yL9cJd", "get_weather", { city: "Paris" }],
    ["call_h3TkY6mQ9xN2vB8wR5cL1pZf", "get_weather", { city: "London" }],
  ]);
  assertUpstream(c, env);
});

test("Azure embeddings: embeddings.create through the deployment-scoped embeddings URL", async () => {
  const { c, env, client, logFrom } = await setUp("azure/embeddings");
  const data = await client.embeddings.create(c.request);
  assertEmbeddingResponse(data);
  assert.deepEqual(data, c.clientResponse!.body);
  assertUpstream(c, env);
  await assertCaseUsage(env, c, logFrom, 200);
});

test("Azure error 429: the client raises RateLimitError with Azure's message", async () => {
  const { c, client } = await setUp("azure/error-429");
  const err = await client.chat.completions.create(c.request).then(() => assert.fail("expected an error"), (x: unknown) => x);
  assert.ok(err instanceof OpenAI.RateLimitError, `got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
  assert.ok((err as Error).message.includes("exceeded token rate limit"), (err as Error).message);
});
