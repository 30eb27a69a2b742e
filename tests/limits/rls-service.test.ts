// The filter's RLS codec (assembly/limits/rls.ts) against the REAL Envoy rate limit service
// (envoyproxy/ratelimit built from source by scripts/install-ratelimit.sh, with a private Redis;
// tests/support/ratelimit.ts). The request bytes come from the filter's own encoder and the
// replies are read by its own decoder (compiled from tests/limits/codec/index.ts); they travel
// over the test host's gRPC client (tests/host/clusters.ts grpcCall: HTTP/2 + gRPC framing, the
// path proxy_grpc_call takes). If the service is not installed the tests FAIL, they never skip.
//
// Semantics under test (sources: envoyproxy/ratelimit): per-descriptor hits_addend 0 checks without
// consuming; a debit adds its hits in full; OVER_LIMIT iff used > limit; used == limit is OK with
// limit_remaining 0 and current_limit present; a descriptor that matches no limit is OK without
// current_limit; fixed windows reset.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { startRateLimit, ROOT, type RateLimitService } from "../support/ratelimit.ts";
import { Clusters } from "../host/clusters.ts";
import { HeaderMap } from "../host/headers.ts";

const LIMIT = { timeout: 30_000 };
const SERVICE = "envoy.service.ratelimit.v3.RateLimitService";
const METHOD = "ShouldRateLimit";
const OK = 1, OVER_LIMIT = 2;
const UNIT_SECOND = 1, UNIT_DAY = 4;

// ------------------------------------------------------------------------------------------------
// The codec, compiled from AssemblyScript (test-only entry over the filter's module)

interface Codec {
  encodeRequest(domain: string, keys: string[], values: string[], entryCounts: number[], hits: bigint[], requestHits: number): Uint8Array;
  decodeResponse(bytes: Uint8Array): string;
}

interface Decoded {
  error: string;
  overall: number;
  statuses: { code: number; limit: { rpu: number; unit: number; name: string } | null; remaining: number; reset: number | null; exhausted: boolean }[];
  responseHeaders: [string, string][];
  requestHeaders: [string, string][];
}

const CODEC_DIR = join(ROOT, ".cache", "rls-codec");
const CODEC_INPUTS = [join(ROOT, "tests", "limits", "codec", "index.ts"), join(ROOT, "assembly", "limits", "rls.ts"), join(ROOT, "assembly", "util", "bytes.ts")];

async function loadCodec(): Promise<Codec> {
  const wasm = join(CODEC_DIR, "rls-codec.wasm"), js = join(CODEC_DIR, "rls-codec.js");
  const newest = Math.max(...CODEC_INPUTS.map((p) => statSync(p).mtimeMs));
  if (!existsSync(wasm) || !existsSync(js) || statSync(wasm).mtimeMs < newest) {
    mkdirSync(CODEC_DIR, { recursive: true });
    // An explicit config without "entries", or asc would also compile asconfig.json's gateway entry.
    // The stub runtime never collects, so values lowered by the bindings cannot move under them.
    const cfg = join(CODEC_DIR, "asconfig.json");
    writeFileSync(cfg, JSON.stringify({ options: {} }));
    execFileSync(join(ROOT, "node_modules", ".bin", "asc"), [CODEC_INPUTS[0], "--config", cfg, "--runtime", "stub",
      "--bindings", "raw", "--exportRuntime", "-O2", "-o", wasm], { cwd: ROOT, stdio: "inherit" });
  }
  const mod = await import(pathToFileURL(js).href);
  return (await mod.instantiate(await WebAssembly.compile(readFileSync(wasm)), {})) as Codec;
}

// ------------------------------------------------------------------------------------------------
// Calls

/** One descriptor: entries as [key, value] pairs; hits undefined = no per-descriptor wrapper. */
interface Desc { entries: [string, string][]; hits?: number | bigint }

let codec: Codec;
let rls: RateLimitService;
let clusters: Clusters;

function encode(domain: string, descs: Desc[], requestHits = 0): Uint8Array {
  const keys: string[] = [], values: string[] = [];
  for (const d of descs) for (const [k, v] of d.entries) { keys.push(k); values.push(v); }
  return codec.encodeRequest(domain, keys, values, descs.map((d) => d.entries.length),
    descs.map((d) => (d.hits === undefined ? -1n : BigInt(d.hits))), requestHits);
}

function grpc(c: Clusters, message: Uint8Array): Promise<{ status: number; message: string; body: Uint8Array | null }> {
  return new Promise((resolve) => {
    c.grpcCall("ratelimit", SERVICE, METHOD, new HeaderMap(), message, 5000, {
      onMessage: (m) => resolve({ status: 0, message: "", body: m }),
      onClose: (status, msg) => resolve({ status, message: msg, body: null }),
    });
  });
}

async function shouldRateLimit(descs: Desc[], opts: { domain?: string; requestHits?: number; via?: Clusters } = {}): Promise<Decoded> {
  const bytes = encode(opts.domain ?? "llm", descs, opts.requestHits ?? 0);
  assert.ok(bytes.length > 0, "the encoder refused the request");
  const r = await grpc(opts.via ?? clusters, bytes);
  assert.equal(r.status, 0, `gRPC status ${r.status} ${r.message}\n${rls.logs()}`);
  const d = JSON.parse(codec.decodeResponse(r.body!)) as Decoded;
  assert.equal(d.error, "", "the decoder rejected the service's reply");
  assert.equal(d.statuses.length, descs.length, "one status per descriptor");
  return d;
}

const check = (entries: [string, string][]) => shouldRateLimit([{ entries, hits: 0 }]);
const debit = (entries: [string, string][], n: number) => shouldRateLimit([{ entries, hits: n }]);
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

const CONFIG = {
  domain: "llm",
  descriptors: [
    { key: "user", rate_limit: { unit: "day", requests_per_unit: 10000, name: "tokens-per-day" } },
    { key: "tenant", value: "tiny", rate_limit: { unit: "day", requests_per_unit: 500, name: "tiny-tenant" } },
    { key: "burst", rate_limit: { unit: "second", requests_per_unit: 100 } },
  ],
};

before(async () => {
  codec = await loadCodec();
  rls = await startRateLimit({ config: CONFIG });
  clusters = new Clusters({ ratelimit: { host: "127.0.0.1", port: rls.grpcPort, http2: true } });
});

after(async () => {
  clusters?.close();
  await rls?.stop();
});

// ------------------------------------------------------------------------------------------------

test("the codec under test is the filter's: the worked bytes of the RLS messages", LIMIT, () => {
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex").replace(/(..)(?!$)/g, "$1 ");
  assert.equal(hex(encode("llm", [{ entries: [["user", "alice"]], hits: 0 }])),
    "0a 03 6c 6c 6d 12 11 0a 0d 0a 04 75 73 65 72 12 05 61 6c 69 63 65 1a 00");
  assert.equal(hex(encode("llm", [{ entries: [["user", "alice"]], hits: 1234 }])),
    "0a 03 6c 6c 6d 12 14 0a 0d 0a 04 75 73 65 72 12 05 61 6c 69 63 65 1a 03 08 d2 09");
  const d = JSON.parse(codec.decodeResponse(Buffer.from("080112100801120508e807100218a0062202082a", "hex"))) as Decoded;
  assert.deepEqual(d.statuses, [{ code: OK, limit: { rpu: 1000, unit: 2, name: "" }, remaining: 800, reset: 42, exhausted: false }]);
});

test("check with per-descriptor hits_addend 0 does not consume", LIMIT, async () => {
  for (let i = 0; i < 3; i++) {
    const r = await check([["user", "check-only"]]);
    assert.equal(r.overall, OK);
    const s = r.statuses[0];
    assert.equal(s.code, OK);
    assert.deepEqual(s.limit, { rpu: 10000, unit: UNIT_DAY, name: "tokens-per-day" });
    assert.equal(s.remaining, 10000, `check #${i} consumed`);
    assert.ok(s.reset !== null && s.reset > 0 && s.reset <= 86400, `duration_until_reset ${s.reset}`);
  }
});

test("debit N consumes exactly N; later checks see it", LIMIT, async () => {
  const who: [string, string][] = [["user", "debit"]];
  let r = await debit(who, 1234);
  assert.equal(r.overall, OK);
  assert.equal(r.statuses[0].remaining, 10000 - 1234);
  r = await check(who);
  assert.equal(r.statuses[0].remaining, 10000 - 1234);
  r = await debit(who, 1);
  assert.equal(r.statuses[0].remaining, 10000 - 1235);
  r = await check(who);
  assert.equal(r.statuses[0].remaining, 10000 - 1235);
});

test("a check after the limit was exceeded reports OVER_LIMIT (the debit itself adds in full)", LIMIT, async () => {
  const who: [string, string][] = [["user", "over"]];
  let r = await debit(who, 9000);
  assert.equal(r.overall, OK);
  r = await debit(who, 1200); // 10200 > 10000: counted anyway, answered OVER_LIMIT
  assert.equal(r.overall, OVER_LIMIT);
  assert.equal(r.statuses[0].code, OVER_LIMIT);
  assert.equal(r.statuses[0].remaining, 0);
  for (let i = 0; i < 2; i++) {
    r = await check(who);
    assert.equal(r.overall, OVER_LIMIT);
    assert.equal(r.statuses[0].code, OVER_LIMIT);
    assert.equal(r.statuses[0].remaining, 0);
    assert.equal(r.statuses[0].exhausted, true);
    assert.deepEqual(r.statuses[0].limit, { rpu: 10000, unit: UNIT_DAY, name: "tokens-per-day" });
  }
});

test("used == limit: the check is still OK, with limit_remaining 0 and current_limit present", LIMIT, async () => {
  const who: [string, string][] = [["tenant", "tiny"]];
  let r = await debit(who, 500);
  assert.equal(r.overall, OK);
  assert.equal(r.statuses[0].remaining, 0);
  r = await check(who);
  assert.equal(r.overall, OK, "strictly greater: used == limit is not over");
  assert.equal(r.statuses[0].code, OK);
  assert.equal(r.statuses[0].remaining, 0);
  assert.deepEqual(r.statuses[0].limit, { rpu: 500, unit: UNIT_DAY, name: "tiny-tenant" });
  assert.equal(r.statuses[0].exhausted, true, "a filter that stops at the limit denies here");
  r = await debit(who, 1);
  assert.equal(r.overall, OVER_LIMIT);
});

test("a descriptor that matches no limit is OK without current_limit (also in an unknown domain)", LIMIT, async () => {
  for (const domain of ["llm", "no-such-domain"]) {
    const r = await shouldRateLimit([{ entries: [["nobody-configured-this", "x"]], hits: 5 }], { domain });
    assert.equal(r.overall, OK);
    assert.deepEqual(r.statuses[0], { code: OK, limit: null, remaining: 0, reset: null, exhausted: false });
  }
});

test("several descriptors answer in request order; a request-level 0 without wrappers counts 1", LIMIT, async () => {
  let r = await shouldRateLimit([
    { entries: [["user", "multi"]], hits: 10 },
    { entries: [["unconfigured", "y"]], hits: 10 },
    { entries: [["user", "multi-legacy"]] }, // no wrapper: request-level hits_addend 0 → 1
  ]);
  assert.equal(r.overall, OK);
  assert.deepEqual(r.statuses.map((s) => [s.code, s.limit?.rpu ?? null, s.remaining]), [[OK, 10000, 9990], [OK, null, 0], [OK, 10000, 9999]]);
  r = await shouldRateLimit([{ entries: [["user", "multi-legacy"]] }], { requestHits: 7 });
  assert.equal(r.statuses[0].remaining, 9999 - 7);
});

test("flush() clears every counter", LIMIT, async () => {
  const who: [string, string][] = [["user", "flushed"]];
  await debit(who, 600);
  assert.equal((await check(who)).statuses[0].remaining, 9400);
  await rls.flush();
  assert.equal((await check(who)).statuses[0].remaining, 10000);
});

test("the window resets: a SECOND limit exceeded in one second is OK in the next", LIMIT, async () => {
  const who: [string, string][] = [["burst", "w"]];
  let attempt = 0;
  for (;;) {
    attempt++;
    // Start early in a second so that the debit and the check share one window.
    while (Date.now() % 1000 > 300) await sleep(5);
    const second = Math.floor(Date.now() / 1000);
    let r = await debit(who, 101);
    assert.equal(r.statuses[0].code, OVER_LIMIT);
    assert.deepEqual(r.statuses[0].limit, { rpu: 100, unit: UNIT_SECOND, name: "" });
    r = await check(who);
    if (Math.floor(Date.now() / 1000) !== second) { assert.ok(attempt < 3, "could not stay inside one second"); continue; }
    assert.equal(r.overall, OVER_LIMIT);
    assert.equal(r.statuses[0].exhausted, true);
    await sleep((second + 1) * 1000 - Date.now() + 150);
    r = await check(who);
    assert.equal(r.overall, OK, "a new window starts empty");
    assert.equal(r.statuses[0].remaining, 100);
    break;
  }
});

test("requests the service rejects: the encoder refuses them; sent by hand they get a gRPC error", LIMIT, async () => {
  assert.equal(encode("", [{ entries: [["user", "a"]], hits: 0 }]).length, 0);
  assert.equal(encode("llm", []).length, 0);
  // Same descriptor without field 1 (domain): the service answers with a non-OK gRPC status.
  const r = await grpc(clusters, Buffer.from("12110a0d0a04757365721205616c6963651a00", "hex"));
  assert.notEqual(r.status, 0);
  assert.equal(r.body, null);
});

test("response_headers_to_add from a service with LIMIT_RESPONSE_HEADERS_ENABLED", LIMIT, async () => {
  const other = await startRateLimit({ config: CONFIG, env: { LIMIT_RESPONSE_HEADERS_ENABLED: "true" } });
  const c = new Clusters({ ratelimit: { host: "127.0.0.1", port: other.grpcPort, http2: true } });
  try {
    const r = await shouldRateLimit([{ entries: [["user", "headers"]], hits: 250 }], { via: c });
    const h = new Map(r.responseHeaders.map(([k, v]) => [k.toLowerCase(), v]));
    assert.equal(h.get("ratelimit-limit")?.split(",")[0].trim(), "10000", JSON.stringify(r.responseHeaders));
    assert.equal(h.get("ratelimit-remaining"), "9750");
    assert.ok(Number(h.get("ratelimit-reset")) > 0);
  } finally {
    c.close();
    await other.stop();
  }
});
