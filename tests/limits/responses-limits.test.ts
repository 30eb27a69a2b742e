// Token limits on Responses API traffic (POST /v1/responses), in real Envoy (or the imitation host,
// tests/support/gateway.ts) with the real filter: the provider's usage (a Response's usage, the stream's response.completed) is
// what gets committed, as for chat; a stream over its budget (limits.stream_edge "cut") ends with
// response.incomplete (reason max_output_tokens) holding the output so far, whether the stream is
// OpenAI's passed through or an Anthropic stream translated; usage_event adds the gateway's usage
// comment after the terminal event.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import OpenAI from "openai";
import { Gateway } from "../support/gateway.ts";
import { assertResponsesSchema, responsesSchemaErrors } from "../support/openai-schema.ts";
import { parseResponsesSse, responsesStreamProblems } from "../support/responses-sse.ts";

const DELTAS = 100; // upstream text deltas of "hello " (6 bytes each)
const USAGE = { input_tokens: 8, input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 }, output_tokens: 150, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 158 };

/**
 * Events are written 1 ms apart: Envoy hands the filter what one socket read got, and a stream
 * written at once may arrive as one body chunk, leaving no point before its end to cut at.
 */
const pause = () => new Promise((r) => setTimeout(r, 1));

async function openaiStream(res: http.ServerResponse): Promise<void> {
  res.writeHead(200, { "content-type": "text/event-stream" });
  let seq = 0;
  const ev = async (o: Record<string, unknown>) => { res.write(`event: ${o.type}\ndata: ${JSON.stringify({ ...o, sequence_number: seq++ })}\n\n`); await pause(); };
  const resp = (status: string, output: unknown[], usage?: unknown) => ({
    id: "resp_edge", object: "response", created_at: 1765150000, status, error: null, incomplete_details: null, instructions: null,
    model: "gpt-4.1-mini", output, parallel_tool_calls: true, tool_choice: "auto", tools: [], temperature: 1, top_p: 1, metadata: {}, ...(usage ? { usage } : {}),
  });
  const msg = (text: string, status: string) => ({ id: "msg_edge", type: "message", status, role: "assistant", content: [{ type: "output_text", text, annotations: [], logprobs: [] }] });
  await ev({ type: "response.created", response: resp("in_progress", []) });
  await ev({ type: "response.in_progress", response: resp("in_progress", []) });
  await ev({ type: "response.output_item.added", output_index: 0, item: { id: "msg_edge", type: "message", status: "in_progress", role: "assistant", content: [] } });
  await ev({ type: "response.content_part.added", item_id: "msg_edge", output_index: 0, content_index: 0, part: { type: "output_text", text: "", annotations: [], logprobs: [] } });
  for (let i = 0; i < DELTAS; i++) await ev({ type: "response.output_text.delta", item_id: "msg_edge", output_index: 0, content_index: 0, delta: "hello ", logprobs: [] });
  const full = "hello ".repeat(DELTAS);
  await ev({ type: "response.output_text.done", item_id: "msg_edge", output_index: 0, content_index: 0, text: full, logprobs: [] });
  await ev({ type: "response.content_part.done", item_id: "msg_edge", output_index: 0, content_index: 0, part: { type: "output_text", text: full, annotations: [], logprobs: [] } });
  await ev({ type: "response.output_item.done", output_index: 0, item: msg(full, "completed") });
  await ev({ type: "response.completed", response: resp("completed", [msg(full, "completed")], USAGE) });
  res.end();
}

async function anthropicStream(res: http.ServerResponse): Promise<void> {
  res.writeHead(200, { "content-type": "text/event-stream" });
  const ev = async (name: string, o: unknown) => { res.write(`event: ${name}\ndata: ${JSON.stringify(o)}\n\n`); await pause(); };
  await ev("message_start", { type: "message_start", message: { id: "msg_edge", type: "message", role: "assistant", model: "claude-edge", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 8, output_tokens: 1 } } });
  await ev("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
  for (let i = 0; i < DELTAS; i++) await ev("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "hello " } });
  await ev("content_block_stop", { type: "content_block_stop", index: 0 });
  await ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 150 } });
  await ev("message_stop", { type: "message_stop" });
  res.end();
}

let upstream: http.Server;
let upstreamPort = 0;
before(async () => {
  responsesSchemaErrors("Response", {}); // compile before any connection opens
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => void (req.url?.startsWith("/v1/messages") ? anthropicStream(res) : openaiStream(res)));
  });
  await new Promise<void>((ok) => upstream.listen(0, "127.0.0.1", ok));
  upstreamPort = (upstream.address() as { port: number }).port;
});
after(() => new Promise<void>((ok) => upstream.close(() => ok())));

let vmSeq = 0;
async function gateway(limits: Record<string, unknown>): Promise<Gateway> {
  const cfg = {
    backends: [
      { name: "openai", schema: "openai", cluster: "up", host: "api.openai.test", auth: { type: "bearer", key: "sk-up" } },
      { name: "claude", schema: "anthropic", cluster: "up", host: "api.anthropic.test", auth: { type: "header", header: "x-api-key", key: "sk-ant" } },
    ],
    models: [{ match: "gpt-*", backend: "openai" }, { match: "claude-*", backend: "claude" }],
    limits: { mode: "local", rules: [{ name: "per-client", key: ["client"], window: "hour", tokens: 60 }], ...limits },
  };
  return Gateway.start({
    wasm: "build/ai-gateway.wasm", plugin: { configuration: JSON.stringify(cfg), vmId: `resp-edge-${process.pid}-${vmSeq++}` }, workers: 1,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters: { up: { host: "127.0.0.1", port: upstreamPort } },
  });
}

async function streamRaw(gw: Gateway, model: string): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await fetch(gw.url + "/v1/responses", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, input: "hello", stream: true }) });
  return { status: r.status, text: await r.text(), headers: r.headers };
}

const usageComment = (text: string) => text.split("\n").filter((l) => l.startsWith(": ai-gateway-usage ")).map((l) => JSON.parse(l.slice(19)));

for (const [what, model] of [["OpenAI pass-through", "gpt-4.1-mini"], ["translated Anthropic", "claude-edge"]] as const) {
  test(`cut (${what}): a Responses stream over its budget ends with response.incomplete holding the text sent; the usage comment follows`, async () => {
    const gw = await gateway({ stream_edge: "cut", usage_event: true });
    try {
      const { status, text } = await streamRaw(gw, model);
      assert.equal(status, 200);
      const events = parseResponsesSse(text);
      events.forEach((e, i) => assertResponsesSchema("ResponseStreamEvent", e, `event ${i} (${e.type})`));
      assert.deepEqual(responsesStreamProblems(events), []);
      const last = events.at(-1);
      assert.equal(last.type, "response.incomplete");
      assert.deepEqual(last.response.incomplete_details, { reason: "max_output_tokens" });
      const sent = events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
      assert.ok(sent.length > 0 && sent.length < DELTAS * 6, `cut early: ${sent.length} bytes of ${DELTAS * 6}`);
      const msg = last.response.output.find((o: any) => o.type === "message");
      assert.equal(msg.content[0].text, sent, "the incomplete response holds exactly the text the client got");
      assert.equal(msg.status, "incomplete");
      assert.equal(last.response.usage.output_tokens, Math.ceil(sent.length / 4), "output tokens estimated from the text sent");
      const comments = usageComment(text);
      assert.equal(comments.length, 1, "one usage comment");
      assert.ok(text.trimEnd().endsWith(JSON.stringify(comments[0])), "the usage comment comes after the terminal event");
      // The SDK takes the cut stream as an incomplete response.
      const gw2 = await gateway({ stream_edge: "cut" });
      try {
        const final = await new OpenAI({ baseURL: `${gw2.url}/v1`, apiKey: "k", maxRetries: 0 }).responses.stream({ model, input: "hello" }).finalResponse();
        assert.equal(final.status, "incomplete");
        assert.ok(final.output_text.length > 0 && final.output_text.length < DELTAS * 6);
      } finally { await gw2.stop(); }
    } finally { await gw.stop(); }
  });

  test(`finish (${what}): the stream completes and the provider's usage is committed: the next request sees the budget spent`, async () => {
    const gw = await gateway({ stream_edge: "finish", usage_event: true, rules: [{ name: "per-client", key: ["client"], window: "hour", tokens: 100000 }] });
    try {
      const first = await streamRaw(gw, model);
      const events = parseResponsesSse(first.text);
      assert.equal(events.at(-1).type, "response.completed");
      assert.equal(events.filter((e) => e.type === "response.output_text.delta").length, DELTAS);
      assert.equal(events.at(-1).response.usage.output_tokens, 150);
      const [c] = usageComment(first.text);
      assert.equal(c.usage.prompt_tokens + c.usage.completion_tokens, 158);
      const second = await streamRaw(gw, model);
      assert.equal(second.status, 200);
      // Admission shows what remains minus this request's own reservation: the same request twice
      // differs by exactly what the first was charged, its reported usage.
      const remaining = (h: Headers) => Number(h.get("x-ratelimit-remaining-tokens"));
      assert.equal(remaining(first.headers) - remaining(second.headers), 158, "the first response was charged its reported usage");
    } finally { await gw.stop(); }
  });
}

test("a Responses request over the limit gets a 429 in the OpenAI envelope (the SDK's RateLimitError)", async () => {
  const gw = await gateway({ rules: [{ name: "per-client", key: ["client"], window: "hour", tokens: 100 }] });
  try {
    await streamRaw(gw, "gpt-4.1-mini"); // 158 tokens charged: over the limit now
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: "k", maxRetries: 0 });
    await assert.rejects(client.responses.create({ model: "gpt-4.1-mini", input: "hello" }), (e: any) => {
      assert.ok(e instanceof OpenAI.RateLimitError, `${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.code, "rate_limit_exceeded");
      return true;
    });
  } finally { await gw.stop(); }
});
