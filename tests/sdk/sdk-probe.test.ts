// End-to-end check of the patched @solo-io/proxy-runtime (patches/README.md) through the Envoy-like
// host: the SDK probe filter (tests/filters/sdk-probe) makes HTTP and gRPC calls to local servers
// and reports what the runtime delivered. One worker VM, so every stream shares one root context
// and its token maps — the case where routing a callback to the wrong stream would show.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Gateway, LoadError } from "../support/gateway.ts";
import { buildTestFilter } from "./build-probe.ts";

// ---------------------------------------------------------------- local servers

/** Callee responses for /probe/slow-* wait until the test releases them. */
const held = new Map<string, { arrive: () => void; released: Promise<void> }>();
function hold(id: string): { arrived: Promise<void>; release: () => void } {
  let arrive!: () => void, release!: () => void;
  const arrived = new Promise<void>((r) => (arrive = r));
  const released = new Promise<void>((r) => (release = r));
  held.set(id, { arrive, released });
  return { arrived, release };
}

const callee = http.createServer(async (req, res) => {
  const id = (req.url ?? "").replace(/^\/probe\//, "");
  const h = held.get(id);
  if (h) {
    h.arrive();
    await h.released;
  } else if (id === "A") {
    // A answers after B: responses arrive in the opposite order of the calls.
    await new Promise((r) => setTimeout(r, 150));
  }
  res.writeHead(200, { "content-type": "text/plain" });
  res.end(`callee:${req.url}`);
});

const backend = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
  });
});

// gRPC over h2c: unary echo of "echo:<message>:<x-probe-id metadata>".
const grpc = http2.createServer();
grpc.on("stream", (stream, headers) => {
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("end", () => {
    const framed = Buffer.concat(chunks);
    const message = framed.subarray(5, 5 + framed.readUInt32BE(1)).toString();
    const reply = Buffer.from(`echo:${message}:${headers["x-probe-id"]}:${headers[":path"]}`);
    const frame = Buffer.alloc(5 + reply.length);
    frame.writeUInt32BE(reply.length, 1);
    reply.copy(frame, 5);
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(frame);
  });
});

async function listen(server: http.Server | http2.Http2Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

// ---------------------------------------------------------------- gateway

let gw: Gateway;
let clusters: Record<string, { host: string; port: number; http2?: boolean }>;
let wasm: string;

before(async () => {
  wasm = buildTestFilter();
  clusters = {
    backend: { host: "127.0.0.1", port: await listen(backend) },
    callee: { host: "127.0.0.1", port: await listen(callee) },
    grpc: { host: "127.0.0.1", port: await listen(grpc), http2: true },
    "grpc-down": { host: "127.0.0.1", port: await closedPort(), http2: true },
  };
  gw = await Gateway.start({
    wasm,
    // Root id "" is the one the probe registers (no root_id in the plugin configuration).
    plugin: { name: "sdk-probe", rootId: "", vmId: "sdk_probe", configuration: "probe-config" },
    workers: 1,
    logLevel: 1, // debug: the runtime's "response dropped" message is a debug log
    routes: [{ match: { prefix: "/" }, cluster: "backend" }],
    clusters,
  });
});

after(async () => {
  await gw?.stop();
  for (const s of [callee, backend, grpc]) s.close();
});

function probe(action: string, extra: Record<string, string> = {}, init: RequestInit = {}): Promise<Response> {
  return fetch(gw.url + (extra.path ?? "/probe"), {
    ...init,
    headers: { "x-probe": action, ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== "path")) },
  });
}

/** No VM trapped so far (the host logs "Function: <callback> failed: ..." on a trap, §5.6). */
function assertNoTrap(): void {
  const traps = gw.logs.filter((l) => /^Function: .* failed/.test(l.message));
  assert.deepEqual(traps.map((l) => l.message), []);
}

const wasmLogs = () => gw.logs.filter((l) => l.origin === "wasm" && l.vm >= 0).map((l) => l.message);
const callbacks = async () => (await gw.stats())["wasmcustom.sdk_probe.callbacks"] ?? 0;

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---------------------------------------------------------------- tests

test("http_call response is applied to the stream that made the call (concurrent, out of order)", async () => {
  const [a, b] = await Promise.all([probe("http", { "x-probe-id": "A" }), probe("http", { "x-probe-id": "B" })]);
  for (const [res, id] of [[a, "A"], [b, "B"]] as const) {
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-probe-id"), id);
    assert.equal(res.headers.get("x-probe-callee-status"), "200");
    assert.equal(await res.text(), `callee:/probe/${id}`);
  }
  assertNoTrap();
});

test("http_call callback can modify the paused request and continue it", async () => {
  const res = await probe("http-continue", { "x-probe-id": "C", path: "/upstream/c" });
  assert.equal(res.status, 200);
  const seen = await res.json() as { url: string; headers: Record<string, string> };
  assert.equal(seen.url, "/upstream/c");
  assert.equal(seen.headers["x-probe-callee-status"], "200");
  assertNoTrap();
});

test("the root context's own http_call (origin = root) is delivered to the root", async () => {
  const res = await probe("root-call", { "x-probe-id": "R" });
  assert.equal(res.status, 202);
  assert.equal(await res.text(), "root-call=0");
  // The callback stores the callee's answer on the root; another request reads it back.
  let body = "none";
  const end = Date.now() + 5000;
  while (body === "none" && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
    body = await (await probe("root-result")).text();
  }
  assert.equal(body, "callee:/probe/R");
  assertNoTrap();
});

test("unary gRPC call: success delivers the response message to the calling stream", async () => {
  const res = await probe("grpc", { "x-probe-id": "G1", "x-probe-cluster": "grpc" });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-probe-id"), "G1");
  // message, initial metadata and /service/method all reached the server.
  assert.equal(await res.text(), "echo:G1:G1:/sdk.probe.Echo/Echo");
  assertNoTrap();
});

test("unary gRPC call: failure delivers the gRPC status (close) to the calling stream", async () => {
  const res = await probe("grpc", { "x-probe-id": "G2", "x-probe-cluster": "grpc-down" });
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("x-probe-id"), "G2");
  assert.equal(res.headers.get("x-probe-grpc-status"), "14"); // UNAVAILABLE: connection refused
  assertNoTrap();
});

test("a callback for a stream deleted meanwhile (client disconnected) is dropped without a trap", async () => {
  const slow = hold("slow-gone");
  const before = await callbacks();
  const req = http.request(gw.url + "/probe", { headers: { "x-probe": "http", "x-probe-id": "slow-gone" } });
  req.on("error", () => { /* the socket is destroyed on purpose */ });
  req.end();
  await slow.arrived;
  req.destroy();
  await until(async () => (await gw.liveContexts()) === 0, "the stream context to be deleted");
  slow.release();
  await until(async () => (await gw.pendingCalls()) === 0, "the callee response to reach the root context");
  await until(() => wasmLogs().some((m) => /is gone, response dropped/.test(m)), "the runtime's drop message");
  assert.equal(await callbacks(), before, "the probe's callback must not run for the deleted stream");
  assertNoTrap();
  // The VM keeps serving.
  const res = await probe("property", { path: "/after-gone" });
  assert.equal(res.status, 200);
});

test("get_property of a missing path yields an empty value (no trap)", async () => {
  const res = await probe("property", { path: "/prop?q=1" });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "missing=0;path=/prop?q=1");
  assertNoTrap();
});

test("clear_route_cache goes through the foreign function; an unknown one is NOT_FOUND", async () => {
  const res = await probe("route");
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "clear_route_cache=0;unknown=1");
  assertNoTrap();
});

test("shared data: get returns value and cas, set honours cas", async () => {
  const res = await probe("shared", { "x-probe-id": `k${Date.now()}` });
  assert.equal(res.status, 200);
  // NOT_FOUND(1) first; OK; value; CAS_MISMATCH(8) for a stale cas; OK for the current one.
  assert.equal(await res.text(), "before=1;set=0;value=v1;stale=8;fresh=0;last=v3");
  assertNoTrap();
});

test("get_metric reads the metric (proxy_get_metric), not record", async () => {
  const res = await probe("metric");
  assert.equal(res.status, 200);
  const text = await res.text();
  const probes = (await gw.stats())["wasmcustom.sdk_probe.probe"];
  assert.ok(probes > 0);
  assert.equal(text, `result=0;probe=${probes}`);
  assertNoTrap();
});

test("set_buffer_bytes replaces the request body", async () => {
  const res = await probe("body", { path: "/upstream/body" }, { method: "POST", body: "hello" });
  assert.equal(res.status, 200);
  const seen = await res.json() as { body: string; headers: Record<string, string> };
  assert.equal(seen.body, "replaced:hello");
  assert.notEqual(seen.headers["content-length"], "5");
  assertNoTrap();
});

test("an empty body read right after a non-empty one does not trap", async () => {
  // Envoy answers a zero-length get_buffer_bytes with Ok without writing ptr/size (cpp-host
  // src/exports.cc); the runtime must not reuse the previous read's pointer (patch change 11).
  await (await probe("body", {}, { method: "POST", body: "first" })).text();
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(gw.url + "/upstream/empty", { method: "POST", headers: { "x-probe": "body", "transfer-encoding": "chunked" } }, (r) => {
      let body = "";
      r.on("data", (c) => (body += c));
      r.on("end", () => resolve({ status: r.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
  assert.equal(res.status, 200);
  assert.equal(JSON.parse(res.body).body, "replaced:");
  assertNoTrap();
});

test("writing request headers after they are gone returns BAD_ARGUMENT instead of trapping", async () => {
  const res = await probe("headers-gone", { path: "/upstream/late" }, { method: "POST", body: "x" });
  assert.equal(res.status, 200);
  const seen = await res.json() as { headers: Record<string, string> };
  assert.equal(seen.headers["x-late"], undefined);
  assert.ok(wasmLogs().includes("sdk-probe: late header add result 2"), JSON.stringify(wasmLogs()));
  assertNoTrap();
});

test("a plugin root_id without a registered factory is rejected cleanly (no trap)", async () => {
  const err = await Gateway.start({
    wasm,
    plugin: { name: "sdk-probe", rootId: "not-registered", vmId: "sdk_probe_other", configuration: "" },
    workers: 1,
    routes: [],
    clusters: {},
  }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof LoadError, `expected a LoadError, got ${err}`);
  // A trap would be reported as "Function: proxy_on_context_create failed: ..." (§5.6).
  assert.doesNotMatch(err.message, /^Function: /);
  assert.ok(err.logs.some((l) => l.origin === "wasm" && l.message === "Missing root context factory for root id: 'not-registered'"),
    JSON.stringify(err.logs.map((l) => l.message)));
  assert.ok(!err.logs.some((l) => /^Function: .* failed/.test(l.message)));
});
