// The gateway in real Envoy: the options the tests and `npm start` describe a gateway with (the
// filter, its plugin configuration, workers, buffer limit, routes, clusters, stats tags) turned
// into an Envoy bootstrap, run with `--concurrency` = workers on ephemeral ports, and read back
// through Envoy's log, its admin endpoint (stats, Prometheus) and an access log.
//
// The options mirror tests/host's GatewayOptions (the imitation host takes the same object), so
// one suite runs on either platform.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { isIP } from "node:net";
import { EnvoyProcess, EnvoyStartError, envoyBinary, type EnvoyLogLine, type EnvoyPin, type HistogramBin } from "./envoy.ts";

export type { HistogramBin };

export interface PluginOptions {
  name?: string;               // default "ai-gateway"
  rootId?: string;             // default "ai_gateway"
  vmId?: string;               // default "ai_gateway" (shared-data namespace)
  configuration: string;       // the plugin configuration (JSON text)
  vmConfiguration?: string;
  failurePolicy?: "FAIL_CLOSED" | "FAIL_OPEN" | "FAIL_RELOAD";
  failOpen?: boolean;
  allowOnHeadersStopIteration?: boolean;  // default true
  /** vm_config.environment_variables.key_values */
  env?: Record<string, string>;
  /** vm_config.environment_variables.host_env_keys: read from Envoy's process environment. */
  hostEnvKeys?: string[];
}

export interface RouteConfig {
  name?: string;
  match: { prefix?: string; path?: string; headers?: { name: string; exact?: string; present?: boolean }[] };
  cluster?: string;
  clusterHeader?: string;
  directResponse?: { status: number; body?: string };
  timeoutMs?: number;          // default 15000, 0 = none
  requestHeadersToRemove?: string[];
}

export interface ClusterConfig {
  host: string; port: number; http2?: boolean;
  /** Upstream TLS: SNI defaults to `host`; `ca` (PEM) replaces the system trust store. */
  tls?: boolean | { sni?: string; ca?: string | Buffer };
}

export interface TagSpecifier { tag_name: string; regex?: string; fixed_value?: string }

export interface LogEntry {
  level: number;
  message: string;
  /** Worker index by first appearance; -2 = Envoy's main thread (configuration time). */
  vm: number;
  /** "wasm": the filter's proxy_log; "host": Envoy's own lines about the VM (failures, load errors). */
  origin: "wasm" | "host";
}

export interface AccessLogEntry {
  method: string;
  path: string;
  responseCode: number | undefined;
  responseCodeDetails: string | undefined;
  durationMs: number;
  filterState: Record<string, string>;
  /** The response's content-type as the client got it (Envoy's access log only). */
  responseContentType?: string;
}

export interface GatewayOptions {
  wasm: string | Uint8Array;
  plugin: PluginOptions;
  workers?: number;            // --concurrency, default 2
  port?: number;               // listener port, default 0 (ephemeral)
  /** Listener address, default 127.0.0.1. */
  address?: string;
  bufferLimitBytes?: number;   // per_connection_buffer_limit_bytes, default 1 MiB
  routes: RouteConfig[];
  clusters: Record<string, ClusterConfig>;
  onLog?: (e: LogEntry) => void;
  /** `wasm` logger level, default 2 = info. */
  logLevel?: number;
  statsTags?: TagSpecifier[];
  accessLog?: (e: AccessLogEntry) => void;
  /** Admin listener port, default 0 (ephemeral). */
  adminPort?: number;
  /** Which pinned Envoy (ENVOY_BIN / ENVOY_OLDEST_BIN override). */
  envoy?: EnvoyPin;
  /** Install the pinned Envoy when missing (npm start), saying so through `say`. */
  install?: boolean;
  say?: (line: string) => void;
  /** Envoy's process environment (host_env_keys read it); default: this process's. */
  processEnv?: Record<string, string | undefined>;
  /** More listeners, each with one wasm filter that answers every request itself (test probes). */
  sideListeners?: SideListener[];
}

export interface SideListener { name: string; wasm: string | Uint8Array; plugin: PluginOptions }

/** How to run Envoy, whatever the bootstrap. */
export type LaunchOptions = Pick<GatewayOptions, "workers" | "onLog" | "logLevel" | "accessLog" | "envoy" | "install" | "say" | "processEnv">;

/** Envoy refused the configuration (the plugin failed to load or configure). */
export class EnvoyLoadError extends Error {
  constructor(message: string, readonly logs: LogEntry[]) {
    super(message);
    this.name = "LoadError";
  }
}

const LOG_LEVEL_NAMES = ["trace", "debug", "info", "warning", "error", "critical"];
const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
/** The filter-state keys the filter sets (assembly/filter/access.ts), printed by the access log. */
export const FILTER_STATE_KEYS = ["client", "model", "backend", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "limit"]
  .map((k) => `wasm.ai_gateway.${k}`);
const ACCESS_LOG_MARK = "AL@@\t";

function wasmFileOf(wasm: string | Uint8Array, dir: string, name: string): string {
  if (typeof wasm === "string") return resolve(wasm);
  const file = join(dir, `${name}.wasm`);
  writeFileSync(file, wasm);
  return file;
}

function seconds(ms: number): string { return `${ms / 1000}s`; }

function stringValue(s: string): unknown { return { "@type": "type.googleapis.com/google.protobuf.StringValue", value: s }; }

/** The wasm HTTP filter (envoy.extensions.filters.http.wasm.v3.Wasm) for `plugin`. */
export function wasmFilter(plugin: PluginOptions, wasmFile: string): unknown {
  const env: Record<string, unknown> = {};
  if (plugin.env && Object.keys(plugin.env).length) env.key_values = plugin.env;
  if (plugin.hostEnvKeys?.length) env.host_env_keys = plugin.hostEnvKeys;
  const config: Record<string, unknown> = {
    name: plugin.name ?? "ai-gateway",
    root_id: plugin.rootId ?? "ai_gateway",
    vm_config: {
      vm_id: plugin.vmId ?? "ai_gateway",
      runtime: "envoy.wasm.runtime.v8",
      code: { local: { filename: wasmFile } },
      ...(plugin.vmConfiguration !== undefined ? { configuration: stringValue(plugin.vmConfiguration) } : {}),
      ...(Object.keys(env).length ? { environment_variables: env } : {}),
    },
    configuration: stringValue(plugin.configuration),
    allow_on_headers_stop_iteration: plugin.allowOnHeadersStopIteration ?? true,
  };
  if (plugin.failurePolicy) config.failure_policy = plugin.failurePolicy;
  if (plugin.failOpen !== undefined) config.fail_open = plugin.failOpen;
  return {
    name: "envoy.filters.http.wasm",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm", config },
  };
}

function route(r: RouteConfig, i: number): unknown {
  const match: Record<string, unknown> = {};
  if (r.match.path !== undefined) match.path = r.match.path;
  else match.prefix = r.match.prefix ?? "/";
  if (r.match.headers?.length) {
    match.headers = r.match.headers.map((h) => h.exact !== undefined
      ? { name: h.name, string_match: { exact: h.exact } }
      : { name: h.name, present_match: true });
  }
  const out: Record<string, unknown> = { name: r.name ?? `route${i}`, match };
  if (r.directResponse) {
    out.direct_response = { status: r.directResponse.status, ...(r.directResponse.body !== undefined ? { body: { inline_string: r.directResponse.body } } : {}) };
  } else {
    const action: Record<string, unknown> = { timeout: seconds(r.timeoutMs ?? 15000) };
    if (r.cluster) action.cluster = r.cluster;
    else if (r.clusterHeader) action.cluster_header = r.clusterHeader;
    else throw new Error(`route ${i}: cluster, clusterHeader or directResponse needed`);
    out.route = action;
  }
  if (r.requestHeadersToRemove?.length) out.request_headers_to_remove = r.requestHeadersToRemove;
  return out;
}

function cluster(name: string, c: ClusterConfig, dir: string): unknown {
  const out: Record<string, unknown> = {
    name,
    type: isIP(c.host) ? "STATIC" : "LOGICAL_DNS",
    dns_lookup_family: "V4_PREFERRED",
    connect_timeout: "5s",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: c.host, port_value: c.port } } } }] }] },
  };
  if (c.http2) {
    out.typed_extension_protocol_options = {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        explicit_http_config: { http2_protocol_options: {} },
      },
    };
  }
  if (c.tls) {
    const t = c.tls === true ? {} : c.tls;
    let trusted: unknown = { filename: CA_BUNDLE };
    if (t.ca !== undefined) {
      const file = join(dir, `ca-${name}.pem`);
      writeFileSync(file, t.ca);
      trusted = { filename: file };
    }
    out.transport_socket = {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        sni: t.sni ?? c.host,
        common_tls_context: {
          ...(c.http2 ? { alpn_protocols: ["h2"] } : {}),
          validation_context: { trusted_ca: trusted, match_typed_subject_alt_names: [{ san_type: "DNS", matcher: { exact: t.sni ?? c.host } }] },
        },
      },
    };
  }
  return out;
}

const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

function sideListener(l: SideListener, dir: string): unknown {
  return {
    name: l.name,
    address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
    filter_chains: [{ filters: [{
      name: "envoy.filters.network.http_connection_manager",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix: l.name, codec_type: "AUTO",
        route_config: { name: l.name, virtual_hosts: [{ name: l.name, domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 404 } }] }] },
        http_filters: [wasmFilter(l.plugin, wasmFileOf(l.wasm, dir, l.name)), ROUTER],
      },
    }] }],
  };
}

/** The Envoy bootstrap for `o` (the wasm module already written to `wasmFile`). */
export function bootstrapOf(o: GatewayOptions, wasmFile: string, dir: string): unknown {
  const accessLog = o.accessLog ? [{
    name: "envoy.access_loggers.stdout",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
      log_format: {
        text_format_source: {
          inline_string: ACCESS_LOG_MARK + ["%REQ(:METHOD)%", "%REQ(:PATH)%", "%RESPONSE_CODE%", "%RESPONSE_CODE_DETAILS%", "%DURATION%", "%RESP(CONTENT-TYPE)%",
            ...FILTER_STATE_KEYS.map((k) => `%FILTER_STATE(${k}:PLAIN)%`)].join("\t") + "\n",
        },
      },
    },
  }] : [];
  return {
    ...(o.statsTags ? { stats_config: { stats_tags: o.statsTags } } : {}),
    // Histograms are merged across workers when stats are flushed: flush whenever the admin
    // endpoint is asked, so /stats and /stats/prometheus show every sample recorded so far.
    stats_flush_on_admin: true,
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: o.adminPort ?? 0 } } },
    static_resources: {
      listeners: [{
        name: "gateway",
        address: { socket_address: { address: o.address ?? "127.0.0.1", port_value: o.port ?? 0 } },
        per_connection_buffer_limit_bytes: o.bufferLimitBytes ?? 1048576,
        filter_chains: [{
          filters: [{
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: "ai_gateway",
              codec_type: "AUTO",
              access_log: accessLog,
              route_config: { name: "gateway", virtual_hosts: [{ name: "all", domains: ["*"], routes: o.routes.map(route) }] },
              http_filters: [
                wasmFilter(o.plugin, wasmFile),
                ROUTER,
              ],
            },
          }],
        }],
      }, ...(o.sideListeners ?? []).map((l) => sideListener(l, dir))],
      clusters: Object.entries(o.clusters).map(([n, c]) => cluster(n, c, dir)),
    },
  };
}

export interface Substitutions {
  /** The .wasm every wasm filter loads (vm_config.code.local.filename). */
  wasmFile: string;
  /** Where a cluster endpoint (address, port as shipped) is reached here. */
  endpoint: (address: string, port: number) => { host: string; port: number };
  /** A CA bundle file instead of every trusted_ca filename (the test CA of the mock providers). */
  caFile?: string;
  /** The listener address and port (default 127.0.0.1, 0 = ephemeral); the admin's likewise. */
  address?: string;
  port?: number;
  adminPort?: number;
}

/**
 * A copy of a shipped bootstrap with only addresses, ports and paths replaced: listeners and the
 * admin on local (ephemeral) ports, cluster endpoints on their local stand-ins, the .wasm path, the
 * CA file. Everything else (filters, routes, plugin configuration, TLS settings, stats tags, access
 * log) stays as shipped.
 */
export function substituted(shipped: any, s: Substitutions): any {
  const b = structuredClone(shipped);
  const local = (sa: any, port: number) => { sa.address = s.address ?? "127.0.0.1"; sa.port_value = port; };
  for (const l of b.static_resources?.listeners ?? []) local(l.address.socket_address, s.port ?? 0);
  if (b.admin?.address?.socket_address) local(b.admin.address.socket_address, s.adminPort ?? 0);
  const walk = (node: any): void => {
    if (!node || typeof node !== "object") return;
    if (Array.isArray(node)) { node.forEach(walk); return; }
    if (node.vm_config?.code?.local?.filename !== undefined) node.vm_config.code.local.filename = s.wasmFile;
    if (s.caFile && node.trusted_ca?.filename !== undefined) node.trusted_ca.filename = s.caFile;
    for (const v of Object.values(node)) walk(v);
  };
  walk(b);
  for (const c of b.static_resources?.clusters ?? []) {
    for (const e of c.load_assignment?.endpoints ?? []) {
      for (const lb of e.lb_endpoints ?? []) {
        const sa = lb.endpoint?.address?.socket_address;
        if (!sa) continue;
        const to = s.endpoint(sa.address, sa.port_value);
        sa.address = to.host;
        sa.port_value = to.port;
      }
    }
  }
  return b;
}

/** Envoy's line about a wasm log call: "wasm log <plugin> <root id>: <message>" (Context::log). */
const WASM_LOG = /^wasm log(?: [^:]*)?: /;

export class EnvoyGateway {
  readonly platform = "envoy" as const;
  readonly url: string;
  readonly port: number;
  readonly adminUrl: string;
  readonly logs: LogEntry[] = [];
  readonly workers: number;
  private readonly threads = new Map<number, number>();
  private mainThread = -1;

  private constructor(readonly envoy: EnvoyProcess, workers: number) {
    this.port = envoy.listenerPorts.get("gateway") ?? [...envoy.listenerPorts.values()][0] ?? 0;
    this.url = `http://127.0.0.1:${this.port}`;
    this.adminUrl = envoy.adminUrl;
    this.workers = workers;
  }

  get version(): string { return this.envoy.version; }

  /** The URL of a side listener (GatewayOptions.sideListeners). */
  sideUrl(name: string): string {
    const port = this.envoy.listenerPorts.get(name);
    if (!port) throw new Error(`no listener ${name}`);
    return `http://127.0.0.1:${port}`;
  }

  static async start(o: GatewayOptions): Promise<EnvoyGateway> {
    const dir = mkdtempSync(join(tmpdir(), "ai-gateway-envoy-"));
    return EnvoyGateway.launch(bootstrapOf(o, wasmFileOf(o.wasm, dir, "filter"), dir), dir, o);
  }

  /**
   * Runs a shipped bootstrap as shipped, only addresses, ports and paths substituted (see
   * `substituted`): the deploy walkthroughs and `npm start -- --envoy-config`.
   */
  static async startBootstrap(bootstrap: unknown, o: LaunchOptions = {}): Promise<EnvoyGateway> {
    return EnvoyGateway.launch(bootstrap, mkdtempSync(join(tmpdir(), "ai-gateway-envoy-")), o);
  }

  private static async launch(bootstrap: unknown, dir: string, o: LaunchOptions): Promise<EnvoyGateway> {
    const bin = envoyBinary(o.envoy ?? "newest", { install: o.install, say: o.say });
    const workers = o.workers ?? 2;
    const early: EnvoyLogLine[] = [];
    let gw: EnvoyGateway | undefined;
    const pendingAccess: string[] = [];
    let envoy: EnvoyProcess;
    try {
      envoy = await EnvoyProcess.start({
        bin, dir, concurrency: workers, bootstrap,
        componentLogLevels: { wasm: LOG_LEVEL_NAMES[o.logLevel ?? 2] ?? "info" },
        env: o.processEnv,
        onLine: (l) => {
          if (o.accessLog && l.logger === "stdout" && l.message.startsWith(ACCESS_LOG_MARK)) {
            if (gw) gw.onAccessLog(l.message, o.accessLog); else pendingAccess.push(l.message);
            return;
          }
          if (gw) gw.onLine(l, o.onLog); else early.push(l);
        },
      });
    } catch (e) {
      if (e instanceof EnvoyStartError) {
        const probe = new EnvoyGateway({ listenerPorts: new Map(), adminUrl: "", version: "" } as unknown as EnvoyProcess, workers);
        for (const l of e.lines) probe.onLine(l, o.onLog);
        throw new EnvoyLoadError(e.message, probe.logs);
      }
      throw e;
    }
    gw = new EnvoyGateway(envoy, workers);
    gw.mainThread = envoy.pid;
    for (const l of early) gw.onLine(l, o.onLog);
    for (const a of pendingAccess) gw.onAccessLog(a, o.accessLog!);
    return gw;
  }

  private onLine(l: EnvoyLogLine, onLog?: (e: LogEntry) => void): void {
    if (l.logger !== "wasm") return;
    let vm = -2;
    if (l.thread !== this.mainThread && this.mainThread !== -1) {
      let i = this.threads.get(l.thread);
      if (i === undefined) { i = this.threads.size; this.threads.set(l.thread, i); }
      vm = i;
    }
    const m = WASM_LOG.exec(l.message);
    const e: LogEntry = m ? { level: l.level, message: l.message.slice(m[0].length), vm, origin: "wasm" } : { level: l.level, message: l.message, vm, origin: "host" };
    this.logs.push(e);
    onLog?.(e);
  }

  private onAccessLog(line: string, cb: (e: AccessLogEntry) => void): void {
    const f = line.slice(ACCESS_LOG_MARK.length).split("\t");
    const dash = (s: string | undefined) => (s === undefined || s === "-" ? undefined : s);
    const filterState: Record<string, string> = {};
    FILTER_STATE_KEYS.forEach((k, i) => { const v = dash(f[6 + i]); if (v !== undefined) filterState[k] = v; });
    const code = Number(f[2]);
    cb({
      method: dash(f[0]) ?? "", path: dash(f[1]) ?? "",
      responseCode: code > 0 ? code : undefined, responseCodeDetails: dash(f[3]),
      durationMs: Number(dash(f[4]) ?? 0), filterState, responseContentType: dash(f[5]),
    });
  }

  /** Counters and gauges by full Envoy name (e.g. "wasmcustom.foo"). */
  stats(): Promise<Record<string, number>> { return this.envoy.stats(); }
  prometheus(): Promise<string> { return this.envoy.prometheus(); }
  /** Every histogram by full name, as bins (Envoy does not keep the samples themselves). */
  histograms(): Promise<Map<string, HistogramBin[]>> { return this.envoy.histograms(); }

  /** Downstream requests Envoy has not finished (http.ai_gateway.downstream_rq_active). */
  async activeRequests(): Promise<number> {
    return (await this.stats())["http.ai_gateway.downstream_rq_active"] ?? 0;
  }

  /** Upstream requests in flight on every cluster (routed requests and the filter's callouts). */
  async activeUpstreamRequests(): Promise<number> {
    const s = await this.stats();
    let n = 0;
    for (const [k, v] of Object.entries(s)) if (/^cluster\.[^.]+\.upstream_rq_active$/.test(k)) n += v;
    return n;
  }

  /** Envoy's own error lines about the VM since log index `from` (a trap, a failed callback). */
  vmFailures(from = 0): string[] {
    return this.logs.slice(from).filter((l) => l.origin === "host" && l.level >= 4).map((l) => `Envoy error log: ${l.message}`);
  }

  async stop(): Promise<void> { await this.envoy.stop(); }
}
