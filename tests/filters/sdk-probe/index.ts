// SDK probe: a small filter that exercises the patched @solo-io/proxy-runtime the way the gateway
// will, so tests/sdk/sdk-probe.test.ts can check each fix end to end through the Envoy-like host.
// The request header `x-probe` selects one behaviour (see onRequestHeaders); everything else is
// passed through. Results are reported in local replies / headers so the test can read them.
//
// Built with tests/sdk/build-probe.ts (same asc options as scripts/build.mjs).

export * from "@solo-io/proxy-runtime/assembly/proxy";
import {
  RootContext, Context, BaseContext, registerRootContext, stream_context,
  FilterHeadersStatusValues, FilterDataStatusValues, GrpcStatusValues, WasmResultValues, LogLevelValues,
  BufferTypeValues, HeaderMapTypeValues, MetricTypeValues, Headers, HeaderPair,
  log, send_local_response, continue_request, get_property, get_buffer_bytes, set_buffer_bytes,
  get_header_map_value, add_header_map_value_string, remove_header_map_value_string,
  call_foreign_function, clear_route_cache, get_shared_data, set_shared_data,
  define_metric, increment_metric, get_metric,
} from "@solo-io/proxy-runtime/assembly/index";

const NO_GRPC_STATUS = GrpcStatusValues.InvalidCode;

function str(s: string): ArrayBuffer { return String.UTF8.encode(s); }
function pair(k: string, v: string): HeaderPair { return new HeaderPair(str(k), str(v)); }
function reply(status: u32, details: string, body: string, headers: Headers): void {
  send_local_response(status, details, str(body), headers, NO_GRPC_STATUS);
}

class ProbeRoot extends RootContext {
  callbacks_metric: u32 = 0;
  probe_metric: u32 = 0;
  // Body of the last HTTP call the root made on its own behalf (origin = root).
  root_call_result: string = "none";

  onConfigure(configuration_size: u32): bool {
    // Metrics must be defined outside _initialize (restricted hostcalls, sources: proxy-wasm C++ host: linking).
    let m = define_metric(MetricTypeValues.Counter, "sdk_probe.callbacks");
    if (m.result != WasmResultValues.Ok) return false;
    this.callbacks_metric = m.metric_id;
    m = define_metric(MetricTypeValues.Counter, "sdk_probe.probe");
    if (m.result != WasmResultValues.Ok) return false;
    this.probe_metric = m.metric_id;
    // The base implementation reads the plugin configuration (its size-pointer bug is fixed).
    return super.onConfigure(configuration_size);
  }

  createContext(context_id: u32): Context {
    return new ProbeContext(context_id, this);
  }
}

// --- callbacks (AssemblyScript has no closures: top-level functions get the origin context) ---

// Shared by the HTTP-call callbacks: counts deliveries so the test can prove a callback for a
// deleted stream was dropped rather than run.
function countCallback(root: ProbeRoot): void {
  increment_metric(root.callbacks_metric, 1);
}

function callStatus(): string {
  return String.UTF8.decode(get_header_map_value(HeaderMapTypeValues.HttpCallResponseHeaders, str(":status")));
}

// x-probe: http — answer this stream with the callee's body, tagged with this stream's probe id.
function onHttpReply(origin: Context, headers: u32, body_size: usize, trailers: u32): void {
  let ctx = origin as ProbeContext;
  countCallback(ctx.root);
  let body = String.UTF8.decode(get_buffer_bytes(BufferTypeValues.HttpCallResponseBody, 0, body_size as u32));
  reply(200, "sdk_probe_http", body, [
    pair("x-probe-id", ctx.probe_id),
    pair("x-probe-callee-status", callStatus()),
  ]);
}

// x-probe: http-continue — add a request header from the callee's answer, then resume upstream.
function onHttpContinue(origin: Context, headers: u32, body_size: usize, trailers: u32): void {
  let ctx = origin as ProbeContext;
  countCallback(ctx.root);
  add_header_map_value_string(HeaderMapTypeValues.RequestHeaders, "x-probe-callee-status", callStatus());
  continue_request();
}

// x-probe: root-call — the root context's own call; origin is the root.
function onRootCall(origin: Context, headers: u32, body_size: usize, trailers: u32): void {
  let root = changetype<ProbeRoot>(origin);
  countCallback(root);
  root.root_call_result = String.UTF8.decode(get_buffer_bytes(BufferTypeValues.HttpCallResponseBody, 0, body_size as u32));
}

// x-probe: grpc — unary call; success → the response message as the body; failure → 503 + status.
function onGrpcReply(origin: BaseContext, grpc_status: u32, message: ArrayBuffer): void {
  let ctx = changetype<ProbeContext>(origin);
  countCallback(ctx.root);
  if (grpc_status == GrpcStatusValues.Ok) {
    send_local_response(200, "sdk_probe_grpc", message, [pair("x-probe-id", ctx.probe_id)], NO_GRPC_STATUS);
  } else {
    reply(503, "sdk_probe_grpc_failed", "", [
      pair("x-probe-id", ctx.probe_id),
      pair("x-probe-grpc-status", grpc_status.toString()),
    ]);
  }
}

class ProbeContext extends Context {
  root: ProbeRoot;
  action: string = "";
  probe_id: string = "";

  constructor(context_id: u32, root: ProbeRoot) {
    super(context_id, root);
    this.root = root;
  }

  onRequestHeaders(_headers: u32, _end_of_stream: bool): FilterHeadersStatusValues {
    this.action = stream_context.headers.request.get("x-probe");
    if (this.action == "") return FilterHeadersStatusValues.Continue;
    increment_metric(this.root.probe_metric, 1);
    this.probe_id = stream_context.headers.request.get("x-probe-id");
    let cluster = stream_context.headers.request.get("x-probe-cluster");
    if (cluster == "") cluster = "callee";
    let timeout = <u32>5000;

    if (this.action == "http" || this.action == "http-continue" || this.action == "root-call") {
      let headers: Headers = [
        pair(":method", "GET"),
        pair(":path", "/probe/" + this.probe_id),
        pair(":authority", cluster),
        pair("x-probe-id", this.probe_id),
      ];
      let result: WasmResultValues;
      if (this.action == "root-call") {
        result = this.root.httpCall(cluster, headers, new ArrayBuffer(0), [], timeout, this.root, onRootCall);
        reply(202, "sdk_probe_root_call", "root-call=" + result.toString(), []);
        return FilterHeadersStatusValues.StopIteration;
      }
      result = this.root.httpCall(cluster, headers, new ArrayBuffer(0), [], timeout, this,
        this.action == "http" ? onHttpReply : onHttpContinue);
      if (result != WasmResultValues.Ok) {
        reply(500, "sdk_probe_http_call_failed", "http_call=" + result.toString(), []);
      }
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.action == "root-result") {
      reply(200, "sdk_probe_root_result", this.root.root_call_result, []);
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.action == "grpc") {
      let metadata: Headers = [pair("x-probe-id", this.probe_id)];
      let result = this.root.grpcCall(cluster, "sdk.probe.Echo", "Echo", metadata, str(this.probe_id), timeout, this, onGrpcReply);
      if (result != WasmResultValues.Ok) {
        reply(500, "sdk_probe_grpc_call_failed", "grpc_call=" + result.toString(), []);
      }
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.action == "property") {
      // A missing path is NotFound in Envoy: must yield an empty value, not a trap.
      let missing = get_property("sdk_probe_no_such_attribute\0nested");
      let path = String.UTF8.decode(get_property("request\0path"));
      reply(200, "sdk_probe_property", "missing=" + missing.byteLength.toString() + ";path=" + path, []);
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.action == "route") {
      let cleared = clear_route_cache();
      let unknown = call_foreign_function("sdk_probe_no_such_function", str("x"));
      reply(200, "sdk_probe_route", "clear_route_cache=" + cleared.toString() + ";unknown=" + unknown.toString(), []);
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.action == "shared") {
      let key = "sdk-probe/" + this.probe_id;
      let before = get_shared_data(key);
      let first = set_shared_data(key, str("v1"), 0);
      let after = get_shared_data(key);
      let stale = set_shared_data(key, str("v2"), after.cas + 1);
      let fresh = set_shared_data(key, str("v3"), after.cas);
      let last = get_shared_data(key);
      reply(200, "sdk_probe_shared",
        "before=" + before.result.toString() +
        ";set=" + first.toString() +
        ";value=" + String.UTF8.decode(after.value) +
        ";stale=" + stale.toString() +
        ";fresh=" + fresh.toString() +
        ";last=" + String.UTF8.decode(last.value), []);
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.action == "metric") {
      let value = get_metric(this.root.probe_metric);
      reply(200, "sdk_probe_metric", "result=" + value.result.toString() + ";probe=" + value.data.toString(), []);
      return FilterHeadersStatusValues.StopIteration;
    }
    if (this.action == "body") {
      // The body length changes, so the original content-length must not reach the upstream.
      remove_header_map_value_string(HeaderMapTypeValues.RequestHeaders, "content-length");
      return FilterHeadersStatusValues.Continue;
    }
    if (this.action == "headers-gone") {
      return FilterHeadersStatusValues.Continue;
    }
    log(LogLevelValues.warn, "sdk-probe: unknown x-probe action " + this.action);
    return FilterHeadersStatusValues.Continue;
  }

  onRequestBody(body_size: usize, end_of_stream: bool): FilterDataStatusValues {
    if (this.action == "headers-gone") {
      // Request headers are gone after Continue: these are BadArgument in Envoy and must not trap.
      let r = add_header_map_value_string(HeaderMapTypeValues.RequestHeaders, "x-late", "1");
      log(LogLevelValues.info, "sdk-probe: late header add result " + r.toString());
      return FilterDataStatusValues.Continue;
    }
    if (this.action != "body") return FilterDataStatusValues.Continue;
    if (!end_of_stream) return FilterDataStatusValues.StopIterationAndBuffer;
    let original = String.UTF8.decode(get_buffer_bytes(BufferTypeValues.HttpRequestBody, 0, body_size as u32));
    let result = set_buffer_bytes(BufferTypeValues.HttpRequestBody, 0, body_size as u32, str("replaced:" + original));
    if (result != WasmResultValues.Ok) {
      log(LogLevelValues.error, "sdk-probe: set_buffer_bytes failed " + result.toString());
    }
    return FilterDataStatusValues.Continue;
  }
}

// Root id "" = no root_id in the plugin configuration. A plugin configured with any other root_id
// has no factory: the runtime must then reject the configuration cleanly (no trap).
registerRootContext((context_id: u32): RootContext => new ProbeRoot(context_id), "");
