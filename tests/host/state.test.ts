// Process- and gateway-wide state: shared data (§5.7), shared queues (§5.7), metrics (§6), ticks (§5.3).
// Host-only: tests of the imitation host's own Envoy emulation (tests/host/README.md), not of the filter.

import { test } from "node:test";
import assert from "node:assert/strict";
import { PluginHost } from "./plugin-host.ts";
import { probe } from "./probes/assemble.ts";
import { wasmLogs, until } from "./testing.ts";

/** Socket tests fail instead of hanging when a stream never completes. */
const LIMIT = { timeout: 20_000 };

const REQ: [string, string][] = [[":method", "POST"], [":path", "/"], [":authority", "h"]];

test("shared data CAS across two worker VMs: the second writer with a stale cas gets CAS_MISMATCH", LIMIT, async () => {
  const vmId = "cas_test";
  const h = await PluginHost.load({ wasm: probe("shared"), plugin: { configuration: "", vmId }, workers: 2 });
  try {
    assert.equal(h.sharedData.set("k", "v0"), 0);
    const c0 = h.sharedData.get("k")!.cas;
    const a = h.worker(0).newStream().requestHeaders(REQ);
    const b = h.worker(1).newStream().requestHeaders(REQ);
    assert.deepEqual(wasmLogs(h.logs, 0), [`get 0 ${c0} 2`]);
    assert.deepEqual(wasmLogs(h.logs, 1), [`get 0 ${c0} 2`]);
    a.requestBody("x", true);
    b.requestBody("x", true);
    assert.deepEqual(wasmLogs(h.logs, 0), [`get 0 ${c0} 2`, "set 0"]);
    assert.deepEqual(wasmLogs(h.logs, 1), [`get 0 ${c0} 2`, "set 8"]);
    const now = h.sharedData.get("k")!;
    assert.equal(Buffer.from(now.value).toString(), "from-vm");
    assert.ok(now.cas > c0);
  } finally {
    h.close();
  }
  // The last VM with that vm_id is gone: its shared data is deleted (cpp-host vm_id handle callback).
  const again = await PluginHost.load({ wasm: probe("shared"), plugin: { configuration: "", vmId }, workers: 1 });
  try {
    again.worker(0).newStream().requestHeaders(REQ);
    assert.deepEqual(wasmLogs(again.logs, 0), ["get 1 0 0"]);
  } finally {
    again.close();
  }
});

test("shared queue: same token for the same name, delivery re-bound to the last registrant", LIMIT, async () => {
  const h = await PluginHost.load({ wasm: probe("queue"), plugin: { configuration: "", vmId: "queue_test" }, workers: 2 });
  try {
    const tokenOf = (vm: number) => wasmLogs(h.logs, vm).find((l) => l.startsWith("register"))!;
    assert.equal(tokenOf(-1), tokenOf(0));
    assert.equal(tokenOf(0), tokenOf(1));
    const token = tokenOf(1).split(" ")[2];
    h.worker(0).newStream().requestHeaders(REQ, true);
    assert.deepEqual(wasmLogs(h.logs, 0).slice(1), [`resolve 0 ${token}`, "enqueue 0", "resolve_missing 1"]);
    // Asynchronous notification to the last registrant (worker 1), never re-entrant.
    await until(() => wasmLogs(h.logs, 1).some((l) => l.startsWith("ready")));
    assert.deepEqual(wasmLogs(h.logs, 1).slice(1), [`ready 1 ${token}`, "dequeued msg", "again 7"]);
    assert.equal(wasmLogs(h.logs, 0).some((l) => l.startsWith("ready")), false);
  } finally {
    h.close();
  }
});

test("metrics: wasmcustom. names, id scheme, increment/record/get rules, shared across workers, Prometheus text", LIMIT, async () => {
  const h = await PluginHost.load({ wasm: probe("metrics"), plugin: { configuration: "" }, workers: 2 });
  try {
    for (const vm of [-1, 0, 1]) {
      assert.deepEqual(wasmLogs(h.logs, vm).slice(0, 3), ["ids 4 5 6", "third_counter 12", "bad_type 2"], `vm ${vm}`);
    }
    h.worker(0).newStream().requestHeaders(REQ, true);
    h.worker(1).newStream().requestHeaders(REQ, true);
    h.worker(0).newStream().requestHeaders(REQ, true);
    const perRequest = (v: number) => ["inc 0", "inc0 2", "gauge 0", "gauge_dec 0", "hist_inc 2", "hist_rec 0", "get_c 0", `c_value ${v}`,
      "get_h 2", "get_unknown 1"];
    // The counter is one Envoy stat shared by every VM: values aggregate across workers.
    assert.deepEqual(wasmLogs(h.logs, 0).slice(3), [...perRequest(1), ...perRequest(3)]);
    assert.deepEqual(wasmLogs(h.logs, 1).slice(3), perRequest(2));
    const stats = h.stats.snapshot();
    assert.equal(stats["wasmcustom.requests_total"], 3);
    assert.equal(stats["wasmcustom.active"], 6);
    assert.equal(stats["wasmcustom.5xx.count"], 0);
    assert.equal(stats["wasmcustom.a.b-c"], 0);
    const prom = h.stats.prometheus();
    assert.match(prom, /^# TYPE requests_total counter\nrequests_total\{\} 3$/m);
    assert.match(prom, /^# TYPE active gauge\nactive\{\} 6$/m);
    assert.match(prom, /^a_b_c\{\} 0$/m, "non [a-zA-Z0-9_] characters become _");
    assert.doesNotMatch(prom, /5xx/, "a name starting with a digit is dropped");
    assert.doesNotMatch(prom, /wasmcustom|envoy_requests/, "the wasmcustom. namespace is stripped, no envoy_ prefix");
    assert.match(prom, /^latency_ms_bucket\{le="25"\} 0\nlatency_ms_bucket\{le="50"\} 3$/m);
    assert.match(prom, /^latency_ms_sum\{\} 126\nlatency_ms_count\{\} 3$/m);
  } finally {
    h.close();
  }
});

test("ticks fire per root context on each worker VM independently; the canary's timer dies with it", LIMIT, async () => {
  const h = await PluginHost.load({ wasm: probe("ticks"), plugin: { configuration: "" }, workers: 2 });
  try {
    await until(() => wasmLogs(h.logs, 0).length >= 4 && wasmLogs(h.logs, 1).length >= 4);
    await new Promise((r) => setTimeout(r, 100));
    for (const vm of [0, 1]) assert.deepEqual(wasmLogs(h.logs, vm), ["arm 0", "tick 1 1", "tick 1 2", "tick 1 3"], `vm ${vm}`);
    assert.deepEqual(wasmLogs(h.logs, -1), ["arm 0"]);
  } finally {
    h.close();
  }
});
