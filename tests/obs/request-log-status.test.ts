// The filter's request log line and access logs report what the client got. When Envoy answers
// after the filter let the upstream response through (it holds a translated JSON answer's headers
// until the body is complete), the client gets Envoy's status, not the provider's: 504 when the
// route timeout fires while the body is still coming, 500 when the body outgrows the buffer
// limit. And the access log's path is the one the client sent, not the upstream path the filter
// rewrote it to (POST /v1/messages for a chat request to Anthropic).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { Gateway } from "../support/gateway.ts";

const ANSWER = JSON.stringify({
  id: "msg_log", type: "message", role: "assistant", model: "claude-sonnet-4-5",
  content: [{ type: "text", text: "hi" }], stop_reason: "end_turn", usage: { input_tokens: 3, output_tokens: 1 },
});

let upstream: http.Server;
let upstreamPort = 0;

before(async () => {
  upstream = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const mode = req.headers["x-test-mode"];
      res.writeHead(200, { "content-type": "application/json" });
      if (mode === "stall") { res.write(ANSWER.slice(0, 20)); return; } // the rest never comes
      if (mode === "huge") { res.end(JSON.stringify({ ...JSON.parse(ANSWER), content: [{ type: "text", text: "x".repeat(300_000) }] })); return; }
      res.end(ANSWER);
    });
  });
  await new Promise<void>((ok) => upstream.listen(0, "127.0.0.1", ok));
  upstreamPort = (upstream.address() as { port: number }).port;
});
after(() => {
  upstream.closeAllConnections();
  return new Promise<void>((ok) => upstream.close(() => ok()));
});

let vmSeq = 0;
const accessLogs: { path: string; state: Record<string, string> }[] = [];

async function gateway(): Promise<Gateway> {
  const cfg = {
    max_response_bytes: 4 * 1024 * 1024,
    backends: [{ name: "claude", schema: "anthropic", cluster: "anthropic", host: "api.anthropic.test", auth: { type: "header", header: "x-api-key", key: "sk-ant" } }],
    models: [{ match: "claude-*", backend: "claude" }],
  };
  return Gateway.start({
    wasm: process.env.AI_GATEWAY_WASM ?? "build/ai-gateway.wasm",
    plugin: { configuration: JSON.stringify(cfg), vmId: `logstatus-${process.pid}-${vmSeq++}` }, workers: 1,
    // A buffer limit below the "huge" answer (300 KB), above the others.
    bufferLimitBytes: 64 * 1024,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster", timeoutMs: 1500 }],
    clusters: { anthropic: { host: "127.0.0.1", port: upstreamPort } },
    accessLog: (e) => accessLogs.push({ path: e.path, state: e.filterState }),
  });
}

async function chat(gw: Gateway, mode: string): Promise<number> {
  const r = await fetch(gw.url + "/v1/chat/completions", {
    method: "POST", headers: { "content-type": "application/json", "x-test-mode": mode },
    body: JSON.stringify({ model: "claude-sonnet-4-5", messages: [{ role: "user", content: "hello" }] }),
  });
  await r.arrayBuffer();
  return r.status;
}

/** The filter's request log line for the one request made, once it is written. */
async function requestLine(gw: Gateway): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const l = gw.logs.find((e) => e.message.includes("ai-gateway: request "));
    if (l) return l.message;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error("no request log line");
}

test("route timeout while a translated answer is held: the client gets 504 and the log says status=504", async () => {
  const gw = await gateway();
  try {
    assert.equal(await chat(gw, "stall"), 504);
    assert.match(await requestLine(gw), / status=504 /);
  } finally { await gw.stop(); }
});

test("an answer over the buffer limit: the client gets 500 and the log says status=500", async () => {
  const gw = await gateway();
  try {
    assert.equal(await chat(gw, "huge"), 500);
    assert.match(await requestLine(gw), / status=500 /);
  } finally { await gw.stop(); }
});

test("a normal answer: status=200 in the log; filter state ai_gateway.path holds the path the client sent", async () => {
  const gw = await gateway();
  try {
    accessLogs.length = 0;
    assert.equal(await chat(gw, "ok"), 200);
    assert.match(await requestLine(gw), / status=200 /);
    // Envoy's access log reaches the test through its stdout: wait for the line.
    for (let i = 0; i < 100 && accessLogs.length === 0; i++) await new Promise((ok) => setTimeout(ok, 50));
    assert.equal(accessLogs.length, 1);
    assert.equal(accessLogs[0].path, "/v1/messages", "%REQ(:PATH)% is the rewritten upstream path");
    assert.equal(accessLogs[0].state["wasm.ai_gateway.path"], "/v1/chat/completions", "the path the client sent");
  } finally { await gw.stop(); }
});
