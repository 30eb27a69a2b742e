// Never trap, at any size the configuration allows. One VM has 1 GiB in Envoy's V8 (proxy-wasm-
// cpp-host include/proxy-wasm/limits.h, applied in src/v8/v8.cc); a trap fails every later
// request on that worker. max_request_bytes / max_response_bytes above 16 MiB are refused at load
// naming the field (a 200 MiB translated answer under max_response_bytes 1 GiB used to trap the
// VM), and a request and an answer at the largest allowed size, each of about a million JSON
// values, are translated with the VM alive afterwards.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { Gateway, LoadError } from "../support/gateway.ts";

const MIB = 1024 * 1024;
const MAX = 16 * MIB;

/** `head` + `one` repeated + `tail`, `n` bytes at most, as JSON (the last repeat without its comma). */
function repeated(n: number, head: string, one: string, tail: string): string {
  const k = Math.floor((n - head.length - tail.length) / one.length);
  return head + one.repeat(k - 1) + one.slice(0, -1) + tail;
}

const anthropicAnswer = (n: number) => repeated(n,
  '{"id":"msg_big","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[',
  '{"type":"text","text":"' + "a".repeat(60) + '"},',
  '],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}');
const textAnswer = (n: number) => JSON.stringify({
  id: "msg_big", type: "message", role: "assistant", model: "claude-sonnet-4-5",
  content: [{ type: "text", text: "x".repeat(n - 300) }], stop_reason: "end_turn", usage: { input_tokens: 1, output_tokens: 2 },
});

let answer = Buffer.alloc(0);
let upstream: http.Server;
let upstreamPort = 0;

before(async () => {
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": answer.length });
      res.end(answer);
    });
  });
  await new Promise<void>((ok) => upstream.listen(0, "127.0.0.1", ok));
  upstreamPort = (upstream.address() as { port: number }).port;
});
after(() => new Promise<void>((ok) => upstream.close(() => ok())));

let vmSeq = 0;
function start(limits: { max_request_bytes?: number; max_response_bytes?: number }, bufferLimitBytes: number): Promise<Gateway> {
  const cfg = {
    ...limits,
    backends: [{ name: "claude", schema: "anthropic", cluster: "anthropic", host: "api.anthropic.test", auth: { type: "header", header: "x-api-key", key: "sk-ant" } }],
    models: [{ match: "claude-*", backend: "claude" }],
  };
  return Gateway.start({
    wasm: process.env.AI_GATEWAY_WASM ?? "build/ai-gateway.wasm",
    plugin: { configuration: JSON.stringify(cfg), vmId: `bounds-${process.pid}-${vmSeq++}`, failurePolicy: "FAIL_CLOSED" }, workers: 1,
    bufferLimitBytes, routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster", timeoutMs: 120_000 }],
    clusters: { anthropic: { host: "127.0.0.1", port: upstreamPort } },
  });
}

async function chat(gw: Gateway, body: string): Promise<{ status: number; text: string }> {
  const r = await fetch(gw.url + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body });
  return { status: r.status, text: await r.text() };
}
const small = JSON.stringify({ model: "claude-sonnet-4-5", messages: [{ role: "user", content: "hi" }] });

for (const field of ["max_request_bytes", "max_response_bytes"]) {
  test(`${field} above 16 MiB is refused at load, naming the field`, async () => {
    const err = await start({ [field]: MAX + 1 }, 2 * MAX).then(async (g) => { await g.stop(); return null; }, (e) => e);
    assert.ok(err instanceof LoadError, `expected LoadError, got ${err === null ? "a running gateway" : err}`);
    const line = err.logs.map((l: { message: string }) => l.message).find((m: string) => m.includes("invalid plugin configuration"));
    assert.ok(line && line.includes(`${field}: must be an integer between 1 and ${MAX}`), `the message names ${field}: ${line}`);
  });
}

test("a 200 MiB translated answer never traps the VM: the largest setting the filter accepts answers it, or 502", async () => {
  // The old schema allowed 1 GiB; whatever the filter accepts, the answer must not kill the VM.
  let gw: Gateway;
  try { gw = await start({ max_response_bytes: 1024 * MIB }, 300 * MIB); }
  catch (e) { assert.ok(e instanceof LoadError); gw = await start({ max_response_bytes: MAX }, 300 * MIB); }
  try {
    answer = Buffer.from(textAnswer(200 * MIB));
    const from = gw.logs.length;
    const big = await chat(gw, small);
    assert.deepEqual(gw.vmFailures(from), [], "no trap");
    assert.ok(big.status === 200 || big.status === 502, `answered (${big.status})`);
    if (big.status === 502) assert.match(big.text, /upstream_response_too_large/);
    answer = Buffer.from(textAnswer(1000));
    assert.equal((await chat(gw, small)).status, 200, "the VM still serves the next request (FAIL_CLOSED would answer 503)");
  } finally { answer = Buffer.alloc(0); await gw.stop(); }
});

test("the largest request and answer allowed (16 MiB, ~1M JSON values each) are translated, the VM alive", async () => {
  const gw = await start({ max_request_bytes: MAX, max_response_bytes: MAX }, 2 * MAX);
  try {
    // A request of ~200k short messages (the request's tree is held while the answer is translated).
    const request = repeated(MAX, '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[', '{"role":"user","content":"' + "a".repeat(56) + '"},', "]}");
    assert.ok(request.length <= MAX && request.length > MAX - 200);
    answer = Buffer.from(anthropicAnswer(MAX));
    const from = gw.logs.length;
    const r = await chat(gw, request);
    assert.equal(r.status, 200, r.text.slice(0, 300));
    const body = JSON.parse(r.text);
    assert.equal(body.object, "chat.completion");
    assert.ok(body.choices[0].message.content.length > 10 * MIB, "all text blocks, concatenated");
    assert.deepEqual(gw.vmFailures(from), [], "no trap");
    answer = Buffer.from(textAnswer(MAX));
    assert.equal((await chat(gw, small)).status, 200, "a 16 MiB text answer too");
    // One byte more than allowed: the client's own 413, not a trap.
    const over = await chat(gw, request + " ".repeat(MAX + 1 - request.length));
    assert.equal(over.status, 413);
    assert.deepEqual(gw.vmFailures(from), []);
  } finally { answer = Buffer.alloc(0); await gw.stop(); }
});
