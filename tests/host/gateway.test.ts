// The gateway end to end over real sockets: failure policies (sources: Envoy Wasm filter configuration), routing incl. cluster_header and
// route-cache clearing (sources: Envoy wasm context), upstream streaming, Envoy's local replies, worker assignment.
// Host-only: tests of the imitation host's own Envoy emulation (tests/host/README.md), not of the filter.

import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { Gateway, type GatewayOptions, type PluginOptions } from "./gateway.ts";
import { probe } from "./probes/assemble.ts";
import { wasmLogs, httpServer, deadPort, request, until } from "./testing.ts";

/** Socket tests fail instead of hanging when a stream never completes. */
const LIMIT = { timeout: 20_000 };

const named = (name: string) => async () => httpServer((_r, res) => { res.writeHead(200, { "content-type": "text/plain" }); res.end(name); });

type Opts = Omit<Partial<GatewayOptions>, "plugin"> & { configuration: string; probe?: string; plugin?: Partial<PluginOptions> };

async function withGateway(opts: Opts, backend: { port: number }, fn: (gw: Gateway) => Promise<void>): Promise<void> {
  const { configuration, probe: name = "recorder", plugin, ...rest } = opts;
  const gw = await Gateway.start({
    wasm: probe(name), plugin: { configuration, ...plugin }, workers: 1,
    routes: [{ match: { prefix: "/" }, cluster: "backend" }],
    clusters: { backend: { host: "127.0.0.1", port: backend.port } },
    ...rest,
  });
  try {
    await fn(gw);
  } finally {
    await gw.stop();
  }
}

const TRAP = { headers: { "x-trap": "1" } };

test("trap → 503 wasm_fail_stream, then FAIL_CLOSED keeps failing every request", LIMIT, async () => {
  const backend = await named("backend")();
  await withGateway({ configuration: "000000T", plugin: { failurePolicy: "FAIL_CLOSED" } }, backend, async (gw) => {
    const r1 = await request(`${gw.url}/a`, TRAP);
    assert.equal(r1.status, 503);
    assert.equal(r1.body, "");
    assert.equal(r1.headers["content-length"], "0");
    const r2 = await request(`${gw.url}/b`);
    assert.equal(r2.status, 503);
    assert.equal(backend.requests.length, 0);
  });
  await backend.close();
});

test("trap with FAIL_OPEN: the in-flight stream still gets 503, later requests bypass the filter", LIMIT, async () => {
  const backend = await named("backend")();
  await withGateway({ configuration: "000000T", plugin: { failurePolicy: "FAIL_OPEN" } }, backend, async (gw) => {
    assert.equal((await request(`${gw.url}/a`, TRAP)).status, 503);
    const before = wasmLogs(gw.logs, 0).length;
    const r2 = await request(`${gw.url}/b`);
    assert.equal(r2.status, 200);
    assert.equal(r2.body, "backend");
    assert.equal(wasmLogs(gw.logs, 0).length, before, "the filter was not added to the stream");
  });
  await backend.close();
});

test("trap with legacy fail_open: even the in-flight stream passes through", LIMIT, async () => {
  const backend = await named("backend")();
  await withGateway({ configuration: "000000T", plugin: { failOpen: true } }, backend, async (gw) => {
    assert.equal((await request(`${gw.url}/a`, TRAP)).status, 200);
    assert.equal((await request(`${gw.url}/b`)).status, 200);
  });
  await backend.close();
});

test("trap with FAIL_RELOAD: 503 during the backoff, then a fresh VM instance serves requests", LIMIT, async () => {
  const backend = await named("backend")();
  await withGateway({ configuration: "000000T", plugin: { failurePolicy: "FAIL_RELOAD", reloadBackoffMs: 400 } },
    backend, async (gw) => {
      assert.equal((await request(`${gw.url}/a`, TRAP)).status, 503);
      assert.equal((await request(`${gw.url}/b`)).status, 503);
      assert.ok(gw.stats()["wasm.ai-gateway.vm_reload_backoff"] >= 1);
      await new Promise((r) => setTimeout(r, 700)); // > 1.5 × backoff since the worker VM was loaded
      const r3 = await request(`${gw.url}/c`);
      assert.equal(r3.status, 200);
      assert.equal(gw.stats()["wasm.ai-gateway.vm_reload_success"], 1);
      // The new instance ran the whole start sequence again, with fresh context ids.
      const logs = wasmLogs(gw.logs, 0);
      assert.equal(logs.filter((l) => l === "create 1 0").length, 2);
      assert.equal(logs.filter((l) => l === "create 2 1").length, 2);
    });
  await backend.close();
});

test("cluster_header routing: header selects the cluster; missing or unknown → 503 cluster_not_found", LIMIT, async () => {
  const a = await named("A")(), b = await named("B")();
  const gw = await Gateway.start({
    wasm: probe("recorder"), plugin: { configuration: "000000" }, workers: 1,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-cluster" }],
    clusters: { a: { host: "127.0.0.1", port: a.port }, b: { host: "127.0.0.1", port: b.port } },
  });
  try {
    assert.equal((await request(`${gw.url}/`, { headers: { "x-cluster": "b" } })).body, "B");
    assert.equal((await request(`${gw.url}/`, { headers: { "x-cluster": "a" } })).body, "A");
    for (const headers of [{}, { "x-cluster": "zzz" }] as Record<string, string>[]) {
      const r = await request(`${gw.url}/`, { headers });
      assert.equal(r.status, 503);
      assert.equal(r.body, "");
      assert.equal(r.headers["content-type"], undefined);
    }
    // The router's local reply went through this filter's on_response_headers.
    assert.ok(wasmLogs(gw.logs, 0).includes("rsh 4 1 1"));
  } finally {
    await gw.stop();
    await a.close();
    await b.close();
  }
});

test("a filter modifying request headers clears the route cache: the router re-picks the route", LIMIT, async () => {
  const a = await named("A")(), b = await named("B")();
  const gw = await Gateway.start({
    wasm: probe("router"), plugin: { configuration: "" }, workers: 1,
    routes: [
      { name: "to-b", match: { prefix: "/", headers: [{ name: "x-pick", exact: "b" }] }, cluster: "b" },
      { name: "to-a", match: { prefix: "/" }, cluster: "a" },
    ],
    clusters: { a: { host: "127.0.0.1", port: a.port }, b: { host: "127.0.0.1", port: b.port } },
  });
  try {
    // The cached route at request start is "to-a"; the filter sets x-pick from the body.
    assert.equal((await request(`${gw.url}/`, { method: "POST", body: "b" })).body, "B");
    assert.equal((await request(`${gw.url}/`, { method: "POST", body: "a" })).body, "A");
    assert.equal(b.requests[0].headers["x-pick"], "b");
  } finally {
    await gw.stop();
    await a.close();
    await b.close();
  }
});

test("upstream response streaming: the client gets the first chunk before the upstream finished", LIMIT, async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let upstreamEnded = false;
  const backend = await httpServer((_r, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write("first");
    void released.then(() => { upstreamEnded = true; res.end("second"); });
  });
  await withGateway({ configuration: "000000" }, backend, async (gw) => {
    const body = await new Promise<string>((resolve, reject) => {
      http.get(`${gw.url}/stream`, { agent: false }, (res) => {
        let got = "";
        res.on("data", (c: Buffer) => {
          if (!got) {
            assert.equal(c.toString(), "first");
            assert.equal(upstreamEnded, false, "first chunk arrived while the upstream was still open");
            release();
          }
          got += c.toString();
        });
        res.on("end", () => resolve(got));
      }).on("error", reject);
    });
    assert.equal(body, "firstsecond");
    const rsb = wasmLogs(gw.logs, 0).filter((l) => l.startsWith("rsb"));
    assert.deepEqual(rsb, ["rsb 2 5 0", "rsb 2 6 0", "rsb 2 0 1"], "on_response_body per chunk as it arrives");
  });
  await backend.close();
});

test("request bodies reach the filter in chunks of at most maxChunkBytes", LIMIT, async () => {
  const backend = await named("backend")();
  await withGateway({ configuration: "000000", maxChunkBytes: 1000 }, backend, async (gw) => {
    const r = await request(`${gw.url}/up`, { method: "POST", body: Buffer.alloc(5000, 97) });
    assert.equal(r.status, 200);
    const sizes = wasmLogs(gw.logs, 0).filter((l) => l.startsWith("rqb")).map((l) => Number(l.split(" ")[2]));
    assert.equal(sizes.reduce((x, y) => x + y, 0), 5000);
    assert.ok(sizes.every((n) => n <= 1000));
    assert.equal(sizes.at(-1), 0, "an empty end-of-stream frame closes the body (HTTP/1 codec)");
    assert.equal(backend.requests[0].body.length, 5000);
  });
  await backend.close();
});

test("bodies arrive per socket read like Envoy: a 70 KB request in one call, a burst of HTTP chunks in one call", LIMIT, async () => {
  // What Envoy 1.40 does (tests/limits/stream-cut-burst.test.ts relies on it): it reads a socket
  // until it would block and dispatches what it read as one body frame.
  const backend = await httpServer((_r, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    // 50 HTTP/1 chunks in one write (cork/uncork makes them one segment on the wire).
    res.socket!.cork();
    for (let i = 0; i < 50; i++) res.write("data: x\n\n");
    res.socket!.uncork();
    res.end();
  });
  await withGateway({ configuration: "000000" }, backend, async (gw) => {
    const r = await request(`${gw.url}/up`, { method: "POST", body: Buffer.alloc(70_000, 97) });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 50 * 9);
    const rqb = wasmLogs(gw.logs, 0).filter((l) => l.startsWith("rqb")).map((l) => Number(l.split(" ")[2]));
    assert.deepEqual(rqb.filter((n) => n > 0), [70_000], "the whole request body in one on_request_body");
    const rsb = wasmLogs(gw.logs, 0).filter((l) => l.startsWith("rsb")).map((l) => Number(l.split(" ")[2]));
    assert.deepEqual(rsb.filter((n) => n > 0), [450], "the 50 chunks in one on_response_body");
  });
  await backend.close();
});

test("upstream failures are Envoy's local replies: connect failure 503, route timeout 504, no route 404, direct response", LIMIT, async () => {
  const hang = await httpServer(() => { /* never responds */ });
  const gw = await Gateway.start({
    wasm: probe("recorder"), plugin: { configuration: "000000" }, workers: 1,
    routes: [
      { match: { path: "/direct" }, directResponse: { status: 418, body: "teapot" } },
      { match: { prefix: "/dead" }, cluster: "dead" },
      { match: { prefix: "/slow" }, cluster: "slow", timeoutMs: 200 },
    ],
    clusters: { dead: { host: "127.0.0.1", port: await deadPort() }, slow: { host: "127.0.0.1", port: hang.port } },
  });
  try {
    const dead = await request(`${gw.url}/dead`);
    assert.equal(dead.status, 503);
    assert.equal(dead.headers["content-type"], "text/plain");
    assert.equal(dead.body, "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, " +
      "transport failure reason: delayed connect error: Connection refused");
    const slow = await request(`${gw.url}/slow`);
    assert.equal(slow.status, 504);
    assert.equal(slow.body, "upstream request timeout");
    assert.equal(hang.requests[0]?.headers["x-envoy-expected-rq-timeout-ms"], "200");
    const none = await request(`${gw.url}/other`);
    assert.equal(none.status, 404);
    assert.equal(none.body, "");
    const direct = await request(`${gw.url}/direct`);
    assert.equal(direct.status, 418);
    assert.equal(direct.body, "teapot");
  } finally {
    await gw.stop();
    await hang.close();
  }
});

test("client disconnect mid-stream: on_log, on_done, on_delete still run and nothing leaks", LIMIT, async () => {
  const hang = await httpServer(() => { /* never responds */ });
  await withGateway({ configuration: "000000" }, hang, async (gw) => {
    const sock = net.connect(gw.port, "127.0.0.1");
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.write("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
    await until(() => wasmLogs(gw.logs, 0).some((l) => l.startsWith("rqb")));
    sock.destroy();
    await until(() => wasmLogs(gw.logs, 0).includes("delete 2"));
    assert.deepEqual(wasmLogs(gw.logs, 0).slice(-3), ["log 2", "done 2", "delete 2"]);
    assert.equal(gw.liveContexts(), 0);
  });
  await hang.close();
});

test("a filter that changes the body but keeps content-length: the mismatch is sent as is", LIMIT, async () => {
  // A raw TCP upstream that records the exact bytes it receives, then answers.
  let received = "";
  const upstream = net.createServer((sock) => {
    sock.on("data", (d) => {
      received += d.toString("latin1");
      if (received.includes("REPLACED")) sock.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
  const port = (upstream.address() as net.AddressInfo).port;
  await withGateway({ configuration: "", probe: "bodyedit" }, { port }, async (gw) => {
    const r = await request(`${gw.url}/x`, { method: "POST", body: "abcdef" });
    assert.equal(r.status, 200);
    // The probe replaced the body with "REPLACED" (8 bytes); content-length stayed 6 and was not fixed.
    const [head, body] = received.split("\r\n\r\n");
    assert.match(head, /\r\ncontent-length: 6(\r\n|$)/);
    assert.equal(body, "REPLACED");
  });
  await new Promise<void>((r) => upstream.close(() => r()));
});

test("connections are assigned to workers round-robin; all streams of a connection stay on its worker", LIMIT, async () => {
  const backend = await named("backend")();
  const gw = await Gateway.start({
    wasm: probe("recorder"), plugin: { configuration: "000000" }, workers: 2,
    routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusters: { backend: { host: "127.0.0.1", port: backend.port } },
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const get = () => new Promise<void>((resolve, reject) => {
      http.get(`${gw.url}/k`, { agent }, (res) => { res.resume(); res.on("end", () => resolve()); }).on("error", reject);
    });
    for (let i = 0; i < 3; i++) await get();
    const rqh = (vm: number) => wasmLogs(gw.logs, vm).filter((l) => l.startsWith("rqh")).length;
    assert.equal(rqh(0), 3, "one keep-alive connection → one worker");
    assert.equal(rqh(1), 0);
    await request(`${gw.url}/other-connection`);
    assert.equal(rqh(1), 1, "the next connection goes to the next worker");
  } finally {
    agent.destroy();
    await gw.stop();
    await backend.close();
  }
});

test("properties: NUL-separated paths, values and availability by phase; set_property / declare_property; foreign functions", LIMIT, async () => {
  const backend = await named("backend")();
  await withGateway({ configuration: "", probe: "props", routes: [{ name: "main-route", match: { prefix: "/" }, cluster: "backend" }] },
    backend, async (gw) => {
      const r = await request(`${gw.url}/some/path?a=1`, { headers: { "x-test": "one" } });
      assert.equal(r.status, 200);
      const logs = wasmLogs(gw.logs, 0);
      const get = (tag: string) => logs.find((l) => l === tag || l.startsWith(`${tag} `))?.slice(tag.length + 1);
      // root context: plugin_* resolve, request.* does not
      assert.equal(get("root_plugin_name"), "ai-gateway");
      assert.equal(get("root_request_path"), "1");
      assert.equal(get("declare"), "0");
      assert.equal(get("declare_again"), "2");
      // stream context, request headers held
      assert.equal(get("plugin_name"), "ai-gateway");
      assert.equal(get("plugin_root_id"), "ai_gateway");
      assert.equal(get("plugin_vm_id"), "ai_gateway");
      assert.equal(get("request.path"), "/some/path?a=1");
      assert.equal(get("request.url_path"), "/some/path");
      assert.equal(get("request.query"), "a=1");
      assert.equal(get("request.method"), "GET");
      assert.equal(get("request.host"), `127.0.0.1:${gw.port}`);
      assert.equal(get("request.scheme"), "http");
      assert.equal(get("request.protocol"), "HTTP/1.1");
      assert.equal(get("request.headers.x-test"), "one");
      assert.equal(get("request.headers.X-Test"), "one");
      assert.equal(get("request.headers.absent"), "1");
      assert.match(get("request.id")!, /^0 \d+ 36$/, "x-request-id (a UUID) as a 36-byte string");
      assert.match(get("source.address")!, /^127\.0\.0\.1:\d+$/);
      assert.equal(get("source.port"), `0 ${get("source.address")!.split(":")[1]} 8`, "int64 little-endian, 8 bytes");
      assert.equal(get("destination.address"), `127.0.0.1:${gw.port}`);
      assert.equal(get("destination.port"), `0 ${gw.port} 8`);
      assert.match(get("connection.id")!, /^0 \d+ 8$/);
      assert.equal(get("connection_id"), get("connection.id"));
      assert.equal(get("response.code"), "1", "no response yet → NOT_FOUND");
      assert.equal(get("xds.route_name"), "main-route");
      assert.equal(get("xds.cluster_name"), "backend");
      assert.equal(get("unknown"), "1");
      assert.equal(get("dotted"), "1", "a dotted path is a single (unknown) token");
      assert.equal(get("set_prop"), "0");
      assert.equal(get("my_prop"), "v1");
      assert.equal(get("filter_state.my_prop"), "v1");
      assert.equal(get("set_ro"), "0");
      assert.equal(get("set_ro_again"), "2", "declared read-only: the second write is rejected");
      assert.equal(get("ro_prop"), "a");
      assert.equal(get("ff_unknown"), "1");
      assert.equal(get("ff_clear_route_cache"), "0");
      // response phase: headers continued → request.path NOT_FOUND; response.code available
      assert.equal(get("resp.response.code"), "0 200 8");
      assert.equal(get("resp.request.path"), "1");
      // access-log phase: request headers readable again
      assert.equal(get("log.request.path"), "/some/path?a=1");
      assert.equal(get("log.response.code"), "0 200 8");
      assert.equal(get("log.response.code_details"), "via_upstream");
      assert.equal(get("log.my_prop"), "v1");
    });
  await backend.close();
});
