// Contexts as Envoy's `Context` (source/extensions/common/wasm/context.cc) on top of cpp-host's
// `ContextBase` (src/context.cc): the VM context (id 0), root contexts (plugin lifecycle, ticks,
// queues, outbound calls, status) and stream contexts (one per HTTP stream; the Wasm side of the
// HTTP filter). The HTTP filter-manager side lives in stream.ts.

import { Status, LogLevel, MapType, BufferType, StreamType, HeadersStatus, DataStatus, TrailersStatus,
  GrpcStatus } from "./constants.ts";
import { HeaderMap } from "./headers.ts";
import { BodyBuffer, EMPTY } from "./buffer.ts";
import type { Pair } from "./pairs.ts";
import { sharedQueueStore } from "./shared.ts";
import { parseProto, type PropertyPrototype } from "./foreign.ts";
import { getProperty } from "./properties.ts";
import type { HttpCallResponse, Cancellable, GrpcStreamHandle } from "./services.ts";
import { WasmInstance } from "./vm.ts";
import type { FilterCallbacks, StreamInfo } from "./stream.ts";

/** A buffer as cpp-host's `BufferInterface` exposes it to get/set_buffer_bytes. */
export interface HostBuffer {
  size(): number;
  read(start: number, len: number): Uint8Array;
  /** proxy_set_buffer_bytes semantics; returns a proxy_status_t. */
  write(start: number, len: number, data: Uint8Array): number;
}

/** sources: Envoy wasm context: a live body buffer (Envoy `Buffer::copyFrom` on the `Buffer::Instance`). */
class MutableBuffer implements HostBuffer {
  constructor(private b: BodyBuffer) {}
  size(): number { return this.b.length; }
  read(start: number, len: number): Uint8Array { return this.b.copyOut(start, len); }
  write(start: number, len: number, data: Uint8Array): number {
    if (start === 0) {
      // (0, n): drain n bytes from the front (clamped by drain) then prepend.
      if (len !== 0) this.b.drain(len);
      this.b.prepend(data);
      return Status.Ok;
    }
    if (start >= this.b.length) {
      this.b.add(data);
      return Status.Ok;
    }
    return Status.BadArgument; // sources: Envoy wasm context: no mid-buffer edits
  }
}

/** Read-only bytes (VM/plugin configuration, HTTP-call response body): set → BAD_ARGUMENT (sources: Envoy wasm context). */
class ConstBuffer implements HostBuffer {
  constructor(private d: Uint8Array) {}
  size(): number { return this.d.length; }
  read(start: number, len: number): Uint8Array { return this.d.subarray(start, start + len); }
  write(): number { return Status.BadArgument; }
}

const NULL_BUFFER: HostBuffer = new ConstBuffer(EMPTY);

/** Filter-state object written by proxy_set_property (a `CelState`, sources: Envoy attributes). */
export interface CelState { value: Uint8Array; readonly: boolean; initialized: boolean; type: number }

export abstract class ContextBase {
  readonly isRoot: boolean = false;
  inVmContextCreated = false;
  /** declare_property prototypes (Envoy `state_prototypes_`; only the root's are consulted). */
  readonly statePrototypes = new Map<string, PropertyPrototype>();
  /** Envoy `Context::buffer_`, reused by getBuffer() (CallData returns whatever it holds last). */
  protected lastBuffer: HostBuffer = NULL_BUFFER;

  constructor(readonly vm: WasmInstance | null, readonly id: number) {}

  isFailed(): boolean { return !this.vm || this.vm.isFailed; }
  abstract rootContext(): RootContext | null;
  get streamInfo(): StreamInfo | null { return null; }
  get accessLogPhase(): boolean { return false; }

  /** sources: Envoy wasm context proxy_log / fd_write → the `wasm` logger (dropped below the logger level). */
  log(level: number, message: string): void {
    const s = this.vm?.services;
    if (!s || level < s.logLevel) return;
    s.log({ level, message, vm: this.vm!.index, origin: "wasm" });
  }

  /** Envoy `Context::error`: logged at trace. */
  error(message: string): void {
    const s = this.vm?.services;
    if (!s || LogLevel.Trace < s.logLevel) return;
    s.log({ level: LogLevel.Trace, message, vm: this.vm!.index, origin: "host" });
  }

  getProperty(path: Uint8Array): Uint8Array | number { return getProperty(this, path); }

  /** sources: Envoy attributes: needs a stream; root contexts → NOT_FOUND. */
  setProperty(_path: string, _value: Uint8Array): number { return Status.NotFound; }

  /** Envoy `Context::continueStream` without decoder/encoder callbacks (root/VM context). */
  continueStream(type: number): number {
    if (type === StreamType.Upstream) return Status.Unimplemented;
    return Status.Ok;
  }
  closeStream(_type: number): number { return Status.Ok; }
  /** No decoder callbacks → nothing happens (sources: Envoy wasm context: "the root context has no decoder callbacks"). */
  sendLocalResponse(_code: number, _body: Uint8Array, _headers: Pair[], _grpc: number, _details: string): void {}
  clearRouteCache(): void {}

  declareProperty(name: string, proto: PropertyPrototype): number {
    if (this.statePrototypes.has(name)) return Status.BadArgument;
    this.statePrototypes.set(name, proto);
    return Status.Ok;
  }

  /** cpp-host `registerSharedQueue`: delivery goes to the root context (sources: proxy-wasm C++ host: shared data). */
  registerSharedQueue(name: string): number {
    const vm = this.vm!;
    const rootId = this.isRoot ? this.id : (this.rootContext()?.id ?? 0);
    return sharedQueueStore.register(vm.vmId, name, {
      notify: (token) => setImmediate(() => {
        const c = vm.getContext(rootId);
        if (c instanceof RootContext && !vm.destroyed) c.onQueueReady(token);
      }),
    });
  }

  /** proxy_done: NOT_FOUND unless the root context is pending done (sources: proxy-wasm ABI v0.2.1; proxy-wasm C++ host: filter status). */
  done(): number {
    const root = this.rootContext();
    if (!root || !root.pendingDone) return Status.NotFound;
    root.pendingDone = false;
    this.vm!.addAfterCallAction(() => root.onDelete());
    return Status.Ok;
  }

  // ---- header maps (sources: Envoy wasm context): `getMap` = mutable access, `getConstMap` = read access

  protected getMap(_type: number): HeaderMap | null { return null; }

  protected getConstMap(type: number): HeaderMap | null {
    const root = this.rootContext();
    switch (type) {
      case MapType.GrpcReceiveInitialMetadata: return root?.grpcInitialMetadata ?? null;
      case MapType.GrpcReceiveTrailingMetadata: return root?.grpcTrailingMetadata ?? null;
      case MapType.HttpCallResponseHeaders: return root?.httpCallResponse?.headers ?? null;
      case MapType.HttpCallResponseTrailers: return root?.httpCallResponse?.trailers ?? null;
    }
    return null;
  }

  /** Request headers were modified: ABI ≤ 0.2.1 modules clear the route cache (sources: Envoy wasm context). */
  protected onHeadersModified(_type: number): void {}

  getHeaderMapValue(type: number, key: string): string | number {
    const map = this.getConstMap(type);
    if (!map) return this.accessLogPhase ? Status.NotFound : Status.BadArgument;
    const v = map.get(key);
    return v === undefined ? Status.NotFound : v;
  }

  addHeaderMapValue(type: number, key: string, value: string): number {
    const map = this.getMap(type);
    if (!map) return Status.BadArgument;
    map.add(key, value);
    this.onHeadersModified(type);
    return Status.Ok;
  }

  replaceHeaderMapValue(type: number, key: string, value: string): number {
    const map = this.getMap(type);
    if (!map) return Status.BadArgument;
    map.set(key, value);
    this.onHeadersModified(type);
    return Status.Ok;
  }

  removeHeaderMapValue(type: number, key: string): number {
    const map = this.getMap(type);
    if (!map) return Status.BadArgument;
    map.remove(key);
    this.onHeadersModified(type);
    return Status.Ok;
  }

  /** sources: Envoy wasm context: always OK; an unavailable map yields 0 pairs. */
  getHeaderMapPairs(type: number): readonly Pair[] {
    return this.getConstMap(type)?.pairs() ?? [];
  }

  setHeaderMapPairs(type: number, pairs: Pair[]): number {
    const map = this.getMap(type);
    if (!map) return Status.BadArgument;
    // Remove every existing header (incl. pseudo-headers), then add the given pairs (sources: Envoy wasm context).
    map.clear();
    for (const [k, v] of pairs) map.add(k, v);
    this.onHeadersModified(type);
    return Status.Ok;
  }

  getHeaderMapSize(type: number): { status: number; size?: number } {
    const map = this.getMap(type);
    if (!map) return { status: Status.BadArgument };
    return { status: Status.Ok, size: map.byteSize() };
  }

  // ---- buffers (sources: Envoy wasm context, Envoy `Context::getBuffer`)

  getBuffer(type: number): HostBuffer | null {
    const vm = this.vm!;
    const root = this.rootContext();
    switch (type) {
      case BufferType.CallData: return this.lastBuffer;
      case BufferType.VmConfiguration: return (this.lastBuffer = new ConstBuffer(vm.services.plugin.vmConfiguration));
      case BufferType.PluginConfiguration:
        // sources: Envoy wasm context: only while the plugin is being configured (temp_plugin_ set).
        if (root?.tempPlugin) return (this.lastBuffer = new ConstBuffer(vm.services.plugin.configuration));
        return null;
      case BufferType.HttpCallResponseBody:
        if (root?.httpCallResponse) return (this.lastBuffer = new ConstBuffer(root.httpCallResponse.body));
        return null;
      case BufferType.GrpcReceiveBuffer:
        // A mutable Buffer::Instance pointer that is null outside on_grpc_receive → size 0, OK.
        return (this.lastBuffer = root?.grpcReceiveBuffer ? new MutableBuffer(root.grpcReceiveBuffer) : NULL_BUFFER);
      case BufferType.HttpRequestBody:
      case BufferType.HttpResponseBody:
      case BufferType.DownstreamData:
      case BufferType.UpstreamData:
        return (this.lastBuffer = this.bodyBuffer(type) ?? NULL_BUFFER);
    }
    return null;
  }

  protected bodyBuffer(_type: number): HostBuffer | null { return null; }
  wrapBody(b: BodyBuffer): HostBuffer { return new MutableBuffer(b); }
}

/** The VM context (id 0): current context during start and malloc. */
export class VmContext extends ContextBase {
  rootContext(): RootContext | null { return null; }
}

interface HttpCallHandler { request: Cancellable | null }
interface GrpcCallHandler { request: Cancellable | null }
interface GrpcStreamHandler { stream: GrpcStreamHandle | null; localClosed: boolean; remoteClosed: boolean }

export class RootContext extends ContextBase {
  override readonly isRoot = true;
  /** temp_plugin_: set during on_context_create (first start) and on_configure (sources: Envoy wasm context). */
  tempPlugin = false;
  pendingDone = false;
  /** get_status() (sources: Envoy wasm context): code persists, message is cleared after each callback. */
  status = { code: 0, message: "" };
  httpCallResponse: HttpCallResponse | null = null;
  grpcReceiveBuffer: BodyBuffer | null = null;
  grpcInitialMetadata: HeaderMap | null = null;
  grpcTrailingMetadata: HeaderMap | null = null;
  private httpRequests = new Map<number, HttpCallHandler>();
  private grpcCalls = new Map<number, GrpcCallHandler>();
  private grpcStreams = new Map<number, GrpcStreamHandler>();

  constructor(vm: WasmInstance, id: number) {
    super(vm, id);
    vm.contexts.set(id, this);
  }

  rootContext(): RootContext { return this; }
  private get wasm(): WasmInstance { return this.vm!; }

  /** cpp-host `ContextBase::onStart`: on_context_create(root, 0) then on_vm_start (sources: proxy-wasm C++ host: filter status). */
  onStart(): boolean {
    const vm = this.wasm;
    return vm.withDeferredActions(() => {
      if (vm.exports.proxy_on_context_create) {
        this.tempPlugin = true;
        vm.call(this, "proxy_on_context_create", vm.exports.proxy_on_context_create, this.id, 0);
        this.inVmContextCreated = true;
        this.tempPlugin = false;
      }
      if (vm.exports.proxy_on_vm_start) {
        const r = vm.call(this, "proxy_on_vm_start", vm.exports.proxy_on_vm_start, this.id, vm.services.plugin.vmConfiguration.length);
        return (r ?? 0) !== 0;
      }
      return true;
    });
  }

  /** cpp-host `ContextBase::onConfigure` (sources: proxy-wasm C++ host: filter status): false (or a trap) rejects the configuration. */
  onConfigure(): boolean {
    const vm = this.wasm;
    if (this.isFailed()) return true;
    if (!this.inVmContextCreated && vm.exports.proxy_on_context_create) {
      vm.withDeferredActions(() => vm.call(this, "proxy_on_context_create", vm.exports.proxy_on_context_create!, this.id, 0));
    }
    this.inVmContextCreated = true;
    if (!vm.exports.proxy_on_configure) return true;
    return vm.withDeferredActions(() => {
      this.tempPlugin = true;
      const r = vm.call(this, "proxy_on_configure", vm.exports.proxy_on_configure!, this.id, vm.services.plugin.configuration.length);
      this.tempPlugin = false;
      return (r ?? 0) !== 0;
    });
  }

  onTick(): void {
    const vm = this.wasm;
    if (this.isFailed() || !vm.exports.proxy_on_tick) return;
    vm.withDeferredActions(() => vm.call(this, "proxy_on_tick", vm.exports.proxy_on_tick!, this.id));
  }

  onQueueReady(token: number): void {
    const vm = this.wasm;
    if (this.isFailed() || !vm.exports.proxy_on_queue_ready) return;
    vm.withDeferredActions(() => vm.call(this, "proxy_on_queue_ready", vm.exports.proxy_on_queue_ready!, this.id, token));
  }

  /** sources: proxy-wasm C++ host: filter status root shutdown: on_done; false → pending until proxy_done(). */
  onDone(): boolean {
    const vm = this.wasm;
    if (this.isFailed() || !vm.exports.proxy_on_done) return true;
    const r = vm.withDeferredActions(() => vm.call(this, "proxy_on_done", vm.exports.proxy_on_done!, this.id));
    const done = (r ?? 1) !== 0;
    if (!done) this.pendingDone = true;
    return done;
  }

  onDelete(): void {
    const vm = this.wasm;
    if (this.inVmContextCreated && !this.isFailed() && vm.exports.proxy_on_delete) {
      vm.withDeferredActions(() => vm.call(this, "proxy_on_delete", vm.exports.proxy_on_delete!, this.id));
    }
  }

  /** Context::~Context: outstanding calls are cancelled only when the ROOT context goes away (sources: Envoy wasm context). */
  cancelCallouts(): void {
    for (const h of this.httpRequests.values()) h.request?.cancel();
    for (const h of this.grpcCalls.values()) h.request?.cancel();
    for (const h of this.grpcStreams.values()) h.stream?.cancel();
    this.httpRequests.clear();
    this.grpcCalls.clear();
    this.grpcStreams.clear();
  }

  get pendingCallouts(): number { return this.httpRequests.size + this.grpcCalls.size + this.grpcStreams.size; }

  // ---------------------------------------------------------------- sources: Envoy wasm context http_call

  httpCall(cluster: string, headerPairs: Pair[], body: Uint8Array, trailerPairs: Pair[], timeoutArg: number): { status: number; token?: number } {
    const vm = this.wasm;
    // The timeout is an `int`: values ≥ 2^31 become negative → BAD_ARGUMENT.
    const timeout = timeoutArg | 0;
    if (timeout < 0) return { status: Status.BadArgument };
    if (!vm.services.clusters.has(cluster)) return { status: Status.BadArgument };
    const headers = HeaderMap.from(headerPairs);
    if (!headers.has(":path") || !headers.has(":method") || !headers.has(":authority")) return { status: Status.BadArgument };
    if (body.length) headers.set("content-length", String(body.length));
    const trailers = trailerPairs.length ? HeaderMap.from(trailerPairs) : null;
    const token = vm.nextHttpCallId();
    const handler: HttpCallHandler = { request: null };
    this.httpRequests.set(token, handler);
    handler.request = vm.services.clusters.httpCall(cluster, headers, body, trailers, timeout > 0 ? timeout : undefined, {
      onSuccess: (resp) => this.onHttpCallSuccess(token, resp),
      onFailure: () => this.onHttpCallFailure(token),
    });
    return { status: Status.Ok, token };
  }

  private onHttpCallSuccess(token: number, response: HttpCallResponse): void {
    const vm = this.wasm;
    // Callbacks are never delivered re-entrantly (sources: Envoy wasm context).
    if (vm.inVmCall) return vm.addAfterCallAction(() => this.onHttpCallSuccess(token, response));
    if (!this.httpRequests.has(token) || vm.destroyed) return;
    this.httpCallResponse = response;
    const cleanup = () => { this.httpCallResponse = null; this.httpRequests.delete(token); };
    const fn = vm.exports.proxy_on_http_call_response;
    if (this.isFailed() || !fn) return cleanup();
    vm.addAfterCallAction(cleanup);
    vm.withDeferredActions(() => vm.call(this, "proxy_on_http_call_response", fn, this.id, token,
      response.headers.size, response.body.length, response.trailers?.size ?? 0));
  }

  private onHttpCallFailure(token: number): void {
    const vm = this.wasm;
    if (vm.inVmCall) return vm.addAfterCallAction(() => this.onHttpCallFailure(token));
    if (!this.httpRequests.has(token) || vm.destroyed) return;
    // sources: Envoy wasm context: reset / overflow → (…, 0, 0, 0) and get_status = BROKEN_CONNECTION "reset".
    this.status = { code: Status.BrokenConnection, message: "reset" };
    const cleanup = () => { this.status.message = ""; this.httpRequests.delete(token); };
    const fn = vm.exports.proxy_on_http_call_response;
    if (this.isFailed() || !fn) return cleanup();
    vm.addAfterCallAction(cleanup);
    vm.withDeferredActions(() => vm.call(this, "proxy_on_http_call_response", fn, this.id, token, 0, 0, 0));
  }

  // ---------------------------------------------------------------- sources: Envoy wasm context gRPC

  /**
   * sources: Envoy wasm context: the first argument is parsed as a serialized GrpcService; if that fails it is a cluster
   * name (unknown → PARSE_FAILURE). A parsable GrpcService must carry envoy_grpc.cluster_name.
   */
  private grpcCluster(svc: Uint8Array): { cluster?: string; status: number; inlineFailure?: boolean } {
    const vm = this.wasm;
    const msg = parseProto(svc);
    if (msg === null) {
      const name = Buffer.from(svc).toString("latin1");
      return vm.services.clusters.has(name) ? { cluster: name, status: Status.Ok } : { status: Status.ParseFailure };
    }
    const envoyGrpc = msg.get(1)?.bytes;
    const inner = envoyGrpc ? parseProto(envoyGrpc) : null;
    const name = inner?.get(1)?.bytes;
    // No envoy_grpc cluster (e.g. the empty string parses as an empty GrpcService): client creation fails.
    if (!name) return { status: Status.BadArgument };
    const cluster = Buffer.from(name).toString("latin1");
    // skip_cluster_check: an unknown cluster fails inside the async client (INFERRED: INTERNAL_FAILURE
    // plus a deferred on_grpc_close for a token the module never received, sources: Envoy wasm context).
    if (!vm.services.clusters.has(cluster)) return { cluster, status: Status.InternalFailure, inlineFailure: true };
    return { cluster, status: Status.Ok };
  }

  grpcCall(svc: Uint8Array, service: string, method: string, md: Pair[], message: Uint8Array, timeoutMs: number): { status: number; token?: number } {
    const vm = this.wasm;
    const c = this.grpcCluster(svc);
    if (c.inlineFailure) {
      const token = vm.nextGrpcCallId();
      this.grpcCalls.set(token, { request: null });
      setImmediate(() => this.onGrpcClose(token, GrpcStatus.Unavailable, "Cluster not available"));
      return { status: c.status };
    }
    if (c.status !== Status.Ok) return { status: c.status };
    const token = vm.nextGrpcCallId();
    const handler: GrpcCallHandler = { request: null };
    this.grpcCalls.set(token, handler);
    handler.request = vm.services.clusters.grpcCall(c.cluster!, service, method, HeaderMap.from(md), message, timeoutMs, {
      onMessage: (m) => this.onGrpcReceive(token, m),
      onClose: (status, msg) => this.onGrpcClose(token, status, msg),
    });
    return { status: Status.Ok, token };
  }

  grpcStream(svc: Uint8Array, service: string, method: string, md: Pair[]): { status: number; token?: number } {
    const vm = this.wasm;
    const c = this.grpcCluster(svc);
    if (c.status !== Status.Ok) return { status: c.status };
    const token = vm.nextGrpcStreamId();
    const handler: GrpcStreamHandler = { stream: null, localClosed: false, remoteClosed: false };
    this.grpcStreams.set(token, handler);
    handler.stream = vm.services.clusters.grpcStream(c.cluster!, service, method, HeaderMap.from(md), {
      onInitialMetadata: (h) => this.onGrpcMetadata(token, h, true),
      onMessage: (m) => this.onGrpcReceive(token, m),
      onTrailingMetadata: (h) => this.onGrpcMetadata(token, h, false),
      onClose: (status, msg) => { handler.remoteClosed = true; this.onGrpcClose(token, status, msg); },
    });
    return { status: Status.Ok, token };
  }

  grpcSend(token: number, message: Uint8Array, endStream: boolean): number {
    if (!WasmInstance.isGrpcStreamId(token)) return Status.BadArgument;
    const h = this.grpcStreams.get(token);
    if (!h) return Status.NotFound;
    h.stream?.send(message, endStream);
    return Status.Ok;
  }

  grpcClose(token: number): number {
    if (WasmInstance.isGrpcCallId(token)) {
      const h = this.grpcCalls.get(token);
      if (!h) return Status.NotFound;
      h.request?.cancel();
      this.grpcCalls.delete(token);
      return Status.Ok;
    }
    if (WasmInstance.isGrpcStreamId(token)) {
      const h = this.grpcStreams.get(token);
      if (!h) return Status.NotFound;
      h.stream?.close();
      if (h.remoteClosed) this.grpcStreams.delete(token);
      else h.localClosed = true;
      return Status.Ok;
    }
    return Status.BadArgument;
  }

  grpcCancel(token: number): number {
    if (WasmInstance.isGrpcCallId(token)) {
      const h = this.grpcCalls.get(token);
      if (!h) return Status.NotFound;
      h.request?.cancel();
      this.grpcCalls.delete(token);
      return Status.Ok;
    }
    if (WasmInstance.isGrpcStreamId(token)) {
      const h = this.grpcStreams.get(token);
      if (!h) return Status.NotFound;
      h.stream?.cancel();
      this.grpcStreams.delete(token);
      return Status.Ok;
    }
    return Status.BadArgument;
  }

  private onGrpcMetadata(token: number, md: HeaderMap, initial: boolean): void {
    const vm = this.wasm;
    if (vm.inVmCall) return vm.addAfterCallAction(() => this.onGrpcMetadata(token, md, initial));
    if (!this.grpcStreams.has(token) || vm.destroyed) return;
    const name = initial ? "proxy_on_grpc_receive_initial_metadata" : "proxy_on_grpc_receive_trailing_metadata";
    const fn = vm.exports[name];
    if (initial) this.grpcInitialMetadata = md; else this.grpcTrailingMetadata = md;
    if (!this.isFailed() && fn) vm.withDeferredActions(() => vm.call(this, name, fn, this.id, token, md.size));
    if (initial) this.grpcInitialMetadata = null; else this.grpcTrailingMetadata = null;
  }

  private onGrpcReceive(token: number, message: Uint8Array): void {
    const vm = this.wasm;
    if (vm.inVmCall) return vm.addAfterCallAction(() => this.onGrpcReceive(token, message));
    if ((!this.grpcCalls.has(token) && !this.grpcStreams.has(token)) || vm.destroyed) return;
    const cleanup = () => {
      this.grpcReceiveBuffer = null;
      if (WasmInstance.isGrpcCallId(token)) this.grpcCalls.delete(token);
    };
    const fn = vm.exports.proxy_on_grpc_receive;
    if (this.isFailed() || !fn) return cleanup();
    this.grpcReceiveBuffer = new BodyBuffer(message);
    vm.addAfterCallAction(cleanup);
    vm.withDeferredActions(() => vm.call(this, "proxy_on_grpc_receive", fn, this.id, token, message.length));
  }

  private onGrpcClose(token: number, status: number, message: string): void {
    const vm = this.wasm;
    if (vm.inVmCall) return vm.addAfterCallAction(() => this.onGrpcClose(token, status, message));
    if ((!this.grpcCalls.has(token) && !this.grpcStreams.has(token)) || vm.destroyed) return;
    const cleanup = () => {
      if (WasmInstance.isGrpcCallId(token)) this.grpcCalls.delete(token);
      else if (this.grpcStreams.get(token)?.localClosed) this.grpcStreams.delete(token);
    };
    const fn = vm.exports.proxy_on_grpc_close;
    if (this.isFailed() || !fn) return cleanup();
    this.status = { code: status, message };
    vm.addAfterCallAction(() => { this.status.message = ""; cleanup(); });
    vm.withDeferredActions(() => vm.call(this, "proxy_on_grpc_close", fn, this.id, token, status));
  }
}

/**
 * The Wasm side of one HTTP stream (Envoy `Context` as an HTTP filter + cpp-host `ContextBase`
 * stream callbacks). `vm === null` models Envoy's "failed" context (FAIL_CLOSED: every call fails).
 */
export class StreamContext extends ContextBase {
  // Envoy Context fields: the maps/buffers are reachable only while these point somewhere (sources: Envoy wasm context).
  requestHeaders: HeaderMap | null = null;
  requestBodyBuffer: BodyBuffer | null = null;
  requestTrailers: HeaderMap | null = null;
  responseHeaders: HeaderMap | null = null;
  responseBodyBuffer: BodyBuffer | null = null;
  responseTrailers: HeaderMap | null = null;
  bufferingRequestBody = false;
  bufferingResponseBody = false;
  endOfStream = false;
  destroyed = false;
  failureLocalReplySent = false;
  private streamFailed = false;
  private inAccessLog = false;
  private accessLog: { request: HeaderMap | null; response: HeaderMap | null; trailers: HeaderMap | null } | null = null;

  constructor(vm: WasmInstance | null, id: number, readonly root: RootContext | null, readonly cb: FilterCallbacks,
    private readonly failOpen: boolean, private readonly allowStopIteration: boolean) {
    super(vm, id);
    if (vm) vm.contexts.set(id, this);
  }

  rootContext(): RootContext | null { return this.root; }
  override get streamInfo(): StreamInfo { return this.cb.info; }
  override get accessLogPhase(): boolean { return this.inAccessLog; }
  /** For properties: the request/response maps as CEL sees them (held pointer, else access-log copy). */
  get activationRequestHeaders(): HeaderMap | null { return this.requestHeaders ?? this.accessLog?.request ?? null; }
  get activationResponseHeaders(): HeaderMap | null { return this.responseHeaders ?? this.accessLog?.response ?? null; }
  get activationResponseTrailers(): HeaderMap | null { return this.responseTrailers ?? this.accessLog?.trailers ?? null; }

  // ---------------------------------------------------------------- cpp-host plumbing

  /** cpp-host CHECK_FAIL_HTTP (sources: Envoy Wasm filter configuration): returns the status to use when the VM is failed. */
  private checkFail(openResult: number, closedResult: number): number | undefined {
    if (!this.isFailed()) return undefined;
    if (this.failOpen) return openResult; // legacy fail_open: pass the in-flight stream through
    if (!this.streamFailed) {
      this.streamFailed = true;
      this.failStream();
    }
    return closedResult;
  }

  /**
   * Envoy `Context::failStream(Request)`: local reply 503, gRPC UNAVAILABLE, details
   * "wasm_fail_stream", once per stream. (The flag is set before sending; in Envoy it is set after,
   * which makes the nested encodeHeaders of the reply fail the stream again and send the same 503
   * directly to the codec — the client-visible outcome is identical.)
   */
  private failStream(): void {
    if (this.failureLocalReplySent) return;
    this.failureLocalReplySent = true;
    this.cb.sendLocalReply(503, EMPTY, [], GrpcStatus.Unavailable, "wasm_fail_stream");
  }

  onCreate(): void {
    const vm = this.vm;
    if (vm && !this.isFailed() && !this.inVmContextCreated && vm.exports.proxy_on_context_create) {
      vm.withDeferredActions(() => vm.call(this, "proxy_on_context_create", vm.exports.proxy_on_context_create!, this.id, this.root?.id ?? 0));
    }
    this.inVmContextCreated = true;
  }

  /** One stream callback with cpp-host's before/after failure checks and conversion. */
  private callback(name: string, openResult: number, closedResult: number, convert: (r: number) => number, ...args: number[]): number {
    const pre = this.checkFail(openResult, closedResult);
    if (pre !== undefined) return pre;
    const vm = this.vm!;
    const fn = vm.exports[name];
    if (!fn) return HeadersStatus.Continue; // missing callbacks behave as Continue (sources: proxy-wasm C++ host: linking)
    return vm.withDeferredActions(() => {
      const r = vm.call(this, name, fn, this.id, ...args);
      const post = this.checkFail(openResult, closedResult);
      if (post !== undefined) return post;
      return convert(r ?? 0);
    });
  }

  /** sources: proxy-wasm C++ host: filter status cpp-host convertVmCallResultToFilterHeadersStatus + Envoy convertFilterHeadersStatus. */
  private convertHeaders = (r: number): number => {
    if (this.vm!.nextIterationStopped || r > HeadersStatus.StopAllIterationAndWatermark) return HeadersStatus.StopAllIterationAndWatermark;
    if (r === HeadersStatus.StopIteration && !this.allowStopIteration) return HeadersStatus.StopAllIterationAndWatermark;
    if (r === HeadersStatus.ContinueAndEndStream) return HeadersStatus.Continue; // Envoy's default branch
    return r;
  };

  /** sources: Envoy wasm context clamping: >3, or after send_local_response → StopIterationNoBuffer. */
  private convertData = (r: number): number =>
    this.vm!.nextIterationStopped || r > DataStatus.StopIterationNoBuffer ? DataStatus.StopIterationNoBuffer : r;

  private convertTrailers = (r: number): number =>
    this.vm!.nextIterationStopped || r > TrailersStatus.StopIteration ? TrailersStatus.StopIteration : r;

  // ---------------------------------------------------------------- Envoy Context as an HTTP filter

  decodeHeaders(headers: HeaderMap, eos: boolean): number {
    this.onCreate();
    this.requestHeaders = headers;
    this.endOfStream = eos;
    const r = this.callback("proxy_on_request_headers", HeadersStatus.Continue, HeadersStatus.StopAllIterationAndWatermark,
      this.convertHeaders, headers.size, eos ? 1 : 0);
    if (r === HeadersStatus.Continue) this.requestHeaders = null;
    return r;
  }

  decodeData(data: BodyBuffer, eos: boolean): number {
    if (!this.inVmContextCreated) return DataStatus.Continue;
    if (this.bufferingRequestBody) {
      // The previous call returned StopIterationAndBuffer: move the chunk into the buffered body
      // first (sources: Envoy wasm context); if that overflowed the limit the 413 already ended the stream (sources: Envoy wasm context).
      this.cb.addDecodedData(data);
      if (this.destroyed) return DataStatus.StopIterationAndBuffer;
    }
    this.requestBodyBuffer = data;
    this.endOfStream = eos;
    const size = this.bodyBuffer(BufferType.HttpRequestBody)?.size() ?? 0;
    const r = this.callback("proxy_on_request_body", DataStatus.Continue, DataStatus.StopIterationNoBuffer,
      this.convertData, size, eos ? 1 : 0);
    this.bufferingRequestBody = false;
    if (r === DataStatus.Continue) this.requestBodyBuffer = null;
    else if (r === DataStatus.StopIterationAndBuffer) this.bufferingRequestBody = true;
    return r;
  }

  decodeTrailers(trailers: HeaderMap): number {
    if (!this.inVmContextCreated) return TrailersStatus.Continue;
    this.requestTrailers = trailers;
    const r = this.callback("proxy_on_request_trailers", TrailersStatus.Continue, TrailersStatus.StopIteration,
      this.convertTrailers, trailers.size);
    if (r === TrailersStatus.Continue) this.requestTrailers = null;
    return r;
  }

  encodeHeaders(headers: HeaderMap, eos: boolean): number {
    // After a failure local reply, encoder callbacks skip the VM (sources: Envoy wasm context).
    if (!this.inVmContextCreated || this.failureLocalReplySent) return HeadersStatus.Continue;
    this.responseHeaders = headers;
    this.endOfStream = eos;
    const r = this.callback("proxy_on_response_headers", HeadersStatus.Continue, HeadersStatus.StopAllIterationAndWatermark,
      this.convertHeaders, headers.size, eos ? 1 : 0);
    if (r === HeadersStatus.Continue) this.responseHeaders = null;
    return r;
  }

  encodeData(data: BodyBuffer, eos: boolean): number {
    if (!this.inVmContextCreated || this.failureLocalReplySent) return DataStatus.Continue;
    if (this.bufferingResponseBody) {
      this.cb.addEncodedData(data);
      if (this.destroyed) return DataStatus.StopIterationAndBuffer;
    }
    this.responseBodyBuffer = data;
    this.endOfStream = eos;
    const size = this.bodyBuffer(BufferType.HttpResponseBody)?.size() ?? 0;
    const r = this.callback("proxy_on_response_body", DataStatus.Continue, DataStatus.StopIterationNoBuffer,
      this.convertData, size, eos ? 1 : 0);
    this.bufferingResponseBody = false;
    if (r === DataStatus.Continue) this.responseBodyBuffer = null;
    else if (r === DataStatus.StopIterationAndBuffer) this.bufferingResponseBody = true;
    return r;
  }

  encodeTrailers(trailers: HeaderMap): number {
    if (!this.inVmContextCreated || this.failureLocalReplySent) return TrailersStatus.Continue;
    this.responseTrailers = trailers;
    const r = this.callback("proxy_on_response_trailers", TrailersStatus.Continue, TrailersStatus.StopIteration,
      this.convertTrailers, trailers.size);
    if (r === TrailersStatus.Continue) this.responseTrailers = null;
    return r;
  }

  /** Envoy `Context::log` (access-log phase, sources: Envoy wasm context step 4 / sources: Envoy wasm context): on_log with read-only maps. */
  logStream(request: HeaderMap | null, response: HeaderMap | null, trailers: HeaderMap | null): void {
    if (!this.inVmContextCreated) this.onCreate();
    this.inAccessLog = true;
    this.accessLog = { request, response, trailers };
    const vm = this.vm;
    if (vm && !this.isFailed() && vm.exports.proxy_on_log) {
      vm.withDeferredActions(() => vm.call(this, "proxy_on_log", vm.exports.proxy_on_log!, this.id));
    }
    this.inAccessLog = false;
    this.accessLog = null;
  }

  /** Envoy `Context::onDestroy`: on_done (result ignored for streams) then on_delete (sources: Envoy wasm context). */
  onDestroy(): void {
    const vm = this.vm;
    if (!this.destroyed && this.inVmContextCreated) {
      this.destroyed = true;
      if (vm && !this.isFailed() && vm.exports.proxy_on_done) {
        vm.withDeferredActions(() => vm.call(this, "proxy_on_done", vm.exports.proxy_on_done!, this.id));
      }
      if (vm && !this.isFailed() && vm.exports.proxy_on_delete) {
        vm.withDeferredActions(() => vm.call(this, "proxy_on_delete", vm.exports.proxy_on_delete!, this.id));
      }
    }
    this.destroyed = true;
    // The Context object goes away with the filter: its id no longer resolves (sources: proxy-wasm C++ host: filter status).
    if (vm && vm.contexts.get(this.id) === this) vm.contexts.delete(this.id);
  }

  // ---------------------------------------------------------------- hostcall semantics

  protected override getMap(type: number): HeaderMap | null {
    switch (type) {
      case MapType.RequestHeaders: return this.requestHeaders;
      case MapType.RequestTrailers:
        // sources: Envoy wasm context: trailers can be created from the last body callback (end_of_stream) when absent.
        if (!this.requestTrailers && this.requestBodyBuffer && this.endOfStream) this.requestTrailers = this.cb.addDecodedTrailers();
        return this.requestTrailers;
      case MapType.ResponseHeaders: return this.responseHeaders;
      case MapType.ResponseTrailers:
        if (!this.responseTrailers && this.responseBodyBuffer && this.endOfStream) this.responseTrailers = this.cb.addEncodedTrailers();
        return this.responseTrailers;
    }
    return null;
  }

  protected override getConstMap(type: number): HeaderMap | null {
    switch (type) {
      case MapType.RequestHeaders: return this.inAccessLog ? this.accessLog!.request : this.requestHeaders;
      case MapType.RequestTrailers: return this.inAccessLog ? null : this.requestTrailers;
      case MapType.ResponseHeaders: return this.inAccessLog ? this.accessLog!.response : this.responseHeaders;
      case MapType.ResponseTrailers: return this.inAccessLog ? this.accessLog!.trailers : this.responseTrailers;
    }
    return super.getConstMap(type);
  }

  protected override onHeadersModified(type: number): void {
    // sources: Envoy wasm context: for ABI ≤ 0.2.1 modules, modifying request headers clears the route cache.
    if (type === MapType.RequestHeaders) this.cb.clearRouteCache();
  }

  protected override bodyBuffer(type: number): HostBuffer | null {
    if (type === BufferType.HttpRequestBody) {
      // While buffering (previous StopIterationAndBuffer) the whole buffered body is the buffer.
      if (this.bufferingRequestBody) return this.wrapBody(this.cb.decodingBuffer());
      return this.requestBodyBuffer ? this.wrapBody(this.requestBodyBuffer) : null;
    }
    if (type === BufferType.HttpResponseBody) {
      if (this.bufferingResponseBody) return this.wrapBody(this.cb.encodingBuffer());
      return this.responseBodyBuffer ? this.wrapBody(this.responseBodyBuffer) : null;
    }
    return null;
  }

  override setProperty(path: string, value: Uint8Array): number {
    const key = `wasm.${path}`;
    const fs = this.cb.info.filterState;
    let state = fs.get(key);
    if (!state) {
      const proto = this.root?.statePrototypes.get(path);
      state = { value: EMPTY, readonly: proto?.readonly ?? false, initialized: false, type: proto?.type ?? 0 };
      fs.set(key, state);
    }
    if (state.initialized && state.readonly) return Status.BadArgument;
    state.value = value;
    state.initialized = true;
    return Status.Ok;
  }

  /** sources: Envoy wasm context: deferred; note the quirk that request pointers are cleared for both stream types. */
  override continueStream(type: number): number {
    const vm = this.vm!;
    switch (type) {
      case StreamType.Request:
        vm.addAfterCallAction(() => this.cb.continueDecoding());
        break;
      case StreamType.Response:
        vm.addAfterCallAction(() => this.cb.continueEncoding());
        break;
      case StreamType.Downstream:
        return Status.Ok;
      case StreamType.Upstream:
        return Status.Unimplemented;
      default:
        return Status.BadArgument;
    }
    this.requestHeaders = null;
    this.requestBodyBuffer = null;
    this.requestTrailers = null;
    return Status.Ok;
  }

  /** sources: Envoy wasm context: deferred resetStream(), details "wasm_close_stream" unless already set. */
  override closeStream(type: number): number {
    if (type === StreamType.Request || type === StreamType.Response) {
      const info = this.cb.info;
      if (info.responseCodeDetails === undefined) info.responseCodeDetails = "wasm_close_stream";
      this.vm!.addAfterCallAction(() => this.cb.resetStream());
    }
    return Status.Ok;
  }

  /** sources: Envoy wasm context: deferred sendLocalReply; details' whitespace → "_", grpc 0..16 else none. */
  override sendLocalResponse(code: number, body: Uint8Array, headers: Pair[], grpc: number, details: string): void {
    const lowered = headers.map(([k, v]) => [k.toLowerCase(), v] as Pair);
    const d = details.replace(/\s/g, "_");
    const grpcStatus = grpc <= 16 ? grpc : undefined;
    this.vm!.addAfterCallAction(() => this.cb.sendLocalReply(code, body, lowered, grpcStatus, d));
  }

  override clearRouteCache(): void { this.cb.clearRouteCache(); }
}
