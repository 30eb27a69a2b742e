// ABI conformance: the built gateway (release and debug) and the SDK probe must link against
// Envoy's host surface (reference §1). The negative cases prove checkModule catches each way a
// module fails to load in Envoy, using hand-written WAT modules that differ from a passing one in
// exactly one place.
// Host-only: a static check of the module's imports and exports against Envoy's ABI table; the
// module loading in real Envoy is what every socket suite starts with.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import binaryen from "binaryen";
import { checkModule } from "./conformance.ts";
import { EXPORTS, REQUIRED_FILTER_EXPORTS, type FuncType } from "../host/envoy-abi.ts";
import { ROOT, buildTestFilter } from "../sdk/build-probe.ts";

const GATEWAY = join(ROOT, "build", "ai-gateway.wasm");
const GATEWAY_DEBUG = join(ROOT, "build", "ai-gateway.debug.wasm");
const GATEWAY_ENTRY = join(ROOT, "assembly", "index.ts");

// ---- the built modules ----

function ensureGatewayBuilt(): void {
  if (!existsSync(GATEWAY) || !existsSync(GATEWAY_DEBUG)) {
    execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "inherit" });
  }
}

// The gateway entry is written by another part of the project; until it exists there is nothing
// to build, and the test says so instead of passing.
const noGateway = existsSync(GATEWAY_ENTRY) ? false : "assembly/index.ts does not exist yet";

for (const file of [GATEWAY, GATEWAY_DEBUG]) {
  test(`${file.slice(ROOT.length + 1)} conforms to Envoy's ABI 0.2.1 surface`, { skip: noGateway }, () => {
    ensureGatewayBuilt();
    assert.deepEqual(checkModule(readFileSync(file)), []);
  });
}

test("the SDK probe filter (patched proxy-runtime) conforms", () => {
  const wasm = buildTestFilter();
  assert.deepEqual(checkModule(readFileSync(wasm)), []);
});

// ---- synthetic modules ----

const wat = (t: FuncType) =>
  t.params.map((p) => ` (param ${p})`).join("") + t.results.map((r) => ` (result ${r})`).join("");
const body = (t: FuncType) => t.results.map((r) => ` (${r}.const 0)`).join("");

interface Shape {
  imports?: string[];          // extra import lines
  drop?: string[];             // required exports to leave out
  override?: Record<string, FuncType>;
  start?: boolean;
  firstExports?: string[];     // extra function exports placed before the required ones
}

/** A module that passes checkModule, changed as described by `shape`. */
function module(shape: Shape = {}): Uint8Array {
  const lines: string[] = ["(module"];
  lines.push(...(shape.imports ?? []));
  lines.push(' (memory (export "memory") 1)');
  const funcs: string[] = [...(shape.firstExports ?? []),
    ...REQUIRED_FILTER_EXPORTS.filter((n) => n !== "memory" && !(shape.drop ?? []).includes(n))];
  for (const name of funcs) {
    const type = shape.override?.[name] ?? EXPORTS[name] ?? { params: [], results: [] };
    lines.push(` (func $${name} (export "${name}")${wat(type)}${body(type)})`);
  }
  if (shape.start) lines.push(" (func $init) (start $init)");
  lines.push(")");
  const mod = binaryen.parseText(lines.join("\n"));
  try {
    return mod.emitBinary();
  } finally {
    mod.dispose();
  }
}

const i32s = (n: number) => Array(n).fill("i32").join(" ");

test("the synthetic baseline module passes", () => {
  assert.deepEqual(checkModule(module()), []);
  // Correct imports of both kinds (env and WASI, incl. i64 params) pass too.
  assert.deepEqual(checkModule(module({ imports: [
    ` (import "env" "proxy_grpc_call" (func (param ${i32s(12)}) (result i32)))`,
    ' (import "env" "proxy_increment_metric" (func (param i32 i64) (result i32)))',
    ' (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))',
    ' (import "wasi_unstable" "clock_time_get" (func (param i32 i64 i32) (result i32)))',
  ] })), []);
});

function expectOnly(bytes: Uint8Array, pattern: RegExp): void {
  const problems = checkModule(bytes);
  assert.equal(problems.length, 1, `expected exactly one problem, got: ${JSON.stringify(problems)}`);
  assert.match(problems[0], pattern);
}

test("rejects proxy_grpc_call with the 10-param (pre-0.2.1 SDK) signature", () => {
  expectOnly(module({ imports: [` (import "env" "proxy_grpc_call" (func (param ${i32s(10)}) (result i32)))`] }),
    /^import env\.proxy_grpc_call: type mismatch, want: \(i32(, i32){11}\) -> \(i32\), but module has: \(i32(, i32){9}\) -> \(i32\)$/);
});

test("rejects env.abort (AssemblyScript default abort)", () => {
  expectOnly(module({ imports: [' (import "env" "abort" (func (param i32 i32 i32 i32)))'] }),
    /^import env\.abort: AssemblyScript default that Envoy does not provide/);
});

test("rejects proxy_clear_route_cache (ABI 0.1.0 only)", () => {
  expectOnly(module({ imports: [' (import "env" "proxy_clear_route_cache" (func (result i32)))'] }),
    /^import env\.proxy_clear_route_cache: registered only for ABI 0\.1\.0/);
});

test("rejects an import Envoy does not have", () => {
  expectOnly(module({ imports: [' (import "env" "proxy_get_monotonic_time" (func (param i32) (result i32)))'] }),
    /^import env\.proxy_get_monotonic_time: not provided by Envoy/);
});

test("rejects an imported global", () => {
  expectOnly(module({ imports: [' (import "env" "__stack_pointer" (global i32))'] }),
    /^imported global env\.__stack_pointer/);
});

test("rejects a wasm start section", () => {
  expectOnly(module({ start: true }), /^module has a wasm start section/);
});

test("rejects a module without ABI marker", () => {
  // The marker is also a required export, so both rules report it.
  const problems = checkModule(module({ drop: ["proxy_abi_version_0_2_1"] }));
  assert.equal(problems.length, 2, JSON.stringify(problems));
  assert.ok(problems.includes("required export proxy_abi_version_0_2_1 is missing"), JSON.stringify(problems));
  assert.ok(problems.some((p) => p.startsWith("missing ABI marker")), JSON.stringify(problems));
});

test("rejects a module whose first ABI marker is an older version", () => {
  expectOnly(module({ firstExports: ["proxy_abi_version_0_2_0"] }),
    /^wrong ABI marker: first marker export is proxy_abi_version_0_2_0/);
});

test("rejects proxy_on_request_headers with the ABI 0.1.0 (2-param) signature", () => {
  expectOnly(module({ override: { proxy_on_request_headers: { params: ["i32", "i32"], results: ["i32"] } } }),
    /^export proxy_on_request_headers: bad function signature, want: \(i32, i32, i32\) -> \(i32\), but module has: \(i32, i32\) -> \(i32\)$/);
});

test("rejects a module missing a required export (malloc)", () => {
  expectOnly(module({ drop: ["malloc"] }), /^required export malloc is missing$/);
});
