// Loading a plugin the way Envoy does (sources: Envoy Wasm overview; proxy-wasm C++ host: filter status, cpp-host `createWasm` /
// `getOrCreateThreadLocalPlugin`, Envoy `PluginConfig`): a base VM (link + start), a throw-away
// canary VM that runs the full start + configure sequence (its failure rejects the config), then one
// VM per worker. Per stream, a worker hands out a filter context following the failure policy
// (sources: Envoy Wasm filter configuration, Envoy `PluginConfig::createContext` / `maybeReloadHandleIfNeeded`).
//
// Also home of the socket-free stream driver (Worker.newStream()) used by host unit tests and
// benchmarks.

import { readFileSync } from "node:fs";
import { parseModule } from "./wasm-module.ts";
import { WasmInstance, abiVersionOf, type CompiledModule } from "./vm.ts";
import { StreamContext, type RootContext } from "./context.ts";
import { HttpStream, type FilterCallbacks, type HttpStreamOptions, type ConnectionInfo, type ResolvedRoute } from "./stream.ts";
import { HeaderMap } from "./headers.ts";
import { StatsStore } from "./metrics.ts";
import { sharedDataView, type SharedData } from "./shared.ts";
import { LogLevel } from "./constants.ts";
import type { BodyBuffer } from "./buffer.ts";
import type { ClusterManager, HostServices, LogEntry, PluginConfig } from "./services.ts";

export type { LogEntry } from "./services.ts";

/** Public plugin options (the `PluginConfig` subset tests configure; names fixed by the API). */
export interface PluginOptions {
  name?: string;               // default "ai-gateway"
  rootId?: string;             // default "ai_gateway"
  vmId?: string;               // default "ai_gateway" (shared-data namespace)
  configuration: string;       // PLUGIN_CONFIGURATION (JSON text)
  vmConfiguration?: string;
  failurePolicy?: "FAIL_CLOSED" | "FAIL_OPEN" | "FAIL_RELOAD";  // default FAIL_CLOSED
  failOpen?: boolean;          // legacy; setting both is a config error
  allowOnHeadersStopIteration?: boolean;  // default true (Envoy >= 1.35 with it on)
  env?: Record<string, string>;           // vm_config.environment_variables.key_values
  reloadBackoffMs?: number;               // default 1000
}

/** The plugin could not be loaded/configured: Envoy would reject the configuration. */
export class LoadError extends Error {
  constructor(message: string, readonly logs: LogEntry[]) {
    super(message);
    this.name = "LoadError";
  }
}

export interface HostOptions {
  wasm: string | Uint8Array;
  plugin: PluginOptions;
  /** Worker VMs (default 2), plus the canary and the base VM at load. */
  workers?: number;
  /** Stream buffer limit (per_connection_buffer_limit_bytes), default 1 MiB. */
  bufferLimitBytes?: number;
  /** The `wasm` logger level (default 2 = info, Envoy's default); lower messages are not emitted. */
  logLevel?: number;
  /** Clusters for http_call/grpc_call (default: none, every call → BAD_ARGUMENT/PARSE_FAILURE). */
  clusters?: ClusterManager;
  onLog?: (e: LogEntry) => void;
}

export function resolvePluginConfig(p: PluginOptions): PluginConfig {
  if (p.failOpen !== undefined && p.failurePolicy !== undefined) {
    // Envoy PluginConfig: "only one of fail_open or failure_policy can be set".
    throw new LoadError("only one of fail_open or failure_policy can be set", []);
  }
  const failOpen = p.failOpen === true;
  return {
    name: p.name ?? "ai-gateway",
    rootId: p.rootId ?? "ai_gateway",
    vmId: p.vmId ?? "ai_gateway",
    configuration: Buffer.from(p.configuration, "utf8"),
    vmConfiguration: Buffer.from(p.vmConfiguration ?? "", "utf8"),
    failurePolicy: failOpen ? "FAIL_OPEN" : (p.failurePolicy ?? "FAIL_CLOSED"),
    failOpen,
    allowOnHeadersStopIteration: p.allowOnHeadersStopIteration ?? true,
    env: Object.entries(p.env ?? {}),
    reloadBackoffMs: p.reloadBackoffMs ?? 1000,
  };
}

const NO_CLUSTERS: ClusterManager = {
  has: () => false,
  httpCall: () => { throw new Error("no clusters"); },
  grpcCall: () => { throw new Error("no clusters"); },
  grpcStream: () => { throw new Error("no clusters"); },
  inFlight: () => 0,
};

export class PluginHost {
  readonly logs: LogEntry[] = [];
  readonly stats = new StatsStore();
  readonly workers: Worker[] = [];
  readonly services: HostServices;
  readonly bufferLimitBytes: number;
  private base: WasmInstance | null = null;
  private closed = false;

  private constructor(readonly plugin: PluginConfig, readonly compiled: CompiledModule, opts: HostOptions) {
    this.bufferLimitBytes = opts.bufferLimitBytes ?? 1024 * 1024;
    const logs = this.logs;
    this.services = {
      plugin,
      stats: this.stats,
      logLevel: opts.logLevel ?? LogLevel.Info,
      clusters: opts.clusters ?? NO_CLUSTERS,
      log: (e) => {
        logs.push(e);
        opts.onLog?.(e);
      },
    };
  }

  /** Load like Envoy at config time; rejects with LoadError when Envoy would reject the config. */
  static async load(opts: HostOptions): Promise<PluginHost> {
    const plugin = resolvePluginConfig(opts.plugin);
    const bytes = typeof opts.wasm === "string" ? readFileSync(opts.wasm) : opts.wasm;
    let info;
    try {
      info = parseModule(bytes);
    } catch {
      throw new LoadError("Failed to parse corrupted Wasm module", []);
    }
    const abi = abiVersionOf(info);
    if (!abi) throw new LoadError("Missing or unknown Proxy-Wasm ABI version", []);
    if (abi === "0.1.0") throw new LoadError("Proxy-Wasm ABI 0.1.0 modules are not emulated by this host", []);
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    } catch (e) {
      throw new LoadError(`Failed to load Wasm bytecode: ${(e as Error).message}`, []);
    }
    const host = new PluginHost(plugin, { module, info, abi }, opts);
    host.start(opts.workers ?? 2);
    return host;
  }

  private start(workers: number): void {
    // Base VM (main thread): load + initialize (link, _initialize/_start).
    const base = WasmInstance.create(this.compiled, this.services, -2);
    if (base.isFailed) {
      base.destroy();
      throw new LoadError(base.failMessage, this.logs);
    }
    this.base = base;
    // Canary: full start + configure; a failure rejects the configuration (sources: Envoy Wasm overview).
    const canary = WasmInstance.create(this.compiled, this.services, -1);
    try {
      if (canary.isFailed) throw new LoadError(canary.failMessage, this.logs);
      const root = canary.startPlugin();
      if (!root) throw new LoadError(canary.isFailed ? canary.failMessage : "Failed to start base Wasm", this.logs);
      if (!root.onConfigure()) {
        throw new LoadError(canary.isFailed ? canary.failMessage : "Failed to configure base Wasm plugin", this.logs);
      }
    } catch (e) {
      this.base.destroy();
      throw e;
    } finally {
      canary.destroy();
    }
    for (let i = 0; i < workers; i++) this.workers.push(new Worker(this, i));
  }

  /** One worker VM with its root context, or null when start/configure failed (cpp-host returns nullptr). */
  createWorkerVm(index: number): { vm: WasmInstance; root: RootContext } | null {
    const vm = WasmInstance.create(this.compiled, this.services, index);
    if (vm.isFailed) {
      vm.destroy();
      return null;
    }
    const root = vm.startPlugin();
    if (!root) {
      this.log(LogLevel.Critical, "Failed to start thread-local Wasm", index);
      vm.destroy();
      return null;
    }
    if (!root.onConfigure()) {
      this.log(LogLevel.Critical, "Failed to configure thread-local Wasm plugin", index);
      vm.destroy();
      return null;
    }
    return { vm, root };
  }

  log(level: number, message: string, vm: number): void {
    this.services.log({ level, message, vm, origin: "host" });
  }

  worker(i: number): Worker { return this.workers[i]; }

  get sharedData(): SharedData { return sharedDataView(this.plugin.vmId); }

  /** Stream contexts not yet deleted, across all worker VMs (leak checks). */
  liveContexts(): number {
    let n = 0;
    for (const w of this.workers) n += w.liveContexts();
    return n;
  }

  pendingCalls(): number { return this.services.clusters.inFlight(); }

  /** Shut down: root contexts get on_done/on_delete (sources: proxy-wasm C++ host: filter status), VMs are destroyed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.workers) w.shutdown();
    this.base?.destroy();
  }
}

export class Worker {
  vm: WasmInstance | null = null;
  root: RootContext | null = null;
  /** cpp-host returned a null plugin handle at worker start: the filter is skipped (sources: Envoy Wasm filter configuration). */
  private nullHandle = false;
  private lastLoadMs: number;

  constructor(readonly host: PluginHost, readonly index: number) {
    const created = host.createWorkerVm(index);
    if (created) ({ vm: this.vm, root: this.root } = created);
    else this.nullHandle = true;
    this.lastLoadMs = performance.now();
  }

  liveContexts(): number {
    let n = 0;
    if (this.vm) for (const c of this.vm.contexts.values()) if (c instanceof StreamContext) n++;
    return n;
  }

  /**
   * Envoy `PluginConfig::createContext` for a new stream: null = the filter is not added (FAIL_OPEN
   * after a failure, or a null handle); a context with no VM = fail closed (503 wasm_fail_stream).
   */
  createFilter(cb: FilterCallbacks): StreamContext | null {
    if (this.nullHandle) return null;
    const plugin = this.host.plugin;
    this.maybeReload();
    const vm = this.vm;
    if (!vm || vm.isFailed) {
      if (plugin.failurePolicy === "FAIL_OPEN") return null;
      return new StreamContext(null, 0, null, cb, plugin.failOpen, plugin.allowOnHeadersStopIteration);
    }
    return new StreamContext(vm, vm.allocContextId(), this.root, cb, plugin.failOpen, plugin.allowOnHeadersStopIteration);
  }

  /** sources: Envoy Wasm filter configuration FAIL_RELOAD: only runtime errors; a new VM after a jittered backoff since the last load. */
  private maybeReload(): void {
    const vm = this.vm;
    const plugin = this.host.plugin;
    if (!vm || vm.failState !== "runtime_error" || plugin.failurePolicy !== "FAIL_RELOAD") return;
    const interval = plugin.reloadBackoffMs * (1 + Math.random() / 2); // JitteredLowerBound: [base, 1.5·base)
    const now = performance.now();
    const statPrefix = `wasm.${plugin.name}.`;
    if (now - this.lastLoadMs < interval) {
      this.host.stats.counter(`${statPrefix}vm_reload_backoff`).add(1n);
      return;
    }
    this.lastLoadMs = now;
    const created = this.host.createWorkerVm(this.index);
    if (!created) {
      this.host.stats.counter(`${statPrefix}vm_reload_failure`).add(1n);
      return;
    }
    this.host.stats.counter(`${statPrefix}vm_reload_success`).add(1n);
    vm.destroy();
    ({ vm: this.vm, root: this.root } = created);
  }

  shutdown(): void {
    const vm = this.vm;
    if (!vm) return;
    for (const r of vm.rootContexts) if (!vm.isFailed && r.onDone()) r.onDelete();
    vm.destroy();
  }

  /** A socket-free stream on this worker (see README "Stream driver"). */
  newStream(opts: DriverOptions = {}): StreamDriver {
    return new StreamDriver(this, opts);
  }
}

// ============================================================================ socket-free driver

export type HeaderInput = HeaderMap | Iterable<readonly [string, string]>;
export type BodyInput = Uint8Array | string;

export interface DriverOptions {
  /** Keep received chunks (default true); false only counts bytes (benchmarks). */
  record?: boolean;
  connection?: ConnectionInfo | null;
  protocol?: string;
  resolveRoute?: (headers: HeaderMap) => ResolvedRoute | null;
  bufferLimitBytes?: number;
}

export interface Recorded {
  headers: HeaderMap | null;
  chunks: Uint8Array[];
  bytes: number;
  trailers: HeaderMap | null;
  endStream: boolean;
}

export class StreamDriver {
  readonly stream: HttpStream;
  /** What reached the router (request side after the filter). */
  readonly upstream: Recorded & { aborted: boolean } = { headers: null, chunks: [], bytes: 0, trailers: null, endStream: false, aborted: false };
  /** What reached the client (response side after the filter). */
  readonly downstream: Recorded & { reset: string | null } = { headers: null, chunks: [], bytes: 0, trailers: null, endStream: false, reset: null };

  constructor(readonly worker: Worker, opts: DriverOptions) {
    const record = opts.record ?? true;
    const up = this.upstream, down = this.downstream;
    const streamOpts: HttpStreamOptions = {
      bufferLimitBytes: opts.bufferLimitBytes ?? worker.host.bufferLimitBytes,
      connection: opts.connection ?? { id: 1, remoteAddress: "127.0.0.1", remotePort: 50000, localAddress: "127.0.0.1", localPort: 10000 },
      protocol: opts.protocol ?? "HTTP/1.1",
      resolveRoute: opts.resolveRoute,
    };
    this.stream = new HttpStream({
      // Snapshot: later changes to the live map must not show up as "sent".
      headers: (h, eos) => { up.headers = record ? h.copy() : h; up.endStream = eos; },
      data: (d: BodyBuffer, eos) => {
        up.bytes += d.length;
        if (record && d.length) up.chunks.push(d.toBytes());
        up.endStream = eos;
      },
      trailers: (t) => { up.trailers = t.copy(); up.endStream = true; },
      abort: () => { up.aborted = true; },
    }, {
      headers: (h, eos) => { down.headers = record ? h.copy() : h; down.endStream = eos; },
      data: (d, eos) => {
        down.bytes += d.length;
        if (record && d.length) down.chunks.push(d);
        down.endStream = eos;
      },
      trailers: (t) => { down.trailers = t.copy(); down.endStream = true; },
      reset: (reason) => { down.reset = reason; },
    }, streamOpts);
    this.stream.filter = worker.createFilter(this.stream);
  }

  get context(): StreamContext | null { return this.stream.filter; }
  get ended(): boolean { return this.stream.destroyed; }

  requestHeaders(h: HeaderInput, eos = false): this {
    this.stream.decodeHeaders(toMap(h), eos);
    return this;
  }
  requestBody(b: BodyInput, eos = false): this {
    this.stream.decodeData(toBytes(b), eos);
    return this;
  }
  requestTrailers(h: HeaderInput): this {
    this.stream.decodeTrailers(toMap(h));
    return this;
  }
  responseHeaders(h: HeaderInput, eos = false): this {
    this.stream.encodeHeaders(toMap(h), eos);
    return this;
  }
  responseBody(b: BodyInput, eos = false): this {
    this.stream.encodeData(toBytes(b), eos);
    return this;
  }
  responseTrailers(h: HeaderInput): this {
    this.stream.encodeTrailers(toMap(h));
    return this;
  }
  /** The client disconnects: on_log/on_done/on_delete still run. */
  reset(): this {
    this.stream.downstreamReset();
    return this;
  }
  /** End of the exchange: a stream that has not finished is torn down as a client disconnect. */
  complete(): this {
    if (!this.stream.destroyed) this.stream.downstreamReset();
    return this;
  }

  upstreamBody(): string { return Buffer.concat(this.upstream.chunks).toString("utf8"); }
  downstreamBody(): string { return Buffer.concat(this.downstream.chunks).toString("utf8"); }
}

function toMap(h: HeaderInput): HeaderMap {
  return h instanceof HeaderMap ? h : HeaderMap.from(h);
}

function toBytes(b: BodyInput): Uint8Array {
  return typeof b === "string" ? Buffer.from(b, "utf8") : b;
}
