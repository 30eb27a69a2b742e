// Routing decisions and usage for access logs: proxy_set_property stores each value as filter
// state `wasm.<key>` (sources: Envoy attributes), which an access log prints with
// `%FILTER_STATE(wasm.ai_gateway.model:PLAIN)%`. Keys are part of the interface (README, Metrics), one path
// segment each.
//
// Envoy runs the HTTP connection manager's access loggers before the Wasm filter's own log
// handler (on_log): values must be set as soon as they are known, never only in on_log. Usage is
// final at the end of the response body; on_log only fills it in when the stream ended early.
//
// Per request this is eight host calls; keys, limit decisions and configured names are encoded
// once and numbers are written into a scratch buffer, so the calls allocate nothing but the model.

import { Usage } from "../usage";
import { proxy_set_property } from "@solo-io/proxy-runtime/assembly/imports";
import { get_property } from "@solo-io/proxy-runtime/assembly";

const PATH = String.UTF8.encode("ai_gateway.path");
const CLIENT = String.UTF8.encode("ai_gateway.client");
const MODEL = String.UTF8.encode("ai_gateway.model");
const BACKEND = String.UTF8.encode("ai_gateway.backend");
const INPUT_TOKENS = String.UTF8.encode("ai_gateway.input_tokens");
const OUTPUT_TOKENS = String.UTF8.encode("ai_gateway.output_tokens");
const CACHED_TOKENS = String.UTF8.encode("ai_gateway.cached_tokens");
const REASONING_TOKENS = String.UTF8.encode("ai_gateway.reasoning_tokens");
const LIMIT = String.UTF8.encode("ai_gateway.limit");
const LIMIT_OK = String.UTF8.encode("ok");
const LIMIT_DENIED = String.UTF8.encode("denied");
const LIMIT_NONE = String.UTF8.encode("none");

const digits = memory.data(24);

function put(k: ArrayBuffer, v: usize, len: usize): void {
  // The result is ignored on purpose: NOT_FOUND outside a stream is the only failure (sources: Envoy attributes).
  proxy_set_property(changetype<usize>(k), k.byteLength, v, len);
}

function putBuffer(k: ArrayBuffer, v: ArrayBuffer): void { put(k, changetype<usize>(v), v.byteLength); }

function putInt(k: ArrayBuffer, n: i64): void {
  let u: u64 = n > 0 ? <u64>n : 0;
  let p = digits + 24;
  do { p--; store<u8>(p, 0x30 + <u8>(u % 10)); u /= 10; } while (u > 0);
  put(k, p, digits + 24 - p);
}

/** Encoded names (configured clients, backends): a small cache, bounded. */
const names = new Map<string, ArrayBuffer>();
function encoded(s: string): ArrayBuffer {
  if (names.has(s)) return names.get(s);
  const b = String.UTF8.encode(s);
  if (names.size < 512) names.set(s, b);
  return b;
}

/**
 * The path the client sent (with its query), before the filter rewrites :path for the backend:
 * an access log's %REQ(:PATH)% prints the rewritten upstream path (and X-Envoy-Original-Path is
 * set only by Envoy's own route rewrites), so the shipped log format prints this instead.
 */
export function statePath(path: string): void { putBuffer(PATH, String.UTF8.encode(path)); }

/**
 * The status the client got, read from Envoy (`response.code`, an int64): it differs from what
 * the filter saw when Envoy answered itself after the filter let the response go (a route
 * timeout's 504, a body over the buffer limit's 500). 0 when there is none (the client left).
 */
export function clientStatus(): i32 {
  const b = get_property("response\0code");
  if (b.byteLength != 8) return 0;
  return <i32>load<i64>(changetype<usize>(b));
}

/** The identified client (a configured name or the trusted header's log-safe value). */
export function stateClient(client: string): void { putBuffer(CLIENT, encoded(client)); }

/** The routing decision: the request's model (log-safe) and the backend it goes to. */
export function stateRoute(model: string, backend: string): void {
  putBuffer(MODEL, String.UTF8.encode(model));
  putBuffer(BACKEND, encoded(backend));
}

/** The limit decision: admitted, denied, or no limit applied ("none"). */
export function stateLimit(ok: bool, decided: bool = true): void {
  putBuffer(LIMIT, !decided ? LIMIT_NONE : ok ? LIMIT_OK : LIMIT_DENIED);
}

/** The provider's usage report (final at the end of the response body). */
export function stateUsage(u: Usage): void {
  putInt(INPUT_TOKENS, u.input);
  putInt(OUTPUT_TOKENS, u.output);
  putInt(CACHED_TOKENS, u.cachedInput);
  putInt(REASONING_TOKENS, u.reasoning);
}
