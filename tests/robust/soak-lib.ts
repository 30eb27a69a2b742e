// The soak: many requests through ONE worker VM of the release filter (socket-free driver), mixed
// like real traffic — every fixture case (OpenAI-compatible, Azure, Anthropic, Bedrock, Gemini,
// Vertex; chat and Messages API clients; JSON and streams, provider errors), the provider's
// answer cut into random chunks, client errors, unknown models, model listings, client
// disconnects mid-stream — with local token limits on (one generous rule
// for everyone, one tight per-second rule that denies some requests). Every N requests it samples
// the VM's linear memory and the allocator's used/free bytes (heap.ts).
//
// Pass criteria (docs/robustness.md):
//   - no trap, no host error, no stream context alive and no callout pending after any request;
//   - linear memory does not grow after warm-up: its size at the end equals its size at the end
//     of the first 20% of the requests;
//   - no upward trend in the allocator's used bytes after warm-up: the largest sample of the last
//     half of the measured window is at most 10% (+64 KiB) above the largest of its first half;
//   - a sample of the answers (1 in 100) passes the full output oracle.

import { PluginHost } from "../host/plugin-host.ts";
import { seedGcpTokens } from "../providers/gcp-token.ts";
import { loadCases, GATEWAY_WASM, type ProviderCase } from "../providers/fixture-case.ts";
import { runExchange, caseResponse, caseRequest, genericErrorResponse, BUFFER_LIMIT, type RequestSpec, type ResponseSpec } from "./harness.ts";
import { HeapReader, staticDataEnd, type HeapStats } from "./heap.ts";
import { rngFor, type Rng } from "./prng.ts";
import { readFileSync } from "node:fs";

export interface SoakOptions {
  requests: number;
  sampleEvery: number;
  seed: string;
  /** Fraction of requests whose answer goes through the full oracle. */
  oracleRate?: number;
  progress?: (s: SoakSample) => void;
}

export interface SoakSample {
  requests: number;
  ms: number;
  memoryBytes: number;
  heapUsed: number;
  heapFree: number;
  heapBlocks: number;
}

export interface SoakResult {
  requests: number;
  ms: number;
  samples: SoakSample[];
  statuses: Record<string, number>;
  kinds: Record<string, number>;
  traps: number;
  problems: string[];
  memory: { start: number; afterWarmup: number; peak: number; end: number };
  heapUsed: { start: number; warmupMax: number; firstHalfMax: number; secondHalfMax: number; end: number; peak: number };
  pass: boolean;
  verdict: string[];
}

/** Every fixture configuration merged into one (the fixtures' backends and routes do not collide), with local limits. */
export function soakConfig(cases: ProviderCase[]): any {
  const backends: any[] = [], models: any[] = [];
  const names = new Set<string>(), matches = new Set<string>();
  for (const c of cases) {
    for (const b of c.config.backends) if (!names.has(b.name)) { names.add(b.name); backends.push(b); }
    for (const m of c.config.models) if (!matches.has(m.match)) { matches.add(m.match); models.push(m); }
  }
  return {
    backends, models,
    limits: {
      mode: "local", usage_event: true,
      rules: [
        { name: "everyone", key: ["client", "model"], window: "minute", tokens: 4000000000, cost: { input: 1, cached_input: 0.1, output: 4 } },
        { name: "tight", key: ["model"], match: { model: "deepseek-*" }, window: "second", tokens: 3000 },
      ],
    },
  };
}

type Kind = "case" | "case-chunked" | "bad-json" | "unknown-model" | "models" | "abort";

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const cases = loadCases();
  const config = soakConfig(cases);
  const configText = JSON.stringify(config);
  const wasm = readFileSync(GATEWAY_WASM);
  const host = await PluginHost.load({ wasm, plugin: { configuration: configText, vmId: `soak-${opts.seed}` }, workers: 1, bufferLimitBytes: BUFFER_LIMIT });
  const heap = new HeapReader(staticDataEnd(wasm));
  const vm = host.worker(0).vm!;
  const withResponse = cases.filter((c) => c.response);
  const res: SoakResult = {
    requests: 0, ms: 0, samples: [], statuses: {}, kinds: {}, traps: 0, problems: [],
    memory: { start: 0, afterWarmup: 0, peak: 0, end: 0 }, heapUsed: { start: 0, warmupMax: 0, firstHalfMax: 0, secondHalfMax: 0, end: 0, peak: 0 },
    pass: false, verdict: [],
  };
  const sample = (n: number, t0: number): SoakSample => {
    const h: HeapStats | null = heap.read(vm.memory);
    const s = { requests: n, ms: Math.round(performance.now() - t0), memoryBytes: vm.memory.buffer.byteLength, heapUsed: h?.used ?? -1, heapFree: h?.free ?? -1, heapBlocks: h?.blocks ?? -1 };
    res.samples.push(s);
    opts.progress?.(s);
    return s;
  };
  const note = (k: string, m: Record<string, number>) => { m[k] = (m[k] ?? 0) + 1; };
  const t0 = performance.now();
  sample(0, t0);
  const oracleEvery = Math.max(1, Math.round(1 / (opts.oracleRate ?? 0.01)));
  for (let i = 0; i < opts.requests; i++) {
    // One generator per request: the schedule is deterministic, and any request can be replayed alone.
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
    // Vertex backends find their OAuth token cached (a fixture's 401 from the provider drops it).
    seedGcpTokens(host.sharedData, config);
    const r = runExchange(host, config, req, resp, { clientFault: kind !== "case" && kind !== "case-chunked", clientAbortAfterParts: abortAfter, noOracle: i % oracleEvery !== 0 || kind === "abort" || kind === "bad-json" });
    note(String(r.exchange.client.status || (abortAfter !== undefined ? "aborted" : 0)), res.statuses);
    if (r.trapped) res.traps++;
    // Denials by the tight rule are expected answers (429), not problems of the oracle's kind.
    const problems = r.problems.filter((p) => !(r.exchange.client.status === 429 && /answered a client fault with 429|the provider answered/.test(p)));
    if (problems.length && res.problems.length < 20) res.problems.push(`request ${i} (${kind}, ${c.id}): ${problems.slice(0, 3).join("; ")}`);
    if (r.trapped) break;
    if ((i + 1) % opts.sampleEvery === 0) sample(i + 1, t0);
  }
  res.requests = res.samples[res.samples.length - 1].requests;
  res.ms = Math.round(performance.now() - t0);
  if (res.samples[res.samples.length - 1].requests !== opts.requests && res.traps === 0) sample(opts.requests, t0);
  host.close();
  return judge(res, opts.requests);
}

/** Applies the pass criteria to the samples (exported for the test of the criteria themselves). */
export function judge(res: SoakResult, total: number): SoakResult {
  const s = res.samples;
  const warm = total * 0.2;
  const after = s.filter((x) => x.requests >= warm);
  const atWarm = after[0] ?? s[s.length - 1];
  const measured = s.filter((x) => x.requests > atWarm.requests);
  const half = Math.floor(measured.length / 2);
  const max = (xs: SoakSample[], f: (x: SoakSample) => number) => xs.reduce((m, x) => Math.max(m, f(x)), 0);
  res.memory = { start: s[0].memoryBytes, afterWarmup: atWarm.memoryBytes, peak: max(s, (x) => x.memoryBytes), end: s[s.length - 1].memoryBytes };
  res.heapUsed = {
    start: s[0].heapUsed, warmupMax: max(s.filter((x) => x.requests <= atWarm.requests), (x) => x.heapUsed),
    firstHalfMax: max(measured.slice(0, half), (x) => x.heapUsed), secondHalfMax: max(measured.slice(half), (x) => x.heapUsed),
    end: s[s.length - 1].heapUsed, peak: max(s, (x) => x.heapUsed),
  };
  const v: string[] = [];
  if (res.traps) v.push(`${res.traps} trap(s)`);
  if (res.problems.length) v.push(`${res.problems.length}+ requests broke an invariant: ${res.problems.slice(0, 3).join(" | ")}`);
  if (res.requests < total) v.push(`stopped after ${res.requests} of ${total} requests`);
  if (res.memory.end !== res.memory.afterWarmup) v.push(`linear memory grew after warm-up: ${res.memory.afterWarmup} → ${res.memory.end} bytes`);
  if (s.some((x) => x.heapUsed < 0)) v.push("the allocator's heap could not be read");
  else if (measured.length >= 4 && res.heapUsed.secondHalfMax > res.heapUsed.firstHalfMax * 1.1 + 65536) {
    v.push(`allocator used bytes trend upwards after warm-up: max ${res.heapUsed.firstHalfMax} then ${res.heapUsed.secondHalfMax}`);
  }
  res.verdict = v;
  res.pass = v.length === 0;
  return res;
}

export function soakCsv(res: SoakResult): string {
  return ["requests,elapsed_ms,linear_memory_bytes,heap_used_bytes,heap_free_bytes,heap_blocks",
    ...res.samples.map((s) => [s.requests, s.ms, s.memoryBytes, s.heapUsed, s.heapFree, s.heapBlocks].join(","))].join("\n") + "\n";
}

export function soakSummary(res: SoakResult): string {
  const mb = (b: number) => `${(b / 1048576).toFixed(2)} MiB`;
  const kb = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
  return [
    `soak: ${res.requests} requests in ${(res.ms / 1000).toFixed(1)} s (${(res.ms * 1000 / Math.max(1, res.requests)).toFixed(0)} µs each), ${res.traps} traps, ${res.problems.length} problems`,
    `  kinds ${JSON.stringify(res.kinds)}`,
    `  statuses ${JSON.stringify(res.statuses)}`,
    `  linear memory: start ${mb(res.memory.start)}, after warm-up ${mb(res.memory.afterWarmup)}, peak ${mb(res.memory.peak)}, end ${mb(res.memory.end)}`,
    `  allocator used: start ${kb(res.heapUsed.start)}, warm-up max ${kb(res.heapUsed.warmupMax)}, measured 1st half max ${kb(res.heapUsed.firstHalfMax)}, 2nd half max ${kb(res.heapUsed.secondHalfMax)}, end ${kb(res.heapUsed.end)}, peak ${kb(res.heapUsed.peak)}`,
    `  verdict: ${res.pass ? "PASS" : "FAIL: " + res.verdict.join("; ")}`,
  ].join("\n");
}
