// proxy-wasm ABI 0.2.1 enumerations as Envoy/cpp-host use them (sources: proxy-wasm ABI v0.2.1), plus the WASI
// errno values cpp-host returns (sources: proxy-wasm C++ host: WASI). Plain objects (not TS enums) so tsx/esbuild inlines nothing
// surprising and values print as numbers.

/** sources: proxy-wasm ABI v0.2.1 proxy_status_t */
export const Status = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  BadExpression: 5,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  ResultMismatch: 9,
  InternalFailure: 10,
  BrokenConnection: 11,
  Unimplemented: 12,
} as const;

/** sources: proxy-wasm ABI v0.2.1 log levels (spdlog numbering; 6 = off). */
export const LogLevel = { Trace: 0, Debug: 1, Info: 2, Warn: 3, Error: 4, Critical: 5, Off: 6 } as const;

/** sources: proxy-wasm ABI v0.2.1 FilterHeadersStatus / FilterDataStatus / FilterTrailersStatus. */
export const HeadersStatus = {
  Continue: 0,
  StopIteration: 1,
  ContinueAndEndStream: 2,
  StopAllIterationAndBuffer: 3,
  StopAllIterationAndWatermark: 4,
} as const;
export const DataStatus = {
  Continue: 0,
  StopIterationAndBuffer: 1,
  StopIterationAndWatermark: 2,
  StopIterationNoBuffer: 3,
} as const;
export const TrailersStatus = { Continue: 0, StopIteration: 1 } as const;

/** sources: proxy-wasm ABI v0.2.1 buffer types (max 8). */
export const BufferType = {
  HttpRequestBody: 0,
  HttpResponseBody: 1,
  DownstreamData: 2,
  UpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcReceiveBuffer: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  CallData: 8,
} as const;
export const BUFFER_TYPE_MAX = 8;

/** sources: proxy-wasm ABI v0.2.1 header map types (max 7). */
export const MapType = {
  RequestHeaders: 0,
  RequestTrailers: 1,
  ResponseHeaders: 2,
  ResponseTrailers: 3,
  GrpcReceiveInitialMetadata: 4,
  GrpcReceiveTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
} as const;
export const MAP_TYPE_MAX = 7;

/** sources: proxy-wasm ABI v0.2.1 stream types (max 3). */
export const StreamType = { Request: 0, Response: 1, Downstream: 2, Upstream: 3 } as const;
export const STREAM_TYPE_MAX = 3;

/** sources: proxy-wasm ABI v0.2.1 metric types (max 2). */
export const MetricType = { Counter: 0, Gauge: 1, Histogram: 2 } as const;

/** sources: proxy-wasm C++ host: WASI WASI errno values cpp-host returns. */
export const Errno = {
  Success: 0,
  Badf: 8,
  Fault: 21,
  Inval: 28,
  Noent: 44,
  Nosys: 52,
  Notsup: 58,
} as const;

/** gRPC status codes used by the host (Envoy `Grpc::Status::WellKnownGrpcStatus`). */
export const GrpcStatus = {
  Ok: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  Unauthenticated: 16,
} as const;
export const GRPC_STATUS_MAX_KNOWN = 16;
