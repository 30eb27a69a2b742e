// Envoy Gateway's translation of the shipped manifests (tools/eg-translate, built by
// scripts/install-eg-translate.sh) and the static Envoy bootstrap made from its xDS output, for
// tests/deploy/eg-translate.test.ts.
//
// What Envoy Gateway would send over ADS is put into static_resources unchanged, except what
// needs its control plane or a cluster: the listener's RDS reference becomes the route
// configuration it names, EDS clusters get the endpoints Envoy Gateway generated for them, the
// control-plane clusters and dynamic_resources of its bootstrap go. Then only addresses, ports and
// paths are substituted, each from an explicit table: an address or CA path not in the table is an
// error, so nothing runs that differs from the translation in some other way.

import { spawnSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./support.ts";

export const EG_TRANSLATE = join(ROOT, ".cache", "tools", "eg-translate");
export const EG_VERSION = "v1.9.1";

let installed = false;
/** Builds tools/eg-translate (idempotent; minutes the first time). A failure is a test failure. */
export function ensureEgTranslate(): void {
  if (installed) return;
  const r = spawnSync("bash", [join(ROOT, "scripts", "install-eg-translate.sh")], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`\`bash scripts/install-eg-translate.sh\` failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  installed = true;
}

export interface Condition { type: string; status: string; reason: string; message: string }
export interface Translation {
  envoyGateway: string;
  statuses: { kind: string; namespace: string; name: string; status: any }[];
  envoyProxyErrors: string[];
  patchStatuses: { name: string; namespace: string; status: any }[];
  wasm: { policy: string; originalUrl: string; servingUrl: string; sha256: string }[];
  bootstrap: any;
  xds: Record<string, { listeners: any[]; routes: any[]; clusters: any[]; endpoints: any[]; secrets: any[] }>;
  stderr: string;
}

/**
 * Runs Envoy Gateway's loader and translators on the manifests (YAML text). Asynchronous: its Wasm
 * cache downloads the module from a server in this process while it runs.
 */
export async function translate(manifests: string): Promise<Translation> {
  ensureEgTranslate();
  const cache = mkdtempSync(join(tmpdir(), "eg-wasm-cache-"));
  try {
    const proc = spawn(EG_TRANSLATE, ["-wasm-cache-dir", cache], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    proc.stdout!.on("data", (d) => { stdout += d; });
    proc.stderr!.on("data", (d) => { stderr += d; });
    proc.stdin!.end(manifests);
    const timer = setTimeout(() => proc.kill("SIGKILL"), 120_000);
    const code = await new Promise<number | null>((r) => proc.once("close", (c) => r(c)));
    clearTimeout(timer);
    if (code !== 0) throw new Error(`eg-translate failed (exit ${code}):\n${stderr}`);
    return { ...JSON.parse(stdout), stderr };
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

/** Every condition of an object's status, flattened (Gateway API policies nest them per ancestor). */
export function conditionsOf(status: any): Condition[] {
  const out: Condition[] = [];
  const walk = (n: any) => {
    if (!n || typeof n !== "object") return;
    if (Array.isArray(n)) { n.forEach(walk); return; }
    for (const [k, v] of Object.entries(n)) {
      if (k === "conditions" && Array.isArray(v)) out.push(...(v as Condition[]));
      else walk(v);
    }
  };
  walk(status);
  return out;
}

/** Deep copy with `f` applied to every object (after its children). */
function mapObjects(node: any, f: (o: any) => any): any {
  if (Array.isArray(node)) return node.map((x) => mapObjects(x, f));
  if (node && typeof node === "object") {
    const o: any = {};
    for (const [k, v] of Object.entries(node)) o[k] = mapObjects(v, f);
    return f(o);
  }
  return node;
}

export interface Substitutions {
  // (see staticBootstrap)
  /** "host:port" in the translation → where it runs here. */
  addresses: Record<string, { address: string; port: number }>;
  /** CA bundle paths in the translation → the file used here. */
  caFiles: Record<string, string>;
  /** Access-log files in the translation (Envoy Gateway logs to /dev/stdout, which Envoy cannot
   *  open when its stdout is a socket, as the test seam's pipes are) → the file used here. */
  logFiles: Record<string, string>;
  /** Listener ports on 0.0.0.0 in the translation (Envoy Gateway maps the Gateway's 80 to 10080;
   *  19003 is its readiness listener) → the port used here on 127.0.0.1 (0: any). */
  listenerPorts: Record<number, number>;
}

export interface Bootstrap { config: any; substituted: string[] }

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/** A static bootstrap for the one gateway in the translation. */
export function staticBootstrap(t: Translation, subs: Substitutions): Bootstrap {
  const keys = Object.keys(t.xds);
  if (keys.length !== 1) throw new Error(`one gateway expected in the translation, got ${keys.join(", ")}`);
  const x = t.xds[keys[0]];
  const substituted: string[] = [];
  const routes = new Map(x.routes.map((r) => [r.name, r]));
  const endpoints = new Map(x.endpoints.map((e) => [e.cluster_name, e]));

  const swapAddress = (o: any) => {
    const sa = o.socket_address;
    if (!sa || typeof sa.port_value !== "number") return o;
    const key = `${sa.address}:${sa.port_value}`;
    if (sa.address === "0.0.0.0" && sa.port_value in subs.listenerPorts) {
      const to = subs.listenerPorts[sa.port_value];
      substituted.push(`listener ${key} → 127.0.0.1:${to}`);
      return { ...o, socket_address: { ...sa, address: "127.0.0.1", port_value: to } };
    }
    const to = subs.addresses[key];
    if (!to) throw new Error(`address ${key} in the translation has no substitute`);
    substituted.push(`${key} → ${to.address}:${to.port}`);
    return { ...o, socket_address: { ...sa, address: to.address, port_value: to.port } };
  };
  const swapCa = (o: any) => {
    if (typeof o.filename !== "string" || !/\.(crt|pem)$/.test(o.filename)) return o;
    const to = subs.caFiles[o.filename];
    if (!to) throw new Error(`CA file ${o.filename} in the translation has no substitute`);
    substituted.push(`${o.filename} → ${to}`);
    return { ...o, filename: to };
  };
  // SDS references (served over ADS by Envoy Gateway) → the same secrets, static.
  const staticSecret = (o: any) => {
    if (typeof o.name !== "string" || !o.sds_config) return o;
    if (!x.secrets.some((s) => s.name === o.name)) throw new Error(`SDS secret ${o.name} not in the translation`);
    const { sds_config, ...rest } = o;
    return rest;
  };
  const swapLog = (o: any) => {
    if (typeof o["@type"] !== "string" || !o["@type"].endsWith(".FileAccessLog") || typeof o.path !== "string") return o;
    const to = subs.logFiles[o.path];
    if (!to) throw new Error(`access log file ${o.path} in the translation has no substitute`);
    substituted.push(`access log ${o.path} → ${to}`);
    return { ...o, path: to };
  };
  const sub = (n: any) => mapObjects(n, (o) => swapLog(staticSecret(swapCa(swapAddress(o)))));

  const listeners = x.listeners.map((l) => mapObjects(sub(l), (o) => {
    if (o["@type"] !== HCM || !o.rds) return o;
    const rc = routes.get(o.rds.route_config_name);
    if (!rc) throw new Error(`RDS route configuration ${o.rds.route_config_name} not in the translation`);
    const { rds, ...rest } = o;
    return { ...rest, route_config: rc };
  }));
  const clusters = x.clusters.map((c) => {
    if (c.type !== "EDS") return sub(c);
    const e = endpoints.get(c.name);
    if (!e) throw new Error(`EDS cluster ${c.name} has no ClusterLoadAssignment in the translation`);
    const { eds_cluster_config, ...rest } = c;
    return sub({ ...rest, type: "STATIC", load_assignment: e });
  });

  // Envoy Gateway's bootstrap (its EnvoyProxy bootstrap merged in), less what talks to its
  // control plane: dynamic_resources (ADS) and the static clusters for xDS, ratelimit, etc.
  // cluster_manager.local_cluster_name names a cluster its control plane serves (zone-aware
  // routing). Its own stats listener (fixed port 19001) goes too: the admin port serves the same.
  const { dynamic_resources, static_resources, admin, cluster_manager, ...kept } = t.bootstrap;
  const bootstrapRest = sub(kept);
  const config = {
    ...bootstrapRest,
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
    node: { ...bootstrapRest.node, id: "ai-gateway-eg-test", cluster: keys[0] },   // the proxy Deployment's --service-node/--service-cluster
    static_resources: { listeners, clusters, secrets: x.secrets.map(sub) },
  };
  return { config, substituted };
}
