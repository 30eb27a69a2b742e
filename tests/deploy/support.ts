// Shared helpers of the deployment tests (tests/deploy/*.test.ts): the shipped Envoy configs,
// compose file and Envoy Gateway manifests, the validators built by scripts/install-validators.sh,
// and the real filter in the test host to judge plugin configurations.

import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { PluginHost, LoadError } from "../host/plugin-host.ts";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const WASM = join(ROOT, "build", "ai-gateway.wasm");
export const VALIDATE_ENVOY = join(ROOT, ".cache", "tools", "validate-envoy");
export const SCHEMAS = join(ROOT, ".cache", "schemas");
export const INSTALL = "bash scripts/install-validators.sh";

/** Every envoy/*.yaml. */
export function envoyYamlFiles(): string[] {
  return readdirSync(join(ROOT, "envoy")).filter((f) => f.endsWith(".yaml")).sort().map((f) => join(ROOT, "envoy", f));
}

/** YAML files in envoy/ that are not bootstraps, by design (the stats_tags list that
 *  goes under stats_config.stats_tags of every shipped config). */
export const NOT_BOOTSTRAPS = ["stats-tags.yaml"];

/** The Envoy configs the project ships: envoy/*.yaml except NOT_BOOTSTRAPS. */
export function shippedEnvoyConfigs(): string[] {
  return envoyYamlFiles().filter((f) => !NOT_BOOTSTRAPS.some((n) => f.endsWith("/" + n)));
}

/** The Envoy Gateway example manifests: envoy/gateway/*.yaml. */
export function gatewayManifests(): string[] {
  const dir = join(ROOT, "envoy", "gateway");
  return readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort().map((f) => join(dir, f));
}

let installed = false;
/**
 * Builds the validator and fetches the schemas (idempotent, ~0.1 s when done; ~25 s the first
 * time). A failure is a test failure with the script's output, never a skip.
 */
export function ensureValidators(): void {
  if (installed) return;
  const r = spawnSync("bash", [join(ROOT, "scripts", "install-validators.sh")], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`\`${INSTALL}\` failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  installed = true;
}

/** Runs tools/validate-envoy on files: exit status and one line per file or problem. */
export function validateEnvoy(files: string[]): { status: number; lines: string[] } {
  ensureValidators();
  const r = spawnSync(VALIDATE_ENVOY, files, { cwd: ROOT, encoding: "utf8" });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, lines: (r.stdout + r.stderr).split("\n").filter(Boolean) };
}

export function readYaml(file: string): any {
  return parseYaml(readFileSync(file, "utf8"));
}

export function readYamlDocuments(file: string): any[] {
  return parseAllDocuments(readFileSync(file, "utf8")).map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join("; ")}`);
    return d.toJS();
  }).filter((d) => d !== null && d !== undefined);
}

// ---- Envoy config structure -------------------------------------------------------------------

const WASM_FILTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const STRING_VALUE = "type.googleapis.com/google.protobuf.StringValue";

/** Every object in a parsed YAML tree, with its path. */
export function* objects(node: any, path = ""): Generator<[string, any]> {
  if (node && typeof node === "object") {
    yield [path, node];
    if (Array.isArray(node)) for (let i = 0; i < node.length; i++) yield* objects(node[i], `${path}[${i}]`);
    else for (const [k, v] of Object.entries(node)) yield* objects(v, path ? `${path}.${k}` : k);
  }
}

export interface WasmFilter {
  path: string;
  /** envoy.extensions.wasm.v3.PluginConfig */
  config: any;
  /** The plugin configuration (JSON text inside the StringValue). */
  pluginJson: string;
  plugin: any;
  hostEnvKeys: string[];
  keyValues: Record<string, string>;
}

export function wasmFilters(envoy: any): WasmFilter[] {
  const out: WasmFilter[] = [];
  for (const [path, o] of objects(envoy)) {
    if (o["@type"] !== WASM_FILTER_TYPE) continue;
    const c = o.config ?? {};
    const conf = c.configuration;
    if (!conf || conf["@type"] !== STRING_VALUE || typeof conf.value !== "string") {
      throw new Error(`${path}: the plugin configuration must be a google.protobuf.StringValue with JSON text`);
    }
    const env = c.vm_config?.environment_variables ?? {};
    out.push({ path, config: c, pluginJson: conf.value, plugin: JSON.parse(conf.value), hostEnvKeys: env.host_env_keys ?? [], keyValues: env.key_values ?? {} });
  }
  return out;
}

export function clustersOf(envoy: any): Map<string, any> {
  return new Map((envoy.static_resources?.clusters ?? []).map((c: any) => [c.name, c]));
}

/** host:port of a cluster's single endpoint. */
export function endpointOf(cluster: any): { address: string; port: number } {
  const sa = cluster.load_assignment?.endpoints?.[0]?.lb_endpoints?.[0]?.endpoint?.address?.socket_address;
  return { address: sa?.address, port: sa?.port_value };
}

// ---- Plugin configurations and the real filter -------------------------------------------------

/** Environment variable names a plugin configuration reads (auth `env` and `*_env` fields). */
export function envNamesOf(plugin: any): string[] {
  const names = new Set<string>();
  for (const b of plugin.backends ?? []) {
    const a = b.auth ?? {};
    for (const [k, v] of Object.entries(a)) {
      if (k === "env" || k.endsWith("_env")) for (const n of Array.isArray(v) ? v : [v]) if (typeof n === "string") names.add(n);
    }
  }
  return [...names].sort();
}

/** A syntactically valid service-account key file (test key; no account exists). */
export function fakeServiceAccountJson(): string {
  return JSON.stringify({
    type: "service_account", project_id: "my-gcp-project", private_key_id: "0123456789abcdef",
    private_key: readFileSync(join(ROOT, "tests", "fixtures", "gcp", "rsa2048.pkcs8.pem"), "utf8"),
    client_email: "gateway@my-gcp-project.iam.gserviceaccount.com", token_uri: "https://oauth2.googleapis.com/token",
  });
}

/** Fake values for environment variables (a service-account key for *SERVICE_ACCOUNT*). */
export function fakeEnv(names: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const n of names) env[n] = /SERVICE_ACCOUNT/.test(n) ? fakeServiceAccountJson() : `fake-${n.toLowerCase()}-value`;
  return env;
}

export interface LoadResult { ok: boolean; error: string }

/**
 * Loads a plugin configuration into the real filter (base VM + canary + one worker, as Envoy
 * does at config time): ok, or the filter's own error line ("invalid plugin configuration: …").
 */
export async function loadPlugin(pluginJson: string, env: Record<string, string> = {}): Promise<LoadResult> {
  try {
    const h = await PluginHost.load({ wasm: WASM, plugin: { configuration: pluginJson, env }, workers: 1 });
    h.close();
    return { ok: true, error: "" };
  } catch (e) {
    if (!(e instanceof LoadError)) throw e;
    const line = e.logs.map((l) => l.message).find((m) => m.includes("invalid plugin configuration")) ?? e.message;
    return { ok: false, error: line.replace(/^.*invalid plugin configuration: /, "") };
  }
}

let supported: string[] | null = null;
/**
 * The backend schemas this build of the filter supports, asked from the filter itself: a config
 * with an unknown schema is refused with "(supported: a, b, c)". No hand-kept list.
 */
export async function supportedSchemas(): Promise<string[]> {
  if (supported) return supported;
  const probe = { backends: [{ name: "probe", schema: "no-such-schema", cluster: "probe", host: "probe.invalid" }], models: [{ match: "*", backend: "probe" }] };
  const r = await loadPlugin(JSON.stringify(probe));
  const m = /unsupported schema "no-such-schema" \(supported: ([^)]*)\)/.exec(r.error);
  if (r.ok || !m) throw new Error(`cannot learn the supported schemas from the filter; it answered: ${r.ok ? "loaded" : r.error}`);
  supported = m[1].split(",").map((s) => s.trim()).filter(Boolean);
  return supported;
}
