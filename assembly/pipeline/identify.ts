// Stage 1, identify (request headers): which endpoint the client called, in which API it expects
// errors, and who it is (a gateway API key, or a header a trusted filter set). Client
// credentials and the route header are removed here, before anything else can forward them.

import { Config } from "../config/config";
import { ApiError, badRequest } from "../errors";
import { Endpoint } from "../providers/provider";
import { sha256 } from "../util/sha256";
import { hexEncode } from "../util/hex";
import { HeaderMap } from "./headers";

/** Client credentials never go upstream: the gateway adds the backend's own (authorize.ts). */
export const CLIENT_CREDENTIAL_HEADERS: string[] = [
  "authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "openai-organization", "openai-project",
  // A client's own AWS signature parts must not ride along with ours (or stand in for a missing one).
  "x-amz-security-token", "x-amz-date", "x-amz-content-sha256",
];

/** What identify learned about the request; read by every later stage. */
export class Identity {
  endpoint: Endpoint = Endpoint.Unknown;
  method: string = "";
  /** :path without the query. */
  path: string = "";
  /** Client identity (gateway API key name or trusted header), "-" when none is configured. */
  client: string = "-";
  /** The client identity check passed (client is the name to report). */
  identified: bool = false;
  /** The client speaks the Anthropic Messages API (/v1/messages…): errors in its envelope. */
  anthropicErrors: bool = false;
  /** The client's anthropic-beta header (removed from the request; native Messages backends may get it). */
  anthropicBeta: string = "";
  /** Request header values the limit rules key on (name, value, …), read while headers are available. */
  limitHeaders: string[] = [];
}

export function classify(method: string, path: string): Endpoint {
  if (path == "/v1/chat/completions" || path == "/chat/completions") return Endpoint.ChatCompletions;
  if (path == "/v1/embeddings" || path == "/embeddings") return Endpoint.Embeddings;
  if (path == "/v1/models" || path == "/models" || path.startsWith("/v1/models/")) return Endpoint.Models;
  if (path == "/v1/messages" || path == "/messages") return Endpoint.Messages;
  if (path == "/v1/responses" || path == "/responses") return Endpoint.Responses;
  return Endpoint.Unknown;
}

/** Log-safe rendering of a client-controlled value: no control characters, bounded length. */
export function logSafe(s: string): string {
  let clean = true;
  for (let i = 0; i < s.length && clean; i++) { const c = s.charCodeAt(i); if (c < 0x20 || c == 0x7f || c == 0x20) clean = false; }
  if (clean && s.length <= 128) return s;
  let out = "";
  for (let i = 0; i < s.length && i < 128; i++) { const c = s.charCodeAt(i); out += c < 0x20 || c == 0x7f || c == 0x20 ? "_" : String.fromCharCode(c); }
  return out;
}

/**
 * Runs identify over the request headers (`:method`/`:path` included) and fills `id`. Returns the
 * error to answer with, or null when the request may go on. For Endpoint.Models (answered by the
 * gateway itself, models.ts) it returns null after the identity check.
 */
export function identify(h: HeaderMap, cfg: Config, id: Identity, endOfStream: bool): ApiError | null {
  id.method = h.get(":method");
  const fullPath = h.get(":path");
  const q = fullPath.indexOf("?");
  id.path = q >= 0 ? fullPath.substring(0, q) : fullPath;
  id.anthropicErrors = id.path == "/v1/messages" || id.path == "/messages" || id.path.startsWith("/v1/messages/");
  const who = clientOf(h, cfg.clientHeader, cfg.clientKeys);
  for (let i = 0; i < CLIENT_CREDENTIAL_HEADERS.length; i++) h.remove(unchecked(CLIENT_CREDENTIAL_HEADERS[i]));
  stripAnthropicHeaders(h, id);
  if (cfg.clientHeader.length) h.remove(cfg.clientHeader);
  if (who === null) {
    id.endpoint = classify(id.method, id.path);
    return new ApiError(401, "invalid_request_error", "invalid_api_key",
      cfg.clientHeader.length ? "The request carries no client identity." : "Incorrect or missing API key for this gateway.");
  }
  id.client = who;
  id.identified = true;
  const lim = cfg.limits;
  if (lim !== null) {
    for (let i = 0; i < lim.headers.length; i++) { id.limitHeaders.push(lim.headers[i]); id.limitHeaders.push(h.get(lim.headers[i])); }
  }
  // The route header decides the upstream cluster: a client must never set it.
  h.remove(cfg.clusterHeader);

  const ep = classify(id.method, id.path);
  id.endpoint = ep;
  if (ep == Endpoint.Unknown) return new ApiError(404, "invalid_request_error", "unknown_url", "Unknown request URL: " + id.method + " " + id.path + ".");
  if (ep == Endpoint.Models) {
    if (id.method != "GET") return new ApiError(405, "invalid_request_error", "method_not_allowed", "Use GET for " + id.path + ".");
    return null;
  }
  if (id.method != "POST") return new ApiError(405, "invalid_request_error", "method_not_allowed", "Use POST for " + id.path + ".");
  const ct = h.get("content-type").toLowerCase();
  if (!ct.startsWith("application/json")) {
    return new ApiError(415, "invalid_request_error", "unsupported_media_type", "Content-Type must be application/json (got \"" + ct + "\").");
  }
  const cl = h.get("content-length");
  if (cl.length > 0 && cl.length < 16) {
    const n = I64.parseInt(cl);
    if (n > cfg.maxRequestBytes) return tooLarge(cfg);
  }
  if (endOfStream) return badRequest("missing_body", "The request body is empty; expected a JSON object.");
  // Providers answer in identity encoding so streams can be translated as they flow.
  h.remove("accept-encoding");
  return null;
}

export function tooLarge(cfg: Config): ApiError {
  return new ApiError(413, "invalid_request_error", "request_too_large",
    "Request body exceeds the gateway limit of " + cfg.maxRequestBytes.toString() + " bytes.");
}

/**
 * The client's `anthropic-*` headers (version, beta, browser access…) describe its own API
 * contract with Anthropic, not the backend's: none goes upstream as sent. The gateway sets
 * anthropic-version itself; anthropic-beta is kept for a native Messages backend to filter.
 */
function stripAnthropicHeaders(h: HeaderMap, id: Identity): void {
  const pairs = h.pairs();
  const names = new Array<string>();
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const k = pairs[i];
    if (k.length < 10 || !k.toLowerCase().startsWith("anthropic-")) continue;
    if (k.toLowerCase() == "anthropic-beta") {
      const v = pairs[i + 1];
      id.anthropicBeta = id.anthropicBeta.length ? id.anthropicBeta + "," + v : v;
    }
    names.push(k);
  }
  for (let i = 0; i < names.length; i++) h.remove(names[i]);
}

/** Client name, or null when identity is required and missing/unknown. */
function clientOf(h: HeaderMap, trusted: string, keys: Map<string, string>): string | null {
  if (trusted.length) {
    const v = h.get(trusted);
    return v.length > 0 && v.length <= 256 ? logSafe(v) : null;
  }
  if (keys.size == 0) return "-";
  // OpenAI clients send a Bearer token; Anthropic clients x-api-key (or, with an auth token,
  // Bearer); Azure clients api-key. A client may send more than one (the Anthropic SDK sends
  // both when given both): the first that is a gateway key identifies it.
  let bearer = h.get("authorization");
  bearer = bearer.length > 7 && bearer.substring(0, 7).toLowerCase() == "bearer " ? bearer.substring(7) : "";
  const candidates: string[] = [bearer, h.get("x-api-key"), h.get("api-key")];
  for (let i = 0; i < candidates.length; i++) {
    const key = candidates[i].trim();
    if (key.length == 0) continue;
    const hash = hexEncode(sha256(Uint8Array.wrap(String.UTF8.encode(key))));
    if (keys.has(hash)) return keys.get(hash);
  }
  return null;
}
