// Runs a shipped Envoy config. In real Envoy (the default platform) the file runs as shipped, only
// addresses, ports and paths substituted (dev/envoy-gateway.ts substituted()). On the host
// platform it runs in the Envoy-faithful test host: listener buffer limit, the wasm filter's
// settings and plugin configuration, the route table and the clusters all come from the YAML
// file; only the cluster addresses are mapped (a compose service name → a local port).
// The host covers the subset the shipped configs use (one listener, one virtual host, plain routes with
// prefix/path and header presence or exact matches, cluster / cluster_header / direct_response,
// STATIC/STRICT_DNS/LOGICAL_DNS clusters with one endpoint, HTTP/2 via explicit_http_config) and
// throws on anything else rather than running something different from the file.

import { Gateway, platform } from "../support/gateway.ts";
import { substituted } from "../../dev/envoy-gateway.ts";
import type { RouteConfig } from "../host/router.ts";
import type { ClusterConfig } from "../host/clusters.ts";
import { WASM, readYaml, wasmFilters, endpointOf } from "./support.ts";

function durationMs(d: string | undefined, dflt: number): number {
  if (d === undefined) return dflt;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(d);
  if (!m) throw new Error(`duration ${d}: only "<n>s" is supported here`);
  return Math.round(Number(m[1]) * 1000);
}

export function routesOf(envoy: any): RouteConfig[] {
  const listeners = envoy.static_resources.listeners;
  if (listeners.length !== 1) throw new Error("one listener expected");
  const hcm = listeners[0].filter_chains[0].filters[0].typed_config;
  const vhosts = hcm.route_config.virtual_hosts;
  if (vhosts.length !== 1 || JSON.stringify(vhosts[0].domains) !== '["*"]') throw new Error("one virtual host for * expected");
  return vhosts[0].routes.map((r: any, i: number): RouteConfig => {
    const known = new Set(["prefix", "path", "headers"]);
    for (const k of Object.keys(r.match)) if (!known.has(k)) throw new Error(`route ${i}: match.${k} not supported here`);
    const headers = (r.match.headers ?? []).map((h: any) => {
      if (h.present_match === true) return { name: h.name, present: true };
      if (h.string_match?.exact !== undefined) return { name: h.name, exact: h.string_match.exact };
      throw new Error(`route ${i}: header matcher ${JSON.stringify(h)} not supported here`);
    });
    const out: RouteConfig = { name: r.name ?? `route${i}`, match: { prefix: r.match.prefix, path: r.match.path, headers } };
    if (r.route) {
      if (r.route.cluster) out.cluster = r.route.cluster;
      if (r.route.cluster_header) out.clusterHeader = r.route.cluster_header;
      out.timeoutMs = durationMs(r.route.timeout, 15000);
      if (r.request_headers_to_remove) out.requestHeadersToRemove = r.request_headers_to_remove;
    } else if (r.direct_response) {
      out.directResponse = { status: r.direct_response.status, body: r.direct_response.body?.inline_string };
    } else throw new Error(`route ${i}: neither route nor direct_response`);
    return out;
  });
}

export function clustersOf(envoy: any, resolve: (address: string, port: number) => { host: string; port: number }): Record<string, ClusterConfig> {
  const out: Record<string, ClusterConfig> = {};
  for (const c of envoy.static_resources.clusters) {
    if (c.transport_socket) throw new Error(`cluster ${c.name}: TLS clusters cannot run in the test host`);
    const ep = endpointOf(c);
    const http2 = !!c.typed_extension_protocol_options?.["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]?.explicit_http_config?.http2_protocol_options;
    out[c.name] = { ...resolve(ep.address, ep.port), http2 };
  }
  return out;
}

export interface HostedEnvoy { gateway: Gateway; stop(): Promise<void> }

/**
 * Runs the Envoy config `file` with `env` as the Envoy process environment: in real Envoy as
 * shipped (only addresses, ports and paths substituted), or on the host platform in the test host.
 */
export async function startEnvoyConfig(file: string, env: Record<string, string>, resolve: (address: string, port: number) => { host: string; port: number },
  caFile?: string): Promise<HostedEnvoy> {
  const envoy = readYaml(file);
  if (platform() === "envoy") {
    const gateway = await Gateway.startBootstrap(substituted(envoy, { wasmFile: WASM, endpoint: resolve, caFile }), { workers: 2, processEnv: env });
    return { gateway, stop: () => gateway.stop() };
  }
  const [w] = wasmFilters(envoy);
  const vmEnv: Record<string, string> = { ...w.keyValues };
  // host_env_keys: variables of the Envoy process; an unset one is simply absent in the VM.
  for (const k of w.hostEnvKeys) if (env[k] !== undefined) vmEnv[k] = env[k];
  const gateway = await Gateway.start({
    wasm: WASM,
    plugin: {
      name: w.config.name, rootId: w.config.root_id, vmId: w.config.vm_config.vm_id,
      configuration: w.pluginJson, env: vmEnv,
      failurePolicy: w.config.failure_policy, allowOnHeadersStopIteration: w.config.allow_on_headers_stop_iteration === true,
    },
    workers: 2,
    bufferLimitBytes: envoy.static_resources.listeners[0].per_connection_buffer_limit_bytes,
    routes: routesOf(envoy),
    clusters: clustersOf(envoy, resolve),
  });
  return { gateway, stop: () => gateway.stop() };
}
