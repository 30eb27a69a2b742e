// proxy_http_call and proxy_grpc_call over real sockets (reference §4), through the gateway.
// Host-only: tests of the imitation host's own Envoy emulation (tests/host/README.md), not of the filter.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Gateway } from "./gateway.ts";
import { probe } from "./probes/assemble.ts";
import { grpcFrame } from "./clusters.ts";
import { wasmLogs, httpServer, h2Server, deadPort, request, until, type TestServer } from "./testing.ts";

/** Socket tests fail instead of hanging when a stream never completes. */
const LIMIT = { timeout: 20_000 };

const ok = (_req: unknown, res: import("node:http").ServerResponse) => { res.writeHead(200, { "content-type": "text/plain" }); res.end("upstream"); };

async function gateway(name: string, configuration: string, clusters: Record<string, { host: string; port: number; http2?: boolean }>) {
  return Gateway.start({ wasm: probe(name), plugin: { configuration }, workers: 1, routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusters });
}

test("http_call to a real server: callback on the ROOT context, effective context redirects to the stream", LIMIT, async () => {
  const backend = await httpServer(ok);
  const callout = await httpServer((_r, res) => { res.writeHead(201, { "x-callout": "yes" }); res.end("pong!"); });
  const gw = await gateway("httpcall", "callout", {
    backend: { host: "127.0.0.1", port: backend.port }, callout: { host: "127.0.0.1", port: callout.port } });
  try {
    const r = await request(`${gw.url}/hello`);
    assert.equal(r.status, 200);
    assert.equal(r.body, "upstream");
    // The callout request: headers from the pairs, body with content-length set by Envoy.
    assert.equal(callout.requests.length, 1);
    assert.equal(callout.requests[0].url, "/callout");
    assert.equal(callout.requests[0].headers.host, "callout.local");
    assert.equal(callout.requests[0].headers["content-length"], "4");
    assert.equal(callout.requests[0].body, "ping");
    // The header the probe added through the effective context reached the backend.
    assert.equal(backend.requests[0].headers["x-callout-status"], "201");
    const logs = wasmLogs(gw.logs, 0);
    // resp <root id> <token> <headers> <body size> <trailers>: root id 1, not the stream id 2
    assert.match(logs.find((l) => l.startsWith("resp "))!, /^resp 1 4 \d+ 5 0$/);
    assert.deepEqual(logs.filter((l) => /^(call|resp_|root_req|bad_eff|effective|add_hdr|continue|after_body)/.test(l)), [
      "call 2 0 4",         // stream 2, OK, token 4 (first http call id)
      "resp_body pong!", "resp_status 201",
      "root_req_hdr 2",     // request headers are not reachable from the root context
      "bad_effective 2",    // unknown context id → BAD_ARGUMENT
      "effective 0", "add_hdr 0", "continue 0",
      "after_body 1",       // HTTP_CALL_RESPONSE_BODY outside the callback → NOT_FOUND
    ]);
    assert.equal(gw.pendingCalls(), 0);
    assert.equal(gw.liveContexts(), 0);
  } finally {
    await gw.stop();
    await backend.close();
    await callout.close();
  }
});

test("http_call: unknown cluster → BAD_ARGUMENT synchronously; unreachable upstream → a 503 response, not a failure", LIMIT, async () => {
  const backend = await httpServer(ok);
  const gw = await gateway("httpcall", "nope", { backend: { host: "127.0.0.1", port: backend.port } });
  try {
    const r = await request(`${gw.url}/x`);
    assert.equal(r.status, 200, "the probe continues when the call fails synchronously");
    assert.ok(wasmLogs(gw.logs, 0).includes("call 2 2 0"));
    assert.equal(wasmLogs(gw.logs, 0).some((l) => l.startsWith("resp ")), false, "no callback for a rejected call");
  } finally {
    await gw.stop();
  }
  const gw2 = await gateway("httpcall", "dead", {
    backend: { host: "127.0.0.1", port: backend.port }, dead: { host: "127.0.0.1", port: await deadPort() } });
  try {
    const r = await request(`${gw2.url}/x`);
    assert.equal(r.status, 200);
    const logs = wasmLogs(gw2.logs, 0);
    const body = "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, " +
      "transport failure reason: delayed connect error: Connection refused";
    assert.ok(logs.includes(`resp_body ${body}`), logs.join("\n"));
    assert.ok(logs.includes("resp_status 503"));
    assert.equal(backend.requests.at(-1)!.headers["x-callout-status"], "503");
  } finally {
    await gw2.stop();
    await backend.close();
  }
});

/** A unary gRPC server (node:http2) speaking real gRPC framing. */
async function grpcServer(reply: (msg: string, headers: Record<string, unknown>) => { ok: string } | { status: number; message: string }) {
  const seen: Record<string, unknown>[] = [];
  const server = await h2Server((stream, headers) => {
    seen.push({ ...headers });
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      const buf = Buffer.concat(chunks);
      const msg = buf.subarray(5, 5 + buf.readUInt32BE(1)).toString();
      const r = reply(msg, headers);
      if ("ok" in r) {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(grpcFrame(Buffer.from(r.ok)));
      } else {
        // Trailers-only response, as grpc-go sends for an immediate error.
        stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": String(r.status),
          "grpc-message": encodeURIComponent(r.message) }, { endStream: true });
      }
    });
  });
  return { ...server, seen };
}

test("grpc_call against a real HTTP/2 gRPC server: success → only on_grpc_receive with the message", LIMIT, async () => {
  const backend = await httpServer(ok);
  const grpc = await grpcServer((msg) => ({ ok: `world:${msg}` }));
  const gw = await gateway("grpccall", "ratelimit", {
    backend: { host: "127.0.0.1", port: backend.port }, ratelimit: { host: "127.0.0.1", port: grpc.port, http2: true } });
  try {
    const r = await request(`${gw.url}/g`);
    assert.equal(r.status, 200);
    assert.equal(backend.requests[0].headers["x-grpc"], "world:hello");
    const logs = wasmLogs(gw.logs, 0);
    assert.deepEqual(logs.filter((l) => /^(gcall|grecv|gmsg|gclose|after_msg)/.test(l)),
      ["gcall 2 0 5", "grecv 1 5 11", "gmsg world:hello", "after_msg 0 0"]);
    const h = grpc.seen[0];
    assert.equal(h[":path"], "/test.Echo/Say");
    assert.equal(h[":authority"], "ratelimit");
    assert.equal(h["content-type"], "application/grpc");
    assert.equal(h["te"], "trailers");
    assert.equal(h["grpc-timeout"], "2000m");
    assert.equal(h["x-md"], "v1");
  } finally {
    await gw.stop();
    await backend.close();
    await grpc.close();
  }
});

test("grpc_call failure → only on_grpc_close with the status and the get_status message", LIMIT, async () => {
  const backend = await httpServer(ok);
  const grpc = await grpcServer(() => ({ status: 7, message: "denied here" }));
  const gw = await gateway("grpccall", "ratelimit", {
    backend: { host: "127.0.0.1", port: backend.port }, ratelimit: { host: "127.0.0.1", port: grpc.port, http2: true } });
  try {
    const r = await request(`${gw.url}/g`);
    assert.equal(r.status, 503);
    assert.equal(r.body, "grpc failed");
    assert.deepEqual(wasmLogs(gw.logs, 0).filter((l) => /^(grecv|gclose|status_)/.test(l)),
      ["gclose 1 5 7", "status_code 7", "status_msg denied here"]);
    assert.equal(backend.requests.length, 0);
  } finally {
    await gw.stop();
    await grpc.close();
  }
  // Nothing listening: the router's local reply arrives as UNAVAILABLE (14) with Envoy's text.
  const gw2 = await gateway("grpccall", "ratelimit", {
    backend: { host: "127.0.0.1", port: backend.port }, ratelimit: { host: "127.0.0.1", port: await deadPort(), http2: true } });
  try {
    const r = await request(`${gw2.url}/g`);
    assert.equal(r.status, 503);
    const logs = wasmLogs(gw2.logs, 0);
    assert.ok(logs.includes("gclose 1 5 14"), logs.join("\n"));
    assert.ok(logs.includes("status_msg upstream connect error or disconnect/reset before headers. reset reason: remote connection " +
      "failure, transport failure reason: delayed connect error: Connection refused"));
  } finally {
    await gw2.stop();
    await backend.close();
  }
});

test("grpc_call to an unknown cluster name → PARSE_FAILURE synchronously", LIMIT, async () => {
  const backend: TestServer = await httpServer(ok);
  const gw = await gateway("grpccall", "nowhere", { backend: { host: "127.0.0.1", port: backend.port } });
  try {
    const r = await request(`${gw.url}/g`);
    assert.equal(r.status, 200);
    assert.ok(wasmLogs(gw.logs, 0).includes("gcall 2 4 77"), "status 4, token untouched");
    await until(() => gw.pendingCalls() === 0);
  } finally {
    await gw.stop();
    await backend.close();
  }
});
