// End-to-end with the official openai client (unmodified, 6.49.0) against AWS Bedrock backends:
// client → Gateway (build/ai-gateway.wasm in the Envoy-faithful host, real sockets) → a Bedrock
// mock that first checks the SigV4 signature the way AWS does (recomputed with node:crypto from
// what it received, tests/auth/aws.ts) and answers 403 InvalidSignatureException otherwise, then
// answers from the fixture cases in tests/fixtures/providers/bedrock-*/ (eventstream bodies written
// one frame per write, chunked). Chat, streaming through the client's helpers, tools, embeddings
// (the client's default base64 encoding), Claude on Bedrock, and errors as the client's APIError
// classes. The wire-level details of the same cases are in tests/providers/translation.test.ts.

import { test, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import OpenAI from "openai";
import { Gateway } from "../support/gateway.ts";
import { openaiClient, vmFailures, GATEWAY_WASM } from "./harness.ts";
import { verifySigV4, type SigCheck } from "../auth/aws.ts";
import type { Seen } from "../auth/support.ts";
import {
  loadCase, Bindings, assertUpstreamRequest, assertMatches, assertStreamMatches, streamProblems, normalizeClientJson,
  PROVIDER_FIXTURES, type ProviderCase, type StreamEvent,
} from "../providers/fixture-case.ts";
import { assertChatCompletion, assertChatCompletionChunk, assertEmbeddingResponse } from "../support/openai-schema.ts";

const config = JSON.parse(JSON.stringify(loadCase(join(PROVIDER_FIXTURES, "bedrock-converse", "plain-chat")).config));
const AWS = { accessKey: config.backends[0].auth.access_key as string, secretKey: config.backends[0].auth.secret_key as string };
const REGION = config.backends[0].auth.region as string;

interface Received { seen: Seen; verdict: SigCheck; caseId: string }

/** Bedrock, as far as signatures go: every request is verified before the queued case answers. */
class BedrockMock {
  readonly received: Received[] = [];
  readonly problems: string[] = [];
  private queue: ProviderCase[] = [];
  private constructor(private server: http.Server, readonly port: number) {}

  static async start(): Promise<BedrockMock> {
    let mock!: BedrockMock;
    const server = http.createServer((req, res) => void mock.handle(req, res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    mock = new BedrockMock(server, (server.address() as AddressInfo).port);
    return mock;
  }

  enqueue(c: ProviderCase): void { this.queue.push(c); }
  get pending(): number { return this.queue.length; }
  stop(): Promise<void> { return new Promise((r) => { this.server.closeAllConnections(); this.server.close(() => r()); }); }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const p of req) parts.push(p as Buffer);
    const body = Buffer.concat(parts);
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    let json: any;
    try { json = JSON.parse(body.toString("utf8")); } catch { json = undefined; }
    const seen: Seen = {
      method: req.method ?? "", url, path: q >= 0 ? url.slice(0, q) : url, query: new URLSearchParams(q >= 0 ? url.slice(q + 1) : ""),
      headers: { ...req.headers }, rawHeaders: req.rawHeaders, body, text: body.toString("utf8"), json, at: Date.now(),
    };
    const verdict = verifySigV4(seen, AWS, REGION, "bedrock");
    const c = this.queue.shift();
    this.received.push({ seen, verdict, caseId: c?.id ?? "(none)" });
    if (!verdict.ok) {
      res.writeHead(403, { "content-type": "application/json", "x-amzn-errortype": "InvalidSignatureException" });
      res.end(JSON.stringify({ message: `The request signature we calculated does not match the signature you provided. ${verdict.why.split("\n")[0]}` }));
      return;
    }
    if (!c || !c.response) {
      this.problems.push(`unexpected request ${seen.method} ${url}`);
      res.writeHead(501, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: "no case queued" }));
      return;
    }
    const r = c.response;
    const headers: Record<string, string | string[]> = { ...r.headers };
    if (r.writes) {
      res.writeHead(r.status, headers); // chunked: one write per eventstream frame
      for (const w of r.writes) { res.write(w); await new Promise((t) => setTimeout(t, 1)); }
      res.end();
    } else {
      res.writeHead(r.status, { ...headers, "content-length": String(r.body.length) });
      res.end(r.body);
    }
  }
}

let gateway: Gateway | undefined;
let mock: BedrockMock | undefined;
after(async () => { await gateway?.stop(); await mock?.stop(); });

afterEach(async () => {
  if (!gateway || !mock) return;
  const t0 = Date.now();
  while ((await gateway.liveContexts()) !== 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await gateway.liveContexts(), 0, "stream contexts left behind");
  assert.deepEqual(vmFailures(gateway, 0), [], "no VM failed");
  assert.deepEqual(mock.problems, [], "the Bedrock mock answered every request from a queued case");
  assert.equal(mock.pending, 0, "every queued case was used");
});

async function setUp(id: string): Promise<{ c: ProviderCase; client: OpenAI; from: number }> {
  if (!gateway) {
    mock = await BedrockMock.start();
    gateway = await Gateway.start({
      wasm: GATEWAY_WASM, plugin: { configuration: JSON.stringify(config) }, workers: 2,
      routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
      clusters: { bedrock: { host: "127.0.0.1", port: mock.port } },
    });
  }
  const c = loadCase(join(PROVIDER_FIXTURES, id));
  assert.equal(c.configText, JSON.stringify(config), `${id} uses the shared Bedrock configuration`);
  if (c.response) mock!.enqueue(c);
  return { c, client: openaiClient(gateway), from: mock!.received.length };
}

/** The one request the mock got since `from`: signed as AWS expects and the case's request. */
function assertSignedUpstream(c: ProviderCase, from: number): void {
  const got = mock!.received.slice(from);
  assert.equal(got.length, 1, "one upstream request");
  assert.ok(got[0].verdict.ok, `SigV4: ${got[0].verdict.why}`);
  const s = got[0].seen;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(",") : v;
  assertUpstreamRequest(c, { method: s.method, url: s.url, headers, rawHeaderText: s.rawHeaders.join("\n"), body: s.body }, new Bindings());
}

async function streamWithHelper(client: OpenAI, c: ProviderCase) {
  const stream = client.chat.completions.stream({ ...c.request, stream: true });
  const chunks: StreamEvent[] = [];
  stream.on("chunk", (chunk) => { chunks.push(chunk as unknown as StreamEvent); });
  const final = await stream.finalChatCompletion();
  chunks.forEach((ch, i) => assertChatCompletionChunk(ch, `chunk ${i}`));
  return { chunks, final };
}

const toolCalls = (m: OpenAI.Chat.ChatCompletionMessage) => m.tool_calls?.map((t) => (t.type === "function" ? [t.id, t.function.name, JSON.parse(t.function.arguments)] : t));

test("Bedrock chat: chat.completions.create returns the Converse answer as a completion (id = x-amzn-RequestId); the request was signed", async () => {
  const { c, client, from } = await setUp("bedrock-converse/plain-chat");
  const data = await client.chat.completions.create(c.request);
  assertChatCompletion(data);
  assertMatches(normalizeClientJson(data), normalizeClientJson(c.clientResponse!.body), new Bindings(), "completion");
  assert.equal(data.id, "6f0c3c8e-2b1a-4d5e-9f7a-3c2b1a0d9e8f");
  assertSignedUpstream(c, from);
});

test("Bedrock streaming: ChatCompletionStream assembles the eventstream text (unicode, quotes, newline) and finish_reason", async () => {
  const { c, client, from } = await setUp("bedrock-converse/stream-text");
  const { chunks, final } = await streamWithHelper(client, c);
  assertStreamMatches([...chunks, "[DONE]"], c.clientStream!, new Bindings());
  assert.deepEqual(streamProblems([...chunks, "[DONE]"]), []);
  assert.equal(final.choices[0].message.content, "Hello there! Ünïcødé ✓ 👋 \"quoted\"\nnext line");
  assert.equal(final.choices[0].finish_reason, "stop");
  assertSignedUpstream(c, from);
});

test("Bedrock streaming with include_usage: the helper's final completion carries the metadata event's usage", async () => {
  const { c, client } = await setUp("bedrock-converse/stream-include-usage-cache-tokens");
  const { final } = await streamWithHelper(client, c);
  const u = final.usage!;
  assert.deepEqual([u.prompt_tokens, u.completion_tokens, u.total_tokens, u.prompt_tokens_details?.cached_tokens], [2052, 2, 2054, 2000]);
});

test("Bedrock tools (stream): toolUse blocks become tool calls the helper assembles, after the text", async () => {
  const { c, client, from } = await setUp("bedrock-converse/stream-tool-use");
  const { final } = await streamWithHelper(client, c);
  const ch = final.choices[0];
  assert.equal(ch.finish_reason, "tool_calls");
  assert.equal(ch.message.content, "Checking both.");
  assert.deepEqual(toolCalls(ch.message), [["tooluse_w8Yq1", "get_weather", { city: "Paris" }], ["tooluse_t2Zr9", "get_time", {}]]);
  assertSignedUpstream(c, from);
});

test("Bedrock tools (non-stream): a second turn with tool results; the toolUse answer becomes tool_calls", async () => {
  const { c, client, from } = await setUp("bedrock-converse/tools-and-results");
  const data = await client.chat.completions.create(c.request);
  assertChatCompletion(data);
  assert.equal(data.choices[0].message.content, null);
  assert.deepEqual(toolCalls(data.choices[0].message), [["tooluse_Lm9x4", "get_weather", { city: "Lyon" }]]);
  assertSignedUpstream(c, from);
});

test("Bedrock thinking with tools, two turns (Claude via Converse): the client reads reasoning_content; the signed reasoning block comes back on turn 2", async () => {
  const t1 = await setUp("bedrock-converse/thinking-tool-use-turn-1");
  const first = await t1.client.chat.completions.create(t1.c.request);
  assertChatCompletion(first);
  assertSignedUpstream(t1.c, t1.from);
  const m = first.choices[0].message as OpenAI.Chat.ChatCompletionMessage & { reasoning_content?: string; thinking_blocks?: unknown[] };
  assert.match(m.reasoning_content ?? "", /^The user wants Paris weather/);
  assert.equal(m.thinking_blocks?.length, 1);
  // The SDK's own message object goes back; the turn-2 fixture's request holds the signed block.
  const t2 = await setUp("bedrock-converse/thinking-tool-use-turn-2");
  const second = await t2.client.chat.completions.create({
    ...t1.c.request,
    messages: [...t1.c.request.messages, m, { role: "tool", tool_call_id: m.tool_calls![0].id, content: "18°C, sunny" }],
  } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
  assertChatCompletion(second);
  assert.equal(second.choices[0].message.content, "It is 18°C and sunny in Paris.");
  assertSignedUpstream(t2.c, t2.from);
});

test("Bedrock reasoning (stream): the client reads reasoning_content from the deltas and the signature fragment", async () => {
  const { c, client, from } = await setUp("bedrock-converse/stream-reasoning");
  const stream = await client.chat.completions.create({ ...c.request, stream: true } as OpenAI.Chat.ChatCompletionCreateParamsStreaming);
  const chunks: StreamEvent[] = [];
  for await (const ch of stream) { assertChatCompletionChunk(ch, `chunk ${chunks.length}`); chunks.push(ch as unknown as StreamEvent); }
  assertStreamMatches([...chunks, "[DONE]"], c.clientStream!, new Bindings());
  assert.equal(chunks.map((ch: any) => ch.choices?.[0]?.delta?.reasoning_content ?? "").join(""), "1001 = 7 × 143 = 7 × 11 × 13.");
  assert.ok(chunks.some((ch: any) => ch.choices?.[0]?.delta?.thinking_blocks?.[0]?.signature), "the signature reaches the client");
  assertSignedUpstream(c, from);
});

test("Bedrock embeddings (Titan): embeddings.create with the client's default base64 encoding decodes to the provider's floats", async () => {
  const { c, client, from } = await setUp("bedrock-converse/embeddings-titan-base64");
  // No encoding_format: openai-node asks for base64 itself and decodes it (the fixture's request).
  const data = await client.embeddings.create({ model: c.request.model, input: c.request.input });
  assertEmbeddingResponse(data);
  const want = JSON.parse(c.response!.body.toString("utf8")).embedding as number[];
  assert.deepEqual(data.data[0].embedding, want.map((x) => Math.fround(x)), "float32 values of the provider's vector");
  assert.deepEqual(data.usage, { prompt_tokens: 5, total_tokens: 5 });
  assertSignedUpstream(c, from);
});

test("Bedrock embeddings (Cohere, two inputs, float): one InvokeModel call, two vectors in order, usage from the token-count header", async () => {
  const { c, client, from } = await setUp("bedrock-converse/embeddings-cohere");
  const data = await client.embeddings.create(c.request);
  assertEmbeddingResponse(data);
  assert.deepEqual(data, c.clientResponse!.body);
  assertSignedUpstream(c, from);
});

test("Claude on Bedrock (stream): InvokeModelWithResponseStream chunk frames become a stream the helper assembles, with usage", async () => {
  const { c, client, from } = await setUp("bedrock-anthropic/claude-stream");
  const { final } = await streamWithHelper(client, c);
  const ch = final.choices[0];
  assert.equal(ch.message.content, "Let me check, café ✓.");
  assert.deepEqual(toolCalls(ch.message), [["toolu_bdrk_01", "get_weather", { location: "Paris" }]]);
  assert.equal(final.usage?.prompt_tokens, 125);
  assertSignedUpstream(c, from);
});

test("Claude on Bedrock (non-stream): InvokeModel Messages JSON → completion", async () => {
  const { c, client, from } = await setUp("bedrock-anthropic/claude-json");
  const data = await client.chat.completions.create(c.request);
  assertChatCompletion(data);
  assert.equal(data.choices[0].message.content, "Hi there.");
  assertSignedUpstream(c, from);
});

const errors = [
  { id: "bedrock-converse/error-400-validation", cls: OpenAI.BadRequestError, status: 400 },
  { id: "bedrock-converse/error-403-access-denied", cls: OpenAI.PermissionDeniedError, status: 403 },
  { id: "bedrock-converse/error-429-throttling-stream-request", cls: OpenAI.RateLimitError, status: 429 },
  { id: "bedrock-converse/error-500-internal", cls: OpenAI.InternalServerError, status: 500 },
  { id: "bedrock-anthropic/claude-error-429", cls: OpenAI.RateLimitError, status: 429 },
];
for (const e of errors) {
  test(`Bedrock error (${e.id.split("/")[1]}): the client raises ${e.cls.name} (${e.status}) with Bedrock's message`, async () => {
    const { c, client } = await setUp(e.id);
    const err = await client.chat.completions.create(c.request).then(() => assert.fail("expected an error"), (x: unknown) => x);
    assert.ok(err instanceof e.cls, `got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    assert.equal((err as InstanceType<typeof OpenAI.APIError>).status, e.status);
    const want = (c.clientResponse!.body as any).error.message as string;
    assert.ok((err as Error).message.includes(want), `message ${JSON.stringify((err as Error).message)} should contain ${JSON.stringify(want)}`);
  });
}

test("Bedrock in-band exception mid-stream: the client's stream throws an APIError with Bedrock's message after the first chunks", async () => {
  const { c, client } = await setUp("bedrock-converse/stream-exception-mid-stream");
  const seen: string[] = [];
  const err = await (async () => {
    const stream = await client.chat.completions.create({ ...c.request, stream: true });
    for await (const chunk of stream) seen.push(chunk.choices[0]?.delta?.content ?? "");
  })().then(() => assert.fail("expected the stream to throw"), (x: unknown) => x);
  assert.ok(err instanceof OpenAI.APIError, `got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
  assert.ok((err as Error).message.includes("Model stream failed."), (err as Error).message);
  assert.deepEqual(seen, ["", "Once upon"]);
});

test("a signature AWS would refuse is refused here too (the mock really checks): a request re-signed with a wrong secret gets 403", () => {
  const s = mock!.received[0].seen;
  const v = verifySigV4(s, { ...AWS, secretKey: AWS.secretKey + "x" }, REGION, "bedrock");
  assert.equal(v.ok, false);
  assert.match(v.why, /signature mismatch/);
});
