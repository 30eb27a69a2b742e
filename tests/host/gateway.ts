// The gateway: an HTTP/1.1 listener (node:http) in front of the plugin host, behaving like Envoy's
// HTTP connection manager + this Wasm filter + the router. Connections are assigned to worker VMs
// round-robin, and every stream of a connection stays on its worker, as in Envoy.
//
// Public API (others code against it): Gateway.start(), GatewayOptions, PluginOptions, RouteConfig,
// ClusterConfig, LogEntry, LoadError.

import http from "node:http";
import type { Socket } from "node:net";
import { ReadBatcher } from "./reads.ts";
import { randomUUID } from "node:crypto";
import { PluginHost, LoadError, type PluginOptions } from "./plugin-host.ts";
import { HttpStream, type DownstreamSink, type UpstreamSink } from "./stream.ts";
import { HeaderMap } from "./headers.ts";
import { EMPTY } from "./buffer.ts";
import { Clusters, HOP_BY_HOP, type ClusterConfig } from "./clusters.ts";
import { RouterFilter, resolveRoute, type RouteConfig } from "./router.ts";
import type { SharedData } from "./shared.ts";
import type { LogEntry } from "./services.ts";
import { TagProducer, type TagSpecifier } from "./tags.ts";

export { LoadError };
export type { PluginOptions, RouteConfig, ClusterConfig, LogEntry, SharedData, TagSpecifier };

export interface GatewayOptions {
  wasm: string | Uint8Array;   // path or bytes
  plugin: PluginOptions;
  workers?: number;            // worker VMs, default 2 (plus the canary at load)
  port?: number;               // listener port, default 0 (ephemeral)
  bufferLimitBytes?: number;   // per_connection_buffer_limit_bytes, default 1 MiB
  maxChunkBytes?: number;      // split body callbacks to at most this (default: one per socket read, like Envoy)
  routes: RouteConfig[];
  clusters: Record<string, ClusterConfig>;
  onLog?: (e: LogEntry) => void;
  /** `wasm` logger level (proxy_get_log_level), default 2 = info like Envoy; lower levels are dropped. */
  logLevel?: number;
  /** Bootstrap `stats_config.stats_tags`: tags extracted for prometheus() (tags.ts). */
  statsTags?: TagSpecifier[];
  /** An HCM access logger, called when a stream ends (before the filter's on_log, as in Envoy). */
  accessLog?: (e: AccessLogEntry) => void;
}

/** What an access log line can print: stream info, headers, filter state (`%FILTER_STATE(key)%`). */
export interface AccessLogEntry {
  method: string;
  path: string;
  responseCode: number | undefined;
  responseCodeDetails: string | undefined;
  /** Stream start to end (Envoy %DURATION%), milliseconds. */
  durationMs: number;
  /** Filter state values as UTF-8 text, by key (e.g. "wasm.ai_gateway.model"). */
  filterState: Record<string, string>;
}

interface Conn { worker: number; id: number }

let nextConnectionId = 0;

export class Gateway {
  readonly url: string;
  readonly port: number;
  private readonly conns = new WeakMap<Socket, Conn>();
  private nextWorker = 0;
  private stopped = false;

  private constructor(readonly host: PluginHost, private readonly server: http.Server, private readonly clusters: Clusters,
    private readonly opts: GatewayOptions) {
    this.port = (server.address() as { port: number }).port;
    this.url = `http://127.0.0.1:${this.port}`;
    this.tagProducer = opts.statsTags ? new TagProducer(opts.statsTags) : undefined;
  }

  /** Loads the plugin (base VM, canary, workers) and listens; rejects with LoadError on load/configure failure. */
  static async start(opts: GatewayOptions): Promise<Gateway> {
    const clusters = new Clusters(opts.clusters, opts.maxChunkBytes ?? Infinity);
    let host: PluginHost;
    try {
      host = await PluginHost.load({
        wasm: opts.wasm, plugin: opts.plugin, workers: opts.workers ?? 2, bufferLimitBytes: opts.bufferLimitBytes,
        logLevel: opts.logLevel, clusters, onLog: opts.onLog,
      });
    } catch (e) {
      clusters.close();
      throw e;
    }
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
    });
    const gw = new Gateway(host, server, clusters, opts);
    server.on("connection", (s: Socket) => gw.conns.set(s, { worker: gw.nextWorker++ % host.workers.length, id: ++nextConnectionId }));
    server.on("request", (req, res) => gw.onRequest(req, res));
    return gw;
  }

  get logs(): LogEntry[] { return this.host.logs; }
  get sharedData(): SharedData { return this.host.sharedData; }
  /** Full Envoy stat names, e.g. "wasmcustom.foo" → value (counters and gauges). */
  stats(): Record<string, number> { return this.host.stats.snapshot(); }
  prometheus(): string { return this.host.stats.prometheus(this.tagProducer); }
  private readonly tagProducer: TagProducer | undefined;
  /** Stream contexts not yet deleted, all VMs (for leak checks). */
  liveContexts(): number { return this.host.liveContexts(); }
  /** http/grpc calls in flight. */
  pendingCalls(): number { return this.clusters.inFlight(); }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
    this.clusters.close();
    this.host.close();
  }

  // ---------------------------------------------------------------- one downstream request

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    const conn = this.conns.get(socket) ?? { worker: 0, id: ++nextConnectionId };
    const worker = this.host.worker(conn.worker);
    const maxChunk = this.opts.maxChunkBytes ?? Infinity;
    let router: RouterFilter;
    const up: UpstreamSink = {
      headers: (h, eos) => router.headers(h, eos),
      data: (d, eos) => router.data(d, eos),
      trailers: (t) => router.trailers(t),
      abort: () => router.abort(),
    };
    const stream: HttpStream = new HttpStream(up, downstreamWriter(req, res, () => stream), {
      bufferLimitBytes: this.host.bufferLimitBytes,
      protocol: req.httpVersion === "1.0" ? "HTTP/1.0" : "HTTP/1.1",
      connection: {
        id: conn.id,
        remoteAddress: plainAddress(socket.remoteAddress), remotePort: socket.remotePort ?? 0,
        localAddress: plainAddress(socket.localAddress), localPort: socket.localPort ?? 0,
      },
      resolveRoute: (h) => resolveRoute(this.opts.routes, this.clusters, h),
      accessLog: this.opts.accessLog ? (info, rq) => this.opts.accessLog!({
        method: rq?.get(":method") ?? "", path: rq?.get(":path") ?? "",
        responseCode: info.responseCode, responseCodeDetails: info.responseCodeDetails,
        durationMs: Number(info.requestCompleteNs ?? 0n) / 1e6,
        filterState: Object.fromEntries([...info.filterState].map(([k, v]) => [k, Buffer.from(v.value).toString("utf8")])),
      }) : undefined,
    });
    router = new RouterFilter(stream, this.clusters);
    stream.filter = worker.createFilter(stream);
    res.on("close", () => { if (!stream.destroyed) stream.downstreamReset(); });

    // HTTP/1 codec: requests without a body deliver headers with end_stream (deferred end-stream
    // headers); otherwise body frames follow, then an empty end-of-stream frame (or trailers).
    const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
    stream.decodeHeaders(hcmRequestHeaders(req), !hasBody);
    if (!hasBody) {
      req.resume();
      return;
    }
    const reads = new ReadBatcher((d) => stream.decodeData(d, false), maxChunk);
    req.on("data", (chunk: Buffer) => reads.push(chunk));
    req.on("end", () => {
      reads.flush();
      if (req.rawTrailers.length) {
        const t = new HeaderMap();
        for (let i = 0; i < req.rawTrailers.length; i += 2) t.add(req.rawTrailers[i], req.rawTrailers[i + 1]);
        stream.decodeTrailers(t);
      } else {
        stream.decodeData(EMPTY, true);
      }
    });
  }
}

/**
 * The request header map the filter sees (HTTP/1 codec + HCM mutateRequestHeaders): pseudo-headers
 * :authority (from Host) :path :method :scheme, hop-by-hop headers removed, x-forwarded-proto and
 * x-request-id added when absent.
 */
function hcmRequestHeaders(req: http.IncomingMessage): HeaderMap {
  const h = new HeaderMap();
  h.add(":authority", req.headers.host ?? "");
  h.add(":path", req.url ?? "/");
  h.add(":method", req.method ?? "GET");
  h.add(":scheme", "http");
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i].toLowerCase(), v = req.rawHeaders[i + 1];
    if (k === "host" || HOP_BY_HOP.has(k) || (k === "te" && v.toLowerCase() !== "trailers")) continue;
    h.add(k, v);
  }
  if (!h.has("x-forwarded-proto")) h.add("x-forwarded-proto", "http");
  if (!h.has("x-request-id")) h.add("x-request-id", randomUUID());
  return h;
}

/**
 * The HTTP/1 encoder towards the client (HCM encodeHeaders/encodeData): `server: envoy`,
 * `connection: close` when the request is incomplete, `content-length: 0` for headers-only
 * responses; the filter's content-length is sent as is even if the body differs (Envoy does not
 * fix it). HTTP/1 response trailers are dropped (enable_trailers defaults to false).
 */
function downstreamWriter(req: http.IncomingMessage, res: http.ServerResponse, stream: () => HttpStream): DownstreamSink {
  let ended = false;
  const end = () => { if (!ended) { ended = true; res.end(); } };
  return {
    headers: (h, eos) => {
      const status = Number(h.get(":status"));
      const raw: string[] = [];
      for (const [k, v] of h.pairs()) if (!k.startsWith(":") && !HOP_BY_HOP.has(k) && k !== "server") raw.push(k, v);
      raw.push("server", "envoy");
      if (!stream().requestComplete) raw.push("connection", "close");
      if (eos && !h.has("content-length") && status >= 200 && status !== 204 && status !== 304) raw.push("content-length", "0");
      try {
        res.writeHead(status, raw);
      } catch (e) {
        // Invalid header bytes from the filter: Envoy's codec would fail the stream the same way.
        res.destroy(e as Error);
        return;
      }
      if (eos) end();
      // Envoy's codec writes the headers at once; Node would hold them until the first body byte.
      else res.flushHeaders();
    },
    data: (d, eos) => {
      if (ended || res.destroyed) return;
      if (d.length) res.write(d);
      if (eos) end();
    },
    trailers: () => end(),
    reset: () => {
      if (ended) {
        // Response complete but the request is not: close the connection after the response.
        res.once("finish", () => req.socket.destroySoon());
      } else {
        ended = true;
        res.destroy();
        req.socket.destroy();
      }
    },
  };
}

function plainAddress(a: string | undefined): string {
  if (!a) return "";
  return a.startsWith("::ffff:") ? a.slice(7) : a;
}
