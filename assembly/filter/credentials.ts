// Upstream credentials at run time, one object per backend per worker VM: the key ring (with
// 401/403 penalties shared across workers), the SigV4 signer (its derived-key cache), and OAuth
// tokens (GCP service account JWT bearer, Azure Entra client credentials) fetched with http_call,
// cached across workers in shared data and refreshed before they expire. Requests that arrive
// before the first token wait for it instead of failing.

import {
  log, LogLevelValues, get_shared_data, set_shared_data, WasmResultValues, get_buffer_bytes, BufferTypeValues,
  get_header_map_value, HeaderMapTypeValues,
} from "@solo-io/proxy-runtime/assembly";
import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { Backend } from "../config/config";
import { AuthKind } from "../config/auth";
import { KeyRing } from "../auth/keyring";
import { SigV4Signer, SigV4Request, SigV4Credentials, SigV4Result } from "../auth/sigv4";
import { buildJwtAssertion, JWT_BEARER_GRANT_TYPE } from "../auth/jwt";
import { amzDateFromUnixSeconds } from "../util/time";
import { uriEncode } from "../util/hex";
import { parseJson, Kind } from "../json/json";

/** A paused request waiting for a token (the stream context). */
export interface TokenWaiter {
  waiterId(): u32;
  tokenReady(token: string): void;
  tokenFailed(message: string): void;
}

/** Header pairs in the proxy-wasm wire format (sources: proxy-wasm C++ host: header pairs): count, sizes, then NUL-terminated bytes. */
function serializePairs(pairs: string[]): ArrayBuffer {
  const n = pairs.length >> 1;
  let size = 4 + 8 * n;
  const enc = new Array<ArrayBuffer>(pairs.length);
  for (let i = 0; i < pairs.length; i++) { enc[i] = String.UTF8.encode(pairs[i]); size += enc[i].byteLength + 1; }
  const out = new ArrayBuffer(size);
  const p = changetype<usize>(out);
  store<u32>(p, n);
  let off: usize = 4 + 8 * <usize>n;
  for (let i = 0; i < pairs.length; i++) {
    store<u32>(p + 4 + 4 * <usize>i, enc[i].byteLength);
    memory.copy(p + off, changetype<usize>(enc[i]), enc[i].byteLength);
    off += <usize>enc[i].byteLength;
    store<u8>(p + off, 0);
    off++;
  }
  return out;
}

/** Starts an http_call; returns its token, or -1 when the host refused (unknown cluster, …). */
export function httpCallRaw(cluster: string, headers: string[], body: ArrayBuffer, timeoutMs: u32): i64 {
  const c = String.UTF8.encode(cluster);
  const h = serializePairs(headers);
  const t = serializePairs([]);
  const tokenBuf = new ArrayBuffer(4);
  const r = imports.proxy_http_call(changetype<usize>(c), c.byteLength, changetype<usize>(h), h.byteLength,
    changetype<usize>(body), body.byteLength, changetype<usize>(t), t.byteLength, timeoutMs, changetype<usize>(tokenBuf));
  if (r != WasmResultValues.Ok) return -1;
  return <i64>load<u32>(changetype<usize>(tokenBuf));
}

export class BackendCredentials {
  ring: KeyRing | null = null;
  private signer: SigV4Signer | null = null;
  // OAuth token state
  token: string = "";
  expiresAt: i64 = 0;
  fetching: bool = false;
  waiters: TokenWaiter[] = [];

  constructor(public backend: Backend) {
    const a = backend.auth;
    if (a.rotates && a.secrets.length > 1) this.ring = new KeyRing(a.secrets.length);
    if (a.kind == AuthKind.AwsSigV4) this.signer = new SigV4Signer();
  }

  private get sharedKey(): string { return "ai_gateway.cred." + this.backend.name; }

  // ---- API keys ----

  /** Index of the key to use for this request (0 with a single key). */
  pickKey(now: i64): i32 {
    const ring = this.ring;
    if (ring === null) return this.backend.auth.secrets.length > 0 ? 0 : -1;
    // Penalties set by other workers: one shared-data read per request, multi-key backends only.
    const sd = get_shared_data(this.sharedKey + ".bad");
    if (sd.result == WasmResultValues.Ok && sd.value.byteLength > 0) ring.merge(String.UTF8.decode(sd.value));
    return ring.pick(now);
  }

  /** The provider rejected key i (401/403): skip it on every worker for bad_key_seconds. */
  markBad(i: i32, now: i64): void {
    const ring = this.ring;
    const secs = this.backend.auth.badKeySeconds;
    if (ring === null || secs <= 0) return;
    ring.markBad(i, now + secs);
    // Read-modify-write with CAS so concurrent workers do not drop each other's penalties (sources: proxy-wasm C++ host: shared data).
    for (let attempt = 0; attempt < 4; attempt++) {
      const sd = get_shared_data(this.sharedKey + ".bad");
      let cas: u32 = 0;
      if (sd.result == WasmResultValues.Ok) { cas = sd.cas; if (sd.value.byteLength > 0) ring.merge(String.UTF8.decode(sd.value)); }
      if (set_shared_data(this.sharedKey + ".bad", String.UTF8.encode(ring.encode()), cas) != WasmResultValues.CasMismatch) break;
    }
    log(LogLevelValues.warn, "ai-gateway: backend " + this.backend.name + " rejected key #" + i.toString() + "; skipping it for " + secs.toString() + "s");
  }

  // ---- SigV4 ----

  /** Signs the final upstream request (path, body). Returns null with the error logged on failure. */
  sign(method: string, path: string, host: string, body: Uint8Array, bodyLen: i32, now: i64): SigV4Result | null {
    const a = this.backend.auth;
    const req = new SigV4Request();
    req.method = method;
    req.setPathAndQuery(path);
    req.header("host", host);
    req.setBody(body, 0, bodyLen);
    req.region = a.region;
    req.service = a.service;
    req.amzDate = amzDateFromUnixSeconds(now);
    // Paths are sent as built (already encoded); AWS re-encodes each segment for the canonical URI.
    req.normalizePath = false;
    const res = this.signer!.sign(req, new SigV4Credentials(a.accessKey, a.secretKey, a.sessionToken));
    if (!res.ok) { log(LogLevelValues.error, "ai-gateway: backend " + this.backend.name + ": " + res.error); return null; }
    return res;
  }

  // ---- OAuth tokens ----

  /**
   * A usable token now, or "" (then fetch and wait). Shared data is the source of truth, read on
   * every request: a token another worker fetched is adopted, and one another worker dropped
   * (the provider refused it) is not used again here.
   */
  currentToken(now: i64): string {
    const sd = get_shared_data(this.sharedKey + ".token");
    if (sd.result == WasmResultValues.Ok && sd.value.byteLength > 0) {
      const s = String.UTF8.decode(sd.value);
      const nl = s.indexOf("\n");
      if (nl > 0) {
        const exp = I64.parseInt(s.substring(0, nl));
        if (exp - 60 > now) { this.expiresAt = exp; this.token = s.substring(nl + 1); return this.token; }
      }
    }
    this.token = "";
    this.expiresAt = 0;
    return "";
  }

  /**
   * Whether this worker should refresh the (still valid) token in the background: less than 5
   * minutes left and no other worker holds the refresh lease (a CAS-claimed slot in shared data),
   * so one worker refreshes for all.
   */
  wantsRefresh(now: i64): bool {
    if (this.fetching || this.expiresAt - 300 > now) return false;
    const key = this.sharedKey + ".refresh";
    const sd = get_shared_data(key);
    let cas: u32 = 0;
    if (sd.result == WasmResultValues.Ok) {
      cas = sd.cas;
      if (sd.value.byteLength > 0 && I64.parseInt(String.UTF8.decode(sd.value)) > now) return false;
    }
    const lease = now + <i64>(this.backend.auth.tokenTimeoutMs / 1000) + 2;
    return set_shared_data(key, String.UTF8.encode(lease.toString()), cas) == WasmResultValues.Ok;
  }

  /** Starts fetching a token; returns the http_call token, or -1 when it could not start. */
  startFetch(now: i64): i64 {
    if (this.fetching) return -1;
    const a = this.backend.auth;
    let form = "";
    if (a.kind == AuthKind.GcpServiceAccount) {
      const jwt = buildJwtAssertion(a.serviceAccount!, a.scope, now);
      if (!jwt.ok) { log(LogLevelValues.error, "ai-gateway: backend " + this.backend.name + ": cannot build the service account assertion: " + jwt.error); return -1; }
      form = "grant_type=" + uriEncode(JWT_BEARER_GRANT_TYPE, true) + "&assertion=" + jwt.token;
    } else {
      form = "grant_type=client_credentials&client_id=" + uriEncode(a.clientId, true) + "&client_secret=" +
        uriEncode(a.clientSecret, true) + "&scope=" + uriEncode(a.scope, true);
    }
    const body = String.UTF8.encode(form);
    const t = httpCallRaw(a.tokenCluster, [
      ":method", "POST", ":path", a.tokenPath, ":authority", a.tokenHost, ":scheme", "https",
      "content-type", "application/x-www-form-urlencoded", "accept", "application/json",
    ], body, a.tokenTimeoutMs);
    if (t < 0) {
      log(LogLevelValues.error, "ai-gateway: backend " + this.backend.name + ": cannot call token cluster \"" + a.tokenCluster + "\" (is it defined in Envoy?)");
      return -1;
    }
    this.fetching = true;
    return t;
  }

  /** The provider refused the token (401/403): forget it here and for the other workers. */
  dropToken(): void {
    this.token = "";
    this.expiresAt = 0;
    set_shared_data(this.sharedKey + ".token", new ArrayBuffer(0), 0);
  }

  /** The token endpoint answered (runs in the root context's http_call callback). */
  onTokenResponse(numHeaders: u32, bodySize: u32, now: i64): void {
    this.fetching = false;
    const statusBuf = numHeaders > 0 ? get_header_map_value(HeaderMapTypeValues.HttpCallResponseHeaders, String.UTF8.encode(":status")) : new ArrayBuffer(0);
    const status = statusBuf.byteLength > 0 ? I32.parseInt(String.UTF8.decode(statusBuf)) : 0;
    let token = "";
    let expiresIn: i64 = 0;
    if (status == 200 && bodySize > 0) {
      const doc = parseJson(Uint8Array.wrap(get_buffer_bytes(BufferTypeValues.HttpCallResponseBody, 0, bodySize)));
      const at = doc.get(doc.root, "access_token");
      const ei = doc.get(doc.root, "expires_in");
      if (at !== null && at.kind == Kind.Str) token = doc.str(at);
      if (ei !== null && ei.kind == Kind.Num) expiresIn = doc.int(ei);
      else if (ei !== null && ei.kind == Kind.Str) expiresIn = I64.parseInt(doc.str(ei));
    }
    const ok = token.length > 0 && expiresIn > 60 && token.indexOf("\n") < 0 && token.indexOf("\r") < 0;
    if (!ok) {
      const why = status == 0 ? "no response (reset or timeout)" : status == 200 ? "a response without a usable access_token" : "HTTP " + status.toString();
      log(LogLevelValues.error, "ai-gateway: backend " + this.backend.name + ": token endpoint " + this.backend.auth.tokenHost + " gave " + why);
      this.failWaiters("Could not obtain credentials for backend " + this.backend.name + ": the token endpoint gave " + why + ".");
      return;
    }
    this.token = token;
    this.expiresAt = now + expiresIn;
    set_shared_data(this.sharedKey + ".token", String.UTF8.encode(this.expiresAt.toString() + "\n" + token), 0);
    const waiters = this.waiters;
    this.waiters = [];
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i];
      // A waiter whose stream is gone is refused by the host (BAD_ARGUMENT, sources: proxy-wasm C++ host: filter status): skip it.
      if (imports.proxy_set_effective_context(w.waiterId()) == WasmResultValues.Ok) w.tokenReady(token);
    }
  }

  failWaiters(message: string): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i];
      if (imports.proxy_set_effective_context(w.waiterId()) == WasmResultValues.Ok) w.tokenFailed(message);
    }
  }
}
