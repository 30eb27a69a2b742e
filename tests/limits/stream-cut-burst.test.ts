// limits.stream_edge "cut" when the provider's stream arrives in one piece. Envoy hands the filter
// whatever one socket read returned: a provider that writes its whole answer at once reaches
// on_response_body as one callback holding every event. The cut must still fall on the event
// where the budget runs out (finish_reason "length", the usage chunk if asked, one [DONE]; for a
// Messages client stop_reason "max_tokens" and one message_stop), for every stream translator,
// and at the same event as when the events arrive one read at a time.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { Gateway } from "../support/gateway.ts";
import { encodeFrame, eventHeaders } from "../support/eventstream.ts";

const CHUNKS = 100; // text deltas of "hello " (6 bytes each): 150 output tokens at 4 bytes per token
const TEXT = "hello ";

/** Every event of one provider's stream, as the bytes it writes for each. */
function openaiEvents(): Buffer[] {
  const head = { id: "chatcmpl-burst", object: "chat.completion.chunk", created: 1732492800, model: "gpt-4o-mini" };
  const ev = (o: unknown) => Buffer.from(`data: ${JSON.stringify(o)}\n\n`);
  const out = [ev({ ...head, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }], usage: null })];
  for (let i = 0; i < CHUNKS; i++) out.push(ev({ ...head, choices: [{ index: 0, delta: { content: TEXT }, logprobs: null, finish_reason: null }], usage: null }));
  out.push(ev({ ...head, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }], usage: null }));
  out.push(ev({ ...head, choices: [], usage: { prompt_tokens: 8, completion_tokens: 150, total_tokens: 158 } }));
  out.push(Buffer.from("data: [DONE]\n\n"));
  return out;
}

function anthropicEvents(): Buffer[] {
  const ev = (name: string, o: unknown) => Buffer.from(`event: ${name}\ndata: ${JSON.stringify({ type: name, ...(o as object) })}\n\n`);
  const out = [ev("message_start", { message: { id: "msg_burst", type: "message", role: "assistant", model: "claude-sonnet-4-5", content: [], stop_reason: null, usage: { input_tokens: 8, output_tokens: 1 } } })];
  out.push(ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }));
  for (let i = 0; i < CHUNKS; i++) out.push(ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: TEXT } }));
  out.push(ev("content_block_stop", { index: 0 }));
  out.push(ev("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 150 } }));
  out.push(ev("message_stop", {}));
  return out;
}

function bedrockEvents(): Buffer[] {
  const ev = (t: string, p: unknown) => Buffer.from(encodeFrame(eventHeaders(t), JSON.stringify(p)));
  const out = [ev("messageStart", { role: "assistant" })];
  for (let i = 0; i < CHUNKS; i++) out.push(ev("contentBlockDelta", { contentBlockIndex: 0, delta: { text: TEXT } }));
  out.push(ev("contentBlockStop", { contentBlockIndex: 0 }));
  out.push(ev("messageStop", { stopReason: "end_turn" }));
  out.push(ev("metadata", { usage: { inputTokens: 8, outputTokens: 150, totalTokens: 158 }, metrics: { latencyMs: 10 } }));
  return out;
}

function geminiEvents(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < CHUNKS; i++) {
    const last = i === CHUNKS - 1;
    out.push(Buffer.from(`data: ${JSON.stringify({
      candidates: [{ content: { parts: [{ text: TEXT }], role: "model" }, index: 0, ...(last ? { finishReason: "STOP" } : {}) }],
      usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 + (last ? 150 : 0), ...(last ? { candidatesTokenCount: 150 } : {}) },
      modelVersion: "gemini-2.5-flash", responseId: "gBurst",
    })}\r\n\r\n`));
  }
  return out;
}

/** How the mock provider writes its stream: all events in one write, or one write per event with a pause between. */
type Delivery = "burst" | "trickle";
let delivery: Delivery = "burst";

let upstream: http.Server;
let upstreamPort = 0;

before(async () => {
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on("end", async () => {
      const url = req.url ?? "";
      let ct = "text/event-stream";
      let evs: Buffer[];
      if (url.includes("converse-stream")) { evs = bedrockEvents(); ct = "application/vnd.amazon.eventstream"; }
      else if (url.includes("streamGenerateContent")) evs = geminiEvents();
      else if (url.startsWith("/v1/messages")) evs = anthropicEvents();
      else evs = openaiEvents();
      res.writeHead(200, { "content-type": ct, "x-amzn-requestid": "req-burst" });
      if (delivery === "burst") { res.end(Buffer.concat(evs)); return; }
      for (const e of evs) {
        res.write(e);
        await new Promise((ok) => setTimeout(ok, 2));
      }
      res.end();
    });
  });
  await new Promise<void>((ok) => upstream.listen(0, "127.0.0.1", ok));
  upstreamPort = (upstream.address() as { port: number }).port;
});
after(() => new Promise<void>((ok) => upstream.close(() => ok())));

const BACKENDS = [
  { name: "openai", schema: "openai", cluster: "up", host: "api.openai.test", auth: { type: "bearer", key: "sk-up" } },
  { name: "claude", schema: "anthropic", cluster: "up", host: "api.anthropic.test", auth: { type: "header", header: "x-api-key", key: "sk-ant" } },
  { name: "bedrock", schema: "bedrock-converse", cluster: "up", region: "us-east-1", auth: { type: "bearer", key: "ABSK-test" } },
  { name: "gemini", schema: "gemini", cluster: "up", auth: { type: "x-goog-api-key", key: "AIza-up" } },
];
const MODELS = [
  { match: "gpt-*", backend: "openai" },
  { match: "claude-*", backend: "claude" },
  { match: "nova-*", backend: "bedrock", upstream_model: "us.amazon.nova-pro-v1:0" },
  { match: "gemini-*", backend: "gemini" },
];

let vmSeq = 0;
async function gateway(): Promise<Gateway> {
  const cfg = {
    backends: BACKENDS, models: MODELS,
    limits: { mode: "local", stream_edge: "cut", rules: [{ name: "per-client", key: ["client"], window: "hour", tokens: 60 }] },
  };
  return Gateway.start({
    wasm: process.env.AI_GATEWAY_WASM ?? "build/ai-gateway.wasm",
    plugin: { configuration: JSON.stringify(cfg), vmId: `burst-${process.pid}-${vmSeq++}` }, workers: 1,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters: { up: { host: "127.0.0.1", port: upstreamPort } },
  });
}

const events = (text: string) => text.split("\n\n").filter((e) => e.length > 0);
const dataOf = (e: string) => (e.startsWith("data: ") ? e.slice(6) : null);

/** A chat client's cut stream: the content chunks it got, after checking the stream ends as a cut. */
async function chatCut(model: string): Promise<number> {
  const gw = await gateway();
  try {
    const r = await fetch(gw.url + "/v1/chat/completions", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model, stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "hello" }] }),
    });
    assert.equal(r.status, 200);
    const datas = events(await r.text()).map(dataOf).filter((d): d is string => d !== null);
    assert.equal(datas.filter((d) => d === "[DONE]").length, 1, "exactly one [DONE]");
    assert.equal(datas.at(-1), "[DONE]", "[DONE] ends the stream");
    const chunks = datas.slice(0, -1).map((d) => JSON.parse(d));
    const content = chunks.filter((c) => c.choices[0]?.delta?.content === TEXT).length;
    assert.ok(content > 0 && content < CHUNKS, `cut early: ${content} of ${CHUNKS} content chunks`);
    assert.deepEqual(chunks.filter((c) => c.choices[0]?.finish_reason).map((c) => c.choices[0].finish_reason), ["length"], "one finish chunk, length");
    const usage = chunks.at(-1);
    assert.deepEqual(usage.choices, [], "the usage chunk comes last, before [DONE]");
    assert.equal(usage.usage.completion_tokens, Math.ceil(content * TEXT.length / 4), "completion tokens counted from the text sent");
    // The cut falls on the event that used up the budget: one event less would have fit.
    assert.ok(Math.ceil((content - 1) * TEXT.length / 4) <= 60, "not cut later than the budget");
    return content;
  } finally { await gw.stop(); }
}

/** A Messages client's cut stream: the text deltas it got, after checking it ends as max_tokens. */
async function messagesCut(model: string): Promise<number> {
  const gw = await gateway();
  try {
    const r = await fetch(gw.url + "/v1/messages", {
      method: "POST", headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model, max_tokens: 1024, stream: true, messages: [{ role: "user", content: "hello" }] }),
    });
    assert.equal(r.status, 200);
    const evs = events(await r.text()).map((e) => JSON.parse(e.split("\n").find((l) => l.startsWith("data: "))!.slice(6)));
    assert.equal(evs.filter((e) => e.type === "message_stop").length, 1, "exactly one message_stop");
    assert.equal(evs.at(-1).type, "message_stop");
    const deltas = evs.filter((e) => e.type === "message_delta");
    assert.deepEqual(deltas.map((e) => e.delta.stop_reason), ["max_tokens"], "one message_delta, max_tokens");
    const text = evs.filter((e) => e.type === "content_block_delta" && e.delta.text === TEXT).length;
    assert.ok(text > 0 && text < CHUNKS, `cut early: ${text} of ${CHUNKS} text deltas`);
    return text;
  } finally { await gw.stop(); }
}

const CASES: { name: string; run: () => Promise<number> }[] = [
  { name: "OpenAI (re-framed pass-through)", run: () => chatCut("gpt-4o-mini") },
  { name: "Anthropic", run: () => chatCut("claude-sonnet-4-5") },
  { name: "Bedrock ConverseStream (eventstream)", run: () => chatCut("nova-pro") },
  { name: "Gemini", run: () => chatCut("gemini-2.5-flash") },
  { name: "Messages client on OpenAI", run: () => messagesCut("gpt-4o-mini") },
  { name: "Messages client on Gemini", run: () => messagesCut("gemini-2.5-flash") },
];

for (const c of CASES) {
  test(`cut, whole stream in one write: ${c.name} ends at the event where the budget runs out`, async () => {
    delivery = "burst";
    const burst = await c.run();
    delivery = "trickle";
    const trickle = await c.run();
    assert.equal(burst, trickle, "the cut falls on the same event however the stream was read");
  });
}
