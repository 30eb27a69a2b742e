// One Wasm VM instance, linked and driven like proxy-wasm-cpp-host's WasmBase + V8 integration
// inside Envoy. Owns: the instance and its memory, the context table (id 0 = VM context, root and
// stream contexts from one counter), the current/effective context, the "after VM call" action
// queue, metric ids, callout tokens and tick timers. Every host function Envoy registers is
// implemented here (env + both WASI module names); contexts implement the Envoy-specific parts.

import { ENV_IMPORTS, EXPORTS, START_ALLOWED, MALLOC_ALLOWED, WASI_IMPORTS, WASI_MODULES, ABI_MARKERS,
  sameType, showType, type FuncType } from "./envoy-abi.ts";
import type { ModuleInfo } from "./wasm-module.ts";
import { Status, LogLevel, Errno, BUFFER_TYPE_MAX, MAP_TYPE_MAX, STREAM_TYPE_MAX, MetricType } from "./constants.ts";
import { decodePairs, encodePairs, readLatin1, type Pair } from "./pairs.ts";
import { sharedDataStore, sharedQueueStore, acquireVmId, releaseVmId } from "./shared.ts";
import { CUSTOM_STAT_NAMESPACE, type Counter, type Gauge, type Histogram } from "./metrics.ts";
import { ContextBase, RootContext, VmContext, type StreamContext } from "./context.ts";
import { foreignFunction } from "./foreign.ts";
import type { HostServices } from "./services.ts";
import { setFlagsFromString } from "node:v8";

/**
 * What Envoy's V8 gives one wasm VM: 1 GiB of linear memory. proxy-wasm-cpp-host sets
 * `v8_flags.wasm_max_mem_pages = PROXY_WASM_HOST_MAX_WASM_MEMORY_SIZE_BYTES / 64 KiB` before it
 * creates the engine (src/v8/v8.cc) and defines that size as 1024 * 1024 * 1024
 * (include/proxy-wasm/limits.h); Envoy builds it unchanged. Node's V8 would let a memory grow to
 * 4 GiB, so the host applies the same flag: a VM here runs out of memory where it would in Envoy.
 */
export const MAX_VM_MEMORY_BYTES = 1024 * 1024 * 1024;
setFlagsFromString(`--wasm-max-mem-pages=${MAX_VM_MEMORY_BYTES / 65536}`);

/** When `map` is set, every host call from any VM is counted by import name (bench/hostcalls.ts). */
export const hostCallCounts: { map: Map<string, number> | null } = { map: null };

export type AbiVersion = "0.1.0" | "0.2.0" | "0.2.1";

/** cpp-host FailState. */
export type FailState = "ok" | "unable_to_initialize" | "missing_function" | "runtime_error" | "start_failed" | "configure_failed";

/** A compiled plugin module plus what the linker learned about it (shared by all instances). */
export interface CompiledModule {
  module: WebAssembly.Module;
  info: ModuleInfo;
  abi: AbiVersion;
}

/** Thrown by host functions to make the calling Wasm code trap (V8 `trap()` from a host callback). */
export class HostTrap extends Error {}

/** A host-side bug surfaced while running Wasm code: the VM is failed AND the error is rethrown. */
export class HostBug extends Error {}

/** sources: proxy-wasm C++ host: linking: the first ABI marker export decides the ABI ("Missing or unknown Proxy-Wasm ABI version"). */
export function abiVersionOf(info: ModuleInfo): AbiVersion | undefined {
  for (const e of info.exports) {
    if (e.kind !== "func") continue;
    const i = ABI_MARKERS.indexOf(e.name);
    if (i >= 0) return (["0.1.0", "0.2.0", "0.2.1"] as const)[i];
  }
  return undefined;
}

/** Module-level exports cpp-host looks up for ABI 0.2.x (sources: proxy-wasm ABI v0.2.1), in cpp-host's lookup order. */
const CALLBACK_EXPORTS = Object.keys(EXPORTS).filter((n) =>
  !["malloc", "proxy_on_memory_allocate", "_initialize", "main", "_start"].includes(n));

type Fn = (...args: any[]) => any;

interface Exports {
  malloc: Fn;
  _initialize?: Fn; main?: Fn; _start?: Fn;
  [name: string]: Fn | undefined;
}

const U32 = (v: number) => v >>> 0;

export class WasmInstance {
  readonly contexts = new Map<number, ContextBase>();
  readonly vmContext: VmContext;
  readonly rootContexts: RootContext[] = [];
  failState: FailState = "ok";
  failMessage = "";
  destroyed = false;

  // cpp-host thread_local current_context_ / effective_context_id_.
  current: ContextBase | null = null;
  effectiveId = 0;
  private afterCallActions: (() => void)[] = [];
  private stopIteration = false;
  private restricted: ReadonlySet<string> | null = null;
  private instantiating = false;
  private nextContextId = 1;

  // Envoy `Wasm` metric maps and callout token counters (sources: Envoy wasm stats, Envoy wasm.h).
  readonly counters = new Map<number, Counter>();
  readonly gauges = new Map<number, Gauge>();
  readonly histograms = new Map<number, Histogram>();
  private nextCounterId: number = MetricType.Counter;
  private nextGaugeId: number = MetricType.Gauge;
  private nextHistogramId: number = MetricType.Histogram;
  private nextHttpCallToken = 0;
  private nextGrpcCallToken = 1;
  private nextGrpcStreamToken = 2;
  private ticks = new Map<number, { period: number; timer: NodeJS.Timeout | null }>();

  private instance!: WebAssembly.Instance;
  memory!: WebAssembly.Memory;
  private memBuf: ArrayBuffer | SharedArrayBuffer | null = null;
  private u8 = new Uint8Array(0);
  private dv = new DataView(new ArrayBuffer(0));
  exports!: Exports;

  private constructor(readonly compiled: CompiledModule, readonly services: HostServices, readonly index: number) {
    this.vmContext = new VmContext(this, 0);
    this.contexts.set(0, this.vmContext);
    acquireVmId(services.plugin.vmId);
  }

  get abi(): AbiVersion { return this.compiled.abi; }
  get isFailed(): boolean { return this.failState !== "ok"; }
  get vmId(): string { return this.services.plugin.vmId; }

  /**
   * cpp-host `WasmBase::initialize()` for a fresh instance: link (sources: proxy-wasm C++ host: linking), look up and type-check the
   * exports, then start the VM with the restricted allow-list (sources: proxy-wasm C++ host: linking; Test host notes). Returns the instance; check
   * `isFailed` / `failMessage` for the outcome.
   */
  static create(compiled: CompiledModule, services: HostServices, index: number): WasmInstance {
    // Synchronous instantiation (the module is compiled once): Envoy creates worker VMs and
    // FAIL_RELOAD replacements synchronously, e.g. inside stream creation.
    const vm = new WasmInstance(compiled, services, index);
    vm.link();
    if (!vm.isFailed) vm.getFunctions();
    if (!vm.isFailed) vm.startVm();
    return vm;
  }

  // ---------------------------------------------------------------- linking (sources: proxy-wasm C++ host: linking; Test host notes)

  private hostTable(): Map<string, FuncType> {
    // sources: proxy-wasm ABI v0.2.1: the env table registered for this ABI; proxy_get_log_level only for 0.2.1.
    const table = new Map<string, FuncType>();
    for (const [name, t] of Object.entries(ENV_IMPORTS)) {
      if (name === "proxy_get_log_level" && this.abi !== "0.2.1") continue;
      table.set(`env.${name}`, t);
    }
    // sources: proxy-wasm C++ host: WASI: identical WASI tables under both module names.
    for (const m of WASI_MODULES) for (const [name, t] of Object.entries(WASI_IMPORTS)) table.set(`${m}.${name}`, t);
    return table;
  }

  private link(): void {
    const table = this.hostTable();
    const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {};
    let importedMemory: WebAssembly.Memory | undefined;
    for (const imp of this.compiled.info.imports) {
      const full = `${imp.module}.${imp.name}`;
      (imports[imp.module] ??= {});
      if (imp.kind === "func") {
        const host = table.get(full);
        if (!host) return this.fail("unable_to_initialize", `Failed to load Wasm module due to a missing import: ${full}`);
        if (!sameType(host, imp.type!)) {
          return this.fail("unable_to_initialize",
            `Failed to load Wasm module due to an import type mismatch: ${full}, want: ${valTypes(imp.type!.params)} -> ` +
            `${valTypes(imp.type!.results)}, but host exports: ${valTypes(host.params)} -> ${valTypes(host.results)}`);
        }
        imports[imp.module][imp.name] = this.hostFunction(full);
      } else if (imp.kind === "global" || imp.kind === "tag") {
        // sources: proxy-wasm C++ host: linking: imported globals are not supported by cpp-host's V8 link() ("missing import").
        return this.fail("unable_to_initialize", `Failed to load Wasm module due to a missing import: ${full}`);
      } else if (imp.kind === "memory") {
        // sources: proxy-wasm C++ host: linking: an imported memory is allowed; cpp-host creates one with the declared limits.
        const l = imp.limits!;
        importedMemory = new WebAssembly.Memory({ initial: l.min, maximum: l.max, shared: l.shared } as WebAssembly.MemoryDescriptor);
        imports[imp.module][imp.name] = importedMemory;
      } else if (imp.kind === "table") {
        const l = imp.limits!;
        imports[imp.module][imp.name] = new WebAssembly.Table({ element: imp.element === "externref" ? "externref" : "anyfunc", initial: l.min, maximum: l.max });
      }
    }
    try {
      // A start section runs inside instantiation with no current context (sources: proxy-wasm C++ host: linking); see hostFunction().
      this.instantiating = true;
      this.instance = new WebAssembly.Instance(this.compiled.module, imports);
    } catch (e) {
      return this.fail("unable_to_initialize", `Failed to create new Wasm instance: ${errorText(e)}`);
    } finally {
      this.instantiating = false;
    }
    const ex = this.instance.exports as Record<string, unknown>;
    // sources: proxy-wasm C++ host: linking: the first exported memory is used, else the imported one.
    const memExport = this.compiled.info.exports.find((e) => e.kind === "memory");
    const mem = memExport ? (ex[memExport.name] as WebAssembly.Memory) : importedMemory;
    if (!mem) return this.fail("unable_to_initialize", "Wasm module has no memory (neither exported nor imported); not emulated");
    this.memory = mem;
  }

  /** cpp-host `getFunctions()`: look up exports Envoy uses and check their exact signatures (sources: proxy-wasm C++ host: linking; proxy-wasm ABI v0.2.1). */
  private getFunctions(): void {
    const ex = this.instance.exports as Record<string, unknown>;
    const types = new Map(this.compiled.info.exports.filter((e) => e.kind === "func").map((e) => [e.name, e.type!]));
    const out: Exports = { malloc: undefined as unknown as Fn };
    const get = (name: string, as = name): boolean => {
      const t = types.get(name);
      if (!t) return true;
      const want = EXPORTS[as];
      if (!sameType(t, want)) {
        this.fail("unable_to_initialize", `Bad function signature for: ${name}, want: ${valTypes(want.params)} -> ` +
          `${valTypes(want.results)}, but the module exports: ${valTypes(t.params)} -> ${valTypes(t.results)}`);
        return false;
      }
      out[as] = ex[name] as Fn;
      return true;
    };
    if (!get("_initialize")) return;
    if (out._initialize) { if (!get("main")) return; }
    else if (!get("_start")) return;
    // sources: proxy-wasm C++ host: linking: Envoy's host looks up `malloc` first, then `proxy_on_memory_allocate`.
    if (!get("malloc")) return;
    if (!out.malloc && !get("proxy_on_memory_allocate", "malloc")) return;
    if (!out.malloc) return this.fail("missing_function", "Wasm module is missing malloc function.");
    for (const name of CALLBACK_EXPORTS) if (!get(name)) return;
    this.exports = out;
  }

  /** cpp-host `startVm()`: `_initialize` (+ `main(0,0)`) or `_start`, restricted (sources: proxy-wasm C++ host: linking; Test host notes). */
  private startVm(): void {
    this.restricted = START_ALLOWED;
    try {
      if (this.exports._initialize) {
        this.call(this.vmContext, "_initialize", this.exports._initialize);
        if (this.exports.main && !this.isFailed) this.call(this.vmContext, "main", this.exports.main, 0, 0);
      } else if (this.exports._start) {
        this.call(this.vmContext, "_start", this.exports._start);
      }
    } finally {
      this.restricted = null;
    }
  }

  fail(state: FailState, message: string): void {
    if (this.failState === "ok") {
      this.failState = state;
      this.failMessage = message;
    }
    this.services.log({ level: LogLevel.Error, message, vm: this.index, origin: "host" });
  }

  // ---------------------------------------------------------------- plugin lifecycle (sources: proxy-wasm C++ host: filter status)

  /** `WasmBase::start(plugin)`: create the root context and run on_context_create + on_vm_start. */
  startPlugin(): RootContext | null {
    const root = new RootContext(this, this.allocContextId());
    this.rootContexts.push(root);
    return root.onStart() ? root : null;
  }

  allocContextId(): number {
    let id = this.nextContextId++;
    while (this.contexts.has(id)) id = this.nextContextId++;
    return id;
  }

  getContext(id: number): ContextBase | undefined {
    return this.contexts.get(id);
  }

  /** Tear the VM down (worker shutdown / replaced by a reload / canary kill). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const t of this.ticks.values()) if (t.timer) clearTimeout(t.timer);
    this.ticks.clear();
    for (const r of this.rootContexts) r.cancelCallouts();
    releaseVmId(this.vmId);
  }

  // ---------------------------------------------------------------- calling into the VM

  /**
   * One host→VM call (cpp-host `getModuleFunctionImpl` wrapper + `SaveRestoreContext`): sets the
   * current context, resets the effective context (sources: proxy-wasm C++ host: filter status), and turns a trap into
   * `FailState::RuntimeError` with "Function: <name> failed: <message>" (sources: Envoy Wasm filter configuration). Returns the raw
   * result as uint32, or undefined when the VM is (or just became) failed.
   */
  call(ctx: ContextBase, name: string, fn: Fn, ...args: number[]): number | undefined {
    if (this.isFailed) return undefined;
    const savedCurrent = this.current, savedEffective = this.effectiveId;
    this.current = ctx;
    this.effectiveId = 0;
    try {
      const r = fn(...args);
      return typeof r === "number" ? U32(r) : undefined;
    } catch (e) {
      this.onTrap(name, e);
      return undefined;
    } finally {
      this.current = savedCurrent;
      this.effectiveId = savedEffective;
    }
  }

  private onTrap(name: string, e: unknown): void {
    const wasmTrap = e instanceof WebAssembly.RuntimeError || e instanceof HostTrap ||
      (e instanceof RangeError && /call stack/i.test(e.message));
    this.fail("runtime_error", `Function: ${name} failed: ${wasmTrap ? `Uncaught ${errorName(e)}: ${(e as Error).message}` : errorText(e)}`);
    if (!wasmTrap) throw new HostBug(`host error while running ${name}: ${errorText(e)}`, { cause: e });
  }

  /**
   * cpp-host `DeferAfterCallActions`: run `fn` (which makes the VM call and converts the result),
   * then clear "stop next iteration" and run the queued after-call actions (send_local_response,
   * continue_stream, close_stream, proxy_done, …) — sources: Envoy wasm context; Test host notes.
   */
  withDeferredActions<T>(fn: () => T): T {
    try {
      return fn();
    } finally {
      this.stopIteration = false;
      this.runAfterCallActions();
    }
  }

  addAfterCallAction(f: () => void): void { this.afterCallActions.push(f); }

  private runAfterCallActions(): void {
    while (this.afterCallActions.length) this.afterCallActions.shift()!();
  }

  get nextIterationStopped(): boolean { return this.stopIteration; }

  /** Is a host→VM call in progress (the reentrancy check Envoy does for async callbacks)? */
  get inVmCall(): boolean { return this.current !== null; }

  // ---------------------------------------------------------------- memory helpers (sources: proxy-wasm C++ host: header pairs)

  private refresh(): void {
    const b = this.memory.buffer;
    if (b !== this.memBuf) {
      this.memBuf = b;
      this.u8 = new Uint8Array(b);
      this.dv = new DataView(b);
    }
  }

  getMemory(ptr: number, len: number): Uint8Array | null {
    this.refresh();
    ptr = U32(ptr); len = U32(len);
    if (ptr + len > this.u8.length) return null;
    return this.u8.subarray(ptr, ptr + len);
  }

  setU32(ptr: number, v: number): boolean {
    this.refresh();
    ptr = U32(ptr);
    if (ptr + 4 > this.u8.length) return false;
    this.dv.setUint32(ptr, v >>> 0, true);
    return true;
  }

  setU64(ptr: number, v: bigint): boolean {
    this.refresh();
    ptr = U32(ptr);
    if (ptr + 8 > this.u8.length) return false;
    this.dv.setBigUint64(ptr, BigInt.asUintN(64, v), true);
    return true;
  }

  setBytes(ptr: number, data: Uint8Array): boolean {
    this.refresh();
    ptr = U32(ptr);
    if (ptr + data.length > this.u8.length) return false;
    this.u8.set(data, ptr);
    return true;
  }

  /**
   * cpp-host `allocMemory`: call the module's malloc with the malloc allow-list active (sources: proxy-wasm C++ host: linking); a trap
   * inside malloc fails the VM and the allocation returns 0.
   */
  allocMemory(size: number): number {
    const saved = this.restricted;
    this.restricted = MALLOC_ALLOWED;
    let p: number | undefined;
    try {
      p = this.call(this.vmContext, "malloc", this.exports.malloc, size);
    } finally {
      this.restricted = saved;
    }
    if (!p) return 0;
    if (!this.getMemory(p, size)) return 0;
    return p;
  }

  /** sources: proxy-wasm C++ host: header pairs: malloc + copy + write (ptr, len); zero-length data writes ptr=0, len=0 without malloc. */
  copyToPointerSize(data: Uint8Array, ptrPtr: number, sizePtr: number): boolean {
    let p = 0;
    if (data.length > 0) {
      p = this.allocMemory(data.length);
      if (!p) return false;
      this.setBytes(p, data);
    }
    return this.setU32(ptrPtr, p) && this.setU32(sizePtr, data.length);
  }

  /** cpp-host `contextOrEffectiveContext()`; an effective id that no longer exists reverts (sources: proxy-wasm C++ host: filter status). */
  ctx(): ContextBase {
    const cur = this.current ?? this.vmContext;
    if (this.effectiveId === 0) return cur;
    return this.contexts.get(this.effectiveId) ?? cur;
  }

  // ---------------------------------------------------------------- metrics ids (sources: Envoy wasm stats)

  defineMetric(type: number, name: string): { status: number; id?: number } {
    if (type > MetricType.Histogram) return { status: Status.BadArgument };
    const full = `${CUSTOM_STAT_NAMESPACE}.${name}`;
    const stats = this.services.stats;
    // Every call returns a new id (type in the low 2 bits), all mapping to the same stat.
    if (type === MetricType.Counter) {
      const id = (this.nextCounterId += 4);
      this.counters.set(id, stats.counter(full));
      return { status: Status.Ok, id };
    }
    if (type === MetricType.Gauge) {
      const id = (this.nextGaugeId += 4);
      this.gauges.set(id, stats.gauge(full));
      return { status: Status.Ok, id };
    }
    const id = (this.nextHistogramId += 4);
    this.histograms.set(id, stats.histogram(full));
    return { status: Status.Ok, id };
  }

  nextHttpCallId(): number { return (this.nextHttpCallToken += 4); }
  nextGrpcCallId(): number { return (this.nextGrpcCallToken += 4); }
  nextGrpcStreamId(): number { return (this.nextGrpcStreamToken += 4); }
  static isGrpcCallId(t: number): boolean { return (t & 3) === 1; }
  static isGrpcStreamId(t: number): boolean { return (t & 3) === 2; }

  // ---------------------------------------------------------------- ticks (sources: proxy-wasm C++ host: filter status)

  /** Envoy `Wasm::setTickPeriod`: one timer per root context on this VM; re-armed after each tick. */
  setTickPeriod(rootId: number, periodMs: number): void {
    let t = this.ticks.get(rootId);
    if (!t) this.ticks.set(rootId, (t = { period: 0, timer: null }));
    if (t.timer) clearTimeout(t.timer);
    t.timer = null;
    t.period = periodMs;
    if (periodMs > 0 && !this.destroyed) this.armTick(rootId, t);
  }

  private armTick(rootId: number, t: { period: number; timer: NodeJS.Timeout | null }): void {
    t.timer = setTimeout(() => {
      t.timer = null;
      const root = this.contexts.get(rootId);
      if (root instanceof RootContext) root.onTick();
      if (t.period > 0 && !t.timer && !this.destroyed) this.armTick(rootId, t);
    }, t.period);
  }

  // ---------------------------------------------------------------- host functions

  /** Wrap a host function: restricted-callback check (sources: proxy-wasm C++ host: linking) and null-context check (start section). */
  private hostFunction(full: string): Fn {
    const impl = this.hostImpl(full);
    const vm = this;
    return function (this: unknown, ...args: unknown[]) {
      const counts = hostCallCounts.map;
      if (counts) counts.set(full, (counts.get(full) ?? 0) + 1);
      if (vm.instantiating) {
        // Inferred from proxy-wasm C++ host: linking (docs/sources.md): a start section runs inside link() with no current context; cpp-host
        // hostcalls dereference a null context there (Envoy would crash). Fail the load instead.
        throw new HostTrap(`${full} called from a Wasm start section (no current context; Envoy would crash)`);
      }
      if (vm.restricted && !vm.restricted.has(full)) throw new HostTrap("restricted_callback");
      return impl(...args);
    };
  }

  private hostImpl(full: string): Fn {
    const [module, name] = [full.slice(0, full.indexOf(".")), full.slice(full.indexOf(".") + 1)];
    if (module !== "env") return this.wasi(name);
    const vm = this;
    const mem = (p: number, l: number) => vm.getMemory(p, l);
    const str = (p: number, l: number) => { const m = mem(p, l); return m ? Buffer.from(m).toString("utf8") : null; };
    const latin = (p: number, l: number) => { const m = mem(p, l); return m ? readLatin1(m, 0, m.length) : null; };
    const pairsAt = (p: number, l: number): Pair[] | null => { const m = mem(p, l); return m ? decodePairs(m) : null; };

    switch (name) {
      // sources: proxy-wasm ABI v0.2.1 logging
      case "proxy_log":
        return (level: number, p: number, l: number) => {
          if (U32(level) > LogLevel.Critical) return Status.BadArgument;
          const m = str(p, l);
          if (m === null) return Status.InvalidMemoryAccess;
          vm.ctx().log(U32(level), m);
          return Status.Ok;
        };
      case "proxy_get_log_level":
        return (p: number) => (vm.setU32(p, vm.services.logLevel) ? Status.Ok : Status.InvalidMemoryAccess);
      case "proxy_get_status":
        // sources: proxy-wasm ABI v0.2.1: reads the ROOT context's status (sources: Envoy wasm context).
        return (codePtr: number, msgPtr: number, lenPtr: number) => {
          const root = vm.ctx().rootContext();
          const st = root?.status ?? { code: 0, message: "" };
          if (!vm.setU32(codePtr, st.code)) return Status.InvalidMemoryAccess;
          return vm.copyToPointerSize(Buffer.from(st.message), msgPtr, lenPtr) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      // sources: Envoy attributes properties
      case "proxy_get_property":
        return (p: number, l: number, rp: number, rl: number) => {
          const path = mem(p, l);
          if (!path) return Status.InvalidMemoryAccess;
          const r = vm.ctx().getProperty(Uint8Array.from(path));
          if (typeof r === "number") return r;
          return vm.copyToPointerSize(r, rp, rl) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      case "proxy_set_property":
        return (p: number, l: number, vp: number, vl: number) => {
          const k = latin(p, l), v = mem(vp, vl);
          if (k === null || !v) return Status.InvalidMemoryAccess;
          return vm.ctx().setProperty(k, v.slice()); // a copy: the VM memory changes later
        };
      // sources: Envoy wasm context continue / close
      case "proxy_continue_stream":
        return (t: number) => (U32(t) > STREAM_TYPE_MAX ? Status.BadArgument : vm.ctx().continueStream(U32(t)));
      case "proxy_close_stream":
        return (t: number) => (U32(t) > STREAM_TYPE_MAX ? Status.BadArgument : vm.ctx().closeStream(U32(t)));
      // sources: Envoy wasm context local reply
      case "proxy_send_local_response":
        return (code: number, dp: number, dl: number, bp: number, bl: number, hp: number, hl: number, grpc: number) => {
          const details = str(dp, dl), body = mem(bp, bl), hdrs = pairsAt(hp, hl);
          if (details === null || !body || !hdrs) return Status.InvalidMemoryAccess;
          vm.ctx().sendLocalResponse(U32(code), Uint8Array.from(body), hdrs, U32(grpc), details);
          vm.stopIteration = true;
          return Status.Ok;
        };
      // sources: proxy-wasm C++ host: shared data shared data
      case "proxy_get_shared_data":
        return (kp: number, kl: number, vpp: number, vlp: number, casp: number) => {
          const k = latin(kp, kl);
          if (k === null) return Status.InvalidMemoryAccess;
          const e = sharedDataStore.get(vm.vmId, k);
          if (!e) return Status.NotFound;
          if (!vm.copyToPointerSize(e.value, vpp, vlp)) return Status.InvalidMemoryAccess;
          return vm.setU32(casp, e.cas) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      case "proxy_set_shared_data":
        return (kp: number, kl: number, vp: number, vl: number, cas: number) => {
          const k = latin(kp, kl), v = mem(vp, vl);
          if (k === null || !v) return Status.InvalidMemoryAccess;
          return sharedDataStore.set(vm.vmId, k, v, U32(cas));
        };
      case "proxy_register_shared_queue":
        return (np: number, nl: number, tp: number) => {
          const n = latin(np, nl);
          if (n === null) return Status.InvalidMemoryAccess;
          const token = vm.ctx().registerSharedQueue(n);
          return vm.setU32(tp, token) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      case "proxy_resolve_shared_queue":
        return (vp: number, vl: number, np: number, nl: number, tp: number) => {
          const vmId = latin(vp, vl), n = latin(np, nl);
          if (vmId === null || n === null) return Status.InvalidMemoryAccess;
          const token = sharedQueueStore.resolve(vmId === "" ? vm.vmId : vmId, n);
          if (vm.isFailed || token === 0) return Status.NotFound;
          return vm.setU32(tp, token) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      case "proxy_enqueue_shared_queue":
        return (token: number, p: number, l: number) => {
          const v = mem(p, l);
          if (!v) return Status.InvalidMemoryAccess;
          return sharedQueueStore.enqueue(U32(token), v);
        };
      case "proxy_dequeue_shared_queue":
        return (token: number, rp: number, rl: number) => {
          const r = sharedQueueStore.dequeue(U32(token));
          if (typeof r === "number") return r;
          return vm.copyToPointerSize(r, rp, rl) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      // sources: Envoy wasm context header maps (type is checked before anything else, like cpp-host)
      case "proxy_get_header_map_value":
        return (t: number, kp: number, kl: number, rp: number, rl: number) => {
          if (U32(t) > MAP_TYPE_MAX) return Status.BadArgument;
          const k = latin(kp, kl);
          if (k === null) return Status.InvalidMemoryAccess;
          const r = vm.ctx().getHeaderMapValue(U32(t), k);
          if (typeof r === "number") return r;
          return vm.copyToPointerSize(Buffer.from(r, "latin1"), rp, rl) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      case "proxy_add_header_map_value":
        return (t: number, kp: number, kl: number, vp: number, vl: number) => {
          if (U32(t) > MAP_TYPE_MAX) return Status.BadArgument;
          const k = latin(kp, kl), v = latin(vp, vl);
          if (k === null || v === null) return Status.InvalidMemoryAccess;
          return vm.ctx().addHeaderMapValue(U32(t), k, v);
        };
      case "proxy_replace_header_map_value":
        return (t: number, kp: number, kl: number, vp: number, vl: number) => {
          if (U32(t) > MAP_TYPE_MAX) return Status.BadArgument;
          const k = latin(kp, kl), v = latin(vp, vl);
          if (k === null || v === null) return Status.InvalidMemoryAccess;
          return vm.ctx().replaceHeaderMapValue(U32(t), k, v);
        };
      case "proxy_remove_header_map_value":
        return (t: number, kp: number, kl: number) => {
          if (U32(t) > MAP_TYPE_MAX) return Status.BadArgument;
          const k = latin(kp, kl);
          if (k === null) return Status.InvalidMemoryAccess;
          return vm.ctx().removeHeaderMapValue(U32(t), k);
        };
      case "proxy_get_header_map_pairs":
        return (t: number, rp: number, rl: number) => {
          if (U32(t) > MAP_TYPE_MAX) return Status.BadArgument;
          const pairs = vm.ctx().getHeaderMapPairs(U32(t));
          if (pairs.length === 0) return vm.copyToPointerSize(new Uint8Array(0), rp, rl) ? Status.Ok : Status.InvalidMemoryAccess;
          return vm.copyToPointerSize(encodePairs(pairs), rp, rl) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      case "proxy_set_header_map_pairs":
        return (t: number, p: number, l: number) => {
          if (U32(t) > MAP_TYPE_MAX) return Status.BadArgument;
          const pairs = pairsAt(p, l);
          if (!pairs) return Status.InvalidMemoryAccess;
          return vm.ctx().setHeaderMapPairs(U32(t), pairs);
        };
      case "proxy_get_header_map_size":
        return (t: number, rp: number) => {
          if (U32(t) > MAP_TYPE_MAX) return Status.BadArgument;
          const r = vm.ctx().getHeaderMapSize(U32(t));
          if (r.status !== Status.Ok) return r.status;
          return vm.setU32(rp, r.size!) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      // sources: Envoy wasm context buffers
      case "proxy_get_buffer_status":
        return (t: number, lp: number, fp: number) => {
          if (U32(t) > BUFFER_TYPE_MAX) return Status.BadArgument;
          const b = vm.ctx().getBuffer(U32(t));
          if (!b) return Status.NotFound;
          // sources: proxy-wasm ABI v0.2.1: flags always written as 0.
          if (!vm.setU32(lp, b.size())) return Status.InvalidMemoryAccess;
          return vm.setU32(fp, 0) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      case "proxy_get_buffer_bytes":
        return (t: number, start: number, len: number, rp: number, rl: number) => {
          if (U32(t) > BUFFER_TYPE_MAX) return Status.BadArgument;
          const b = vm.ctx().getBuffer(U32(t));
          if (!b) return Status.NotFound;
          // cpp-host words are 64-bit, so start+length of two u32 never overflows; clamp (sources: proxy-wasm ABI v0.2.1).
          let s = U32(start), n = U32(len);
          const size = b.size();
          if (s > size) n = 0;
          else if (s + n > size) n = size - s;
          if (n === 0) return vm.setU32(rp, 0) && vm.setU32(rl, 0) ? Status.Ok : Status.InvalidMemoryAccess;
          return vm.copyToPointerSize(b.read(s, n), rp, rl) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      case "proxy_set_buffer_bytes":
        return (t: number, start: number, len: number, dp: number, dl: number) => {
          if (U32(t) > BUFFER_TYPE_MAX) return Status.BadArgument;
          const b = vm.ctx().getBuffer(U32(t));
          if (!b) return Status.NotFound;
          const d = mem(dp, dl);
          if (!d) return Status.InvalidMemoryAccess;
          return b.write(U32(start), U32(len), Uint8Array.from(d));
        };
      // sources: Envoy wasm context outbound calls: executed on the ROOT context of the (effective) context
      case "proxy_http_call":
        return (up: number, ul: number, hp: number, hl: number, bp: number, bl: number, tp: number, tl: number, timeout: number, tokenPtr: number) => {
          const root = vm.ctx().rootContext();
          const cluster = latin(up, ul), body = mem(bp, bl), h = pairsAt(hp, hl), tr = pairsAt(tp, tl);
          if (cluster === null || !body || !h || !tr) return Status.InvalidMemoryAccess;
          // "try to write the token to verify the memory before starting the async operation"
          if (!vm.setU32(tokenPtr, 0)) return Status.InvalidMemoryAccess;
          if (!root) return Status.BadArgument;
          const r = root.httpCall(cluster, h, Uint8Array.from(body), tr, timeout);
          vm.setU32(tokenPtr, r.token ?? 0);
          return r.status;
        };
      case "proxy_grpc_call":
        return (sp: number, sl: number, np: number, nl: number, mp: number, ml: number, mdp: number, mdl: number,
          qp: number, ql: number, timeout: number, tokenPtr: number) => {
          const root = vm.ctx().rootContext();
          const svc = mem(sp, sl), service = latin(np, nl), method = latin(mp, ml), md = pairsAt(mdp, mdl), msg = mem(qp, ql);
          if (!svc || service === null || method === null || !md || !msg) return Status.InvalidMemoryAccess;
          if (!root) return Status.BadArgument;
          const r = root.grpcCall(Uint8Array.from(svc), service, method, md, Uint8Array.from(msg), U32(timeout));
          if (r.status !== Status.Ok) return r.status;
          return vm.setU32(tokenPtr, r.token!) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      case "proxy_grpc_stream":
        return (sp: number, sl: number, np: number, nl: number, mp: number, ml: number, mdp: number, mdl: number, tokenPtr: number) => {
          const root = vm.ctx().rootContext();
          const svc = mem(sp, sl), service = latin(np, nl), method = latin(mp, ml), md = pairsAt(mdp, mdl);
          if (!svc || service === null || method === null || !md) return Status.InvalidMemoryAccess;
          if (!root) return Status.BadArgument;
          const r = root.grpcStream(Uint8Array.from(svc), service, method, md);
          if (r.status !== Status.Ok) return r.status;
          return vm.setU32(tokenPtr, r.token!) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      case "proxy_grpc_send":
        return (token: number, p: number, l: number, eos: number) => {
          const root = vm.ctx().rootContext();
          const m = mem(p, l);
          if (!m) return Status.InvalidMemoryAccess;
          return root ? root.grpcSend(U32(token), Uint8Array.from(m), eos !== 0) : Status.BadArgument;
        };
      case "proxy_grpc_cancel":
        return (token: number) => vm.ctx().rootContext()?.grpcCancel(U32(token)) ?? Status.BadArgument;
      case "proxy_grpc_close":
        return (token: number) => vm.ctx().rootContext()?.grpcClose(U32(token)) ?? Status.BadArgument;
      // sources: proxy-wasm C++ host: filter status ticks: always the caller's root context
      case "proxy_set_tick_period_milliseconds":
        return (ms: number) => {
          const root = vm.ctx().rootContext();
          if (root) vm.setTickPeriod(root.id, U32(ms));
          return Status.Ok;
        };
      case "proxy_get_current_time_nanoseconds":
        return (p: number) => (vm.setU64(p, wallNanos()) ? Status.Ok : Status.InvalidMemoryAccess);
      // sources: Envoy wasm stats metrics
      case "proxy_define_metric":
        return (type: number, np: number, nl: number, idPtr: number) => {
          const n = latin(np, nl);
          if (n === null) return Status.InvalidMemoryAccess;
          const r = vm.defineMetric(U32(type), n);
          if (r.status !== Status.Ok) return r.status;
          return vm.setU32(idPtr, r.id!) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      case "proxy_increment_metric":
        return (id: number, delta: bigint) => {
          id = U32(id);
          const type = id & 3;
          if (type === MetricType.Counter) {
            const c = vm.counters.get(id);
            if (!c) return Status.NotFound;
            if (delta <= 0n) return Status.BadArgument;
            c.add(delta);
            return Status.Ok;
          }
          if (type === MetricType.Gauge) {
            const g = vm.gauges.get(id);
            if (!g) return Status.NotFound;
            if (delta > 0n) g.add(delta); else g.sub(-delta);
            return Status.Ok;
          }
          return Status.BadArgument;
        };
      case "proxy_record_metric":
        return (id: number, value: bigint) => {
          id = U32(id);
          const v = BigInt.asUintN(64, value);
          const type = id & 3;
          if (type === MetricType.Counter) { const c = vm.counters.get(id); if (c) { c.add(v); return Status.Ok; } }
          else if (type === MetricType.Gauge) { const g = vm.gauges.get(id); if (g) { g.set(v); return Status.Ok; } }
          else if (type === MetricType.Histogram) { const h = vm.histograms.get(id); if (h) { h.record(v); return Status.Ok; } }
          return Status.NotFound;
        };
      case "proxy_get_metric":
        return (id: number, p: number) => {
          id = U32(id);
          const type = id & 3;
          let v: bigint;
          if (type === MetricType.Counter) { const c = vm.counters.get(id); if (!c) return Status.NotFound; v = c.value; }
          else if (type === MetricType.Gauge) { const g = vm.gauges.get(id); if (!g) return Status.NotFound; v = g.value; }
          else return Status.BadArgument;
          return vm.setU64(p, v) ? Status.Ok : Status.InvalidMemoryAccess;
        };
      // sources: proxy-wasm C++ host: filter status effective context
      case "proxy_set_effective_context":
        return (id: number) => {
          if (!vm.contexts.has(U32(id))) return Status.BadArgument;
          vm.effectiveId = U32(id);
          return Status.Ok;
        };
      case "proxy_done":
        return () => vm.ctx().done();
      // sources: Envoy wasm foreign functions foreign functions
      case "proxy_call_foreign_function":
        return (np: number, nl: number, ap: number, al: number, rp: number, rl: number) => {
          const n = latin(np, nl);
          if (n === null) return Status.InvalidMemoryAccess;
          const args = mem(ap, al);
          if (!args) return Status.InvalidMemoryAccess;
          const f = foreignFunction(n);
          if (!f) return Status.NotFound;
          // Foreign functions run on current_context_, not the effective one (before Envoy 1.37).
          const r = f(vm.current ?? vm.vmContext, Uint8Array.from(args));
          let address = 0, size = 0;
          if (r.result && r.result.length > 0 && U32(rp) !== 0) {
            address = vm.allocMemory(r.result.length);
            if (address) vm.setBytes(address, r.result);
            size = r.result.length;
          }
          if (U32(rp) !== 0 && !vm.setU32(rp, address)) return Status.InvalidMemoryAccess;
          if (U32(rl) !== 0 && !vm.setU32(rl, size)) return Status.InvalidMemoryAccess;
          return r.status;
        };
      case "pthread_equal":
        return (a: number, b: number) => (a === b ? 1 : 0);
      case "emscripten_notify_memory_growth":
        return () => undefined;
    }
    throw new Error(`host function ${full} not implemented`);
  }

  // ---------------------------------------------------------------- WASI (sources: proxy-wasm C++ host: WASI, cpp-host exports.cc)

  private wasi(name: string): Fn {
    const vm = this;
    switch (name) {
      case "fd_write":
        return (fd: number, iovs: number, n: number, nwrittenPtr: number) => {
          // fd 1 → info, fd 2 → error, others EBADF; trailing "\n" stripped.
          const level = fd === 1 ? LogLevel.Info : fd === 2 ? LogLevel.Error : -1;
          if (level < 0) return Errno.Badf;
          const parts: Uint8Array[] = [];
          for (let i = 0; i < U32(n); i++) {
            const iov = vm.getMemory(U32(iovs) + i * 8, 8);
            if (!iov) return Errno.Fault;
            const dv = new DataView(iov.buffer, iov.byteOffset, 8);
            const buf = dv.getUint32(0, true), len = dv.getUint32(4, true);
            if (len) {
              const m = vm.getMemory(buf, len);
              if (!m) return Errno.Fault;
              parts.push(Uint8Array.from(m));
            }
          }
          let s = Buffer.concat(parts).toString("utf8");
          const written = parts.reduce((a, p) => a + p.length, 0);
          if (written) {
            if (s.endsWith("\n")) s = s.slice(0, -1);
            vm.ctx().log(level, s);
          }
          return vm.setU32(nwrittenPtr, written) ? Errno.Success : Errno.Fault;
        };
      case "fd_read": return () => Errno.Nosys;
      case "fd_seek": return () => { vm.ctx().error("wasi_unstable fd_seek"); return Errno.Success; };
      case "fd_close": return () => { vm.ctx().error("wasi_unstable fd_close"); return Errno.Success; };
      case "fd_fdstat_get":
        return (fd: number, p: number) => {
          if (fd !== 1 && fd !== 2) return Errno.Badf;
          const stat = new Uint8Array(24);
          new DataView(stat.buffer).setBigUint64(8, 64n, true); // fs_rights_base = FD_WRITE
          vm.setBytes(p, stat);
          return Errno.Success;
        };
      case "fd_fdstat_set_flags": return () => Errno.Nosys;
      case "environ_sizes_get":
        return (countPtr: number, sizePtr: number) => {
          const env = vm.services.plugin.env;
          if (!vm.setU32(countPtr, env.length)) return Errno.Fault;
          const size = env.reduce((a, [k, v]) => a + Buffer.byteLength(k) + Buffer.byteLength(v) + 2, 0);
          return vm.setU32(sizePtr, size) ? Errno.Success : Errno.Fault;
        };
      case "environ_get":
        return (arrPtr: number, bufPtr: number) => {
          let a = U32(arrPtr), b = U32(bufPtr);
          for (const [k, v] of vm.services.plugin.env) {
            if (!vm.setU32(a, b)) return Errno.Fault;
            const data = Buffer.from(`${k}=${v}\0`);
            if (!vm.setBytes(b, data)) return Errno.Fault;
            b += data.length;
            a += 4;
          }
          return Errno.Success;
        };
      case "args_get": return () => Errno.Success;
      case "args_sizes_get":
        return (argcPtr: number, sizePtr: number) => (vm.setU32(argcPtr, 0) && vm.setU32(sizePtr, 0) ? Errno.Success : Errno.Fault);
      case "clock_time_get":
        return (id: number, _precision: bigint, p: number) => {
          let t: bigint;
          if (id === 0) t = wallNanos();
          else if (id === 1) t = process.hrtime.bigint();
          else return Errno.Notsup;
          return vm.setU64(p, t) ? Errno.Success : Errno.Fault;
        };
      case "random_get":
        return (p: number, len: number) => {
          if (U32(len) > 65536) return Errno.Inval;
          if (U32(len) === 0) return Errno.Success;
          const bytes = new Uint8Array(U32(len));
          crypto.getRandomValues(bytes);
          return vm.setBytes(p, bytes) ? Errno.Success : Errno.Fault;
        };
      case "sched_yield": return () => Errno.Success;
      case "poll_oneoff":
        return (_in: number, _out: number, _n: number, neventsPtr: number) => (vm.setU32(neventsPtr, 0) ? Errno.Success : Errno.Fault);
      case "proc_exit":
        // sources: proxy-wasm C++ host: WASI: does NOT terminate; logged via Context::error (Envoy logs it at trace) and returns.
        return () => { vm.ctx().error("wasi_unstable proc_exit"); };
      case "path_open": return () => Errno.Noent;
      case "fd_prestat_get": return () => Errno.Badf;
      case "fd_prestat_dir_name": return () => Errno.Nosys;
    }
    throw new Error(`WASI function ${name} not implemented`);
  }
}

export function wallNanos(): bigint {
  // Date.now() has ms resolution; add the sub-ms part of the monotonic clock for a ns wall clock.
  return BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
}

function valTypes(t: string[]): string {
  return t.length ? t.join(" ") : "void";
}

function errorName(e: unknown): string {
  return e instanceof WebAssembly.RuntimeError ? "RuntimeError" : e instanceof HostTrap ? "RuntimeError" : (e as Error).name;
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

export { showType };
export type { StreamContext };
