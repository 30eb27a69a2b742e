// The one seam that starts "the gateway" for the socket-level suites: real Envoy (default) or the
// imitation host of tests/host, from the same options, chosen by the environment:
//
//   GATEWAY_PLATFORM=envoy   (default) real Envoy: ENVOY_BIN, else the pinned newest in .cache/
//   GATEWAY_PLATFORM=host    the TypeScript host (tests/host), the fast inner loop
//   GATEWAY_ENVOY=oldest     with envoy: the oldest supported pin (ENVOY_OLDEST_BIN overrides)
//
// Both expose what a test may look at: the URL, the filter's log lines, stats and Prometheus, and
// "nothing left over" checks (streams still open, upstream calls in flight, VM failures). What only
// the host can show (shared data, which VM took a connection) is on `host`, for host-only tests.

import { Gateway as HostGateway, LoadError } from "../host/gateway.ts";
import { EnvoyGateway, EnvoyLoadError, type GatewayOptions as EnvoyGatewayOptions, type LaunchOptions, type HistogramBin } from "../../dev/envoy-gateway.ts";
import type { GatewayOptions as HostGatewayOptions, LogEntry, AccessLogEntry } from "../host/gateway.ts";
import { probe } from "../host/probes/assemble.ts";

export { LoadError };
export type { LogEntry, AccessLogEntry, HistogramBin };
export type { RouteConfig, ClusterConfig, PluginOptions, TagSpecifier } from "../host/gateway.ts";

export type Platform = "envoy" | "host";

/**
 * Whether the bins hold exactly the samples `values` (each value in a bin that contains it:
 * [lower, lower + width), or equal to lower when the width is 0), and nothing else.
 */
export function binsHold(bins: HistogramBin[], values: number[]): boolean {
  const left = bins.map((b) => ({ ...b }));
  for (const v of values) {
    const b = left.find((x) => x.count > 0 && (x.width === 0 ? v === x.lower_bound : v >= x.lower_bound && v < x.lower_bound + x.width));
    if (!b) return false;
    b.count--;
  }
  return left.every((b) => b.count === 0);
}

/** The platform this process runs the socket suites on. */
export function platform(): Platform {
  const p = process.env.GATEWAY_PLATFORM ?? "envoy";
  if (p !== "envoy" && p !== "host") throw new Error(`GATEWAY_PLATFORM=${p}: expected envoy or host`);
  return p;
}

/** Options both platforms understand (the host's own extras, e.g. maxChunkBytes, only on the host). */
export type GatewayOptions = HostGatewayOptions & Pick<EnvoyGatewayOptions, "processEnv"> & {
  /** Run on this platform whatever GATEWAY_PLATFORM says (a test that only one platform can stage). */
  platform?: Platform;
};

export interface Gateway {
  readonly platform: Platform;
  /** "envoy 1.40.0" or "host". */
  readonly describe: string;
  readonly url: string;
  readonly port: number;
  /** The filter's log lines (origin "wasm") and the platform's lines about the VM (origin "host"). */
  readonly logs: LogEntry[];
  /** Counters and gauges by full Envoy name, e.g. "wasmcustom.foo". */
  stats(): Promise<Record<string, number>>;
  /** The admin endpoint's /stats/prometheus text. */
  prometheus(): Promise<string>;
  /** Histograms by full name as bins: Envoy's log-linear bins; the host's exact samples (width 0). */
  histograms(): Promise<Map<string, HistogramBin[]>>;
  /** Streams not finished yet (host: stream contexts not deleted; Envoy: downstream_rq_active). */
  liveContexts(): Promise<number>;
  /** Upstream requests and callouts in flight (host: http/grpc calls; Envoy: upstream_rq_active). */
  pendingCalls(): Promise<number>;
  /** Evidence of a failed VM since log index `from`. */
  vmFailures(from?: number): string[];
  /** One shared-data value of the filter's vm_id (Envoy: read by a probe filter with that vm_id). */
  sharedData(key: string): Promise<Uint8Array | undefined>;
  /** The imitation host itself (host platform only). */
  readonly host: HostGateway | undefined;
  stop(): Promise<void>;
}

class OnHost implements Gateway {
  readonly platform = "host" as const;
  readonly describe = "host";
  constructor(readonly host: HostGateway) {}
  get url() { return this.host.url; }
  get port() { return this.host.port; }
  get logs() { return this.host.logs; }
  async stats() { return this.host.stats(); }
  async prometheus() { return this.host.prometheus(); }
  async histograms() {
    const out = new Map<string, HistogramBin[]>();
    for (const [name, h] of this.host.host.stats.histograms) {
      const counts = new Map<number, number>();
      for (const v of h.samples) counts.set(v, (counts.get(v) ?? 0) + 1);
      out.set(name, [...counts].sort(([a], [b]) => a - b).map(([v, count]) => ({ lower_bound: v, width: 0, count })));
    }
    return out;
  }
  async liveContexts() { return this.host.liveContexts(); }
  async pendingCalls() { return this.host.pendingCalls(); }
  vmFailures(from = 0): string[] {
    const out: string[] = [];
    for (const w of this.host.host.workers) {
      if (!w.vm) out.push(`worker ${w.index}: no VM`);
      else if (w.vm.isFailed) out.push(`worker ${w.index}: VM ${w.vm.failState}: ${w.vm.failMessage}`);
    }
    for (const l of this.host.logs.slice(from)) if (l.origin === "host" && l.level >= 4) out.push(`host error log: ${l.message}`);
    return out;
  }
  async sharedData(key: string) { return this.host.sharedData.get(key)?.value; }
  stop() { return this.host.stop(); }
}

class OnEnvoy implements Gateway {
  readonly platform = "envoy" as const;
  readonly host = undefined;
  constructor(readonly envoy: EnvoyGateway) {}
  get describe() { return `envoy ${this.envoy.version}`; }
  get url() { return this.envoy.url; }
  get port() { return this.envoy.port; }
  get logs() { return this.envoy.logs; }
  stats() { return this.envoy.stats(); }
  prometheus() { return this.envoy.prometheus(); }
  histograms() { return this.envoy.histograms(); }
  liveContexts() { return this.envoy.activeRequests(); }
  pendingCalls() { return this.envoy.activeUpstreamRequests(); }
  vmFailures(from = 0) { return this.envoy.vmFailures(from); }
  async sharedData(key: string) {
    const r = await fetch(this.envoy.sideUrl(SHARED_READER), { headers: { "x-shared-key": key } });
    const body = new Uint8Array(await r.arrayBuffer());
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(`shared-data reader: ${r.status} ${Buffer.from(body).toString()}`);
    return body;
  }
  stop() { return this.envoy.stop(); }
}

const SHARED_READER = "shared_data_reader";
const announced = new Set<string>();
function announce(gw: Gateway): Gateway {
  // One line per process and platform, so the test output names what each suite ran on.
  if (!announced.has(gw.describe)) { announced.add(gw.describe); console.log(`# gateway platform: ${gw.describe}`); }
  return gw;
}
const envoyPin = () => (process.env.GATEWAY_ENVOY === "oldest" ? "oldest" : "newest");

export const Gateway = {
  /** Starts the gateway on the selected platform; rejects with LoadError when the plugin does not load. */
  async start(opts: GatewayOptions): Promise<Gateway> {
    const p = opts.platform ?? platform();
    let gw: Gateway;
    if (p === "host") {
      gw = new OnHost(await HostGateway.start(opts));
    } else {
      const { maxChunkBytes: _ignored, platform: _p, ...rest } = opts;
      try {
        // A probe filter with the plugin's vm_id on a side listener reads the same shared data.
        const reader = { name: SHARED_READER, wasm: probe("shared-reader"), plugin: { name: SHARED_READER, rootId: SHARED_READER, vmId: opts.plugin.vmId ?? "ai_gateway", configuration: "" } };
        gw = new OnEnvoy(await EnvoyGateway.start({ ...rest, envoy: envoyPin(), sideListeners: [reader] }));
      } catch (e) {
        if (e instanceof EnvoyLoadError) throw new LoadError(e.message, e.logs);
        throw e;
      }
    }
    return announce(gw);
  },

  /** A whole Envoy bootstrap (a shipped config, substituted) in real Envoy. */
  async startBootstrap(bootstrap: unknown, opts: LaunchOptions = {}): Promise<Gateway> {
    try {
      return announce(new OnEnvoy(await EnvoyGateway.startBootstrap(bootstrap, { envoy: envoyPin(), ...opts })));
    } catch (e) {
      if (e instanceof EnvoyLoadError) throw new LoadError(e.message, e.logs);
      throw e;
    }
  },
};
