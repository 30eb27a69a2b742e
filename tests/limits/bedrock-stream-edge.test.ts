// Token limits on Bedrock ConverseStream: the usage a limit commits comes from the metadata
// event (which arrives after messageStop, and is read even when the client did not ask for it),
// a stream over its budget is cut in the client's format, and usage_event reports Bedrock's usage.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { Gateway } from "../support/gateway.ts";
import { assertMatchesSchema } from "../support/openai-schema.ts";
import { encodeFrame, eventHeaders } from "../support/eventstream.ts";

const CHUNKS = 100; // text deltas of "hello " (6 bytes each)
const USAGE = { inputTokens: 8, outputTokens: 150, totalTokens: 158 };

let upstream: http.Server;
let upstreamPort = 0;

before(async () => {
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/vnd.amazon.eventstream", "x-amzn-requestid": "req-edge" });
      const ev = (t: string, p: unknown) => res.write(encodeFrame(eventHeaders(t), JSON.stringify(p)));
      ev("messageStart", { role: "assistant" });
      for (let i = 0; i < CHUNKS; i++) ev("contentBlockDelta", { contentBlockIndex: 0, delta: { text: "hello " } });
      ev("contentBlockStop", { contentBlockIndex: 0 });
      ev("messageStop", { stopReason: "end_turn" });
      ev("metadata", { usage: USAGE, metrics: { latencyMs: 10 } });
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
    // A Bedrock API key (bearer) keeps this test about limits, not signatures.
    backends: [{ name: "bedrock", schema: "bedrock-converse", cluster: "bedrock", region: "us-east-1", auth: { type: "bearer", key: "ABSK-test" } }],
    models: [{ match: "nova-*", backend: "bedrock", upstream_model: "us.amazon.nova-pro-v1:0" }],
    limits: { mode: "local", rules: [{ name: "per-client", key: ["client"], window: "hour", tokens: 60 }], ...limits },
  };
  return Gateway.start({
    wasm: "build/ai-gateway.wasm", plugin: { configuration: JSON.stringify(cfg), vmId: `bedrock-edge-${process.pid}-${vmSeq++}` }, workers: 1,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters: { bedrock: { host: "127.0.0.1", port: upstreamPort } },
  });
}

const events = (text: string) => text.split("\n\n").filter((e) => e.length > 0);
const dataOf = (e: string) => (e.startsWith("data: ") ? e.slice(6) : null);

async function stream(gw: Gateway, includeUsage: boolean): Promise<string[]> {
  const body: Record<string, unknown> = { model: "nova-pro", stream: true, messages: [{ role: "user", content: "hello" }] };
  if (includeUsage) body.stream_options = { include_usage: true };
  const r = await fetch(gw.url + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(r.status, 200);
  return events(await r.text());
}

async function nextStatus(gw: Gateway): Promise<{ status: number; message: string }> {
  const r = await fetch(gw.url + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "nova-pro", messages: [{ role: "user", content: "hi" }] }) });
  return { status: r.status, message: r.status === 429 ? (await r.json()).error.message : "" };
}

test("finish: a client that did not ask for usage gets none, but the metadata event's usage (158 tokens) is committed", async () => {
  const gw = await gateway({ stream_edge: "finish" });
  try {
    const evs = await stream(gw, false);
    assert.equal(evs.filter((e) => e.includes('"content":"hello ')).length, CHUNKS);
    assert.ok(!evs.some((e) => e.includes('"usage"')));
    assert.equal(dataOf(evs.at(-1)!), "[DONE]");
    const next = await nextStatus(gw);
    assert.equal(next.status, 429);
    assert.match(next.message, /used 158/);
    assert.ok(gw.logs.some((l) => / input_tokens=8 output_tokens=150 /.test(l.message)), "the log line has Bedrock's usage");
  } finally { await gw.stop(); }
});

test("cut: a ConverseStream over its budget ends with finish_reason length, the usage chunk and [DONE]; Bedrock's real usage is committed", async () => {
  const gw = await gateway({ stream_edge: "cut" });
  try {
    const evs = await stream(gw, true);
    const datas = evs.map(dataOf);
    assert.equal(datas.at(-1), "[DONE]");
    const chunks = datas.filter((d): d is string => d !== null && d !== "[DONE]").map((d) => JSON.parse(d));
    for (const c of chunks) assertMatchesSchema("CreateChatCompletionStreamResponse", c);
    const content = chunks.filter((c) => c.choices[0]?.delta?.content === "hello ").length;
    assert.ok(content > 0 && content < CHUNKS, `cut early: ${content} of ${CHUNKS}`);
    assert.deepEqual(chunks.filter((c) => c.choices[0]?.finish_reason).map((c) => c.choices[0].finish_reason), ["length"]);
    assert.deepEqual(chunks.at(-1).choices, []);
    for (const c of chunks) assert.equal(c.id, "req-edge");
    const next = await nextStatus(gw);
    assert.equal(next.status, 429);
    assert.match(next.message, /used 158/, "the metadata event's usage, read after the cut");
  } finally { await gw.stop(); }
});

test("usage_event: the SSE comment before [DONE] carries the metadata event's usage", async () => {
  const gw = await gateway({ stream_edge: "finish", usage_event: true, rules: [{ name: "big", key: ["client"], window: "hour", tokens: 10000 }] });
  try {
    const evs = await stream(gw, false);
    const comments = evs.filter((e) => e.startsWith(": ai-gateway-usage "));
    assert.equal(comments.length, 1);
    assert.equal(evs.indexOf(comments[0]), evs.length - 2);
    const info = JSON.parse(comments[0].slice(": ai-gateway-usage ".length));
    assert.deepEqual([info.usage.prompt_tokens, info.usage.completion_tokens], [8, 150]);
    assert.equal(info.remaining_tokens, 10000 - 158);
  } finally { await gw.stop(); }
});
