// The budget edge mid-stream (limits.stream_edge) and the usage comment (limits.usage_event),
// through the Envoy-faithful host with the real filter: a stream that outgrows its budget is cut
// protocol-correctly ("cut") or allowed to finish ("finish"), and either way the provider's
// actual usage is what gets committed.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import OpenAI from "openai";
import { Gateway } from "../support/gateway.ts";
import { assertMatchesSchema } from "../support/openai-schema.ts";

const CHUNKS = 100;                 // upstream content chunks of "hello " (6 bytes each)
const HEAD = { id: "chatcmpl-edge", object: "chat.completion.chunk", created: 1732492800, model: "gpt-4o-mini" };
const USAGE = { prompt_tokens: 8, completion_tokens: 150, total_tokens: 158 };

let upstream: http.Server;
let upstreamPort = 0;
let streamsServed = 0;

before(async () => {
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      streamsServed++;
      res.writeHead(200, { "content-type": "text/event-stream" });
      const ev = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\n\n`);
      ev({ ...HEAD, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }], usage: null });
      for (let i = 0; i < CHUNKS; i++) ev({ ...HEAD, choices: [{ index: 0, delta: { content: "hello " }, logprobs: null, finish_reason: null }], usage: null });
      ev({ ...HEAD, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }], usage: null });
      ev({ ...HEAD, choices: [], usage: USAGE });
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise<void>((ok) => upstream.listen(0, "127.0.0.1", ok));
  upstreamPort = (upstream.address() as { port: number }).port;
});
after(() => new Promise<void>((ok) => upstream.close(() => ok())));

let vmSeq = 0;
async function gateway(limits: Record<string, unknown>): Promise<Gateway> {
  const cfg = {
    backends: [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.test", auth: { type: "bearer", key: "sk-up" } }],
    models: [{ match: "gpt-*", backend: "openai" }],
    limits: { mode: "local", rules: [{ name: "per-client", key: ["client"], window: "hour", tokens: 60 }], ...limits },
  };
  return Gateway.start({
    wasm: "build/ai-gateway.wasm", plugin: { configuration: JSON.stringify(cfg), vmId: `edge-${process.pid}-${vmSeq++}` }, workers: 1,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters: { openai: { host: "127.0.0.1", port: upstreamPort } },
  });
}

function events(text: string): string[] { return text.split("\n\n").filter((e) => e.length > 0); }
const dataOf = (e: string) => e.startsWith("data: ") ? e.slice(6) : null;

async function streamRaw(gw: Gateway, includeUsage: boolean): Promise<{ status: number; evs: string[] }> {
  const body: Record<string, unknown> = { model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hello" }] };
  if (includeUsage) body.stream_options = { include_usage: true };
  const r = await fetch(gw.url + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: r.status, evs: events(await r.text()) };
}

test("cut: a stream over its budget ends with finish_reason length, the usage chunk it asked for, and [DONE]", async () => {
  const gw = await gateway({ stream_edge: "cut" });
  try {
    const { status, evs } = await streamRaw(gw, true);
    assert.equal(status, 200);
    const datas = evs.map(dataOf);
    assert.equal(datas.at(-1), "[DONE]", "the stream ends with [DONE]");
    const chunks = datas.filter((d): d is string => d !== null && d !== "[DONE]").map((d) => JSON.parse(d));
    for (const c of chunks) assertMatchesSchema("CreateChatCompletionStreamResponse", c);
    const content = chunks.filter((c) => c.choices[0]?.delta?.content === "hello ").length;
    assert.ok(content > 0 && content < CHUNKS, `cut early: ${content} of ${CHUNKS} content chunks`);
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    assert.deepEqual(finish.map((c) => c.choices[0].finish_reason), ["length"], "exactly one finish chunk, length");
    const usage = chunks.at(-1);
    assert.deepEqual(usage.choices, [], "the last chunk is the usage chunk");
    assert.equal(usage.usage.completion_tokens, Math.ceil(content * 6 / 4), "completion tokens estimated from the text sent");
    for (const c of chunks) { assert.equal(c.id, HEAD.id); assert.equal(c.created, HEAD.created); assert.equal(c.model, HEAD.model); }
    for (const c of chunks.slice(0, -1)) assert.ok("usage" in c && c.usage === null, "usage:null on chunks before the usage chunk");
    // Nothing after [DONE]: the provider's remaining chunks were not forwarded.
    assert.equal(evs.filter((e) => e.includes('"finish_reason":"stop"')).length, 0);
    // The provider's real usage (158 > 60) was committed: the next request is refused.
    const next = await fetch(gw.url + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }) });
    assert.equal(next.status, 429);
    assert.match((await next.json()).error.message, /used 158/);
    assert.ok(gw.logs.some((l) => l.message.includes("cut at its token budget")));
    assert.equal(await gw.liveContexts(), 0);
  } finally { await gw.stop(); }
});

test("cut: the official openai client reads a cut stream to the end and sees finish_reason length", async () => {
  const gw = await gateway({ stream_edge: "cut" });
  try {
    const client = new OpenAI({ baseURL: gw.url + "/v1", apiKey: "unused" });
    const stream = client.chat.completions.stream({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }] });
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, "length");
    const text = final.choices[0].message.content ?? "";
    assert.ok(text.length > 0 && text.length < CHUNKS * 6, `partial text (${text.length} bytes)`);
  } finally { await gw.stop(); }
});

test("finish: a stream over its budget is let through whole; the overshoot is counted", async () => {
  const gw = await gateway({ stream_edge: "finish" });
  try {
    const { evs } = await streamRaw(gw, false);
    const content = evs.filter((e) => e.includes('"content":"hello ')).length;
    assert.equal(content, CHUNKS);
    assert.equal(dataOf(evs.at(-1)!), "[DONE]");
    assert.ok(evs.some((e) => e.includes('"finish_reason":"stop"')));
    assert.ok(!evs.some((e) => e.includes('"usage"')), "a client that did not ask gets no usage");
    const next = await fetch(gw.url + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }) });
    assert.equal(next.status, 429);
  } finally { await gw.stop(); }
});

test("usage_event: an SSE comment before [DONE] carries this request's usage and the remaining budget", async () => {
  const gw = await gateway({ stream_edge: "finish", usage_event: true, rules: [{ name: "big", key: ["client"], window: "hour", tokens: 10000 }] });
  try {
    const { evs } = await streamRaw(gw, false);
    const comments = evs.filter((e) => e.startsWith(": ai-gateway-usage "));
    assert.equal(comments.length, 1);
    assert.equal(evs.indexOf(comments[0]), evs.length - 2, "right before [DONE]");
    const info = JSON.parse(comments[0].slice(": ai-gateway-usage ".length));
    assert.equal(info.usage.prompt_tokens, USAGE.prompt_tokens);
    assert.equal(info.usage.completion_tokens, USAGE.completion_tokens);
    assert.equal(info.rule, "big");
    assert.equal(info.remaining_tokens, 10000 - USAGE.total_tokens);
  } finally { await gw.stop(); }
  const plain = await gateway({ stream_edge: "finish", rules: [{ name: "big", key: ["client"], window: "hour", tokens: 10000 }] });
  try {
    const { evs } = await streamRaw(plain, false);
    assert.ok(!evs.some((e) => e.startsWith(":")), "no comment without usage_event");
  } finally { await plain.stop(); }
});
