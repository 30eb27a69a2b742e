// One HTTP stream through Envoy's FilterManager with a single filter (the Wasm plugin) in front of
// the router (sources: Envoy wasm context; Envoy `source/common/http/filter_manager.cc`): iteration states
// (Continue / StopSingleIteration / StopAllBuffer / StopAllWatermark), buffering with the buffer
// limit (413 request / 500 or reset response, sources: Envoy wasm context), local replies (via the filter chain, directly
// to the codec, or a reset, sources: Envoy wasm context), continue/reset from the filter (sources: Envoy wasm context) and teardown
// (on_log → on_done → on_delete, sources: Envoy wasm context).
//
// The decoder side ends in an UpstreamSink (the router, or a recorder in the socket-free driver);
// the encoder side ends in a DownstreamSink (the client connection, or a recorder).

import { HeadersStatus, DataStatus, TrailersStatus, GrpcStatus } from "./constants.ts";
import { HeaderMap } from "./headers.ts";
import { BodyBuffer, EMPTY } from "./buffer.ts";
import type { Pair } from "./pairs.ts";
import type { CelState, StreamContext } from "./context.ts";

export interface ConnectionInfo {
  id: number;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
}

export interface RouteInfo {
  name: string;
  virtualHost: string;
  /** Set only when the route's cluster exists (Envoy sets upstreamClusterInfo only then). */
  clusterName?: string;
}

export interface StreamInfo {
  startTimeNs: bigint;
  protocol?: string;
  responseCode?: number;
  responseCodeDetails?: string;
  /** Set when the stream completes (Envoy `requestComplete()`), i.e. visible in on_log. */
  requestCompleteNs?: bigint;
  bytesReceived: number;
  bytesSent: number;
  filterState: Map<string, CelState>;
  connection: ConnectionInfo | null;
  route(): RouteInfo | null;
  upstreamHost?: { address: string; port: number };
}

export interface UpstreamSink {
  headers(h: HeaderMap, eos: boolean): void;
  data(d: BodyBuffer, eos: boolean): void;
  trailers(t: HeaderMap): void;
  /** The stream is over (local reply, reset, teardown): cancel any upstream request. */
  abort(): void;
}

export interface DownstreamSink {
  headers(h: HeaderMap, eos: boolean): void;
  data(d: Uint8Array, eos: boolean): void;
  trailers(t: HeaderMap): void;
  /** Reset the stream; for HTTP/1 the connection is closed (after the response if it is complete). */
  reset(reason: string): void;
}

/** What the Wasm Context needs from Envoy's decoder/encoder filter callbacks. */
export interface FilterCallbacks {
  readonly info: StreamInfo;
  decodingBuffer(): BodyBuffer;
  addDecodedData(data: BodyBuffer): void;
  encodingBuffer(): BodyBuffer;
  addEncodedData(data: BodyBuffer): void;
  addDecodedTrailers(): HeaderMap;
  addEncodedTrailers(): HeaderMap;
  continueDecoding(): void;
  continueEncoding(): void;
  sendLocalReply(code: number, body: Uint8Array, headers: Pair[], grpcStatus: number | undefined, details: string): void;
  resetStream(): void;
  clearRouteCache(): void;
}

/** A route chosen for a stream; `action` is opaque to the filter manager (router.ts owns it). */
export interface ResolvedRoute { info: RouteInfo; action: unknown }

export interface HttpStreamOptions {
  bufferLimitBytes: number;
  connection?: ConnectionInfo | null;
  protocol?: string;
  /** Route selection from the current request headers (HCM/router); none in the driver. */
  resolveRoute?: (headers: HeaderMap) => ResolvedRoute | null;
  /** The HCM's access loggers: Envoy registers them before the filters' log handlers, so they
   *  run before on_log and see only filter state set earlier. */
  accessLog?: (info: StreamInfo, requestHeaders: HeaderMap | null, responseHeaders: HeaderMap | null) => void;
}

const enum Iter { Continue, StopSingle, StopAllBuffer, StopAllWatermark }

class Side {
  iter = Iter.Continue;
  headersContinued = false;
  buffered: BodyBuffer | null = null;
  aboveHigh = false;
  streaming = false;
  aborted = false;
  iterateFromCurrent = false;
  get stoppedAll(): boolean { return this.iter === Iter.StopAllBuffer || this.iter === Iter.StopAllWatermark; }
}

const HTTP_REASON: Record<number, string> = { 413: "Payload Too Large", 500: "Internal Server Error" };

export class HttpStream implements FilterCallbacks {
  filter: StreamContext | null = null;
  readonly info: StreamInfo;
  destroyed = false;
  /** Why the stream ended: "complete", or a reset reason. */
  endReason: string | undefined;
  onDestroyed: (() => void) | undefined;

  private reqHeaders: HeaderMap | null = null;
  private reqTrailers: HeaderMap | null = null;
  private respHeaders: HeaderMap | null = null;
  private respTrailers: HeaderMap | null = null;
  private remoteComplete = false;
  private encoderEnd = false;
  private downstreamHeadersSent = false;
  private readonly d = new Side();
  private readonly e = new Side();
  private callState: "none" | "decode" | "encode" = "none";
  private cachedRoute: ResolvedRoute | null | undefined = undefined;
  private readonly startHr = process.hrtime.bigint();

  constructor(private readonly up: UpstreamSink, private readonly down: DownstreamSink, private readonly opts: HttpStreamOptions) {
    const self = this;
    this.info = {
      startTimeNs: BigInt(Date.now()) * 1_000_000n,
      protocol: opts.protocol,
      bytesReceived: 0,
      bytesSent: 0,
      filterState: new Map(),
      connection: opts.connection ?? null,
      route: () => self.route()?.info ?? null,
    };
  }

  get requestComplete(): boolean { return this.remoteComplete; }
  get responseStarted(): boolean { return this.downstreamHeadersSent; }
  get requestHeaders(): HeaderMap | null { return this.reqHeaders; }

  /** HCM caches the route at stream start; clearRouteCache() makes the next lookup re-pick (sources: Envoy wasm context). */
  route(): ResolvedRoute | null {
    if (this.cachedRoute === undefined) {
      this.cachedRoute = this.opts.resolveRoute && this.reqHeaders ? this.opts.resolveRoute(this.reqHeaders) : null;
    }
    return this.cachedRoute;
  }

  clearRouteCache(): void { this.cachedRoute = undefined; }

  private inCall<T>(state: "decode" | "encode", fn: () => T): T {
    const saved = this.callState;
    this.callState = state;
    try { return fn(); } finally { this.callState = saved; }
  }

  // ================================================================= decoder path (request)

  decodeHeaders(headers: HeaderMap, eos: boolean): void {
    if (this.destroyed) return;
    this.reqHeaders = headers;
    if (eos) this.remoteComplete = true;
    this.route(); // HCM resolves the route before the filter chain runs
    const f = this.filter;
    if (!f) {
      this.d.headersContinued = true;
      this.up.headers(headers, eos);
      return;
    }
    const st = this.inCall("decode", () => f.decodeHeaders(headers, eos));
    if (this.d.aborted || this.destroyed) return;
    this.afterHeaders(this.d, st, () => this.up.headers(headers, eos));
  }

  private afterHeaders(side: Side, st: number, pass: () => void): void {
    switch (st) {
      case HeadersStatus.Continue:
        side.headersContinued = true;
        pass();
        break;
      case HeadersStatus.StopIteration: side.iter = Iter.StopSingle; break;
      case HeadersStatus.StopAllIterationAndBuffer: side.iter = Iter.StopAllBuffer; break;
      default: side.iter = Iter.StopAllWatermark; break;
    }
  }

  /** A body chunk from the client. */
  decodeData(bytes: Uint8Array, eos: boolean): void {
    if (this.destroyed) return;
    this.info.bytesReceived += bytes.length;
    if (eos) this.remoteComplete = true;
    if (this.d.aborted) return; // decoder chain aborted by a local reply: data is dropped
    this.decodeDataFrom(new BodyBuffer(bytes), eos, true);
  }

  private decodeDataFrom(data: BodyBuffer, eos: boolean, startWithFilter: boolean): void {
    const f = this.filter;
    if (f && startWithFilter) {
      if (this.d.stoppedAll) {
        // Stopped for all frames: Envoy buffers for this filter and delivers on continue.
        this.d.streaming = this.d.iter === Iter.StopAllWatermark;
        this.d.iterateFromCurrent = true;
        this.bufferDecoded(data);
        return;
      }
      const st = this.inCall("decode", () => f.decodeData(data, eos));
      if (this.d.aborted || this.destroyed) return;
      if (st === DataStatus.Continue) {
        if (this.d.iter === Iter.StopSingle) {
          this.bufferDecoded(data);
          this.continueDecoding();
          return;
        }
      } else {
        this.d.iter = Iter.StopSingle;
        if (st === DataStatus.StopIterationAndBuffer || st === DataStatus.StopIterationAndWatermark) {
          this.d.streaming = st === DataStatus.StopIterationAndWatermark;
          this.bufferDecoded(data);
        } else if (this.remoteComplete && !this.reqTrailers && !this.d.buffered) {
          // NoBuffer on the final (possibly empty) frame: keep an empty buffer so a later continue
          // still delivers end_stream. The chunk itself is lost (sources: Envoy wasm context).
          this.newBuffer(this.d);
        }
        return;
      }
    }
    if (this.d.buffered === data) this.d.buffered = null;
    this.up.data(data, eos);
  }

  decodeTrailers(trailers: HeaderMap): void {
    if (this.destroyed) return;
    this.reqTrailers = trailers;
    this.remoteComplete = true;
    if (this.d.aborted) return;
    if (!this.filter) return this.up.trailers(trailers);
    if (this.d.stoppedAll) {
      this.d.iterateFromCurrent = true;
      return; // delivered to the filter on continue
    }
    this.filterDecodeTrailers(trailers);
  }

  private filterDecodeTrailers(trailers: HeaderMap): void {
    const f = this.filter!;
    const st = this.inCall("decode", () => f.decodeTrailers(trailers));
    if (this.d.aborted || this.destroyed) return;
    if (st === TrailersStatus.Continue) {
      if (this.d.iter === Iter.StopSingle) this.continueDecoding();
      else this.up.trailers(trailers);
    } else {
      this.d.iter = Iter.StopSingle;
    }
  }

  private newBuffer(side: Side): BodyBuffer {
    side.buffered = new BodyBuffer();
    side.aboveHigh = false;
    return side.buffered;
  }

  /** FilterManager commonHandleBufferData + the watermark check of the buffer limit (sources: Envoy wasm context). */
  private bufferDecoded(data: BodyBuffer): void {
    if (data === this.d.buffered) return;
    (this.d.buffered ?? this.newBuffer(this.d)).move(data);
    if (!this.d.aboveHigh && this.d.buffered!.length > this.opts.bufferLimitBytes) {
      this.d.aboveHigh = true;
      // Watermark modes apply back-pressure instead (not emulated: reading is not paused).
      if (!this.d.streaming) {
        this.sendLocalReply(413, Buffer.from(HTTP_REASON[413]), [], undefined, "request_payload_too_large");
      }
    }
  }

  decodingBuffer(): BodyBuffer { return this.d.buffered ?? this.newBuffer(this.d); }

  /** The Wasm context buffering a chunk itself (StopIterationAndBuffer, non-streaming). */
  addDecodedData(data: BodyBuffer): void {
    this.d.streaming = false;
    this.bufferDecoded(data);
  }

  addDecodedTrailers(): HeaderMap {
    this.reqTrailers = new HeaderMap();
    return this.reqTrailers;
  }

  /** FilterManager commonContinue for the decoder side (proxy_continue_stream(HTTP_REQUEST)). */
  continueDecoding(): void {
    const d = this.d;
    if (this.destroyed || d.aborted || d.iter === Iter.Continue) return;
    d.iterateFromCurrent = d.stoppedAll;
    d.iter = Iter.Continue;
    if (!d.headersContinued) {
      d.headersContinued = true;
      this.up.headers(this.reqHeaders!, this.remoteComplete && !d.buffered && !this.reqTrailers);
      if (this.destroyed || d.aborted) return;
    }
    const hadTrailers = this.reqTrailers !== null;
    if (d.buffered) {
      const eos = this.remoteComplete && !hadTrailers;
      // After StopAll the filter itself gets the buffered body first (CanStartFromCurrent, sources: proxy-wasm C++ host: filter status).
      this.decodeDataFrom(d.buffered, eos, d.iterateFromCurrent);
      if (this.destroyed || d.aborted) return;
    }
    if (hadTrailers && d.iter === Iter.Continue) {
      if (d.iterateFromCurrent) this.filterDecodeTrailers(this.reqTrailers!);
      else this.up.trailers(this.reqTrailers!);
    }
    d.iterateFromCurrent = false;
  }

  // ================================================================= encoder path (response)

  /** Response headers from the router (upstream) or a local reply via the filter chain. */
  encodeHeaders(headers: HeaderMap, eos: boolean): void {
    if (this.destroyed || this.e.aborted) return;
    this.respHeaders = headers;
    if (eos) this.encoderEnd = true;
    const status = Number(headers.get(":status"));
    if (Number.isFinite(status)) this.info.responseCode = status;
    const f = this.filter;
    if (!f) {
      this.e.headersContinued = true;
      this.emitHeaders(headers, eos);
      return;
    }
    const st = this.inCall("encode", () => f.encodeHeaders(headers, eos));
    if (this.e.aborted || this.destroyed) return;
    this.afterHeaders(this.e, st, () => this.emitHeaders(headers, eos));
  }

  encodeData(bytes: Uint8Array, eos: boolean): void {
    if (this.destroyed || this.e.aborted) return;
    if (eos) this.encoderEnd = true;
    this.encodeDataFrom(new BodyBuffer(bytes), eos, true);
  }

  private encodeDataFrom(data: BodyBuffer, eos: boolean, startWithFilter: boolean): void {
    const f = this.filter;
    if (f && startWithFilter) {
      if (this.e.stoppedAll) {
        this.e.streaming = this.e.iter === Iter.StopAllWatermark;
        this.e.iterateFromCurrent = true;
        this.bufferEncoded(data);
        return;
      }
      const st = this.inCall("encode", () => f.encodeData(data, eos));
      if (this.e.aborted || this.destroyed) return;
      if (st === DataStatus.Continue) {
        if (this.e.iter === Iter.StopSingle) {
          this.bufferEncoded(data);
          this.continueEncoding();
          return;
        }
      } else {
        this.e.iter = Iter.StopSingle;
        if (st === DataStatus.StopIterationAndBuffer || st === DataStatus.StopIterationAndWatermark) {
          this.e.streaming = st === DataStatus.StopIterationAndWatermark;
          this.bufferEncoded(data);
        } else if (this.encoderEnd && !this.respTrailers && !this.e.buffered) {
          this.newBuffer(this.e);
        }
        return;
      }
    }
    if (this.e.buffered === data) this.e.buffered = null;
    this.emitData(data.toBytes(), eos);
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.destroyed || this.e.aborted) return;
    this.respTrailers = trailers;
    this.encoderEnd = true;
    if (!this.filter) return this.emitTrailers(trailers);
    if (this.e.stoppedAll) {
      this.e.iterateFromCurrent = true;
      return;
    }
    this.filterEncodeTrailers(trailers);
  }

  private filterEncodeTrailers(trailers: HeaderMap): void {
    const f = this.filter!;
    const st = this.inCall("encode", () => f.encodeTrailers(trailers));
    if (this.e.aborted || this.destroyed) return;
    if (st === TrailersStatus.Continue) {
      if (this.e.iter === Iter.StopSingle) this.continueEncoding();
      else this.emitTrailers(trailers);
    } else {
      this.e.iter = Iter.StopSingle;
    }
  }

  private bufferEncoded(data: BodyBuffer): void {
    if (data === this.e.buffered) return;
    (this.e.buffered ?? this.newBuffer(this.e)).move(data);
    if (!this.e.aboveHigh && this.e.buffered!.length > this.opts.bufferLimitBytes) {
      this.e.aboveHigh = true;
      // sources: Envoy wasm context: response over the limit → 500 if headers not yet sent downstream, else reset.
      if (!this.e.streaming) {
        this.sendLocalReply(500, Buffer.from(HTTP_REASON[500]), [], undefined, "response_payload_too_large");
      }
    }
  }

  encodingBuffer(): BodyBuffer { return this.e.buffered ?? this.newBuffer(this.e); }

  addEncodedData(data: BodyBuffer): void {
    this.e.streaming = false;
    this.bufferEncoded(data);
  }

  addEncodedTrailers(): HeaderMap {
    this.respTrailers = new HeaderMap();
    return this.respTrailers;
  }

  continueEncoding(): void {
    const e = this.e;
    if (this.destroyed || e.aborted || e.iter === Iter.Continue || !this.respHeaders) return;
    e.iterateFromCurrent = e.stoppedAll;
    e.iter = Iter.Continue;
    if (!e.headersContinued) {
      e.headersContinued = true;
      this.emitHeaders(this.respHeaders, this.encoderEnd && !e.buffered && !this.respTrailers);
      if (this.destroyed || e.aborted) return;
    }
    const hadTrailers = this.respTrailers !== null;
    if (e.buffered) {
      this.encodeDataFrom(e.buffered, this.encoderEnd && !hadTrailers, e.iterateFromCurrent);
      if (this.destroyed || e.aborted) return;
    }
    if (hadTrailers && e.iter === Iter.Continue) {
      if (e.iterateFromCurrent) this.filterEncodeTrailers(this.respTrailers!);
      else this.emitTrailers(this.respTrailers!);
    }
    e.iterateFromCurrent = false;
  }

  // ================================================================= downstream emission (HCM codec)

  private emitHeaders(h: HeaderMap, eos: boolean): void {
    this.downstreamHeadersSent = true;
    this.down.headers(h, eos);
    if (eos) this.localComplete();
  }

  private emitData(bytes: Uint8Array, eos: boolean): void {
    this.info.bytesSent += bytes.length;
    this.down.data(bytes, eos);
    if (eos) this.localComplete();
  }

  private emitTrailers(t: HeaderMap): void {
    this.down.trailers(t);
    this.localComplete();
  }

  /** HCM doEndStream: a response sent before the request completed resets the stream (H1: close). */
  private localComplete(): void {
    if (this.destroyed) return;
    if (!this.remoteComplete) this.down.reset("response complete before request");
    this.destroy("complete");
  }

  // ================================================================= local replies / resets

  /**
   * FilterManager sendLocalReply (sources: Envoy wasm context): via the filter chain when no response headers exist yet
   * (this filter's on_response_* run for it), directly to the codec when response headers exist but
   * were not sent downstream, otherwise a stream reset.
   */
  sendLocalReply(code: number, body: Uint8Array, extra: Pair[], grpcStatus: number | undefined, details: string): void {
    if (this.destroyed) return;
    if (this.callState === "decode") this.d.aborted = true;
    else if (this.callState === "encode") this.e.aborted = true;
    this.info.responseCodeDetails = details;
    const reply = buildLocalReply(code, body, extra, grpcStatus, this.reqHeaders);
    if (!this.respHeaders) {
      this.d.aborted = true;
      // Envoy keeps the router until the stream ends; its upstream request is cancelled then.
      // Cancelling now is observably the same except that no late upstream response can race in.
      this.up.abort();
      this.info.responseCode = code;
      this.encodeHeaders(reply.headers, reply.body.length === 0);
      if (reply.body.length && !this.destroyed && !this.e.aborted) this.encodeData(reply.body, true);
    } else if (!this.downstreamHeadersSent) {
      this.e.aborted = true;
      this.up.abort();
      this.info.responseCode = code;
      this.respHeaders = reply.headers;
      this.emitHeaders(reply.headers, reply.body.length === 0);
      if (reply.body.length && !this.destroyed) this.emitData(reply.body, true);
    } else {
      this.resetStream();
    }
  }

  /** proxy_close_stream / upstream reset after the response started: reset the downstream stream. */
  resetStream(): void {
    if (this.destroyed) return;
    this.down.reset("local reset");
    this.destroy("local_reset");
  }

  /** The client went away (connection closed before the response completed). */
  downstreamReset(): void {
    if (this.destroyed) return;
    this.destroy("downstream_reset");
  }

  /** HCM doDeferredStreamDestroy: access log (on_log), then filters' onDestroy, router last. */
  private destroy(reason: string): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.endReason = reason;
    this.info.requestCompleteNs = process.hrtime.bigint() - this.startHr;
    this.opts.accessLog?.(this.info, this.reqHeaders, this.respHeaders);
    const f = this.filter;
    if (f) {
      f.logStream(this.reqHeaders, this.respHeaders, this.respTrailers);
      f.onDestroy();
    }
    this.up.abort();
    this.onDestroyed?.();
  }
}

/** Envoy `Utility::sendLocalReply` response shape (gRPC requests get a trailers-only reply). */
export function buildLocalReply(code: number, body: Uint8Array, extra: Pair[], grpcStatus: number | undefined,
  request: HeaderMap | null): { headers: HeaderMap; body: Uint8Array } {
  const h = new HeaderMap();
  const isGrpc = (request?.get("content-type") ?? "").startsWith("application/grpc");
  if (isGrpc) {
    h.add(":status", "200");
    for (const [k, v] of extra) h.add(k, v);
    h.set("content-type", "application/grpc");
    h.set("grpc-status", String(grpcStatus ?? httpToGrpcStatus(code)));
    if (body.length) h.set("grpc-message", percentEncode(Buffer.from(body).toString("utf8")));
    return { headers: h, body: EMPTY };
  }
  h.add(":status", String(code));
  for (const [k, v] of extra) h.add(k, v);
  if (body.length) {
    h.set("content-length", String(body.length));
    if (!h.has("content-type")) h.set("content-type", "text/plain");
  }
  return { headers: h, body };
}

/** Envoy `Grpc::Utility::httpToGrpcStatus`. */
export function httpToGrpcStatus(code: number): number {
  switch (code) {
    case 400: return GrpcStatus.Internal;
    case 401: return GrpcStatus.Unauthenticated;
    case 403: return GrpcStatus.PermissionDenied;
    case 404: return GrpcStatus.Unimplemented;
    case 429: case 502: case 503: case 504: return GrpcStatus.Unavailable;
    default: return GrpcStatus.Unknown;
  }
}

/** gRPC percent-encoding of grpc-message (Envoy `Http::Utility::PercentEncoding::encode`). */
export function percentEncode(s: string): string {
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    out += b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, "0")}` : String.fromCharCode(b);
  }
  return out;
}

export function percentDecode(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "%" && i + 2 < s.length + 0 && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(s.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}
