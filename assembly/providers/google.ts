// Pieces shared by the Google backends (Gemini Developer API, Gemini on Vertex AI, Claude on
// Vertex AI): model URLs, the google.rpc.Status error envelope, and a small deterministic hash
// for the ids the gateway has to make up (providers.md §6, §7, §4.8).

import { Backend } from "../config/config";
import { JNode, JsonDoc, Kind, parseJson } from "../json/json";
import { ApiError, plainErrorText } from "../errors";
import { ByteBuilder } from "../util/bytes";
import { ResponseHandler } from "./provider";

/**
 * A model id is spliced into the URL path as one segment, followed by `:method`: only RFC 3986
 * unreserved characters and '@' (Vertex partner model versions, `claude-sonnet-4-5@20250929`).
 * No '/', ':', '?', '%' or '#': a client must not be able to reach another resource or method.
 */
export function modelSegmentOk(m: string): bool {
  if (m.length == 0 || m.length > 256) return false;
  for (let i = 0; i < m.length; i++) {
    const c = m.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
      c == 0x2d || c == 0x2e || c == 0x5f || c == 0x7e || c == 0x40;
    if (!ok) return false;
  }
  return true;
}

/**
 * `{base}/models/{model}` on the Developer API (§6.1), or
 * `{base}/projects/{p}/locations/{l}/publishers/{publisher}/models/{model}` on Vertex (§7, §4.8).
 * The caller appends `:method`.
 */
export function googleModelPath(b: Backend, vertex: bool, publisher: string, model: string): string {
  if (!vertex) return b.basePath + "/models/" + model;
  return b.basePath + "/projects/" + b.project + "/locations/" + b.location + "/publishers/" + publisher + "/models/" + model;
}

/** FNV-1a 32 of src[start, end) as 8 lower-case hex digits (ids derived from a response). */
export function hash8(src: Uint8Array, start: i32, end: i32): string {
  let h: u32 = 0x811c9dc5;
  if (start < 0) start = 0;
  if (end > src.length) end = src.length;
  for (let i = start; i < end; i++) { h ^= <u32>load<u8>(src.dataStart + <usize>i); h *= 0x01000193; }
  const hex = "0123456789abcdef";
  let s = "";
  for (let k = 7; k >= 0; k--) s += hex.charAt(<i32>((h >> (<u32>k * 4)) & 0xf));
  return s;
}

/** OpenAI error type, code and client status for a google.rpc.Code name (§6.6). */
export class GoogleErrorKind {
  constructor(public status: i32, public type: string, public code: string) {}
}

export function googleErrorKind(httpStatus: i32, rpcStatus: string, reason: string): GoogleErrorKind {
  // The Developer API answers a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID: to an
  // OpenAI client that is an authentication failure (AuthenticationError), not a bad request.
  if (reason == "API_KEY_INVALID") return new GoogleErrorKind(401, "invalid_request_error", "invalid_api_key");
  if (rpcStatus == "UNAUTHENTICATED") return new GoogleErrorKind(httpStatus, "invalid_request_error", "invalid_api_key");
  if (rpcStatus == "PERMISSION_DENIED") return new GoogleErrorKind(httpStatus, "permission_error", "permission_denied");
  if (rpcStatus == "RESOURCE_EXHAUSTED") return new GoogleErrorKind(httpStatus, "rate_limit_error", "rate_limit_exceeded");
  if (rpcStatus == "NOT_FOUND") return new GoogleErrorKind(httpStatus, "invalid_request_error", "not_found");
  if (rpcStatus == "INVALID_ARGUMENT" || rpcStatus == "FAILED_PRECONDITION" || rpcStatus == "OUT_OF_RANGE") {
    return new GoogleErrorKind(httpStatus, "invalid_request_error", rpcStatus.toLowerCase());
  }
  if (rpcStatus == "UNAVAILABLE") return new GoogleErrorKind(httpStatus, "server_error", "unavailable");
  if (rpcStatus == "DEADLINE_EXCEEDED") return new GoogleErrorKind(httpStatus, "server_error", "timeout");
  if (rpcStatus.length) {
    if (httpStatus >= 500 || rpcStatus == "INTERNAL" || rpcStatus == "UNKNOWN" || rpcStatus == "DATA_LOSS") return new GoogleErrorKind(httpStatus, "server_error", rpcStatus.toLowerCase());
    return new GoogleErrorKind(httpStatus, "invalid_request_error", rpcStatus.toLowerCase());
  }
  if (httpStatus == 429) return new GoogleErrorKind(429, "rate_limit_error", "rate_limit_exceeded");
  if (httpStatus >= 500) return new GoogleErrorKind(httpStatus, "server_error", "");
  if (httpStatus == 401) return new GoogleErrorKind(401, "invalid_request_error", "invalid_api_key");
  return new GoogleErrorKind(httpStatus, "invalid_request_error", "");
}

/**
 * google.rpc.Status JSON (`{"error":{"code","message","status","details"}}`, possibly wrapped in a
 * one-element array by the non-SSE stream framing) → OpenAI error. Returns null when `root` holds
 * no such error.
 */
export function googleError(doc: JsonDoc, root: JNode | null, httpStatus: i32, provider: string): ApiError | null {
  let r = root;
  if (r !== null && r.kind == Kind.Arr && r.length > 0) r = r.items![0];
  const err = doc.get(r, "error");
  if (err === null || err.kind != Kind.Obj) return null;
  const st = doc.get(err, "status");
  const msg = doc.get(err, "message");
  let reason = "";
  const details = doc.get(err, "details");
  if (details !== null && details.kind == Kind.Arr) {
    for (let i = 0; i < details.length; i++) {
      const rs = doc.get(details.items![i], "reason");
      if (rs !== null && rs.kind == Kind.Str) { reason = doc.str(rs); break; }
    }
  }
  let status = httpStatus;
  if (status < 400) {
    const c = doc.get(err, "code");
    status = c !== null && c.kind == Kind.Num && c.num >= 400 && c.num < 600 ? <i32>c.num : 500;
  }
  const k = googleErrorKind(status, doc.str(st), reason);
  const message = msg !== null && msg.kind == Kind.Str && msg.end - msg.start > 2 ? doc.str(msg)
    : "The " + provider + " backend answered with HTTP " + status.toString() + ".";
  return new ApiError(k.status, k.type, k.code, message);
}

/** Non-2xx answers of a Google backend, rewrapped in the OpenAI error envelope. */
export class GoogleErrorResponse extends ResponseHandler {
  constructor(private upstreamStatus: i32, private provider: string) {
    super();
    this.wholeBody = true;
    this.rewrites = true;
  }
  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (!eos) return false;
    const doc = parseJson(chunk);
    let e = googleError(doc, doc.root, this.upstreamStatus, this.provider);
    if (e === null) {
      // Not a google.rpc.Status: a short plain-text answer (Google's front end, a proxy) is the
      // provider's message; otherwise (an HTML page, an empty body) say what we know.
      const k = googleErrorKind(this.upstreamStatus, "", "");
      let message = doc.root === null ? plainErrorText(chunk) : "";
      if (message.length == 0) message = "The " + this.provider + " backend answered with HTTP " + this.upstreamStatus.toString() + ".";
      e = new ApiError(k.status, k.type, k.code, message);
    }
    if (e.status != this.upstreamStatus) this.status = e.status;
    out.all(Uint8Array.wrap(e.body()));
    this.contentType = "application/json";
    return true;
  }
}
