// Routing decisions and usage for access logs: proxy_set_property stores each value as filter
// state `wasm.<key>` (reference §3.11), which an access log prints with
// `%FILTER_STATE(wasm.ai_gateway.model:PLAIN)%`. Keys are fixed by the project (names.md), one path
// segment each.
//
// Envoy runs the HTTP connection manager's access loggers before the Wasm filter's own log
// handler (on_log): values must be set as soon as they are known, never only in on_log. Usage is
// final at the end of the response body; on_log only fills it in when the stream ended early.

import { Usage } from "../usage";
import { proxy_set_property } from "@solo-io/proxy-runtime/assembly/imports";

class Key {
  bytes: ArrayBuffer;
  constructor(name: string) { this.bytes = String.UTF8.encode(name); }
}

const CLIENT = new Key("ai_gateway.client");
const MODEL = new Key("ai_gateway.model");
const BACKEND = new Key("ai_gateway.backend");
const INPUT_TOKENS = new Key("ai_gateway.input_tokens");
const OUTPUT_TOKENS = new Key("ai_gateway.output_tokens");
const CACHED_TOKENS = new Key("ai_gateway.cached_tokens");
const REASONING_TOKENS = new Key("ai_gateway.reasoning_tokens");
const LIMIT = new Key("ai_gateway.limit");

function put(k: Key, value: string): void {
  const v = String.UTF8.encode(value);
  // The result is ignored on purpose: NOT_FOUND outside a stream is the only failure (§3.11).
  proxy_set_property(changetype<usize>(k.bytes), k.bytes.byteLength, changetype<usize>(v), v.byteLength);
}

/** The identified client (a configured name or the trusted header's log-safe value). */
export function stateClient(client: string): void { put(CLIENT, client); }

/** The routing decision: the request's model (log-safe) and the backend it goes to. */
export function stateRoute(model: string, backend: string): void {
  put(MODEL, model);
  put(BACKEND, backend);
}

/** The limit decision: "ok", "denied" or "none" (no limits apply). */
export function stateLimit(decision: string): void { put(LIMIT, decision); }

/** The provider's usage report (final at the end of the response body). */
export function stateUsage(u: Usage): void {
  put(INPUT_TOKENS, u.input.toString());
  put(OUTPUT_TOKENS, u.output.toString());
  put(CACHED_TOKENS, u.cachedInput.toString());
  put(REASONING_TOKENS, u.reasoning.toString());
}
