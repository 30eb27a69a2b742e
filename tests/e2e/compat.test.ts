// End-to-end with the official openai client (unmodified) against the OpenAI-compatible presets:
// client → Gateway (build/ai-gateway.wasm in the Envoy-faithful host, real sockets) → one mock
// provider per vendor, each answering the way that vendor does (reference providers.md §9):
//   Mistral   ids without "chatcmpl-", no logprobs, `tool_calls: null` on plain answers, whole tool
//             calls in one chunk with 9-character [A-Za-z0-9] ids, usage on the final content chunk
//             (always: Mistral has no stream_options), its own error envelope {object:"error",…}
//   Groq      stream usage only in `x_groq.usage` on the finish chunk, queue/prompt/total times
//             in usage, OpenAI error envelope without `param`
//   DeepSeek  cache hits as `usage.prompt_cache_hit_tokens` (no prompt_tokens_details), UUID ids,
//             a usage chunk when include_usage is asked, 402 "Insufficient Balance"
// For each vendor: chat, streaming through the client's helper (ChatCompletionStream +
// finalChatCompletion), a tool round trip, and a provider error. Each test checks what the vendor
// received (preset host and base path, the gateway's bearer key and no client credential, the
// vendor rewrites, no stream_options for Mistral) and what the client got (the vendor's answer in
// OpenAI's shape, valid against OpenAI's schema; usage hidden from a stream that did not ask for
// it; the filter's usage log line).
//
// Every test asserts the vendor's documented behaviour (providers.md §9 and the public issues cited inline).

import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { Gateway } from "../support/gateway.ts";
import { MockProvider, fixtureFromSpec, type Fixture, type RecordedRequest } from "../../dev/mock-provider.ts";
import { GATEWAY_WASM, ROOT, openaiClient, waitForRequestLogLines, assertUsageLine, vmFailures } from "./harness.ts";
import { CLIENT_SECRETS, CLIENT_SECRET_VALUES, streamProblems, type StreamEvent } from "../providers/fixture-case.ts";
import { assertChatCompletion, assertChatCompletionChunk, assertErrorResponse } from "../support/openai-schema.ts";

type Msg = OpenAI.Chat.Completions.ChatCompletionMessageParam;
type Tool = OpenAI.Chat.Completions.ChatCompletionTool;
type Name = "mistral" | "groq" | "deepseek";

interface Vendor {
  name: Name;
  model: string;
  /** Preset host and base path (providers.md §9), as the upstream request must carry them. */
  host: string;
  basePath: string;
  /** The key the gateway holds for this backend. */
  key: string;
  mock: MockProvider;
}

const KEYS: Record<Name, string> = { mistral: "mistral-upstream-key-7Qm2", groq: "gsk_upstream_groq_k3Yp", deepseek: "sk-upstream-deepseek-9f1c" };
const MODELS: Record<Name, string> = { mistral: "mistral-large-latest", groq: "llama-3.3-70b-versatile", deepseek: "deepseek-chat" };
const PLUGIN_CONFIG = {
  backends: (["mistral", "groq", "deepseek"] as const).map((n) => ({ name: n, schema: "openai", preset: n, cluster: n, auth: { type: "bearer", key: KEYS[n] } })),
  models: [{ match: "mistral-*", backend: "mistral" }, { match: "llama-3.3-70b-versatile", backend: "groq" }, { match: "deepseek-*", backend: "deepseek" }],
};

let gateway: Gateway;
let decoy: MockProvider;
const V = {} as Record<Name, Vendor>;
let logFrom = 0;

before(async () => {
  const mocks = { mistral: await MockProvider.start(), groq: await MockProvider.start(), deepseek: await MockProvider.start() };
  decoy = await MockProvider.start();
  V.mistral = { name: "mistral", model: MODELS.mistral, host: "api.mistral.ai", basePath: "/v1", key: KEYS.mistral, mock: mocks.mistral };
  V.groq = { name: "groq", model: MODELS.groq, host: "api.groq.com", basePath: "/openai/v1", key: KEYS.groq, mock: mocks.groq };
  V.deepseek = { name: "deepseek", model: MODELS.deepseek, host: "api.deepseek.com", basePath: "/v1", key: KEYS.deepseek, mock: mocks.deepseek };
  gateway = await Gateway.start({
    wasm: GATEWAY_WASM,
    plugin: { configuration: JSON.stringify(PLUGIN_CONFIG) },
    workers: 2,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters: {
      mistral: { host: "127.0.0.1", port: mocks.mistral.port },
      groq: { host: "127.0.0.1", port: mocks.groq.port },
      deepseek: { host: "127.0.0.1", port: mocks.deepseek.port },
      decoy: { host: "127.0.0.1", port: decoy.port },
    },
  });
});
after(async () => {
  await gateway?.stop();
  for (const m of [V.mistral?.mock, V.groq?.mock, V.deepseek?.mock, decoy]) await m?.stop();
});
beforeEach(() => {
  for (const v of Object.values(V)) v.mock.reset();
  decoy.reset();
  logFrom = gateway.logs.length;
});
afterEach(async () => {
  const t0 = Date.now();
  while ((await gateway.liveContexts()) !== 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await gateway.liveContexts(), 0, "stream contexts left behind");
  assert.equal(await gateway.pendingCalls(), 0, "pending callouts");
  assert.deepEqual(vmFailures(gateway, logFrom), [], "no VM failed");
  for (const v of Object.values(V)) {
    v.mock.assertNoFailures();
    assert.deepEqual(v.mock.pendingFixtures(), [], `${v.name}: every enqueued answer was used`);
  }
  assert.equal(decoy.requests.length, 0, "the decoy cluster got no request");
});

/** The official client with credentials of its own (none may reach a vendor). */
const client = () => openaiClient(gateway, {
  apiKey: CLIENT_SECRETS.authorization.slice("Bearer ".length),
  defaultHeaders: { "api-key": CLIENT_SECRETS["api-key"], "x-api-key": CLIENT_SECRETS["x-api-key"] },
});

// ---------------------------------------------------------------------------------------------
// The vendors' answers

const json = (name: string, status: number, body: unknown, contentType = "application/json"): Fixture =>
  fixtureFromSpec(name, { status, headers: { "content-type": contentType }, body: JSON.stringify(body) }, ROOT);
/** One write per event, 1 ms apart, as the vendor streams. */
const sse = (name: string, events: (object | "[DONE]")[], contentType = "text/event-stream"): Fixture =>
  fixtureFromSpec(name, { status: 200, headers: { "content-type": contentType }, chunks: events.map((e) => ({ text: `data: ${e === "[DONE]" ? e : JSON.stringify(e)}\n\n`, delayMs: 1 })) }, ROOT);

interface Usage { input: number; output: number; cached: number }
interface ToolCallSpec { id: string; name: string; arguments: string }

const CREATED = 1732548590;
const MISTRAL_ID = "b5899875951449e9a2997246a3a54d21";
const GROQ_ID = "chatcmpl-5f2b7c1e-9d3a-4e8b-a6c0-1f2e3d4c5b6a", GROQ_REQ = "req_01jd8b3k9xq2w5e7r4t6y8u0i1", GROQ_FP = "fp_c0cfa69934";
const DEEPSEEK_ID = "930c60df-bf64-41c9-a88e-3ec75f81e00e", DEEPSEEK_FP = "fp_8802369eaa_prod0425fp8";

const groqUsage = (u: Usage) => ({ queue_time: 0.017, prompt_tokens: u.input, prompt_time: 0.0021, completion_tokens: u.output, completion_time: 0.0098, total_tokens: u.input + u.output, total_time: 0.0119 });
const deepseekUsage = (u: Usage) => ({ prompt_tokens: u.input, completion_tokens: u.output, total_tokens: u.input + u.output, prompt_cache_hit_tokens: u.cached, prompt_cache_miss_tokens: u.input - u.cached });
const mistralUsage = (u: Usage) => ({ prompt_tokens: u.input, total_tokens: u.input + u.output, completion_tokens: u.output });

/** How each vendor writes a completion, a text stream, a tool-call stream and an error. */
const speak: Record<Name, {
  chat(text: string, u: Usage): object;
  stream(texts: string[], u: Usage): (object | "[DONE]")[];
  toolStream(calls: ToolCallSpec[], u: Usage): (object | "[DONE]")[];
  error(): { status: number; body: object; message: string; cls: new (...args: any[]) => InstanceType<typeof OpenAI.APIError> };
  streamType: string;
}> = {
  mistral: {
    chat: (text, u) => ({ id: MISTRAL_ID, object: "chat.completion", created: CREATED, model: MODELS.mistral,
      choices: [{ index: 0, message: { role: "assistant", content: text, tool_calls: null }, finish_reason: "stop" }], usage: mistralUsage(u) }),
    stream: (texts, u) => {
      const c = (delta: object, finish: string | null, extra: object = {}) => ({ id: MISTRAL_ID, object: "chat.completion.chunk", created: CREATED, model: MODELS.mistral, choices: [{ index: 0, delta, finish_reason: finish }], ...extra });
      return [c({ role: "assistant", content: "" }, null), ...texts.slice(0, -1).map((t) => c({ content: t }, null)),
        c({ content: texts[texts.length - 1] }, "stop", { usage: mistralUsage(u) }), "[DONE]"];
    },
    toolStream: (calls, u) => {
      const c = (delta: object, finish: string | null, extra: object = {}) => ({ id: MISTRAL_ID, object: "chat.completion.chunk", created: CREATED, model: MODELS.mistral, choices: [{ index: 0, delta, finish_reason: finish }], ...extra });
      // Mistral sends every tool call whole, in the chunk that finishes the message.
      return [c({ role: "assistant", content: "" }, null),
        c({ tool_calls: calls.map((t, index) => ({ id: t.id, type: "function", function: { name: t.name, arguments: t.arguments }, index })) }, "tool_calls", { usage: mistralUsage(u) }), "[DONE]"];
    },
    error: () => ({ status: 429, body: { object: "error", message: "Requests rate limit exceeded", type: "rate_limited", param: null, code: "1300" }, message: "Requests rate limit exceeded", cls: OpenAI.RateLimitError }),
    streamType: "text/event-stream; charset=utf-8",
  },
  groq: {
    chat: (text, u) => ({ id: GROQ_ID, object: "chat.completion", created: CREATED, model: MODELS.groq,
      choices: [{ index: 0, message: { role: "assistant", content: text }, logprobs: null, finish_reason: "stop" }],
      usage: groqUsage(u), system_fingerprint: GROQ_FP, x_groq: { id: GROQ_REQ } }),
    stream: (texts, u) => {
      const c = (delta: object, finish: string | null, extra: object = {}) => ({ id: GROQ_ID, object: "chat.completion.chunk", created: CREATED, model: MODELS.groq, system_fingerprint: GROQ_FP, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra });
      return [c({ role: "assistant", content: "" }, null, { x_groq: { id: GROQ_REQ } }), ...texts.map((t) => c({ content: t }, null)),
        c({}, "stop", { x_groq: { id: GROQ_REQ, usage: groqUsage(u) } }), "[DONE]"];
    },
    toolStream: (calls, u) => {
      const c = (delta: object, finish: string | null, extra: object = {}) => ({ id: GROQ_ID, object: "chat.completion.chunk", created: CREATED, model: MODELS.groq, system_fingerprint: GROQ_FP, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra });
      return [c({ role: "assistant", content: null }, null, { x_groq: { id: GROQ_REQ } }),
        c({ tool_calls: calls.map((t, index) => ({ id: t.id, type: "function", function: { name: t.name, arguments: t.arguments }, index })) }, null),
        c({}, "tool_calls", { x_groq: { id: GROQ_REQ, usage: groqUsage(u) } }), "[DONE]"];
    },
    // Groq's envelope has no `param` (captured 401 bodies: {"error":{"message","type","code"}}).
    error: () => ({ status: 401, body: { error: { message: "Invalid API Key", type: "invalid_request_error", code: "invalid_api_key" } }, message: "Invalid API Key", cls: OpenAI.AuthenticationError }),
    streamType: "text/event-stream",
  },
  deepseek: {
    chat: (text, u) => ({ id: DEEPSEEK_ID, object: "chat.completion", created: CREATED, model: MODELS.deepseek,
      choices: [{ index: 0, message: { role: "assistant", content: text }, logprobs: null, finish_reason: "stop" }],
      usage: deepseekUsage(u), system_fingerprint: DEEPSEEK_FP }),
    // Streams as OpenAI does with include_usage: "usage": null on every chunk, then a usage chunk.
    stream: (texts, u) => {
      const c = (delta: object, finish: string | null) => ({ id: DEEPSEEK_ID, object: "chat.completion.chunk", created: CREATED, model: MODELS.deepseek, system_fingerprint: DEEPSEEK_FP, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null });
      return [c({ role: "assistant", content: "" }, null), ...texts.map((t) => c({ content: t }, null)), c({ content: "" }, "stop"),
        { id: DEEPSEEK_ID, object: "chat.completion.chunk", created: CREATED, model: MODELS.deepseek, system_fingerprint: DEEPSEEK_FP, choices: [], usage: deepseekUsage(u) }, "[DONE]"];
    },
    toolStream: (calls, u) => {
      const c = (delta: object, finish: string | null) => ({ id: DEEPSEEK_ID, object: "chat.completion.chunk", created: CREATED, model: MODELS.deepseek, system_fingerprint: DEEPSEEK_FP, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null });
      const out: (object | "[DONE]")[] = [c({ role: "assistant", content: null }, null)];
      calls.forEach((t, index) => {
        out.push(c({ tool_calls: [{ index, id: t.id, type: "function", function: { name: t.name, arguments: "" } }] }, null));
        const half = Math.ceil(t.arguments.length / 2);
        for (const part of [t.arguments.slice(0, half), t.arguments.slice(half)]) out.push(c({ tool_calls: [{ index, function: { arguments: part } }] }, null));
      });
      out.push(c({}, "tool_calls"), { id: DEEPSEEK_ID, object: "chat.completion.chunk", created: CREATED, model: MODELS.deepseek, system_fingerprint: DEEPSEEK_FP, choices: [], usage: deepseekUsage(u) }, "[DONE]");
      return out;
    },
    error: () => ({ status: 402, body: { error: { message: "Insufficient Balance", type: "unknown_error", param: null, code: "invalid_request_error" } }, message: "Insufficient Balance", cls: OpenAI.APIError }),
    streamType: "text/event-stream; charset=utf-8",
  },
};

// ---------------------------------------------------------------------------------------------
// Checks

/** The one request a vendor got: preset URL, the gateway's key, no client credential, honest length. */
function onlyUpstream(v: Vendor, n = 1): RecordedRequest[] {
  assert.equal(v.mock.requests.length, n, `${v.name}: ${n} upstream request(s)`);
  for (const [name, other] of Object.entries(V)) if (name !== v.name) assert.equal(other.mock.requests.length, 0, `${name} got nothing`);
  for (const r of v.mock.requests) {
    assert.equal(r.method, "POST");
    assert.equal(r.url, `${v.basePath}/chat/completions`, "preset base path");
    assert.equal(r.headers.host, v.host, "preset host as :authority");
    assert.equal(r.headers.authorization, `Bearer ${v.key}`, "the gateway's bearer key");
    assert.equal(r.headers["api-key"], undefined);
    assert.equal(r.headers["x-api-key"], undefined);
    const wire = r.rawHeaders.join("\n");
    for (const s of CLIENT_SECRET_VALUES) assert.ok(!wire.includes(s), `client secret ${s} leaked to ${v.name}`);
    assert.equal(r.headers["content-length"], String(r.body.length), "content-length matches the (rewritten) body");
    assert.ok(r.json && typeof r.json === "object", "a JSON body");
  }
  return v.mock.requests;
}

/** The request body the client sent, as the vendor must get it (§9 vendor rewrites). */
function vendorBody(v: Vendor, sent: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { ...sent };
  if (v.name === "mistral") {
    if ("seed" in out) { out.random_seed = out.seed; delete out.seed; }
    if (out.tool_choice === "required") out.tool_choice = "any";
  }
  return out;
}

/**
 * A vendor's completion as an OpenAI client must get it: members OpenAI always sends and its schema
 * requires (choices[].logprobs, message.refusal, both nullable) present, `tool_calls: null` absent
 * (the schema allows only an array); everything the vendor said unchanged.
 */
function openaiShape(body: any): any {
  const out = structuredClone(body);
  for (const ch of out.choices) {
    if (!("logprobs" in ch)) ch.logprobs = null;
    if (!("refusal" in ch.message)) ch.message.refusal = null;
    if (ch.message.tool_calls === null) delete ch.message.tool_calls;
  }
  return out;
}

async function usageLine(v: Vendor, u: Usage, status = 200) {
  const [line] = await waitForRequestLogLines(gateway, logFrom, 1);
  assertUsageLine(line, { model: v.model, backend: v.name, status, input: u.input, output: u.output, cached: u.cached, reasoning: 0 });
  return line;
}

/** Streams through ChatCompletionStream; every chunk the client saw is kept. */
async function helperStream(params: OpenAI.Chat.ChatCompletionCreateParamsStreaming) {
  const stream = client().chat.completions.stream(params);
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
  stream.on("chunk", (c) => { chunks.push(c); });
  const final = await stream.finalChatCompletion();
  return { chunks, final };
}

const messages: Msg[] = [
  { role: "system", content: "You are a concise assistant." },
  { role: "user", content: "In one sentence: what does an AI gateway do?" },
];
const ANSWER = "It routes each request to the right model provider and meters the tokens.";
const STREAM_TEXTS = ["It routes", " each request", " to the right", " provider."];
const USAGE: Record<Name, Usage> = { mistral: { input: 21, output: 16, cached: 0 }, groq: { input: 40, output: 12, cached: 0 }, deepseek: { input: 100, output: 10, cached: 64 } };

const weatherTool: Tool = {
  type: "function",
  function: { name: "get_weather", description: "Current weather for a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
};
const TOOL_IDS: Record<Name, [string, string]> = {
  mistral: ["D681PevKs", "4TQ8SbRzw"],
  groq: ["call_q8wz", "call_h3tk"],
  deepseek: ["call_0_3f1d5a4b-6c2e-4d8a-9b7f-0e1c2d3a4b5c", "call_1_8e9f0a1b-2c3d-4e5f-6a7b-8c9d0e1f2a3b"],
};

// ---------------------------------------------------------------------------------------------
// Per vendor

for (const name of ["mistral", "groq", "deepseek"] as const) {
  test(`${name} chat: preset URL and key upstream${name === "mistral" ? ", seed sent as random_seed" : ""}; the client gets the vendor's completion in OpenAI's shape; usage logged`, async () => {
    const v = V[name], u = USAGE[name];
    const body = speak[name].chat(ANSWER, u);
    v.mock.enqueue(json(`${name}-chat`, 200, body));
    const sent = { model: v.model, messages, temperature: 0.3, seed: 42, max_tokens: 200 };
    const { data, response } = await client().chat.completions.create(sent).withResponse();

    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
    assertChatCompletion(data, "client-facing completion");
    assert.deepEqual(data, openaiShape(body), "the vendor's completion, in OpenAI's shape");
    assert.equal(data.choices[0].message.content, ANSWER);
    const [up] = onlyUpstream(v);
    assert.deepEqual(up.json, vendorBody(v, sent));
    if (name === "mistral") assert.ok(!("seed" in up.json), "Mistral gets no seed (it rejects unknown fields)");
    await usageLine(v, u);
  });

  test(`${name} streaming (ChatCompletionStream + finalChatCompletion): the helper assembles the answer, no usage reaches a client that did not ask, usage logged`, async () => {
    const v = V[name], u = USAGE[name];
    const events = speak[name].stream(STREAM_TEXTS, u);
    v.mock.enqueue(sse(`${name}-stream`, events, speak[name].streamType));
    const sent = { model: v.model, messages, stream: true as const };
    const { chunks, final } = await helperStream(sent);

    chunks.forEach((c, i) => assertChatCompletionChunk(c, `chunk ${i}`));
    assert.deepEqual(streamProblems([...(chunks as unknown as StreamEvent[]), "[DONE]"]), []);
    assert.equal(final.choices[0].message.content, STREAM_TEXTS.join(""));
    assert.equal(final.choices[0].finish_reason, "stop");
    assert.equal(final.id, (events[0] as any).id);
    for (const [i, c] of chunks.entries()) {
      assert.ok(!("usage" in c), `chunk ${i} carries usage the client did not ask for: ${JSON.stringify(c)}`);
      assert.equal((c as any).x_groq?.usage, undefined, `chunk ${i} carries x_groq.usage`);
    }
    assert.equal(final.usage, undefined);
    // The vendor's chunks minus usage, one for one (DeepSeek's usage chunk dropped).
    const vendorChunks = events.filter((e): e is Record<string, any> => e !== "[DONE]" && !(Array.isArray((e as any).choices) && (e as any).choices.length === 0));
    assert.equal(chunks.length, vendorChunks.length);
    chunks.forEach((c, i) => assert.deepEqual(c.choices, vendorChunks[i].choices, `chunk ${i} choices`));

    const [up] = onlyUpstream(v);
    if (name === "mistral") {
      // Mistral rejects stream_options (422 extra_forbidden) and reports usage on its last chunk anyway.
      assert.deepEqual(up.json, vendorBody(v, sent), "no stream_options for Mistral");
    } else {
      // Groq and DeepSeek accept stream_options: the gateway asks for usage to meter the stream.
      assert.deepEqual(up.json, { ...vendorBody(v, sent), stream_options: { include_usage: true } });
    }
    await usageLine(v, u);
  });

  test(`${name} streaming with include_usage asked: the client gets the vendor's usage as sent`, async () => {
    const v = V[name], u = USAGE[name];
    const events = speak[name].stream(STREAM_TEXTS, u);
    v.mock.enqueue(sse(`${name}-stream-usage`, events, speak[name].streamType));
    const sent = { model: v.model, messages, stream: true as const, stream_options: { include_usage: true } };
    const got: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of await client().chat.completions.create(sent)) { assertChatCompletionChunk(c, `chunk ${got.length}`); got.push(c); }

    assert.deepEqual(got, events.filter((e) => e !== "[DONE]"), "the vendor's stream, unchanged");
    const withUsage = got.filter((c) => c.usage || (c as any).x_groq?.usage);
    assert.equal(withUsage.length, 1, "the vendor's one usage report reaches the client");
    const [up] = onlyUpstream(v);
    if (name === "mistral") assert.deepEqual(up.json, vendorBody(v, { model: v.model, messages, stream: true }), "no stream_options for Mistral");
    else assert.deepEqual(up.json.stream_options, { include_usage: true });
    await usageLine(v, u);
  });

  test(`${name} tool round trip: streamed tool calls assembled by the helper, results sent back${name === "mistral" ? " with 9-character ids and tool_choice \"any\"" : ""}`, async () => {
    const v = V[name];
    const u1: Usage = { input: 86, output: 31, cached: name === "deepseek" ? 64 : 0 }, u2: Usage = { input: 171, output: 23, cached: name === "deepseek" ? 128 : 0 };
    const calls: ToolCallSpec[] = [
      { id: TOOL_IDS[name][0], name: "get_weather", arguments: "{\"city\": \"Paris\"}" },
      { id: TOOL_IDS[name][1], name: "get_weather", arguments: "{\"city\": \"Lyon\"}" },
    ];
    const answer = speak[name].chat("Paris: 18C and sunny; Lyon: 21C.", u2);
    v.mock.enqueue(sse(`${name}-tool-stream`, speak[name].toolStream(calls, u1), speak[name].streamType), json(`${name}-after-tools`, 200, answer));

    // Turn 1: the model must call a tool. The conversation already holds a call made by another
    // provider earlier (an OpenAI-style id), as happens when a conversation moves between models.
    const earlierId = "call_Xk3pR9vT2mQ8wL5nB7yH1cJd";
    const history: Msg[] = [
      { role: "user", content: "Weather in Nice?" },
      { role: "assistant", content: null, tool_calls: [{ id: earlierId, type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Nice\"}" } }] },
      { role: "tool", tool_call_id: earlierId, content: "24C" },
      { role: "assistant", content: "Nice: 24C." },
      { role: "user", content: "And in Paris and Lyon?" },
    ];
    const turn1 = { model: v.model, messages: history, tools: [weatherTool], tool_choice: "required" as const, stream: true as const };
    const { chunks, final } = await helperStream(turn1);
    chunks.forEach((c, i) => assertChatCompletionChunk(c, `chunk ${i}`));
    assert.deepEqual(streamProblems([...(chunks as unknown as StreamEvent[]), "[DONE]"]), []);
    assert.equal(final.choices[0].finish_reason, "tool_calls");
    const got = final.choices[0].message.tool_calls!;
    assert.deepEqual(got.map((t) => (t.type === "function" ? [t.id, t.function.name, JSON.parse(t.function.arguments)] : t)),
      [[calls[0].id, "get_weather", { city: "Paris" }], [calls[1].id, "get_weather", { city: "Lyon" }]], "the vendor's tool calls, ids as issued");
    for (const c of chunks) assert.ok(!("usage" in c) && (c as any).x_groq?.usage === undefined, "no usage in the client's stream");

    // Turn 2: the results go back.
    const turn2: Msg[] = [
      ...history,
      { role: "assistant", content: null, tool_calls: got.map((t) => (t.type === "function" ? { id: t.id, type: t.type, function: { name: t.function.name, arguments: t.function.arguments } } : t)) },
      { role: "tool", tool_call_id: got[0].id, content: "18C, sunny" },
      { role: "tool", tool_call_id: got[1].id, content: "21C" },
    ];
    const data = await client().chat.completions.create({ model: v.model, messages: turn2, tools: [weatherTool] });
    assertChatCompletion(data, "answer after the tool results");
    assert.deepEqual(data, openaiShape(answer));

    const [up1, up2] = onlyUpstream(v, 2);
    const { stream_options: _, ...up1Body } = up1.json;
    if (name === "mistral") {
      assert.ok(!("stream_options" in up1.json), "no stream_options for Mistral");
      // Ids Mistral issued are kept; the foreign id becomes 9 alphanumerics, the same in the call
      // and in its result, and Mistral's tool_choice spelling is used.
      const short = up1.json.messages[1].tool_calls[0].id;
      assert.match(short, /^[A-Za-z0-9]{9}$/);
      assert.notEqual(short, earlierId);
      assert.equal(up1.json.messages[2].tool_call_id, short);
      const rewrite = (ms: any[]) => ms.map((m) => ({
        ...m,
        ...(m.tool_call_id === earlierId ? { tool_call_id: short } : {}),
        ...(m.tool_calls ? { tool_calls: m.tool_calls.map((t: any) => (t.id === earlierId ? { ...t, id: short } : t)) } : {}),
      }));
      assert.deepEqual(up1Body, { ...turn1, messages: rewrite(history), tool_choice: "any" });
      assert.deepEqual(up2.json, { model: v.model, messages: rewrite(turn2), tools: [weatherTool] });
      for (const r of [up1, up2]) {
        const ids = r.json.messages.flatMap((m: any) => [m.tool_call_id, ...(m.tool_calls ?? []).map((t: any) => t.id)]).filter(Boolean);
        for (const id of ids) assert.match(id, /^[A-Za-z0-9]{9}$/, `every tool call id Mistral gets is 9 alphanumerics: ${id}`);
      }
    } else {
      assert.deepEqual(up1Body, turn1, "tool_choice and ids unchanged");
      assert.deepEqual(up1.json.stream_options, { include_usage: true });
      assert.deepEqual(up2.json, { model: v.model, messages: turn2, tools: [weatherTool] }, "the round trip goes upstream unchanged");
    }
    const lines = await waitForRequestLogLines(gateway, logFrom, 2);
    assertUsageLine(lines[0], { model: v.model, backend: name, status: 200, ...u1, reasoning: 0 });
    assertUsageLine(lines[1], { model: v.model, backend: name, status: 200, ...u2, reasoning: 0 });
  });

  const e = speak[name].error();
  test(`${name} error ${e.status}: the client raises ${e.cls.name} with the vendor's message; the request is logged with the status`, async () => {
    const v = V[name];
    v.mock.enqueue(json(`${name}-error`, e.status, e.body));
    const err = await client().chat.completions.create({ model: v.model, messages }).then(() => assert.fail("expected an error"), (x: unknown) => x);
    assert.ok(err instanceof e.cls, `got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    const apiErr = err as InstanceType<typeof OpenAI.APIError>;
    assert.equal(apiErr.status, e.status);
    assert.ok(apiErr.message.includes(e.message), apiErr.message);
    assertErrorResponse({ error: apiErr.error }, "client-facing error body");
    assert.equal((apiErr.error as any)?.message, e.message, "the OpenAI envelope carries the vendor's message");
    onlyUpstream(v);
    const [line] = await waitForRequestLogLines(gateway, logFrom, 1);
    assert.equal(line.status, String(e.status), line._line);
    assert.equal(line.backend, name, line._line);
  });
}
