// What a VM needs from its surroundings (the "Envoy process"): plugin configuration, the stats
// store, the log sink, and the cluster manager for outbound calls. Kept as interfaces so the
// socket-free driver and the gateway can share the VM code.

import type { StatsStore } from "./metrics.ts";
import type { HeaderMap } from "./headers.ts";

export type FailurePolicy = "FAIL_CLOSED" | "FAIL_OPEN" | "FAIL_RELOAD";

/** The effective `envoy.extensions.wasm.v3.PluginConfig` (sources: Envoy Wasm filter configuration). */
export interface PluginConfig {
  name: string;
  rootId: string;
  vmId: string;
  configuration: Uint8Array;
  vmConfiguration: Uint8Array;
  /** Resolved policy (sources: Envoy Wasm filter configuration): legacy fail_open → FAIL_OPEN; unset → FAIL_CLOSED. */
  failurePolicy: FailurePolicy;
  /** The legacy `fail_open` flag itself: cpp-host checks it for the in-flight stream (sources: Envoy Wasm filter configuration). */
  failOpen: boolean;
  allowOnHeadersStopIteration: boolean;
  /** vm_config.environment_variables.key_values, in insertion order. */
  env: [string, string][];
  reloadBackoffMs: number;
}

export interface LogEntry {
  level: number;
  message: string;
  /** Worker index, -1 = canary VM, -2 = base VM (the one Envoy starts on the main thread). */
  vm: number;
  /** "wasm": proxy_log / fd_write from the module; "host": messages the host (Envoy) logs. */
  origin: "wasm" | "host";
}

export interface HttpCallResponse {
  headers: HeaderMap;
  body: Uint8Array;
  trailers: HeaderMap | null;
}

export interface HttpCallCallbacks {
  onSuccess(response: HttpCallResponse): void;
  /** AsyncClient failure (sources: Envoy wasm context): stream reset or response buffer overflow. */
  onFailure(reason: "reset" | "exceed_response_buffer_limit"): void;
}

export interface GrpcCallbacks {
  onInitialMetadata?(metadata: HeaderMap): void;
  onMessage(message: Uint8Array): void;
  onTrailingMetadata?(metadata: HeaderMap): void;
  /** Remote close / failure with a gRPC status and message. */
  onClose(status: number, message: string): void;
}

export interface Cancellable { cancel(): void }

export interface GrpcStreamHandle extends Cancellable {
  send(message: Uint8Array, endStream: boolean): void;
  /** Half-close (local end of stream). */
  close(): void;
}

/** Envoy's cluster manager as seen by Wasm outbound calls (sources: Envoy wasm context). */
export interface ClusterManager {
  has(cluster: string): boolean;
  httpCall(cluster: string, headers: HeaderMap, body: Uint8Array, trailers: HeaderMap | null,
    timeoutMs: number | undefined, cb: HttpCallCallbacks): Cancellable;
  grpcCall(cluster: string, service: string, method: string, metadata: HeaderMap, message: Uint8Array,
    timeoutMs: number, cb: GrpcCallbacks): Cancellable;
  grpcStream(cluster: string, service: string, method: string, metadata: HeaderMap, cb: GrpcCallbacks): GrpcStreamHandle;
  /** Outbound calls currently in flight (Gateway.pendingCalls()). */
  inFlight(): number;
}

export interface HostServices {
  readonly plugin: PluginConfig;
  readonly stats: StatsStore;
  /** The `wasm` logger level (proxy_get_log_level); messages below it are not emitted (sources: Envoy wasm context). */
  readonly logLevel: number;
  log(entry: LogEntry): void;
  readonly clusters: ClusterManager;
}
