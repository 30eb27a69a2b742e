// End-to-end with the official openai client (unmodified) against Google backends:
//   Gemini Developer API — client → Gateway (build/ai-gateway.wasm in the Envoy-faithful host, real
//     sockets) → mock provider answering from tests/fixtures/providers/gemini/: chat, streaming
//     with the client's helpers, include_usage, tools (and a second turn built from the SDK's own
//     message object, so the invented ids and the thought signature travel back), embeddings as
//     the SDK asks for them (base64 by default) and as floats, errors as APIError subclasses.
//   Vertex AI — the same, plus the real OAuth flow: the filter signs a JWT with the service
//     account key, trades it at a local Google token endpoint (signature verified with the key's
//     public half) and sends that token to Vertex; Gemini and Claude models on Vertex.
// Wire-level details are checked in tests/providers/translation.test.ts over the same fixtures.

import { test, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import OpenAI from "openai";
import { openaiClient, vmFailures, GATEWAY_WASM } from "./harness.ts";
import { Gateway } from "../support/gateway.ts";
import { MockProvider } from "../../dev/mock-provider.ts";
import {
  loadCase, Bindings, assertUpstreamRequest, assertMatches, assertStreamMatches, streamProblems, normalizeClientJson, normalizeAnthropicRequest,
  PROVIDER_FIXTURES, CLIENT_SECRETS, type ProviderCase, type StreamEvent,
} from "../providers/fixture-case.ts";
import { ProviderGateways, mockFixture, seenFromRecorded, assertCaseUsage, type ProviderEnv } from "../providers/gateway-env.ts";
import { assertChatCompletion, assertChatCompletionChunk, assertEmbeddingResponse } from "../support/openai-schema.ts";
import { geminiErrors } from "../support/gemini-schema.ts";
import { GoogleTokenEndpoint, bearerOf } from "../auth/tokens.ts";

const gateways = new ProviderGateways();
const cleanup: (() => Promise<void>)[] = [];
after(async () => { await gateways.stopAll(); for (const c of cleanup.reverse()) await c(); });

interface Env { gateway: Gateway; mock: MockProvider }
const used: Env[] = [];
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

const caseOf = (id: string) => loadCase(join(PROVIDER_FIXTURES, id));

function client(gateway: Gateway): OpenAI {
  return openaiClient(gateway, {
    apiKey: CLIENT_SECRETS.authorization.slice("Bearer ".length),
    defaultHeaders: { "api-key": CLIENT_SECRETS["api-key"], "x-api-key": CLIENT_SECRETS["x-api-key"] },
  });
}

/** A fixture case on the fixtures' Gemini gateway, its upstream answer queued. */
async function setUp(id: string): Promise<{ c: ProviderCase; env: ProviderEnv; client: OpenAI; logFrom: number }> {
  const c = caseOf(id);
  const env = await gateways.for(c);
  env.mock.reset();
  if (c.response) env.mock.enqueue(mockFixture(c));
  used.push(env);
  return { c, env, client: client(env.gateway), logFrom: env.gateway.logs.length };
}

function assertUpstream(c: ProviderCase, env: ProviderEnv): void {
  assert.equal(env.mock.requests.length, 1, "one upstream request");
  assertUpstreamRequest(c, seenFromRecorded(env.mock.requests[0]), new Bindings());
}

async function streamWithHelper(cl: OpenAI, request: any) {
  const stream = cl.chat.completions.stream({ ...request, stream: true });
  const chunks: StreamEvent[] = [];
  stream.on("chunk", (chunk) => { chunks.push(chunk as unknown as StreamEvent); });
  const final = await stream.finalChatCompletion();
  return { chunks, final };
}

const callsOf = (m: OpenAI.Chat.ChatCompletionMessage) =>
  (m.tool_calls ?? []).map((t) => (t.type === "function" ? [t.id, t.function.name, JSON.parse(t.function.arguments)] : t));

/** The floats an embedding decodes to, rounded to float32 (what base64 carries). */
const f32 = (xs: number[]) => xs.map((x) => Math.fround(x));

// ---------------------------------------------------------------------------------------------
// Gemini Developer API

test("Gemini chat: chat.completions.create returns the translated completion; x-goog-api-key upstream, no client key", async () => {
  const { c, env, client, logFrom } = await setUp("gemini/plain-chat");
  const data = await client.chat.completions.create(c.request);
  assertChatCompletion(data);
  assertMatches(normalizeClientJson(data), normalizeClientJson(c.clientResponse!.body), new Bindings(), "completion");
  assert.equal(data.choices[0].message.content, "Hello! How can I help you today?\n");
  assertUpstream(c, env);
  await assertCaseUsage(env, c, logFrom, 200);
});

test("Gemini streaming: ChatCompletionStream assembles the text from the SSE stream; every chunk is the fixture's", async () => {
  const { c, env, client, logFrom } = await setUp("gemini/stream-text");
  const { chunks, final } = await streamWithHelper(client, c.request);
  chunks.forEach((ch, i) => assertChatCompletionChunk(ch, `chunk ${i}`));
  assertStreamMatches([...chunks, "[DONE]"], c.clientStream!, new Bindings());
  assert.deepEqual(streamProblems([...chunks, "[DONE]"]), []);
  assert.equal(final.choices[0].message.content, "Hello there! Ünïcødé ✓ 👋 \"quoted\"\nnext line");
  assert.equal(final.choices[0].finish_reason, "stop");
  assert.equal(final.id, "Y52yaPKZEqHLz7IPq6a08QQ");
  assertUpstream(c, env);
  await assertCaseUsage(env, c, logFrom, 200);
});

test("Gemini streaming with include_usage: the final completion carries usage with thoughts and cached tokens", async () => {
  const { c, client } = await setUp("gemini/stream-include-usage-thoughts-cached");
  const { final } = await streamWithHelper(client, c.request);
  assert.equal(final.choices[0].message.content, "Revenue grew 12% in Q3. Costs were flat.", "thought parts are not content");
  const u = final.usage!;
  assert.deepEqual([u.prompt_tokens, u.completion_tokens, u.total_tokens, u.prompt_tokens_details?.cached_tokens, u.completion_tokens_details?.reasoning_tokens],
    [2100, 131, 2231, 2048, 120], "completion = candidates 11 + thoughts 120 (providers.md §11.2)");
});

test("Gemini thinking: the client reads reasoning_content (thought parts) on the message and on the stream deltas", async () => {
  const t = await setUp("gemini/reasoning-effort-thinking");
  const data = await t.client.chat.completions.create(t.c.request);
  assertChatCompletion(data);
  const m = data.choices[0].message as OpenAI.Chat.ChatCompletionMessage & { reasoning_content?: string };
  assert.equal(m.reasoning_content, "**Checking divisibility**\n\n1001 = 7 × 143 = 7 × 11 × 13.");
  assert.equal(m.content, "No: 1001 = 7 × 11 × 13.");
  assertUpstream(t.c, t.env);
  const s = await setUp("gemini/stream-include-usage-thoughts-cached");
  const stream = await s.client.chat.completions.create({ ...s.c.request, stream: true } as OpenAI.Chat.ChatCompletionCreateParamsStreaming);
  let reasoning = "";
  for await (const ch of stream) { assertChatCompletionChunk(ch, "chunk"); reasoning += (ch.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? ""; }
  assert.equal(reasoning, "**Reading the report**\n\nIt covers Q3 revenue.");
  assertUpstream(s.c, s.env);
});

test("Gemini tools: function calls come back with ids (made up, or Gemini's), and the SDK's own message object sent back reaches Gemini as functionCall/functionResponse parts", async () => {
  const { c, env, client } = await setUp("gemini/tools-auto-function-calls");
  const first = await client.chat.completions.create(c.request);
  assertChatCompletion(first);
  const msg = first.choices[0].message;
  assert.equal(first.choices[0].finish_reason, "tool_calls");
  const calls = callsOf(msg);
  assert.match(String(calls[0][0]), /^call_[0-9a-f]{8}_0$/, "a gateway-made id for the call Gemini gave none");
  assert.deepEqual(calls.map((x) => x.slice(1)), [["get_weather", { city: "Paris", unit: "celsius" }], ["get_time", { timezone: "Asia/Tokyo" }]]);
  assert.equal(calls[1][0], "fc-7c0d2e1b", "Gemini's own id is kept");
  assertUpstream(c, env);

  // Second turn: the assistant message exactly as the SDK returned it, plus one result per call.
  const answer = caseOf("gemini/plain-chat");
  env.mock.enqueue(mockFixture(answer));
  const second = await client.chat.completions.create({
    model: c.request.model, tools: c.request.tools,
    messages: [...c.request.messages, msg,
      { role: "tool", tool_call_id: String(calls[0][0]), content: "{\"temp_c\": 18}" },
      { role: "tool", tool_call_id: "fc-7c0d2e1b", content: "09:41" }],
  });
  assertChatCompletion(second);
  const body = env.mock.requests[1].json;
  assert.deepEqual(geminiErrors("GenerateContentRequest", body), []);
  const sig = (c.response!.body.toString("utf8").match(/"thoughtSignature": "([^"]+)"/) ?? [])[1];
  assert.ok(sig, "the fixture has a thought signature");
  assert.deepEqual(body.contents.slice(1), [
    { role: "model", parts: [
      { text: "Let me check both." },
      { functionCall: { name: "get_weather", args: { city: "Paris", unit: "celsius" } }, thoughtSignature: sig },
      { functionCall: { id: "fc-7c0d2e1b", name: "get_time", args: { timezone: "Asia/Tokyo" } } },
    ] },
    { role: "user", parts: [
      { functionResponse: { name: "get_weather", response: { temp_c: 18 } } },
      { functionResponse: { id: "fc-7c0d2e1b", name: "get_time", response: { content: "09:41" } } },
    ] },
  ], "made-up ids are not sent back, Gemini's id and the signature are; names come from the calls");
});

test("Gemini tools (stream): the helper assembles two tool calls from complete functionCall fragments; finish tool_calls", async () => {
  const { c, env, client } = await setUp("gemini/stream-tool-calls");
  const { chunks, final } = await streamWithHelper(client, c.request);
  chunks.forEach((ch, i) => assertChatCompletionChunk(ch, `chunk ${i}`));
  const choice = final.choices[0];
  assert.equal(choice.finish_reason, "tool_calls");
  assert.equal(choice.message.content, "Checking.");
  const calls = callsOf(choice.message);
  assert.match(String(calls[0][0]), /^call_[0-9a-f]{8}_0$/);
  assert.deepEqual(calls.map((x) => x.slice(1)), [["get_weather", { city: "Paris" }], ["get_time", { tz: "Asia/Tokyo" }]]);
  assertUpstream(c, env);
});

test("Gemini embeddings: the SDK's default request (encoding_format base64) is answered in base64 and decodes to Gemini's values", async () => {
  const { c, env, client, logFrom } = await setUp("gemini/embeddings-single-float");
  const data = await client.embeddings.create({ model: c.request.model, input: c.request.input });
  assertEmbeddingResponse(data);
  assert.deepEqual(env.mock.requests[0].json, c.upstream!.body, "encoding_format is the gateway's business, not Gemini's");
  const want = JSON.parse(c.response!.body.toString("utf8")).embedding.values as number[];
  assert.deepEqual(data.data[0].embedding, f32(want));
  assert.deepEqual(data.usage, { prompt_tokens: 3, total_tokens: 3 });
  await assertCaseUsage(env, c, logFrom, 200);
});

test("Gemini embeddings: an array with encoding_format float → batchEmbedContents; the floats are Gemini's digits", async () => {
  const { c, env, client } = await setUp("gemini/embeddings-batch-float");
  // Without encoding_format the SDK would ask for base64 (and decode it); float must be asked for.
  const data = await client.embeddings.create({ ...c.request, encoding_format: "float" });
  assertEmbeddingResponse(data);
  assert.deepEqual(data, c.clientResponse!.body);
  assertUpstream(c, env);
});

const errors = [
  { id: "gemini/error-429-resource-exhausted", cls: OpenAI.RateLimitError, status: 429 },
  { id: "gemini/error-400-api-key-invalid", cls: OpenAI.AuthenticationError, status: 401 },
  { id: "gemini/error-403-permission-denied", cls: OpenAI.PermissionDeniedError, status: 403 },
  { id: "gemini/error-400-invalid-argument", cls: OpenAI.BadRequestError, status: 400 },
  { id: "gemini/prompt-blocked", cls: OpenAI.BadRequestError, status: 400 },
];
for (const e of errors) {
  test(`Gemini error (${e.id.split("/")[1]}): the client raises ${e.cls.name} (${e.status}) with Gemini's message`, async () => {
    const { c, client } = await setUp(e.id);
    const err = await client.chat.completions.create(c.request).then(() => assert.fail("expected an error"), (x: unknown) => x);
    assert.ok(err instanceof e.cls, `got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    assert.equal((err as InstanceType<typeof OpenAI.APIError>).status, e.status);
    const want = (c.clientResponse!.body as any).error.message as string;
    assert.ok((err as Error).message.includes(want), `message ${JSON.stringify((err as Error).message)} should contain ${JSON.stringify(want)}`);
  });
}

for (const id of ["gemini/stream-error-midstream", "gemini/stream-truncated"]) {
  test(`Gemini ${id.split("/")[1]}: the client's stream throws an APIError after the chunks that arrived`, async () => {
    const { c, client } = await setUp(id);
    const seen: string[] = [];
    const err = await (async () => {
      const stream = await client.chat.completions.create({ ...c.request, stream: true });
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta?.content ?? "");
    })().then(() => assert.fail("expected the stream to throw"), (x: unknown) => x);
    assert.ok(err instanceof OpenAI.APIError, `got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    const want = (c.clientStream!.find((ev) => ev !== "[DONE]" && "error" in ev) as any).error.message;
    assert.ok((err as Error).message.includes(want), (err as Error).message);
    assert.ok(seen.length >= 2 && seen[0] === "", `the chunks before the error reached the client: ${JSON.stringify(seen)}`);
  });
}

// ---------------------------------------------------------------------------------------------
// Vertex AI with the real token flow

interface VertexEnv extends Env { google: GoogleTokenEndpoint; client: OpenAI }
let vertexEnv: Promise<VertexEnv> | undefined;

function vertex(): Promise<VertexEnv> {
  vertexEnv ??= (async () => {
    const google = await GoogleTokenEndpoint.start();
    const mock = await MockProvider.start();
    const auth = { type: "gcp-service-account", token_cluster: "gcp_oauth", credentials: google.key };
    const gateway = await Gateway.start({
      wasm: GATEWAY_WASM,
      plugin: {
        vmId: `gemini_e2e_${process.pid}`,
        configuration: JSON.stringify({
          backends: [
            { name: "vx-gemini", schema: "vertex-gemini", cluster: "vertex", location: "us-central1", auth },
            { name: "vx-claude", schema: "vertex-anthropic", cluster: "vertex", location: "us-east5", auth },
          ],
          models: [
            { match: "gemini-*", backend: "vx-gemini" }, { match: "text-embedding-*", backend: "vx-gemini" },
            { match: "claude-*", backend: "vx-claude" }, { match: "sonnet", backend: "vx-claude", upstream_model: "claude-sonnet-4-5@20250929" },
          ],
        }),
      },
      workers: 2,
      routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
      clusters: { vertex: { host: "127.0.0.1", port: mock.port }, gcp_oauth: { host: "127.0.0.1", port: google.port } },
    });
    cleanup.push(async () => { await gateway.stop(); await mock.stop(); await google.stop(); });
    return { google, mock, gateway, client: client(gateway) };
  })();
  return vertexEnv;
}

/**
 * The case's request reached Vertex: path (with the key's project, auth-test-project), host, a
 * token the Google endpoint issued, no client credential, and the case's body.
 */
function assertVertexUpstream(v: VertexEnv, c: ProviderCase, i: number): void {
  const r = v.mock.requests[i];
  assert.equal(r.url, c.upstream!.path.replace("/projects/fixture-project/", "/projects/auth-test-project/"));
  assert.equal(r.headers.host, c.upstream!.headers.host);
  const token = bearerOf({ headers: r.headers } as any);
  assert.ok(v.google.valid(token), `Vertex got a token the Google endpoint issued: ${r.headers.authorization}`);
  assert.deepEqual(v.google.rejected, [], "every JWT assertion verified");
  for (const h of ["x-api-key", "api-key", "x-goog-api-key"]) assert.equal(r.headers[h], undefined, h);
  const norm = c.backendSchema.endsWith("anthropic") ? normalizeAnthropicRequest : (x: unknown) => x;
  assert.deepEqual(norm(r.json), norm(c.upstream!.body));
}

async function vertexCase(id: string): Promise<{ v: VertexEnv; c: ProviderCase; n: number }> {
  const v = await vertex();
  const c = caseOf(id);
  v.mock.enqueue(mockFixture(c));
  used.push(v);
  return { v, c, n: v.mock.requests.length };
}

test("Vertex Gemini chat: the filter fetches an OAuth token with the service account (JWT verified), Vertex gets it as Bearer on the project/location URL", async () => {
  const { v, c, n } = await vertexCase("vertex-gemini/chat");
  const data = await v.client.chat.completions.create(c.request);
  assertChatCompletion(data);
  assertMatches(normalizeClientJson(data), normalizeClientJson(c.clientResponse!.body), new Bindings(), "completion");
  assertVertexUpstream(v, c, n);
  assert.ok(v.google.fetches >= 1, "a token was fetched");
});

test("Vertex Gemini streaming with a tool call and include_usage: the helper assembles the call; usage with reasoning tokens", async () => {
  const { v, c, n } = await vertexCase("vertex-gemini/stream-tool-call-include-usage");
  const { chunks, final } = await streamWithHelper(v.client, c.request);
  chunks.forEach((ch, i) => assertChatCompletionChunk(ch, `chunk ${i}`));
  assert.deepEqual(callsOf(final.choices[0].message).map((x) => x.slice(1)), [["get_weather", { city: "Rome" }]]);
  assert.equal(final.choices[0].finish_reason, "tool_calls");
  assert.equal(final.usage?.completion_tokens_details?.reasoning_tokens, 44);
  assertVertexUpstream(v, c, n);
});

test("Vertex embeddings (:predict): the SDK's default base64 request decodes to Vertex's values; usage from statistics.token_count", async () => {
  const { v, c, n } = await vertexCase("vertex-gemini/embeddings-predict-float");
  const data = await v.client.embeddings.create({ model: c.request.model, input: c.request.input, dimensions: c.request.dimensions });
  assertEmbeddingResponse(data);
  const preds = JSON.parse(c.response!.body.toString("utf8")).predictions as any[];
  assert.deepEqual(data.data.map((d) => d.embedding), preds.map((p) => f32(p.embeddings.values)));
  assert.deepEqual(data.usage, { prompt_tokens: 8, total_tokens: 8 });
  assertVertexUpstream(v, c, n);
});

test("Claude on Vertex: rawPredict with anthropic_version in the body and the OAuth token; the Messages answer becomes a completion", async () => {
  const { v, c, n } = await vertexCase("vertex-anthropic/chat");
  const data = await v.client.chat.completions.create(c.request);
  assertChatCompletion(data);
  assertMatches(normalizeClientJson(data), normalizeClientJson(c.clientResponse!.body), new Bindings(), "completion");
  assertVertexUpstream(v, c, n);
});

test("Claude on Vertex streaming: streamRawPredict; the helper assembles the Anthropic SSE answer", async () => {
  const { v, c, n } = await vertexCase("vertex-anthropic/stream");
  const { chunks, final } = await streamWithHelper(v.client, c.request);
  chunks.forEach((ch, i) => assertChatCompletionChunk(ch, `chunk ${i}`));
  assert.equal(final.choices[0].message.content, "Hello there! Ünïcødé ✓ 👋 \"quoted\"\nnext line");
  assertVertexUpstream(v, c, n);
});
