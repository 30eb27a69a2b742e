// Envoy's proxy-wasm host surface for ABI 0.2.1, as data.
//
// One table, used twice: the host links modules against it (a missing import or a different
// signature fails the load, as cpp-host's V8 `link()` does), and the ABI conformance test checks
// the built filter against it. Source: sources: proxy-wasm ABI v0.2.1 (env imports),
// sources: proxy-wasm C++ host: WASI (WASI), sources: proxy-wasm ABI v0.2.1 (exports Envoy looks for). Param/result lists are wasm value types.

export type ValType = "i32" | "i64" | "f32" | "f64";
export interface FuncType { params: ValType[]; results: ValType[] }

const fn = (params: string, results = "i32"): FuncType => ({
  params: params ? (params.split(",") as ValType[]) : [],
  results: results ? (results.split(",") as ValType[]) : [],
});
const i32s = (n: number, results = "i32"): FuncType => fn(Array(n).fill("i32").join(","), results);

/** sources: proxy-wasm ABI v0.2.1: `env` imports registered by cpp-host for an ABI 0.2.1 module (all results = proxy_status_t). */
export const ENV_IMPORTS: Record<string, FuncType> = {
  proxy_log: i32s(3),
  proxy_get_log_level: i32s(1),
  proxy_get_status: i32s(3),
  proxy_get_property: i32s(4),
  proxy_set_property: i32s(4),
  proxy_continue_stream: i32s(1),
  proxy_close_stream: i32s(1),
  proxy_send_local_response: i32s(8),
  proxy_get_shared_data: i32s(5),
  proxy_set_shared_data: i32s(5),
  proxy_register_shared_queue: i32s(3),
  proxy_resolve_shared_queue: i32s(5),
  proxy_enqueue_shared_queue: i32s(3),
  proxy_dequeue_shared_queue: i32s(3),
  proxy_get_header_map_value: i32s(5),
  proxy_add_header_map_value: i32s(5),
  proxy_replace_header_map_value: i32s(5),
  proxy_remove_header_map_value: i32s(3),
  proxy_get_header_map_pairs: i32s(3),
  proxy_set_header_map_pairs: i32s(3),
  proxy_get_header_map_size: i32s(2),
  proxy_get_buffer_status: i32s(3),
  proxy_get_buffer_bytes: i32s(5),
  proxy_set_buffer_bytes: i32s(5),
  proxy_http_call: i32s(10),
  proxy_grpc_call: i32s(12),
  proxy_grpc_stream: i32s(9),
  proxy_grpc_send: i32s(4),
  proxy_grpc_cancel: i32s(1),
  proxy_grpc_close: i32s(1),
  proxy_set_tick_period_milliseconds: i32s(1),
  proxy_get_current_time_nanoseconds: i32s(1),
  proxy_define_metric: i32s(4),
  proxy_increment_metric: fn("i32,i64"),
  proxy_record_metric: fn("i32,i64"),
  proxy_get_metric: i32s(2),
  proxy_set_effective_context: i32s(1),
  proxy_done: i32s(0),
  proxy_call_foreign_function: i32s(6),
  // sources: proxy-wasm C++ host: linking: also registered in `env` by cpp-host / Envoy.
  pthread_equal: i32s(2),
  emscripten_notify_memory_growth: i32s(1, ""),
};

/**
 * sources: proxy-wasm ABI v0.2.1: registered only for ABI 0.1.0 modules. A 0.2.1 module importing any of these fails to
 * load ("missing import"); proxy-runtime 0.1.8 declares `proxy_clear_route_cache`, for example.
 */
export const ABI_0_1_0_ONLY = [
  "proxy_get_configuration",
  "proxy_continue_request",
  "proxy_continue_response",
  "proxy_clear_route_cache",
];

/** sources: proxy-wasm C++ host: linking: AssemblyScript std defaults that Envoy does not provide. */
export const NOT_PROVIDED = ["env.abort", "env.trace", "env.seed"];

/** sources: proxy-wasm C++ host: WASI: WASI functions, identical under both module names (cpp-host `beb8a4e`, Envoy ≥ 1.33). */
export const WASI_MODULES = ["wasi_snapshot_preview1", "wasi_unstable"];
export const WASI_IMPORTS: Record<string, FuncType> = {
  fd_write: i32s(4),
  fd_read: i32s(4),
  fd_seek: fn("i32,i64,i32,i32"),
  fd_close: i32s(1),
  fd_fdstat_get: i32s(2),
  fd_fdstat_set_flags: i32s(2),
  environ_get: i32s(2),
  environ_sizes_get: i32s(2),
  args_get: i32s(2),
  args_sizes_get: i32s(2),
  clock_time_get: fn("i32,i64,i32"),
  random_get: i32s(2),
  sched_yield: i32s(0),
  poll_oneoff: i32s(4),
  proc_exit: i32s(1, ""),
  path_open: fn("i32,i32,i32,i32,i32,i64,i64,i32,i32"),
  fd_prestat_get: i32s(2),
  fd_prestat_dir_name: i32s(3),
};

/** Host functions callable while `_initialize`/`_start`/`main` run (sources: proxy-wasm C++ host: linking, allow-list at `beb8a4e`). */
export const START_ALLOWED = new Set([
  "env.emscripten_notify_memory_growth",
  "env.proxy_log",
  ...WASI_MODULES.flatMap((m) =>
    ["fd_write", "args_sizes_get", "args_get", "environ_sizes_get", "environ_get", "fd_prestat_get",
     "fd_prestat_dir_name", "clock_time_get", "random_get", "fd_fdstat_get", "fd_fdstat_set_flags"]
      .map((f) => `${m}.${f}`)),
]);

/** Host functions callable while the host is inside the module's `malloc` (sources: proxy-wasm C++ host: linking). */
export const MALLOC_ALLOWED = new Set([
  "env.proxy_log",
  ...WASI_MODULES.flatMap((m) => ["fd_write", "clock_time_get"].map((f) => `${m}.${f}`)),
]);

/** sources: proxy-wasm ABI v0.2.1: exports Envoy looks up, with the exact signature it requires when present. */
export const EXPORTS: Record<string, FuncType> = {
  malloc: i32s(1),
  proxy_on_memory_allocate: i32s(1),
  _initialize: i32s(0, ""),
  main: i32s(2),
  _start: i32s(0, ""),
  proxy_on_context_create: i32s(2, ""),
  proxy_on_vm_start: i32s(2),
  proxy_on_configure: i32s(2),
  proxy_validate_configuration: i32s(2),
  proxy_on_tick: i32s(1, ""),
  proxy_on_request_headers: i32s(3),
  proxy_on_request_body: i32s(3),
  proxy_on_request_trailers: i32s(2),
  proxy_on_request_metadata: i32s(2),
  proxy_on_response_headers: i32s(3),
  proxy_on_response_body: i32s(3),
  proxy_on_response_trailers: i32s(2),
  proxy_on_response_metadata: i32s(2),
  proxy_on_http_call_response: i32s(5, ""),
  proxy_on_grpc_receive_initial_metadata: i32s(3, ""),
  proxy_on_grpc_receive: i32s(3, ""),
  proxy_on_grpc_receive_trailing_metadata: i32s(3, ""),
  proxy_on_grpc_close: i32s(3, ""),
  proxy_on_queue_ready: i32s(2, ""),
  proxy_on_foreign_function: i32s(3, ""),
  proxy_on_done: i32s(1),
  proxy_on_log: i32s(1, ""),
  proxy_on_delete: i32s(1, ""),
  proxy_on_new_connection: i32s(1),
  proxy_on_downstream_data: i32s(3),
  proxy_on_upstream_data: i32s(3),
  proxy_on_downstream_connection_close: i32s(2, ""),
  proxy_on_upstream_connection_close: i32s(2, ""),
  envoy_on_resolve_dns: i32s(3, ""),
  envoy_on_stats_update: i32s(2, ""),
};

/** sources: proxy-wasm C++ host: linking: the first of these exported decides the ABI; none → "Missing or unknown Proxy-Wasm ABI version". */
export const ABI_MARKERS = ["proxy_abi_version_0_1_0", "proxy_abi_version_0_2_0", "proxy_abi_version_0_2_1"];

/** Exports an HTTP filter built for this project must have (the conformance test requires them). */
export const REQUIRED_FILTER_EXPORTS = [
  "proxy_abi_version_0_2_1", "memory", "malloc", "_initialize",
  "proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure",
  "proxy_on_request_headers", "proxy_on_request_body", "proxy_on_response_headers",
  "proxy_on_response_body", "proxy_on_http_call_response", "proxy_on_grpc_receive",
  "proxy_on_grpc_close", "proxy_on_tick", "proxy_on_log", "proxy_on_done", "proxy_on_delete",
];

export function sameType(a: FuncType, b: FuncType): boolean {
  return a.params.join() === b.params.join() && a.results.join() === b.results.join();
}
export function showType(t: FuncType): string {
  return `(${t.params.join(", ")}) -> (${t.results.join(", ")})`;
}
