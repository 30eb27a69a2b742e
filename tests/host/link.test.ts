// Linking, start and load rules (reference §1.1, §1.3, §5.1, §8.1, §8.2).
// Host-only: tests of the imitation host's own Envoy emulation (tests/host/README.md), not of the filter.

import { test } from "node:test";
import assert from "node:assert/strict";
import { PluginHost, LoadError } from "./plugin-host.ts";
import { probe, moduleFile } from "./probes/assemble.ts";
import { wasmLogs, hostLogs } from "./testing.ts";

async function loadError(wasm: Uint8Array, plugin = { configuration: "" }): Promise<LoadError> {
  try {
    const h = await PluginHost.load({ wasm, plugin, workers: 1 });
    h.close();
  } catch (e) {
    assert.ok(e instanceof LoadError, `expected LoadError, got ${e}`);
    return e;
  }
  assert.fail("the module loaded but Envoy would reject it");
}

test("a module importing env.abort is rejected as a missing import", async () => {
  const e = await loadError(moduleFile("link-env-abort"));
  assert.equal(e.message, "Failed to load Wasm module due to a missing import: env.abort");
});

test("proxy_grpc_call with 10 params is rejected with Envoy's type-mismatch message", async () => {
  const e = await loadError(moduleFile("link-grpc10"));
  assert.equal(e.message,
    "Failed to load Wasm module due to an import type mismatch: env.proxy_grpc_call, " +
    "want: i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 -> i32, " +
    "but host exports: i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 -> i32");
});

test("a module without an ABI marker export is rejected", async () => {
  const e = await loadError(moduleFile("link-no-abi"));
  assert.equal(e.message, "Missing or unknown Proxy-Wasm ABI version");
});

test("imported globals fail as a missing import", async () => {
  const e = await loadError(moduleFile("link-global"));
  assert.equal(e.message, "Failed to load Wasm module due to a missing import: env.__stack_base");
});

test("an exported callback with the wrong signature fails initialization", async () => {
  const e = await loadError(moduleFile("link-bad-export"));
  assert.equal(e.message,
    "Bad function signature for: proxy_on_request_headers, want: i32 i32 i32 -> i32, but the module exports: i32 i32 -> i32");
});

test("a module without malloc or proxy_on_memory_allocate is rejected", async () => {
  const e = await loadError(moduleFile("link-no-malloc"));
  assert.equal(e.message, "Wasm module is missing malloc function.");
});

test("proxy_on_memory_allocate is accepted when malloc is absent", async () => {
  const h = await PluginHost.load({ wasm: moduleFile("link-memory-allocate"), plugin: { configuration: "" }, workers: 1 });
  assert.equal(h.workers.length, 1);
  h.close();
});

test("proxy_get_log_level is not provided to an ABI 0.2.0 module", async () => {
  const e = await loadError(moduleFile("link-abi020-log-level"));
  assert.equal(e.message, "Failed to load Wasm module due to a missing import: env.proxy_get_log_level");
});

test("a hostcall from a Wasm start section fails the load (no current context)", async () => {
  const e = await loadError(moduleFile("link-start-section"));
  assert.match(e.message, /^Failed to create new Wasm instance: .*env\.proxy_log called from a Wasm start section/);
});

test("a disallowed hostcall during _initialize traps (restricted_callback) and fails the load", async () => {
  const e = await loadError(probe("start-restricted"));
  assert.equal(e.message, "Function: _initialize failed: Uncaught RuntimeError: restricted_callback");
});

test("start runs _initialize then main with allow-listed WASI calls, env vars and fd_write logs", async () => {
  const h = await PluginHost.load({ wasm: probe("start-allowed"), plugin: { configuration: "", env: { K: "V1" } }, workers: 1 });
  try {
    const expected = ["init", "env_sizes 1 5", "env0 K=V1", "to stdout", "fd_write 0", "fd_badf 8", "clock_monotonic 0",
      "clock_bad 58", "random_ok 0", "random_too_big 28", "init_done", "main"];
    // base VM (-2), canary (-1) and the worker each run the start sequence.
    for (const vm of [-2, -1, 0]) assert.deepEqual(wasmLogs(h.logs, vm), expected, `vm ${vm}`);
    // fd_write(1) is logged at info level.
    assert.equal(h.logs.find((l) => l.message === "to stdout")?.level, 2);
  } finally {
    h.close();
  }
});

test("on_configure returning false in the canary rejects the configuration", async () => {
  const e = await loadError(probe("recorder"), { configuration: "000000F" });
  assert.equal(e.message, "Failed to configure base Wasm plugin");
  // The canary ran the full start + configure sequence before rejecting.
  assert.deepEqual(wasmLogs(e.logs, -1), ["create 1 0", "vm_start 0", "configure 7"]);
});

test("setting both fail_open and failure_policy is a configuration error", async () => {
  await assert.rejects(
    PluginHost.load({ wasm: probe("recorder"), plugin: { configuration: "000000", failOpen: true, failurePolicy: "FAIL_CLOSED" } }),
    (e: unknown) => e instanceof LoadError && e.message === "only one of fail_open or failure_policy can be set");
});

test("one canary plus one VM per worker, each with its own instance and context ids", async () => {
  const h = await PluginHost.load({ wasm: probe("recorder"), plugin: { configuration: "000000" }, workers: 3 });
  try {
    assert.deepEqual(wasmLogs(h.logs, -1), ["create 1 0", "vm_start 0", "configure 6"]);
    for (const w of [0, 1, 2]) assert.deepEqual(wasmLogs(h.logs, w), ["create 1 0", "vm_start 0", "configure 6"]);
    // Context ids are per VM: the first stream on each worker is id 2.
    const a = h.worker(0).newStream().requestHeaders([[":path", "/"]], true);
    const b = h.worker(1).newStream().requestHeaders([[":path", "/"]], true);
    assert.equal(a.context!.id, 2);
    assert.equal(b.context!.id, 2);
    assert.notEqual(h.worker(0).vm, h.worker(1).vm);
  } finally {
    h.close();
  }
});

test("a hostcall made from inside malloc traps and fails the VM", async () => {
  const h = await PluginHost.load({ wasm: moduleFile("link-malloc-hostcall"), plugin: { configuration: "" }, workers: 1 });
  try {
    const s = h.worker(0).newStream().requestHeaders([[":path", "/x"], [":method", "GET"]], true);
    assert.equal(h.worker(0).vm!.failState, "runtime_error");
    assert.ok(hostLogs(h.logs).includes("Function: malloc failed: Uncaught RuntimeError: restricted_callback"));
    // The callback itself ran to completion ("after"), then the failed VM fails the stream (§5.6).
    assert.equal(s.downstream.headers?.get(":status"), "503");
  } finally {
    h.close();
  }
});
