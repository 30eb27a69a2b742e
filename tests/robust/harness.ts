// Drives the real release filter (build/ai-gateway.wasm) through the socket-free stream driver of
// the Envoy-faithful host (tests/host PluginHost): one plugin instance per configuration, one
// exchange per input (client request → what the filter sends upstream → the provider's answer
// fed back → what the client gets), and after each exchange the invariants of oracle.ts plus the
// VM's health: a trap fails the VM (the host turns it into FailState runtime_error), which is
// recorded as a finding and answered by loading a fresh plugin instance so the run goes on.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PluginHost, LoadError, resolvePluginConfig, type LogEntry } from "../host/plugin-host.ts";
import { HostBug, WasmInstance, abiVersionOf, type CompiledModule } from "../host/vm.ts";
import { parseModule } from "../host/wasm-module.ts";
import { StatsStore } from "../host/metrics.ts";
import type { ClusterManager, HostServices } from "../host/services.ts";
import { GATEWAY_WASM, ROOT, CLIENT_SECRETS, CLIENT_SECRET_VALUES, loadCases, type ProviderCase } from "../providers/fixture-case.ts";
import { seedGcpTokens } from "../providers/gcp-token.ts";
import { check, endpointFor, type Endpoint, type Exchange, type Seen } from "./oracle.ts";
import { framingFor } from "./framings.ts";

export { GATEWAY_WASM, ROOT };

/** Per-connection buffer limit of the emulated Envoy; above the filter's max_request_bytes (1 MiB) so the filter's own 413 is exercised. */
export const BUFFER_LIMIT = 16 * 1024 * 1024;
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export interface Finding {
  target: string;
  seed: string;
  iteration: number | string;
  label: string;
  caseId: string;
  problems: string[];
  /** Where the reproducer was written (when an output directory is set). */
  file?: string;
}

export interface RequestSpec {
  method?: string;
  path: string;
  /** Extra or replacing request headers (lower-case names); null values remove the default. */
  headers?: Record<string, string | null>;
  body: Buffer;
  /** Cut points of the request body into data frames (default: one frame + the empty HTTP/1 end). */
  cuts?: number[];
  /** End the request on the headers (no body). */
  noBody?: boolean;
}

export interface ResponseSpec {
  status: number;
  headers: [string, string][];
  body: Buffer;
  cuts?: number[];
  /** Close the body with an empty end-of-stream frame (HTTP/1 chunked) instead of eos on the last part. */
  emptyEnd?: boolean;
  /** The response ends on its headers (no body at all; `body` is ignored). */
  endOnHeaders?: boolean;
}

export interface RunResult {
  exchange: Exchange;
  problems: string[];
  /** Client bytes, for split-invariance comparisons. */
  clientText: string;
  trapped: boolean;
}

const NO_CLUSTERS: ClusterManager = {
  has: () => false,
  httpCall: () => { throw new Error("no clusters"); },
  grpcCall: () => { throw new Error("no clusters"); },
  grpcStream: () => { throw new Error("no clusters"); },
  inFlight: () => 0,
};

/** One plugin instance per configuration text; replaced after a trap. */
export class Hosts {
  private byConfig = new Map<string, PluginHost>();
  private parsed = new Map<string, any>();
  private wasm: Buffer;
  loads = 0;
  constructor(wasm: string | Uint8Array = GATEWAY_WASM) {
    if (typeof wasm === "string" && !existsSync(wasm)) throw new Error(`${wasm} is missing: run npm run build`);
    this.wasm = typeof wasm === "string" ? readFileSync(wasm) : Buffer.from(wasm);
  }
  async get(configText: string, env?: Record<string, string>): Promise<PluginHost> {
    const key = configText + "\u0000" + JSON.stringify(env ?? {});
    let h = this.byConfig.get(key);
    if (!h || !h.worker(0)?.vm || h.worker(0).vm!.isFailed) {
      h?.close();
      h = await PluginHost.load({ wasm: this.wasm, plugin: { configuration: configText, env }, workers: 1, bufferLimitBytes: BUFFER_LIMIT });
      this.loads++;
      this.byConfig.set(key, h);
    }
    // Backends with GCP service-account auth (Vertex) find their OAuth token in the filter's
    // cache, as in the provider fixtures: the fuzzed exchange is the provider's, not the token
    // endpoint's (faults.test.ts fails that one). Seeded before every exchange, since a fuzzed
    // 401 from the provider rightly drops the cached token.
    if (!this.parsed.has(configText)) {
      let v: any;
      try { v = JSON.parse(configText); } catch { v = null; }
      this.parsed.set(configText, Array.isArray(v?.backends) ? v : null);
    }
    seedGcpTokens(h.sharedData, this.parsed.get(configText));
    return h;
  }
  /** Loads a configuration like Envoy would: the host, or the LoadError. */
  async tryLoad(configText: string, env?: Record<string, string>): Promise<PluginHost | LoadError> {
    try {
      this.loads++;
      return await PluginHost.load({ wasm: this.wasm, plugin: { configuration: configText, env }, workers: 1, bufferLimitBytes: BUFFER_LIMIT });
    } catch (e) {
      if (e instanceof LoadError) return e;
      throw e;
    }
  }
  get wasmBytes(): Buffer { return this.wasm; }

  /**
   * Envoy's configuration check alone (§5.1 canary: start + on_configure on a fresh VM), on a module
   * compiled once: what decides whether a configuration is refused, at a fraction of a full load.
   */
  canary(configText: string, env?: Record<string, string>): { ok: boolean; logs: LogEntry[]; failMessage: string } {
    this.compiled ??= (() => {
      const info = parseModule(this.wasm);
      return { module: new WebAssembly.Module(this.wasm as Uint8Array<ArrayBuffer>), info, abi: abiVersionOf(info)! };
    })();
    const logs: LogEntry[] = [];
    const services: HostServices = {
      plugin: resolvePluginConfig({ configuration: configText, env }), stats: new StatsStore(), logLevel: 2,
      log: (e) => { logs.push(e); }, clusters: NO_CLUSTERS,
    };
    const vm = WasmInstance.create(this.compiled, services, -1);
    try {
      if (vm.isFailed) return { ok: false, logs, failMessage: vm.failMessage };
      const root = vm.startPlugin();
      const ok = root !== null && root.onConfigure() && !vm.isFailed;
      return { ok, logs, failMessage: vm.isFailed ? vm.failMessage : ok ? "" : "Failed to configure base Wasm plugin" };
    } finally { vm.destroy(); }
  }
  private compiled: CompiledModule | undefined;
  close(): void { for (const h of this.byConfig.values()) h.close(); this.byConfig.clear(); }
}

const DEFAULT_HEADERS: Record<string, string> = {
  ":scheme": "http", ":authority": "gateway.test", "content-type": "application/json",
  authorization: CLIENT_SECRETS.authorization, "api-key": CLIENT_SECRETS["api-key"], "x-api-key": CLIENT_SECRETS["x-api-key"],
};

/** What runExchange was asked to run, for replaying a sample of the fuzz corpus elsewhere (real Envoy). */
export interface RecordedExchange { config: any; req: RequestSpec; resp: ResponseSpec | null; clientFault: boolean; abortAfter?: number }
let recorder: ((x: RecordedExchange) => void) | null = null;
/** Sets (or clears, with null) the function every runExchange call reports its inputs to. */
export function recordExchanges(f: ((x: RecordedExchange) => void) | null): void { recorder = f; }

/**
 * One exchange. The provider's answer is fed only when the filter sent the request upstream
 * (and did not answer by itself); `clientAbortAfterParts` resets the stream after that many
 * response body parts (a client that goes away mid-stream).
 */
export function runExchange(host: PluginHost, config: any, req: RequestSpec, resp: ResponseSpec | null,
  opts: { clientFault: boolean; clientAbortAfterParts?: number; /** Skip the output oracle (VM health is always checked). */ noOracle?: boolean } = { clientFault: true }): RunResult {
  recorder?.({ config, req, resp, clientFault: opts.clientFault, abortAfter: opts.clientAbortAfterParts });
  const worker = host.worker(0);
  host.logs.length = 0;
  const d = worker.newStream();
  const headers: [string, string][] = [[":method", req.method ?? "POST"], [":path", req.path]];
  const merged = { ...DEFAULT_HEADERS, "content-length": String(req.body.length), ...(req.headers ?? {}) };
  for (const [k, v] of Object.entries(merged)) if (v !== null && v !== undefined) headers.push([k, v]);
  let hostBug = "";
  let fed: ResponseSpec | null = null;
  try {
    d.requestHeaders(headers, !!req.noBody);
    if (!req.noBody) {
      const cuts = req.cuts ?? [];
      let at = 0;
      for (const c of cuts) { d.requestBody(req.body.subarray(at, c), false); at = c; }
      d.requestBody(req.body.subarray(at), false);
      d.requestBody(Buffer.alloc(0), true); // HTTP/1: the body ends with an empty end-of-stream frame
    }
    if (d.upstream.headers && !d.downstream.headers && !d.ended && resp) {
      fed = resp;
      const rh: [string, string][] = [[":status", String(resp.status)], ...resp.headers];
      d.responseHeaders(rh, !!resp.endOnHeaders);
      if (resp.endOnHeaders) fed = { ...resp, body: Buffer.alloc(0) };
    }
    if (fed && !fed.endOnHeaders) {
      const resp = fed;
      const cuts = resp.cuts ?? [];
      const parts: Buffer[] = [];
      let at = 0;
      for (const c of cuts) { parts.push(resp.body.subarray(at, c)); at = c; }
      parts.push(resp.body.subarray(at));
      parts.forEach((p, i) => {
        if (opts.clientAbortAfterParts !== undefined && i >= opts.clientAbortAfterParts) return;
        d.responseBody(p, !resp.emptyEnd && i === parts.length - 1);
      });
      if (opts.clientAbortAfterParts !== undefined && opts.clientAbortAfterParts < parts.length) d.reset();
      else if (resp.emptyEnd) d.responseBody(Buffer.alloc(0), true);
    }
    d.complete();
  } catch (e) {
    if (e instanceof HostBug) hostBug = e.message; else throw e;
  }
  const vm = worker.vm;
  const problems: string[] = [];
  let trapped = false;
  if (!vm || vm.isFailed) { trapped = true; problems.push(`TRAP: ${vm ? vm.failMessage : "worker VM gone"}`); }
  if (hostBug) problems.push(`HOST ERROR: ${hostBug}`);
  for (const l of host.logs) if (l.origin === "host" && l.level >= 4 && !trapped) problems.push(`host error log: ${l.message}`);
  if (host.liveContexts() !== 0) problems.push(`${host.liveContexts()} stream context(s) alive after the exchange`);
  if (host.pendingCalls() !== 0) problems.push(`${host.pendingCalls()} callout(s) pending after the exchange`);

  const uh = d.upstream.headers;
  const upstream: Seen | null = uh && (!d.downstream.headers || fed) ? { headers: uh.pairs(), body: Buffer.concat(d.upstream.chunks) } : null;
  const dh = d.downstream.headers;
  const ch: Record<string, string> = {};
  if (dh) for (const [k, v] of dh.pairs()) if (!k.startsWith(":")) ch[k] = v;
  const body = Buffer.concat(d.downstream.chunks);
  const endpoint: Endpoint = endpointFor(req.path);
  const exchange: Exchange = {
    endpoint, config, requestBytes: req.body,
    upstream, response: fed ? { status: fed.status, headers: fed.headers, body: fed.body } : null,
    client: { status: Number(dh?.get(":status") ?? 0), headers: ch, body, reset: d.downstream.reset },
    secrets: CLIENT_SECRET_VALUES,
    logLines: host.logs.filter((l) => l.origin === "wasm").map((l) => l.message),
    clientFault: opts.clientFault,
  };
  if (!trapped && opts.clientAbortAfterParts === undefined && !opts.noOracle) {
    const ct = fed ? (fed.headers.find(([k]) => k === "content-type")?.[1] ?? "") : "";
    const framing = framingFor(ct);
    problems.push(...check(exchange, () => (framing && fed ? framing.payloads(fed.body) : [])));
  }
  host.logs.length = 0;
  return { exchange, problems, clientText: body.toString("latin1").replace(/"created":\d+/g, "\"created\":0"), trapped };
}

/** The provider answer of a fixture case as a ResponseSpec (content-length for JSON bodies). */
export function caseResponse(c: ProviderCase, body?: Buffer): ResponseSpec | null {
  const r = c.response;
  if (!r) return null;
  const b = body ?? r.body;
  const headers: [string, string][] = [];
  for (const [k, v] of Object.entries(r.headers)) {
    const name = k.toLowerCase();
    if (name === "content-length" || name === "transfer-encoding") continue;
    for (const x of Array.isArray(v) ? v : [v]) headers.push([name, x]);
  }
  if (!r.isStream) headers.push(["content-length", String(b.length)]);
  return { status: r.status, headers, body: b };
}

/** A provider error every backend can answer with (for requests whose case has no upstream answer). */
export function genericErrorResponse(): ResponseSpec {
  const body = Buffer.from(JSON.stringify({ error: { message: "bad request", type: "invalid_request_error", param: null, code: null } }));
  return { status: 400, headers: [["content-type", "application/json"], ["content-length", String(body.length)]], body };
}

/** The case's client request, with the headers its client sends (anthropic-version for Messages clients). */
export function caseRequest(c: ProviderCase, body?: Buffer, path?: string): RequestSpec {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.clientHeaders)) headers[k.toLowerCase()] = v;
  return { path: path ?? c.endpoint, body: body ?? c.requestBytes, ...(Object.keys(headers).length ? { headers } : {}) };
}

export const allCases = (): ProviderCase[] => loadCases();

// ------------------------------------------------------------------------------------ findings

export class Findings {
  readonly list: Finding[] = [];
  /** Distinct problem signatures (first line without numbers) → count, to keep reports short. */
  readonly bySignature = new Map<string, number>();
  constructor(private outDir: string | null) {}

  add(f: Finding, input: { request?: RequestSpec; response?: ResponseSpec | null; config?: string }): void {
    const sig = `${f.target}: ${f.problems[0]?.replace(/\d+/g, "N").slice(0, 160)}`;
    const n = (this.bySignature.get(sig) ?? 0) + 1;
    this.bySignature.set(sig, n);
    if (this.outDir && n <= 3) {
      mkdirSync(this.outDir, { recursive: true });
      const file = join(this.outDir, `${f.target}-${String(f.iteration).replace(/[^\w.-]/g, "_")}.json`);
      writeFileSync(file, JSON.stringify({
        ...f,
        request: input.request ? { ...input.request, body: input.request.body.toString("base64") } : undefined,
        response: input.response ? { ...input.response, body: input.response.body.toString("base64") } : undefined,
        config: input.config,
      }, null, 1));
      f.file = file;
    }
    if (this.list.length < 1000) this.list.push(f);
  }

  get count(): number { let n = 0; for (const v of this.bySignature.values()) n += v; return n; }

  summary(max = 20): string {
    return [...this.bySignature.entries()].sort((a, b) => b[1] - a[1]).slice(0, max).map(([s, n]) => `  ${n}× ${s}`).join("\n");
  }
}
