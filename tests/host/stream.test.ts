// Per-stream semantics through the socket-free driver (reference §3, §5.6, §8.4, §8.5).
// Host-only: tests of the imitation host's own Envoy emulation (tests/host/README.md), not of the filter.

import { test } from "node:test";
import assert from "node:assert/strict";
import { PluginHost, type PluginOptions } from "./plugin-host.ts";
import { probe } from "./probes/assemble.ts";
import { wasmLogs, hostLogs } from "./testing.ts";

const REQ: [string, string][] = [[":method", "POST"], [":path", "/p?q=1"], [":authority", "example.com"]];
const RESP: [string, string][] = [[":status", "200"]];

async function host(name: string, configuration: string, extra: Partial<PluginOptions> & { bufferLimitBytes?: number } = {}) {
  const { bufferLimitBytes, ...plugin } = extra;
  return PluginHost.load({ wasm: probe(name), plugin: { configuration, ...plugin }, workers: 1, bufferLimitBytes });
}

/** Stream-phase messages of worker 0 (start-up lines dropped). */
function streamLogs(h: PluginHost): string[] {
  const all = wasmLogs(h.logs, 0);
  return all.slice(all.indexOf("configure " + h.plugin.configuration.length) + 1);
}

test("call sequence and teardown order: on_log → on_done → on_delete, context deleted", async () => {
  const h = await host("recorder", "000000");
  try {
    const s = h.worker(0).newStream()
      .requestHeaders(REQ).requestBody("abc").requestBody("", true)
      .responseHeaders(RESP).responseBody("xy").responseBody("", true);
    assert.deepEqual(streamLogs(h), ["create 2 1", "rqh 2 3 0", "rqb 2 3 0", "rqb 2 0 1", "rsh 2 1 0", "rsb 2 2 0", "rsb 2 0 1",
      "log 2", "done 2", "delete 2"]);
    assert.equal(s.ended, true);
    assert.equal(s.upstreamBody(), "abc");
    assert.equal(s.downstreamBody(), "xy");
    assert.equal(h.liveContexts(), 0);
    // The deleted context no longer resolves (proxy_set_effective_context would fail).
    assert.equal(h.worker(0).vm!.getContext(2), undefined);
  } finally {
    h.close();
  }
});

test("request headers are gone once continued: get → BAD_ARGUMENT, pairs → OK empty, size → BAD_ARGUMENT; readable in on_log", async () => {
  const h = await host("recorder", "000000A");
  try {
    h.worker(0).newStream().requestHeaders(REQ).requestBody("abc", true).responseHeaders(RESP, true);
    const logs = streamLogs(h);
    // "avail <get> <pairs status> <pairs len> <size status> 0"
    const headersLen = 4 + 3 * 8 + (7 + 1 + 4 + 1) + (5 + 1 + 6 + 1) + (10 + 1 + 11 + 1);
    assert.deepEqual(logs.filter((l) => l.startsWith("avail")), [
      `avail 0 0 ${headersLen} 0 0`, // on_request_headers: held
      "avail 2 0 0 2 0",             // on_request_body after Continue
      "avail 2 0 0 2 0",             // on_response_headers
      `avail 0 0 ${headersLen} 2 0`, // on_log: readable (access-log copy), not writable
    ]);
  } finally {
    h.close();
  }
});

test("StopIteration on headers: with allow_on_headers_stop_iteration body callbacks run and headers stay available", async () => {
  const h = await host("recorder", "100000A");
  try {
    const s = h.worker(0).newStream().requestHeaders(REQ).requestBody("abc").requestBody("def", true);
    const logs = streamLogs(h);
    assert.deepEqual(logs.slice(0, 4).map((l) => l.split(" ").slice(0, 2).join(" ")), ["create 2", "rqh 2", "avail 0", "rqb 2"]);
    assert.equal(logs[4].startsWith("avail 0 0"), true, "headers still held during the first body callback");
    // The first body callback returned Continue: the filter manager forwards headers + the chunk.
    // Envoy's Context clears request_headers_ only on a headers Continue or continue_stream, so the
    // map stays reachable (changes no longer reach upstream).
    assert.equal(logs[6].startsWith("avail 0 0"), true);
    assert.ok(s.upstream.headers);
    assert.equal(s.upstreamBody(), "abcdef");
  } finally {
    h.close();
  }
});

test("StopIteration on headers without allow_on_headers_stop_iteration becomes StopAllIterationAndWatermark", async () => {
  const h = await host("recorder", "100000", { allowOnHeadersStopIteration: false });
  try {
    const s = h.worker(0).newStream().requestHeaders(REQ).requestBody("abc").requestBody("def", true);
    assert.deepEqual(streamLogs(h), ["create 2 1", "rqh 2 3 0"], "no body callbacks while stopped for all frames");
    assert.equal(s.upstream.headers, null);
  } finally {
    h.close();
  }
});

test("return codes are clamped: headers >4 → StopAll, ContinueAndEndStream → Continue, data >3 → NoBuffer", async () => {
  const a = await host("recorder", "900000");
  try {
    const s = a.worker(0).newStream().requestHeaders(REQ).requestBody("abc", true);
    assert.deepEqual(streamLogs(a), ["create 2 1", "rqh 2 3 0"]);
    assert.equal(s.upstream.headers, null);
  } finally {
    a.close();
  }
  const b = await host("recorder", "270000");
  try {
    const s = b.worker(0).newStream().requestHeaders(REQ).requestBody("abc").requestBody("", true);
    assert.ok(s.upstream.headers, "ContinueAndEndStream is treated as Continue");
    assert.equal(s.upstream.bytes, 0, "7 on data → StopIterationNoBuffer: the chunks are lost");
  } finally {
    b.close();
  }
});

test("StopIterationAndBuffer accumulates: each call reports the total and sees the whole buffered body", async () => {
  const h = await host("recorder", "010000ER");
  try {
    const s = h.worker(0).newStream().requestHeaders(REQ).requestBody("hello").requestBody("world").requestBody("", true);
    assert.deepEqual(streamLogs(h), ["create 2 1", "rqh 2 3 0",
      "rqb 2 5 0", "rqdata hello", "rqb 2 10 0", "rqdata helloworld", "rqb 2 10 1", "rqdata helloworld"]);
    assert.deepEqual(s.upstream.chunks.map((c) => Buffer.from(c).toString()), ["helloworld"]);
    assert.equal(s.upstream.endStream, true);
  } finally {
    h.close();
  }
});

test("StopIterationAndWatermark sees only the new chunk (Envoy still buffers); NoBuffer loses the chunk", async () => {
  const w = await host("recorder", "020000ER");
  try {
    const s = w.worker(0).newStream().requestHeaders(REQ).requestBody("hello").requestBody("world").requestBody("", true);
    assert.deepEqual(streamLogs(w), ["create 2 1", "rqh 2 3 0",
      "rqb 2 5 0", "rqdata hello", "rqb 2 5 0", "rqdata world", "rqb 2 0 1", "rqdata "]);
    assert.equal(s.upstreamBody(), "helloworld");
  } finally {
    w.close();
  }
  const n = await host("recorder", "030000ER");
  try {
    const s = n.worker(0).newStream().requestHeaders(REQ).requestBody("hello").requestBody("world").requestBody("", true);
    assert.deepEqual(streamLogs(n).filter((l) => l.startsWith("rqb")), ["rqb 2 5 0", "rqb 2 5 0", "rqb 2 0 1"]);
    assert.equal(s.upstreamBody(), "");
    assert.equal(s.upstream.endStream, true);
  } finally {
    n.close();
  }
});

test("request buffering over the limit → 413 request_payload_too_large without calling the VM for that chunk", async () => {
  const h = await host("recorder", "010000E", { bufferLimitBytes: 8 });
  try {
    const s = h.worker(0).newStream().requestHeaders(REQ).requestBody("hello").requestBody("world");
    assert.deepEqual(streamLogs(h), ["create 2 1", "rqh 2 3 0", "rqb 2 5 0",
      // the 413 local reply traverses this filter's response callbacks, then teardown
      "rsh 2 3 0", "rsb 2 17 1", "log 2", "done 2", "delete 2"]);
    assert.equal(s.downstream.headers?.get(":status"), "413");
    assert.equal(s.downstreamBody(), "Payload Too Large");
    assert.equal(s.stream.info.responseCodeDetails, "request_payload_too_large");
    assert.equal(s.upstream.headers?.get(":path"), "/p?q=1", "headers had continued before the body");
    assert.equal(s.upstream.aborted, true);
    assert.ok(s.downstream.reset, "the request was incomplete: HTTP/1 connection is closed");
  } finally {
    h.close();
  }
});

test("response buffering over the limit → reset when headers were sent, 500 when they were held", async () => {
  const sent = await host("recorder", "000100E", { bufferLimitBytes: 8 });
  try {
    const s = sent.worker(0).newStream().requestHeaders(REQ, true).responseHeaders(RESP).responseBody("hello").responseBody("world");
    assert.equal(s.downstream.headers?.get(":status"), "200");
    assert.equal(s.downstream.reset, "local reset");
    assert.equal(s.stream.info.responseCodeDetails, "response_payload_too_large");
  } finally {
    sent.close();
  }
  const held = await host("recorder", "001100E", { bufferLimitBytes: 8 });
  try {
    const s = held.worker(0).newStream().requestHeaders(REQ, true).responseHeaders(RESP).responseBody("hello").responseBody("world");
    assert.equal(s.downstream.headers?.get(":status"), "500");
    assert.equal(s.downstreamBody(), "Internal Server Error");
    assert.deepEqual(streamLogs(held).filter((l) => l.startsWith("rsb")), ["rsb 2 5 0"], "no VM call for the overflowing chunk");
  } finally {
    held.close();
  }
});

test("proxy_set_buffer_bytes: mid-buffer → BAD_ARGUMENT, prepend/append/replace, read-only and out-of-callback buffers", async () => {
  const h = await host("bodyedit", "");
  try {
    const s = h.worker(0).newStream().requestHeaders(REQ).requestBody("abc").requestBody("def").requestBody("", true)
      .responseHeaders(RESP, true);
    assert.deepEqual(wasmLogs(h.logs, 0), ["rqb 3 0", "rqb 6 0", "mid 2", "prepend 0", "append 0", "rqb 8 1", "seen <abcdef>",
      "replace 0", "vmconf 2", "outside_get 0 0", "outside_set 2"]);
    assert.equal(s.upstreamBody(), "REPLACED");
  } finally {
    h.close();
  }
});

test("send_local_response is deferred, overrides the return code and traverses on_response_*", async () => {
  const h = await host("recorder", "000000L");
  try {
    const s = h.worker(0).newStream().requestHeaders([[":method", "GET"], [":path", "/x"], [":authority", "h"]], true);
    assert.deepEqual(streamLogs(h), [
      "create 2 1", "rqh 2 3 1", "local_status 0",
      "after_local 0",          // still inside on_request_headers: headers readable, no reply yet
      "rsh 2 4 0", "rsb 2 4 1", // the local reply through this filter: :status x-probe content-length content-type
      "log 2", "done 2", "delete 2"]);
    assert.equal(s.upstream.headers, null, "the Continue returned after send_local_response was overridden");
    assert.deepEqual(s.downstream.headers?.toObject(), { ":status": "403", "x-probe": "1", "content-length": "4", "content-type": "text/plain" });
    assert.equal(s.downstreamBody(), "nope");
    assert.equal(s.stream.info.responseCodeDetails, "denied_by_probe");
  } finally {
    h.close();
  }
});

test("request.* properties: available while headers are held and in on_log, NOT_FOUND after continue", async () => {
  const h = await host("recorder", "000000P");
  try {
    h.worker(0).newStream().requestHeaders(REQ).requestBody("x", true).responseHeaders(RESP, true);
    assert.deepEqual(streamLogs(h).filter((l) => /_path/.test(l)), ["prop_path /p?q=1", "body_path 1", "log_path /p?q=1"]);
  } finally {
    h.close();
  }
});

test("WASI proc_exit returns instead of terminating", async () => {
  const h = await host("recorder", "000000X");
  try {
    const s = h.worker(0).newStream().requestHeaders(REQ, true);
    assert.ok(streamLogs(h).includes("after_exit"));
    assert.ok(s.upstream.headers);
  } finally {
    h.close();
  }
});

test("a trap fails the VM: 503 wasm_fail_stream, no more VM callbacks, later streams fail closed", async () => {
  const h = await host("recorder", "000000T", { failurePolicy: "FAIL_CLOSED" });
  try {
    const s = h.worker(0).newStream().requestHeaders([...REQ, ["x-trap", "1"]], true);
    assert.equal(s.downstream.headers?.get(":status"), "503");
    assert.equal(s.stream.info.responseCodeDetails, "wasm_fail_stream");
    assert.deepEqual(streamLogs(h), ["create 2 1", "rqh 2 4 1"], "on_response_*/on_log/on_done/on_delete are skipped");
    assert.ok(hostLogs(h.logs).includes("Function: proxy_on_request_headers failed: Uncaught RuntimeError: unreachable"));
    const next = h.worker(0).newStream().requestHeaders(REQ, true);
    assert.equal(next.downstream.headers?.get(":status"), "503");
    assert.equal(next.upstream.headers, null);
    assert.equal(streamLogs(h).length, 2, "the failed VM is not called again");
  } finally {
    h.close();
  }
});

test("a client reset mid-stream still runs on_log, on_done, on_delete", async () => {
  const h = await host("recorder", "010000");
  try {
    const s = h.worker(0).newStream().requestHeaders(REQ).requestBody("abc");
    s.reset();
    assert.deepEqual(streamLogs(h).slice(-3), ["log 2", "done 2", "delete 2"]);
    assert.equal(s.upstream.aborted, true);
    assert.equal(h.liveContexts(), 0);
  } finally {
    h.close();
  }
});
