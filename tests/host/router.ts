// Route selection and the router filter (Envoy `source/common/router/config_impl.cc`,
// `router.cc`): first matching route in one virtual host ("all", domains ["*"]); actions `cluster`,
// `clusterHeader` (Envoy `cluster_header`) or `directResponse`; the route timeout (default 15 s,
// started when the downstream request is complete); upstream failures as Envoy's local replies.

import { HeaderMap } from "./headers.ts";
import { EMPTY, type BodyBuffer } from "./buffer.ts";
import type { HttpStream, ResolvedRoute, UpstreamSink } from "./stream.ts";
import { resetBody, resetDetails, type Clusters, type UpstreamRequest } from "./clusters.ts";

export interface RouteConfig {
  name?: string;
  match: { prefix?: string; path?: string; headers?: { name: string; exact?: string; present?: boolean }[] };
  cluster?: string;
  clusterHeader?: string;
  directResponse?: { status: number; body?: string };
  timeoutMs?: number;          // default 15000, 0 = none
  /** Route `request_headers_to_remove`: dropped from the upstream request only (router.cc finalizeRequestHeaders). */
  requestHeadersToRemove?: string[];
}

export const VIRTUAL_HOST = "all";
const DEFAULT_ROUTE_TIMEOUT_MS = 15000;

/** First route whose path/prefix and header conditions match (Envoy route table order). */
export function matchRoute(routes: RouteConfig[], headers: HeaderMap): RouteConfig | null {
  const fullPath = headers.get(":path") ?? "";
  // Exact `path` matches compare the path without query/fragment; `prefix` the :path value.
  const pathOnly = fullPath.split(/[?#]/)[0];
  for (const r of routes) {
    const m = r.match;
    if (m.path !== undefined && pathOnly !== m.path) continue;
    if (m.prefix !== undefined && !fullPath.startsWith(m.prefix)) continue;
    let ok = true;
    for (const hm of m.headers ?? []) {
      const values = headers.getAll(hm.name);
      const joined = values.length ? values.join(",") : undefined;
      if (hm.exact !== undefined) ok = joined === hm.exact;
      else if (hm.present === false) ok = joined === undefined;
      else ok = joined !== undefined;
      if (!ok) break;
    }
    if (ok) return r;
  }
  return null;
}

/**
 * The route as the stream caches it (sources: Envoy wasm context). `clusterName` is what Envoy exposes as
 * xds.cluster_name: only set when the (header-selected) cluster exists.
 */
export function resolveRoute(routes: RouteConfig[], clusters: Clusters, headers: HeaderMap): ResolvedRoute | null {
  const r = matchRoute(routes, headers);
  if (!r) return null;
  const cluster = r.cluster ?? (r.clusterHeader !== undefined ? headers.get(r.clusterHeader) : undefined);
  return {
    info: { name: r.name ?? "", virtualHost: VIRTUAL_HOST, clusterName: cluster !== undefined && clusters.has(cluster) ? cluster : undefined },
    action: r,
  };
}

/** Envoy's router filter for one stream: the terminal decoder filter. */
export class RouterFilter implements UpstreamSink {
  private upstream: UpstreamRequest | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timeoutMs = DEFAULT_ROUTE_TIMEOUT_MS;
  private requestCompleteAt: number | null = null;
  private responseStarted = false;
  private finished = false;

  constructor(private readonly stream: HttpStream, private readonly clusters: Clusters) {}

  headers(h: HeaderMap, eos: boolean): void {
    const route = this.stream.route();
    if (!route) return this.stream.sendLocalReply(404, EMPTY, [], undefined, "route_not_found");
    const action = route.action as RouteConfig;
    if (action.directResponse) {
      const body = Buffer.from(action.directResponse.body ?? "");
      return this.stream.sendLocalReply(action.directResponse.status, body, [], undefined, "direct_response");
    }
    // cluster_header: a missing header selects the empty cluster name, i.e. no cluster
    // (config_impl.cc pickClusterViaClusterHeader) → 503 with an empty body, details
    // "cluster_not_found" (router.cc; cluster_not_found_response_code defaults to 503).
    const name = action.cluster ?? (action.clusterHeader !== undefined ? (h.get(action.clusterHeader) ?? "") : "");
    const cluster = this.clusters.get(name);
    if (!cluster) return this.stream.sendLocalReply(503, EMPTY, [], undefined, "cluster_not_found");
    this.timeoutMs = action.timeoutMs ?? DEFAULT_ROUTE_TIMEOUT_MS;
    const out = h.copy();
    // After the route was picked (the cluster header has done its job), the route's header edits
    // apply to what goes upstream; the stream's own map, seen by filters, keeps the header.
    for (const name of action.requestHeadersToRemove ?? []) out.remove(name);
    // The router advertises the timeout upstream (suppress_envoy_headers is false by default).
    if (this.timeoutMs > 0) out.set("x-envoy-expected-rq-timeout-ms", String(this.timeoutMs));
    this.upstream = this.clusters.open(cluster, out, eos, {
      onHeaders: (rh, reos) => this.onUpstreamHeaders(rh, reos),
      onData: (d, deos) => {
        if (this.finished) return;
        if (deos) this.complete();
        this.stream.encodeData(d, deos);
      },
      onTrailers: (t) => {
        if (this.finished) return;
        this.complete();
        this.stream.encodeTrailers(t);
      },
      onReset: (reason, tfr, beforeHeaders) => {
        if (this.finished) return;
        this.complete();
        if (beforeHeaders && !this.responseStarted) {
          this.stream.sendLocalReply(reason === "protocol error" ? 502 : 503, Buffer.from(resetBody(reason, tfr)), [], undefined,
            resetDetails(reason, tfr, false));
        } else {
          this.stream.info.responseCodeDetails = resetDetails(reason, tfr, true);
          this.stream.resetStream();
        }
      },
    });
    this.stream.info.upstreamHost = this.upstream.host;
    if (eos) this.onRequestComplete();
  }

  data(d: BodyBuffer, eos: boolean): void {
    if (this.finished || !this.upstream) return;
    this.upstream.sendData(d.toBytes(), eos);
    if (eos) this.onRequestComplete();
  }

  trailers(t: HeaderMap): void {
    if (this.finished || !this.upstream) return;
    this.upstream.sendTrailers(t);
    this.onRequestComplete();
  }

  /** Stream over (local reply, reset, teardown): the router's onDestroy resets the upstream. */
  abort(): void {
    this.complete();
    this.upstream?.reset();
  }

  private onRequestComplete(): void {
    this.requestCompleteAt = performance.now();
    if (this.timeoutMs > 0 && !this.finished) {
      this.timer = setTimeout(() => this.onTimeout(), this.timeoutMs);
    }
  }

  /** router.cc onResponseTimeout: reset upstream, 504 "upstream request timeout" (or a reset). */
  private onTimeout(): void {
    if (this.finished) return;
    this.complete();
    this.upstream?.reset();
    this.stream.sendLocalReply(504, Buffer.from("upstream request timeout"), [], undefined, "response_timeout");
  }

  private onUpstreamHeaders(h: HeaderMap, eos: boolean): void {
    if (this.finished) return;
    if (this.requestCompleteAt !== null) {
      h.set("x-envoy-upstream-service-time", String(Math.round(performance.now() - this.requestCompleteAt)));
    }
    this.responseStarted = true;
    this.stream.info.responseCodeDetails = "via_upstream"; // router.cc onUpstreamHeaders
    if (eos) this.complete();
    this.stream.encodeHeaders(h, eos);
  }

  private complete(): void {
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
