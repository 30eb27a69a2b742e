// Upstream clusters: real sockets to 127.0.0.1 services, HTTP/1.1 (node:http, keep-alive pool) or
// HTTP/2 (node:http2, one session per cluster). Used by the router for proxied requests and, through
// the ClusterManager interface, by proxy_http_call / proxy_grpc_call (sources: Envoy wasm context).
//
// Failures are shaped like Envoy's router does them (source/common/router/router.cc): before
// response headers a local reply 503 "upstream connect error or disconnect/reset before headers.
// reset reason: <reason>[, transport failure reason: <tfr>]" (502 for protocol errors), after
// headers a stream reset; the route/call timeout gives 504 "upstream request timeout".

import http from "node:http";
import https from "node:https";
import http2 from "node:http2";
import { HeaderMap } from "./headers.ts";
import { EMPTY } from "./buffer.ts";
import { GrpcStatus } from "./constants.ts";
import { ReadBatcher } from "./reads.ts";
import { buildLocalReply, httpToGrpcStatus, percentDecode } from "./stream.ts";
import type { Cancellable, ClusterManager, GrpcCallbacks, GrpcStreamHandle, HttpCallCallbacks } from "./services.ts";

export interface ClusterConfig {
  host: string; port: number; http2?: boolean;
  /** Upstream TLS (Envoy `transport_socket` UpstreamTlsContext): SNI defaults to `host`; `ca`
   *  replaces the system trust store (PEM), as `validation_context.trusted_ca` does. */
  tls?: boolean | { sni?: string; ca?: string | Buffer };
}

function tlsOptions(c: ClusterConfig): { servername: string; ca?: string | Buffer } | null {
  if (!c.tls) return null;
  const t = c.tls === true ? {} : c.tls;
  return { servername: t.sni ?? c.host, ...(t.ca !== undefined ? { ca: t.ca } : {}) };
}

/** Envoy `Http::StreamResetReason` strings used in bodies/details (`resetReasonToString`). */
export type ResetReason = "remote connection failure" | "connection termination" | "remote reset" | "protocol error" | "local reset";

export interface UpstreamCallbacks {
  onHeaders(headers: HeaderMap, eos: boolean): void;
  onData(data: Uint8Array, eos: boolean): void;
  onTrailers(trailers: HeaderMap): void;
  /** The upstream stream failed; `beforeHeaders` tells whether response headers were seen. */
  onReset(reason: ResetReason, transportFailure: string, beforeHeaders: boolean): void;
}

export interface UpstreamRequest {
  sendData(data: Uint8Array, eos: boolean): void;
  sendTrailers(trailers: HeaderMap): void;
  reset(): void;
  readonly host: { address: string; port: number };
}

/** Hop-by-hop headers that never cross a proxy hop (and are illegal in HTTP/2). */
export const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);
const BODYLESS_METHODS = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"]);

/** Envoy's `transport failure reason` for a refused/failed connect (ConnectionImpl "delayed connect error"). */
function connectFailure(err: NodeJS.ErrnoException): { reason: ResetReason; tfr: string } | null {
  const errnoText: Record<string, string> = {
    ECONNREFUSED: "Connection refused",
    EHOSTUNREACH: "No route to host",
    ENETUNREACH: "Network is unreachable",
    ETIMEDOUT: "Connection timed out",
  };
  const text = err.code ? errnoText[err.code] : undefined;
  return text ? { reason: "remote connection failure", tfr: `delayed connect error: ${text}` } : null;
}

export class Clusters implements ClusterManager {
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly tlsAgent = new https.Agent({ keepAlive: true });
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();
  private readonly active = new Set<{ reset(): void }>();
  private calls = 0;

  constructor(readonly config: Record<string, ClusterConfig>, readonly maxChunkBytes = Infinity) {}

  has(name: string): boolean { return Object.prototype.hasOwnProperty.call(this.config, name); }
  get(name: string): ClusterConfig | undefined { return this.has(name) ? this.config[name] : undefined; }
  inFlight(): number { return this.calls; }

  close(): void {
    for (const r of [...this.active]) r.reset();
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
    this.agent.destroy();
    this.tlsAgent.destroy();
  }

  // ---------------------------------------------------------------- raw upstream streams

  /** Start an upstream request with `headers` (pseudo-headers :method/:path/:authority). */
  open(cluster: ClusterConfig, headers: HeaderMap, endStream: boolean, cb: UpstreamCallbacks): UpstreamRequest {
    return cluster.http2 ? this.openH2(cluster, headers, endStream, cb) : this.openH1(cluster, headers, endStream, cb);
  }

  private openH1(cluster: ClusterConfig, headers: HeaderMap, endStream: boolean, cb: UpstreamCallbacks): UpstreamRequest {
    const method = headers.get(":method") ?? "GET";
    const raw: string[] = [];
    // :authority becomes Host (HTTP/1.1 codec); other pseudo-headers become the request line.
    const authority = headers.get(":authority");
    if (authority !== undefined) raw.push("host", authority);
    for (const [k, v] of headers.pairs()) if (!k.startsWith(":") && k !== "host" && !HOP_BY_HOP.has(k)) raw.push(k, v);
    // Envoy's H1 codec adds "content-length: 0" to headers-only messages; Node would otherwise use
    // chunked framing for such a POST.
    if (endStream && !headers.has("content-length") && !BODYLESS_METHODS.has(method)) raw.push("content-length", "0");
    let responded = false, done = false;
    const tls = tlsOptions(cluster);
    const options = { host: cluster.host, port: cluster.port, method, path: headers.get(":path") ?? "/",
      headers: raw as unknown as http.OutgoingHttpHeaders };
    const req = tls ? https.request({ ...options, ...tls, agent: this.tlsAgent }) : http.request({ ...options, agent: this.agent });
    const entry = { reset: () => { if (!done) { done = true; req.destroy(); this.active.delete(entry); } } };
    this.active.add(entry);
    const finish = () => { done = true; this.active.delete(entry); };
    req.on("response", (res) => {
      responded = true;
      const h = new HeaderMap();
      h.add(":status", String(res.statusCode));
      for (let i = 0; i < res.rawHeaders.length; i += 2) h.add(res.rawHeaders[i], res.rawHeaders[i + 1]);
      const headersOnly = method === "HEAD" || res.statusCode === 204 || res.statusCode === 304 || h.get("content-length") === "0";
      cb.onHeaders(h, headersOnly);
      const reads = new ReadBatcher((d) => { if (!done) cb.onData(d, false); }, this.maxChunkBytes);
      res.on("data", (chunk: Buffer) => { if (!done) reads.push(chunk); });
      res.on("end", () => {
        if (done) return;
        reads.flush();
        finish();
        if (headersOnly) return;
        if (res.rawTrailers.length) {
          const t = new HeaderMap();
          for (let i = 0; i < res.rawTrailers.length; i += 2) t.add(res.rawTrailers[i], res.rawTrailers[i + 1]);
          cb.onTrailers(t);
        } else {
          cb.onData(EMPTY, true);
        }
      });
      res.on("aborted", () => { if (!done) { reads.flush(); finish(); cb.onReset("connection termination", "", false); } });
      res.on("error", () => { if (!done) { reads.flush(); finish(); cb.onReset("connection termination", "", false); } });
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (done) return;
      finish();
      const cf = !responded ? connectFailure(err) : null;
      if (cf) cb.onReset(cf.reason, cf.tfr, true);
      else cb.onReset("connection termination", "", !responded);
    });
    if (endStream) req.end();
    else req.flushHeaders();
    return {
      host: { address: cluster.host, port: cluster.port },
      sendData: (d, eos) => {
        if (done) return;
        if (d.length) req.write(d);
        if (eos) req.end();
      },
      // HTTP/1.1 request trailers are dropped (http_protocol_options.enable_trailers defaults false).
      sendTrailers: () => { if (!done) req.end(); },
      reset: entry.reset,
    };
  }

  private session(cluster: ClusterConfig): http2.ClientHttp2Session {
    const key = `${cluster.host}:${cluster.port}`;
    let s = this.sessions.get(key);
    if (!s || s.closed || s.destroyed) {
      const tls = tlsOptions(cluster);
      const created = tls ? http2.connect(`https://${key}`, tls) : http2.connect(`http://${key}`);
      created.on("error", (err: NodeJS.ErrnoException) => {
        (created as { lastError?: NodeJS.ErrnoException }).lastError = err;
      });
      created.on("close", () => { if (this.sessions.get(key) === created) this.sessions.delete(key); });
      this.sessions.set(key, created);
      s = created;
    }
    return s;
  }

  private openH2(cluster: ClusterConfig, headers: HeaderMap, endStream: boolean, cb: UpstreamCallbacks): UpstreamRequest {
    const session = this.session(cluster);
    const out: http2.OutgoingHttpHeaders = { ":scheme": cluster.tls ? "https" : "http" };
    for (const [k, v] of headers.pairs()) {
      // :scheme follows the upstream transport (set above), not the downstream request.
      if (HOP_BY_HOP.has(k) || k === "host" || k === ":scheme" || (k === "te" && v !== "trailers")) continue;
      const prev = out[k];
      out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [String(prev), v];
    }
    let responded = false, done = false;
    const s = session.request(out, { endStream });
    const entry = { reset: () => { if (!done) { done = true; s.close(http2.constants.NGHTTP2_CANCEL); this.active.delete(entry); } } };
    this.active.add(entry);
    const finish = () => { done = true; this.active.delete(entry); };
    let headersOnly = false, sawTrailers = false;
    s.on("response", (rh, flags) => {
      responded = true;
      const h = new HeaderMap();
      h.add(":status", String(rh[":status"]));
      for (const [k, v] of Object.entries(rh)) {
        if (k.startsWith(":")) continue;
        for (const one of Array.isArray(v) ? v : [v]) h.add(k, String(one));
      }
      headersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      if (headersOnly) finish();
      cb.onHeaders(h, headersOnly);
    });
    const reads = new ReadBatcher((d) => { if (!done) cb.onData(d, false); }, this.maxChunkBytes);
    s.on("data", (chunk: Buffer) => { if (!done) reads.push(chunk); });
    s.on("trailers", (th) => {
      if (done) return;
      reads.flush();
      sawTrailers = true;
      finish();
      const t = new HeaderMap();
      for (const [k, v] of Object.entries(th)) for (const one of Array.isArray(v) ? v : [v]) t.add(k, String(one));
      cb.onTrailers(t);
    });
    s.on("end", () => {
      if (done || sawTrailers) return;
      reads.flush();
      finish();
      cb.onData(EMPTY, true);
    });
    // A refused connect surfaces as a session error; a RST_STREAM from the peer is a remote reset.
    const fail = (err: NodeJS.ErrnoException | undefined) => {
      if (done) return;
      reads.flush();
      finish();
      // Pending streams of a session that failed to connect error with ERR_HTTP2_STREAM_CANCEL and
      // the connect error as `cause` (the session's own error event comes later).
      const cause = (err?.cause as NodeJS.ErrnoException | undefined) ?? (session as { lastError?: NodeJS.ErrnoException }).lastError;
      const cf = responded ? null : connectFailure(cause?.code ? cause : err ?? {} as NodeJS.ErrnoException);
      if (cf) cb.onReset(cf.reason, cf.tfr, true);
      else if (s.rstCode && s.rstCode !== http2.constants.NGHTTP2_NO_ERROR && !err) cb.onReset("remote reset", "", !responded);
      else cb.onReset("connection termination", "", !responded);
    };
    s.on("error", (err: NodeJS.ErrnoException) => fail(err));
    s.on("close", () => fail(undefined));
    return {
      host: { address: cluster.host, port: cluster.port },
      sendData: (d, eos) => {
        if (done) return;
        if (d.length) s.write(d);
        if (eos) s.end();
      },
      sendTrailers: (t) => {
        if (done) return;
        const o: http2.OutgoingHttpHeaders = {};
        for (const [k, v] of t.pairs()) o[k] = v;
        s.sendTrailers(o);
      },
      reset: entry.reset,
    };
  }

  // ---------------------------------------------------------------- sources: Envoy wasm context proxy_http_call

  /**
   * Envoy AsyncClient: the request goes through a router, so connect failures and timeouts come
   * back as normal responses (503/504 local replies, inferred from Envoy wasm context, docs/sources.md); a reset after the response
   * started is an onFailure("reset").
   */
  httpCall(clusterName: string, headers: HeaderMap, body: Uint8Array, trailers: HeaderMap | null,
    timeoutMs: number | undefined, cb: HttpCallCallbacks): Cancellable {
    const cluster = this.get(clusterName)!;
    const out = headers.copy();
    out.set("x-envoy-internal", "true"); // AsyncStreamImpl send_internal (INFERRED default)
    this.calls++;
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      this.calls--;
      if (timer) clearTimeout(timer);
      return true;
    };
    let respHeaders: HeaderMap | null = null;
    const chunks: Uint8Array[] = [];
    const localReply = (code: number, text: string) => {
      if (!settle()) return;
      const r = buildLocalReply(code, Buffer.from(text), [], undefined, null);
      cb.onSuccess({ headers: r.headers, body: r.body, trailers: null });
    };
    const req = this.open(cluster, out, body.length === 0 && !trailers, {
      onHeaders: (h, eos) => {
        respHeaders = h;
        if (eos && settle()) cb.onSuccess({ headers: h, body: EMPTY, trailers: null });
      },
      onData: (d, eos) => {
        if (d.length) chunks.push(Uint8Array.from(d));
        if (eos && settle()) cb.onSuccess({ headers: respHeaders!, body: Buffer.concat(chunks), trailers: null });
      },
      onTrailers: (t) => {
        if (settle()) cb.onSuccess({ headers: respHeaders!, body: Buffer.concat(chunks), trailers: t });
      },
      onReset: (reason, tfr, beforeHeaders) => {
        if (beforeHeaders) return localReply(reason === "protocol error" ? 502 : 503, resetBody(reason, tfr));
        if (settle()) cb.onFailure("reset");
      },
    });
    if (body.length) req.sendData(body, !trailers);
    if (trailers) req.sendTrailers(trailers);
    const timer = timeoutMs ? setTimeout(() => { req.reset(); localReply(504, "upstream request timeout"); }, timeoutMs) : null;
    return { cancel: () => { if (settle()) req.reset(); } };
  }

  // ---------------------------------------------------------------- sources: Envoy wasm context gRPC

  private grpcHeaders(cluster: string, service: string, method: string, metadata: HeaderMap, timeoutMs: number | undefined): HeaderMap {
    const h = new HeaderMap();
    // Envoy Grpc::Common::prepareHeaders: authority = cluster name for envoy_grpc.
    h.add(":method", "POST");
    h.add(":path", `/${service}/${method}`);
    h.add(":authority", cluster);
    h.add("content-type", "application/grpc");
    h.add("te", "trailers");
    if (timeoutMs !== undefined) h.add("grpc-timeout", `${timeoutMs}m`);
    for (const [k, v] of metadata.pairs()) h.add(k, v);
    h.set("x-envoy-internal", "true");
    return h;
  }

  /**
   * One gRPC exchange with Envoy's AsyncStreamImpl status rules: non-200 without grpc-status →
   * INTERNAL; trailers without grpc-status → UNKNOWN; a reset after headers → INTERNAL; a failure
   * before headers → the router's local reply converted to gRPC (UNAVAILABLE + message).
   */
  private grpcExchange(clusterName: string, headers: HeaderMap, timeoutMs: number | undefined, cb: GrpcCallbacks & {
    onHeadersSeen?(h: HeaderMap): void; }): { req: UpstreamRequest; close(): void } {
    const cluster = this.get(clusterName)!;
    let pending = Buffer.alloc(0);
    let closed = false;
    const close = (status: number, message: string) => {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      cb.onClose(status, message);
    };
    const fromTrailers = (t: HeaderMap) => {
      const st = t.get("grpc-status");
      cb.onTrailingMetadata?.(t);
      close(st !== undefined && /^\d+$/.test(st) ? Number(st) : GrpcStatus.Unknown, percentDecode(t.get("grpc-message") ?? ""));
    };
    const req = this.open(cluster, headers, false, {
      onHeaders: (h, eos) => {
        if (closed) return;
        const status = Number(h.get(":status"));
        if (status !== 200) {
          if (eos && h.has("grpc-status")) return fromTrailers(h);
          req.reset();
          return close(GrpcStatus.Internal, "");
        }
        cb.onInitialMetadata?.(eos ? new HeaderMap() : h);
        if (eos) fromTrailers(h);
      },
      onData: (d, eos) => {
        if (closed) return;
        pending = Buffer.concat([pending, d]);
        while (pending.length >= 5) {
          const len = pending.readUInt32BE(1);
          if (pending.length < 5 + len) break;
          cb.onMessage(Uint8Array.from(pending.subarray(5, 5 + len)));
          pending = pending.subarray(5 + len);
        }
        if (eos) close(GrpcStatus.Unknown, "");
      },
      onTrailers: (t) => { if (!closed) fromTrailers(t); },
      onReset: (reason, tfr, beforeHeaders) => {
        if (beforeHeaders) {
          const code = reason === "protocol error" ? 502 : 503;
          return close(httpToGrpcStatus(code), resetBody(reason, tfr));
        }
        close(GrpcStatus.Internal, "");
      },
    });
    // Router timeout → local reply 504 → gRPC UNAVAILABLE "upstream request timeout".
    const timer = timeoutMs ? setTimeout(() => { req.reset(); close(httpToGrpcStatus(504), "upstream request timeout"); }, timeoutMs) : null;
    return { req, close: () => { closed = true; if (timer) clearTimeout(timer); req.reset(); } };
  }

  grpcCall(clusterName: string, service: string, method: string, metadata: HeaderMap, message: Uint8Array,
    timeoutMs: number, cb: GrpcCallbacks): Cancellable {
    this.calls++;
    let last: Uint8Array | null = null;
    let settled = false;
    const settle = () => (settled ? false : ((settled = true), this.calls--, true));
    // Unary (AsyncRequestImpl): success → only the (last) message; failure → only close.
    const ex = this.grpcExchange(clusterName, this.grpcHeaders(clusterName, service, method, metadata, timeoutMs), timeoutMs || undefined, {
      onMessage: (m) => { last = m; },
      onClose: (status, msg) => {
        if (!settle()) return;
        if (status !== GrpcStatus.Ok) cb.onClose(status, msg);
        else if (last === null) cb.onClose(GrpcStatus.Internal, "");
        else cb.onMessage(last);
      },
    });
    ex.req.sendData(grpcFrame(message), true);
    return { cancel: () => { if (settle()) ex.close(); } };
  }

  grpcStream(clusterName: string, service: string, method: string, metadata: HeaderMap, cb: GrpcCallbacks): GrpcStreamHandle {
    this.calls++;
    let settled = false;
    const settle = () => (settled ? false : ((settled = true), this.calls--, true));
    const ex = this.grpcExchange(clusterName, this.grpcHeaders(clusterName, service, method, metadata, undefined), undefined, {
      onInitialMetadata: cb.onInitialMetadata?.bind(cb),
      onMessage: (m) => cb.onMessage(m),
      onTrailingMetadata: cb.onTrailingMetadata?.bind(cb),
      onClose: (status, msg) => { if (settle()) cb.onClose(status, msg); },
    });
    return {
      send: (m, eos) => ex.req.sendData(grpcFrame(m), eos),
      close: () => ex.req.sendData(EMPTY, true),
      cancel: () => { if (settle()) ex.close(); },
    };
  }
}

/** gRPC length-prefixed message: flag 0 (uncompressed), u32 BE length, bytes. */
export function grpcFrame(message: Uint8Array): Uint8Array {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** Envoy router's local-reply body for an upstream reset before response headers. */
export function resetBody(reason: ResetReason, transportFailure: string): string {
  return `upstream connect error or disconnect/reset before headers. reset reason: ${reason}` +
    (transportFailure ? `, transport failure reason: ${transportFailure}` : "");
}

/** Envoy's response code details for that reset (whitespace replaced by "_"). */
export function resetDetails(reason: ResetReason, transportFailure: string, afterResponseStarted: boolean): string {
  const basic = afterResponseStarted ? "upstream_reset_after_response_started" : "upstream_reset_before_response_started";
  return `${basic}{${reason}${transportFailure ? `,${transportFailure}` : ""}}`.replace(/\s/g, "_");
}
