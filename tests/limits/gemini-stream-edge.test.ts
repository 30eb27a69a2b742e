// The budget edge (limits.stream_edge) and the usage comment (limits.usage_event) on a Gemini
// stream, which differs from the OpenAI one in tests/limits/stream-edge.test.ts in ways that
// matter here: Gemini has no terminator (the end of the body ends the stream), events are
// CRLF-framed, and usageMetadata is cumulative on every event (only the last one is final).
// A cut stream must still end in the client's format, and the provider's final usage must be
// what gets committed.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { Gateway } from "../support/gateway.ts";
import { assertMatchesSchema } from "../support/openai-schema.ts";

const CHUNKS = 100; // upstream text parts of "hello " (6 bytes each)
const PROMPT = 8, OUTPUT = 150;
const RID = "gEdgeRespId0001";

let upstream: http.Server;
let upstreamPort = 0;

before(async () => {
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const ev = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\r\n\r\n`);
      for (let i = 0; i < CHUNKS; i++) {
        const last = i === CHUNKS - 1;
        ev({
          candidates: [{ content: { parts: [{ text: "hello " }], role: "model" }, index: 0, ...(last ? { finishReason: "STOP" } : {}) }],
          usageMetadata: { promptTokenCount: PROMPT, totalTokenCount: PROMPT + (last ? OUTPUT : 0), ...(last ? { candidatesTokenCount: OUTPUT } : {}) },
          modelVersion: "gemini-2.5-flash", responseId: RID,
        });
      }
      res.end();
    });
  });
  await new Promise<void>((ok) => upstream.listen(0, "127.0.0.1", ok));
  upstreamPort = (upstream.address() as { port: number }).port;
});
after(() => new Promise<void>((ok) => upstream.close(() => ok())));

let vmSeq = 0;
async function gateway(limits: Record<string, unknown>): Promise<Gateway> {
  const cfg = {
    backends: [{ name: "gemini", schema: "gemini", cluster: "gemini", auth: { type: "x-goog-api-key", key: "AIza-up" } }],
    models: [{ match: "gemini-*", backend: "gemini" }],
    limits: { mode: "local", rules: [{ name: "per-client", key: ["client"], window: "hour", tokens: 60 }], ...limits },
  };
  return Gateway.start({
    wasm: "build/ai-gateway.wasm", plugin: { configuration: JSON.stringify(cfg), vmId: `gemini-edge-${process.pid}-${vmSeq++}` }, workers: 1,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters: { gemini: { host: "127.0.0.1", port: upstreamPort } },
  });
}

const events = (text: string) => text.split("\n\n").filter((e) => e.length > 0);
const dataOf = (e: string) => (e.startsWith("data: ") ? e.slice(6) : null);

async function streamRaw(gw: Gateway, includeUsage: boolean): Promise<{ status: number; evs: string[] }> {
  const body: Record<string, unknown> = { model: "gemini-2.5-flash", stream: true, messages: [{ role: "user", content: "hello" }] };
  if (includeUsage) body.stream_options = { include_usage: true };
  const r = await fetch(gw.url + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: r.status, evs: events(await r.text()) };
}

test("Gemini cut: a stream over its budget ends with finish_reason length, the usage chunk, [DONE]; Gemini's final usage is committed", async () => {
  const gw = await gateway({ stream_edge: "cut" });
  try {
    const { status, evs } = await streamRaw(gw, true);
    assert.equal(status, 200);
    const datas = evs.map(dataOf);
    assert.equal(datas.at(-1), "[DONE]", "the stream ends with [DONE]");
    assert.equal(datas.filter((d) => d === "[DONE]").length, 1, "one [DONE]");
    const chunks = datas.filter((d): d is string => d !== null && d !== "[DONE]").map((d) => JSON.parse(d));
    for (const c of chunks) assertMatchesSchema("CreateChatCompletionStreamResponse", c);
    const content = chunks.filter((c) => c.choices[0]?.delta?.content === "hello ").length;
    assert.ok(content > 0 && content < CHUNKS, `cut early: ${content} of ${CHUNKS} content chunks`);
    assert.deepEqual(chunks.filter((c) => c.choices[0]?.finish_reason).map((c) => c.choices[0].finish_reason), ["length"], "exactly one finish chunk, length");
    assert.deepEqual(chunks.at(-1).choices, [], "the last chunk is the usage chunk");
    // At the cut only Gemini's running usageMetadata is known (prompt, no output yet): the usage
    // chunk has its prompt tokens and the output estimated from the text sent.
    assert.deepEqual([chunks.at(-1).usage.prompt_tokens, chunks.at(-1).usage.completion_tokens], [PROMPT, Math.ceil(content * 6 / 4)]);
    for (const c of chunks) { assert.equal(c.id, RID); assert.equal(c.model, "gemini-2.5-flash"); }
    // Gemini's final usage (158 > 60) was committed, not the estimate of what was sent: refused next.
    const next = await fetch(gw.url + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "gemini-2.5-flash", messages: [{ role: "user", content: "hi" }] }) });
    assert.equal(next.status, 429);
    assert.match((await next.json()).error.message, new RegExp(`used ${PROMPT + OUTPUT}\\b`));
    assert.equal(await gw.liveContexts(), 0);
  } finally { await gw.stop(); }
});

test("Gemini usage_event: the comment before [DONE] carries the last usageMetadata (cumulative, not summed) and the remaining budget", async () => {
  const gw = await gateway({ stream_edge: "finish", usage_event: true, rules: [{ name: "big", key: ["client"], window: "hour", tokens: 10000 }] });
  try {
    const { evs } = await streamRaw(gw, false);
    assert.equal(evs.filter((e) => e.includes('"content":"hello ')).length, CHUNKS);
    const comments = evs.filter((e) => e.startsWith(": ai-gateway-usage "));
    assert.equal(comments.length, 1);
    assert.equal(evs.indexOf(comments[0]), evs.length - 2, "right before [DONE]");
    const info = JSON.parse(comments[0].slice(": ai-gateway-usage ".length));
    assert.deepEqual([info.usage.prompt_tokens, info.usage.completion_tokens, info.remaining_tokens], [PROMPT, OUTPUT, 10000 - PROMPT - OUTPUT]);
  } finally { await gw.stop(); }
});
