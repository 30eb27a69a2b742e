// The soak in real Envoy (issue 18 part 3; `npm run soak -- --envoy`): the same request mix as the
// host soak (soak-lib.ts: every fixture case of every provider, streams, provider errors, answers in
// random parts, client errors, unknown models, model listings, client disconnects, local limits on)
// through Envoy with 2 workers and the shipped failure policy, over real sockets
// (envoy-exchange.ts). Samples Envoy's RSS, its heap (server.memory_allocated) and the filter VMs'
// linear memory (ai_gateway.vm.linear_memory_bytes) from the admin endpoint.
//
// Pass criteria (docs/robustness.md):
//   - 0 requests answered by a failed VM (access log response details wasm_fail_stream: what
//     FAIL_CLOSED would answer forever), 0 VM failures in Envoy's log;
//   - the VMs' linear memory at the end equals its size at the end of warm-up (first 20%);
//   - Envoy's heap at most 8 MiB above its largest warm-up sample;
//   - no stream left open at the end; 1 answer in 100 passes the full output oracle.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Gateway } from "../support/gateway.ts";
import { loadCases, GATEWAY_WASM } from "../providers/fixture-case.ts";
import { caseResponse, caseRequest, genericErrorResponse, BUFFER_LIMIT, ROOT, type RequestSpec, type ResponseSpec } from "./harness.ts";
import { rngFor, type Rng } from "./prng.ts";
import { soakConfig } from "./soak-lib.ts";
import { PlannedUpstream, ExchangeClient, judgeExchange } from "./envoy-exchange.ts";
import { memorySample, mib, type MemorySample } from "../support/envoy-load.ts";
import { readYaml, wasmFilters } from "../deploy/support.ts";

export interface EnvoySoakOptions { requests: number; sampleEvery: number; seed: string; sockets?: number; progress?: (s: MemorySample) => void }

export interface EnvoySoakResult {
  describe: string;
  requests: number;
  ms: number;
  samples: MemorySample[];
  statuses: Record<string, number>;
  kinds: Record<string, number>;
  failedVmAnswers: number;
  vmFailures: string[];
  problems: string[];
  oracleChecked: number;
  liveAtEnd: number;
  pass: boolean;
  verdict: string[];
}

// Linear memory only grows (in 64 KiB pages): a worker meeting the mix's largest exchange for the
// first time after warm-up takes a few pages (768 KiB seen once in 20k). A leak of ~130 bytes a
// request over the ~16k post-warm-up requests of the CI soak exceeds this; the 1M soak is stricter.
const VM_GROWTH_MAX = 2 * 1024 * 1024;
const HEAP_GROWTH_MAX = 8 * 1048576;

type Kind = "case" | "case-chunked" | "bad-json" | "unknown-model" | "models" | "abort";

/** The failure policy of the shipped envoy/envoy.yaml (the soak runs what users run). */
function shippedFailurePolicy(): "FAIL_CLOSED" | "FAIL_RELOAD" | "FAIL_OPEN" {
  return wasmFilters(readYaml(join(ROOT, "envoy", "envoy.yaml")))[0].config.failure_policy;
}

export async function runEnvoySoak(opts: EnvoySoakOptions): Promise<EnvoySoakResult> {
  const cases = loadCases();
  const config = soakConfig(cases);
  const upstream = await PlannedUpstream.start();
  const clusters: Record<string, { host: string; port: number }> = {};
  for (const b of config.backends) {
    clusters[b.cluster] = { host: "127.0.0.1", port: upstream.port };
    if (b.auth?.token_cluster) clusters[b.auth.token_cluster] = { host: "127.0.0.1", port: upstream.port };
  }
  let failedVmAnswers = 0;
  const gw = await Gateway.start({
    platform: "envoy", wasm: readFileSync(GATEWAY_WASM), workers: 2, bufferLimitBytes: BUFFER_LIMIT,
    plugin: { configuration: JSON.stringify(config), vmId: `soak-${opts.seed}`, failurePolicy: shippedFailurePolicy() },
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters,
    accessLog: (e) => { if ((e.responseCodeDetails ?? "").startsWith("wasm_fail")) failedVmAnswers++; },
  });
  const sockets = opts.sockets ?? 16;
  const client = new ExchangeClient(gw, upstream, sockets);
  const res: EnvoySoakResult = {
    describe: gw.describe, requests: 0, ms: 0, samples: [], statuses: {}, kinds: {}, failedVmAnswers: 0, vmFailures: [],
    problems: [], oracleChecked: 0, liveAtEnd: 0, pass: false, verdict: [],
  };
  const note = (k: string, m: Record<string, number>) => { m[k] = (m[k] ?? 0) + 1; };
  const withResponse = cases.filter((c) => c.response);
  const t0 = performance.now();
  try {
    res.samples.push(await memorySample(gw, 0, t0));
    let next = 0, inFlight = 0;
    // An exchange the oracle checks runs alone, so the filter's request log line (which names no
    // request) can be told apart: the other lanes wait for it.
    let exclusive: Promise<void> | null = null;
    const lane = async () => {
      while (next < opts.requests) {
        while (exclusive) await exclusive;
        const i = next++;
        const checked = i % 100 === 0;
        let release = () => {};
        if (checked) {
          exclusive = new Promise<void>((ok) => { release = () => { exclusive = null; ok(); }; });
          while (inFlight > 0) await new Promise((ok) => setTimeout(ok, 2));
        }
        inFlight++;
        const rng: Rng = rngFor(opts.seed, "soak", i);
        const kind: Kind = rng.weighted([[80, "case"], [12, "case-chunked"], [2, "bad-json"], [2, "unknown-model"], [1, "models"], [3, "abort"]] as const);
        note(kind, res.kinds);
        const c = withResponse[i % withResponse.length];
        let req: RequestSpec = caseRequest(c);
        let resp: ResponseSpec | null = caseResponse(c) ?? genericErrorResponse();
        let abortAfter: number | undefined;
        if (kind === "case-chunked" || kind === "abort") resp = { ...resp, cuts: rng.cuts(resp.body.length, rng.range(2, 10)) };
        if (kind === "abort") abortAfter = rng.int((resp.cuts?.length ?? 0) + 1);
        if (kind === "bad-json") req = { ...req, body: req.body.subarray(0, rng.int(req.body.length)) };
        if (kind === "unknown-model") req = { ...req, body: Buffer.from(JSON.stringify({ ...c.request, model: `no-such-model-${i % 50}` })) };
        if (kind === "models") req = { method: "GET", path: i % 2 ? "/v1/models" : "/v1/models/gpt-4o-mini", body: Buffer.alloc(0), noBody: true };
        // The previous exchange's log line may reach us after its client saw the answer (Envoy logs
        // when the stream is torn down): let it land before the checked exchange's window opens.
        if (checked) await gw.idle().catch(() => {});
        const logFrom = gw.logs.length;
        const x = await client.run(config, req, resp, { clientFault: kind !== "case" && kind !== "case-chunked", abortAfterParts: abortAfter });
        note(abortAfter !== undefined ? "aborted" : String(x.client.status || "reset"), res.statuses);
        if (checked && kind !== "abort" && kind !== "bad-json") {
          res.oracleChecked++;
          // Envoy writes the filter's log line when the stream ends; give it a moment to arrive.
          const lines = () => gw.logs.slice(logFrom).filter((l) => l.origin === "wasm").map((l) => l.message);
          for (let w = 0; w < 100 && !lines().some((l) => l.startsWith("ai-gateway: request ")); w++) await new Promise((ok) => setTimeout(ok, 10));
          x.logLines = lines();
          // Denials by the tight rule are expected answers (429), as in the host soak.
          const p = judgeExchange(x).filter((m) => !(x.client.status === 429 && /answered a client fault with 429|the provider answered/.test(m)));
          if (p.length && res.problems.length < 20) res.problems.push(`request ${i} (${kind}, ${c.id}): ${p.slice(0, 3).join("; ")}`);
        }
        inFlight--;
        if (checked) release();
        if ((i + 1) % opts.sampleEvery === 0) { const s = await memorySample(gw, i + 1, t0); res.samples.push(s); opts.progress?.(s); }
      }
    };
    await Promise.all(Array.from({ length: sockets }, lane));
    res.requests = opts.requests;
    res.ms = Math.round(performance.now() - t0);
    const last = res.samples[res.samples.length - 1];
    if (last.requests !== opts.requests) res.samples.push(await memorySample(gw, opts.requests, t0));
    // Streams still open once every answer is in (aborted ones take Envoy a moment to reap).
    for (let w = 0; w < 50; w++) { res.liveAtEnd = await gw.liveContexts(); if (res.liveAtEnd === 0) break; await new Promise((ok) => setTimeout(ok, 100)); }
    res.failedVmAnswers = failedVmAnswers;
    res.vmFailures = gw.vmFailures().slice(0, 10);
  } finally {
    client.close();
    await gw.stop();
    await upstream.stop();
  }
  return judgeEnvoySoak(res);
}

export function judgeEnvoySoak(res: EnvoySoakResult): EnvoySoakResult {
  const s = res.samples;
  const warmEnd = s.find((x) => x.requests >= res.requests * 0.2) ?? s[s.length - 1];
  const warm = s.filter((x) => x.requests <= warmEnd.requests);
  const after = s.filter((x) => x.requests >= warmEnd.requests);
  const v: string[] = [];
  if (res.failedVmAnswers) v.push(`${res.failedVmAnswers} answers from a failed VM (wasm_fail_stream)`);
  if (res.vmFailures.length) v.push(`VM failures: ${res.vmFailures.slice(0, 3).join(" | ")}`);
  if (res.problems.length) v.push(`${res.problems.length}+ sampled answers broke an invariant: ${res.problems.slice(0, 3).join(" | ")}`);
  if (res.liveAtEnd) v.push(`${res.liveAtEnd} streams still open at the end`);
  const end = s[s.length - 1];
  if (end.vmBytes > warmEnd.vmBytes + VM_GROWTH_MAX) v.push(`the VMs' linear memory grew after warm-up by more than ${mib(VM_GROWTH_MAX)}: ${warmEnd.vmBytes} → ${end.vmBytes}`);
  const warmHeap = Math.max(...warm.map((x) => x.heapBytes)), heapPeak = Math.max(...after.map((x) => x.heapBytes));
  if (heapPeak > warmHeap + HEAP_GROWTH_MAX) v.push(`Envoy's heap grew after warm-up: ${mib(warmHeap)} → peak ${mib(heapPeak)}`);
  res.verdict = v;
  res.pass = v.length === 0;
  return res;
}

export function envoySoakSummary(res: EnvoySoakResult): string {
  const s = res.samples, end = s[s.length - 1];
  const warmEnd = s.find((x) => x.requests >= res.requests * 0.2) ?? end;
  const range = (f: (x: MemorySample) => number) => `${mib(Math.min(...s.map(f)))}–${mib(Math.max(...s.map(f)))}`;
  return [
    `soak in ${res.describe} (2 workers): ${res.requests} requests in ${(res.ms / 1000).toFixed(1)} s (${(res.requests / Math.max(1, res.ms) * 1000).toFixed(0)}/s), ` +
      `${res.failedVmAnswers} answers from a failed VM, ${res.vmFailures.length} VM failures, ${res.problems.length} oracle problems in ${res.oracleChecked} checked, ${res.liveAtEnd} open at the end`,
    `  kinds ${JSON.stringify(res.kinds)}`,
    `  statuses ${JSON.stringify(res.statuses)}`,
    `  RSS: start ${mib(s[0].rssBytes)}, after warm-up ${mib(warmEnd.rssBytes)}, end ${mib(end.rssBytes)} (range ${range((x) => x.rssBytes)})`,
    `  Envoy heap: start ${mib(s[0].heapBytes)}, after warm-up ${mib(warmEnd.heapBytes)}, end ${mib(end.heapBytes)} (range ${range((x) => x.heapBytes)})`,
    `  VMs' linear memory: start ${mib(s[0].vmBytes)}, after warm-up ${mib(warmEnd.vmBytes)}, end ${mib(end.vmBytes)}`,
    `  verdict: ${res.pass ? "PASS" : "FAIL: " + res.verdict.join("; ")}`,
  ].join("\n");
}

export function envoySoakCsv(res: EnvoySoakResult): string {
  return ["requests,elapsed_ms,rss_bytes,envoy_heap_bytes,vm_linear_memory_bytes",
    ...res.samples.map((s) => [s.requests, s.ms, s.rssBytes, s.heapBytes, s.vmBytes].join(","))].join("\n") + "\n";
}
