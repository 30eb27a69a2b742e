// Plugin configuration: parse and validate the JSON given to the filter into typed config.
//
// Every error names the field (`backends[1].auth.env: ...`) so that a bad configuration is
// refused at load (on_configure returns false; Envoy rejects the config / NACKs) with a log line
// that says what to fix. Unknown fields are errors too: a typo must not silently disable a limit
// or an auth setting.

import { JsonDoc, JNode, Kind, parseJson } from "../json/json";
import { ByteBuilder, bytesOf } from "../util/bytes";
import { isToken, isUnreserved } from "../util/chars";
import { AuthConfig, Env, FieldChecker, headerSafe, parseAuth } from "./auth";
import { sha256 } from "../util/sha256";
import { hexEncode } from "../util/hex";
import { Rule, KEY_CLIENT, KEY_MODEL, KEY_BACKEND, KEY_HEADER_PREFIX, DEFAULT_MAX_KEYS, MAX_MAX_KEYS } from "../limits/policy";
import { vertexHost, parseVertexPlace } from "./google";
import { AuthKind } from "./auth";
import { PROVIDERS, ProviderRow, Schema, HostFrom, FIELD_PRESET, FIELD_REGION, providerRow, schemaNames, schemasWith } from "../providers/table";
import { Provider } from "../providers/provider";

export { AuthConfig, Env, headerSafe } from "./auth";

/** backends[].stream_usage: ask an OpenAI-format backend for usage in streams, or never. */
export const enum StreamUsage { Request = 0, Never = 1 }
/** limits.mode: counters in proxy-wasm shared data, or envoyproxy/ratelimit. */
export const enum LimitMode { Local = 0, Global = 1 }
/** limits.stream_edge: a stream past its budget finishes, or is cut protocol-correctly. */
export const enum StreamEdge { Finish = 0, Cut = 1 }


export class Backend {
  index: i32 = 0;
  name: string = "";
  /** The provider table row of backends[].schema, chosen at configure time. */
  row: ProviderRow = PROVIDERS[Schema.OpenAI];
  /** backends[].schema as configured. */
  get schema(): string { return this.row.name; }
  get kind(): Schema { return this.row.schema; }
  /** The provider module of this backend. */
  get provider(): Provider { return this.row.provider; }
  /** `gen_ai.provider.name` for metrics: the preset's vendor, else the schema's owner. */
  semconv: string = "openai";
  /** Envoy cluster the request is routed to (through the route header). */
  cluster: string = "";
  /** Upstream `:authority`. */
  host: string = "";
  /** Path prefix of the provider's API, e.g. "/v1" for OpenAI. */
  basePath: string = "/v1";
  auth: AuthConfig = new AuthConfig();
  /** Provider API version: Azure `api-version` query, Anthropic `anthropic-version` header. */
  apiVersion: string = "";
  /** Azure deployment name ("" = the upstream model name). */
  deployment: string = "";
  /** max_tokens sent when the client gave none (Anthropic requires one). */
  defaultMaxTokens: i64 = 4096;
  /** OpenAI-compatible vendor preset ("" = none). */
  preset: string = "";
  /** Top-level request fields removed before sending (fields this provider rejects). */
  dropFields: string[] = [];
  /** Top-level request fields renamed before sending, as from, to, from, to… */
  renameFields: string[] = [];
  /** Ask for usage in streams with stream_options.include_usage (Request) or not (Never). */
  streamUsage: StreamUsage = StreamUsage.Request;
  /** Rewrite responses into strict OpenAI shape (finish_reason values, usage variants, errors). */
  normalize: bool = false;
  /** Send tool_choice "required" as "any" (Mistral). */
  toolChoiceAny: bool = false;
  /** Rewrite tool call ids to 9 alphanumerics, consistently (Mistral rejects other ids). */
  toolCallId9: bool = false;
  /** AWS region of a bedrock-* backend (default host bedrock-runtime.<region>.amazonaws.com). */
  region: string = "";
  /** Vertex AI (vertex-*): GCP project id and location (`global` or a region), URL path segments. */
  project: string = "";
  location: string = "";
}

/** Known OpenAI-compatible vendors (sources: OpenAI-compatible vendors): defaults any backend field can override. */
class Preset {
  constructor(public name: string, public host: string, public basePath: string, public normalize: bool,
              public toolChoiceAny: bool = false, public toolCallId9: bool = false, public renames: string[] = [],
              public streamUsage: StreamUsage = StreamUsage.Request, public semconv: string = "") {}
}
// semconv: gen_ai.provider.name where the well-known value differs from the preset's name
// (groq and deepseek are well-known as they are; the others are custom values).
const PRESETS: Preset[] = [
  new Preset("openai", "api.openai.com", "/v1", false),
  // Mistral rejects unknown fields (stream_options → 422) and sends usage on the last chunk anyway.
  new Preset("mistral", "api.mistral.ai", "/v1", true, true, true, ["seed", "random_seed"], StreamUsage.Never, "mistral_ai"),
  new Preset("groq", "api.groq.com", "/openai/v1", true),
  new Preset("deepseek", "api.deepseek.com", "/v1", true),
  new Preset("together", "api.together.xyz", "/v1", true),
  new Preset("fireworks", "api.fireworks.ai", "/inference/v1", true),
  new Preset("openrouter", "openrouter.ai", "/api/v1", true),
  new Preset("xai", "api.x.ai", "/v1", true, false, false, [], StreamUsage.Request, "x_ai"),
  new Preset("ollama", "localhost:11434", "/v1", true),
  new Preset("vllm", "", "/v1", true),
];
function findPreset(name: string): Preset | null {
  for (let i = 0; i < PRESETS.length; i++) if (PRESETS[i].name == name) return PRESETS[i];
  return null;
}

export class ModelRule {
  pattern: string = "";
  /** Glob segments split at '*'; a single segment means an exact match. */
  parts: string[] = [];
  backend: Backend;
  /** Model name sent upstream; "" keeps the client's. */
  upstreamModel: string = "";
  constructor(backend: Backend) { this.backend = backend; }
}

export class LimitsConfig {
  /** Local: counters in proxy-wasm shared data (all workers of one Envoy); Global: the RLS. */
  mode: LimitMode = LimitMode.Local;
  rules: Rule[] = [];
  /** global: the Envoy cluster (HTTP/2) of envoyproxy/ratelimit, its domain, timeout, failure mode. */
  rlsCluster: string = "ratelimit";
  domain: string = "ai_gateway";
  timeoutMs: u32 = 100;
  /** What to do when the limit service fails or is slow: allow (true) or deny with 503 (false). */
  failOpen: bool = true;
  /** Admission estimate: output tokens when the request sets no max_tokens; request bytes per input token. */
  defaultOutputTokens: i64 = 1024;
  bytesPerToken: i64 = 4;
  /** Request headers the rules key or match on (lower case). */
  headers: string[] = [];
  /**
   * A stream that outgrows its budget: Finish lets it finish (the overshoot is counted), Cut
   * ends it protocol-correctly (finish_reason "length", usage if asked, [DONE]).
   */
  streamEdge: StreamEdge = StreamEdge.Finish;
  /** Append an SSE comment with the request's usage and the remaining budget before [DONE]. */
  usageEvent: bool = false;
}

export class Config {
  backends: Backend[] = [];
  models: ModelRule[] = [];
  /** Largest request body accepted; keep it below Envoy's buffer limit so our 413 is the one sent. */
  maxRequestBytes: i64 = 1048576;
  /** Largest response body buffered for translation / usage reading. */
  maxResponseBytes: i64 = 8388608;
  /** Request header the Envoy route reads the cluster from (route `cluster_header`). */
  clusterHeader: string = "x-ai-gateway-cluster";
  /** Gateway API keys: lower-case hex SHA-256 of the key → client name. */
  clientKeys: Map<string, string> = new Map();
  /** Trust this request header (set by an earlier filter: jwt_authn, ext_authz) as the client name. */
  clientHeader: string = "";
  limits: LimitsConfig | null = null;
  /** Whether requests must carry a known client identity. */
  get clientsRequired(): bool { return this.clientKeys.size > 0 || this.clientHeader.length > 0; }
}

export class ConfigResult {
  config: Config | null = null;
  error: string = "";
}


class Validator extends FieldChecker {
  error: string = "";
  constructor(private d: JsonDoc) { super(); }
  get doc(): JsonDoc { return this.d; }

  fail(path: string, msg: string): bool {
    if (this.error.length == 0) this.error = path + ": " + msg;
    return false;
  }

  /** Every key of obj must be in allowed. */
  onlyKeys(obj: JNode, path: string, allowed: string[]): bool {
    const keys = obj.keys!;
    for (let i = 0; i < keys.length; i++) {
      const k = this.doc.str(unchecked(keys[i]));
      if (!allowed.includes(k)) return this.fail(join(path, k), "unknown field (allowed: " + allowed.join(", ") + ")");
    }
    return true;
  }

  str(obj: JNode, key: string, path: string, required: bool, def: string): string | null {
    const n = this.doc.get(obj, key);
    if (n === null) {
      if (required) { this.fail(join(path, key), "required"); return null; }
      return def;
    }
    if (n.kind != Kind.Str) { this.fail(join(path, key), "must be a string"); return null; }
    const s = this.doc.str(n);
    if (required && s.length == 0) { this.fail(join(path, key), "must not be empty"); return null; }
    if (!headerSafe(s)) { this.fail(join(path, key), "must not contain control characters"); return null; }
    return s;
  }

  int(obj: JNode, key: string, path: string, def: i64, min: i64, max: i64): i64 {
    const n = this.doc.get(obj, key);
    if (n === null) return def;
    if (n.kind != Kind.Num || n.num != Math.floor(n.num) || n.num < <f64>min || n.num > <f64>max) {
      this.fail(join(path, key), "must be an integer between " + min.toString() + " and " + max.toString());
      return def;
    }
    return <i64>n.num;
  }
}

/**
 * Largest max_request_bytes / max_response_bytes accepted. One VM has 1 GiB of memory in Envoy's
 * V8 (proxy-wasm-cpp-host include/proxy-wasm/limits.h, applied in src/v8/v8.cc) and a trap there
 * fails every later request on that worker. A request at this size is held with its parsed tree
 * (twice for a Messages client translated to chat) while its response, at this size too, is
 * parsed and translated: measured together they stay well under 1 GiB (docs/design.md "Memory").
 */
export const MAX_BODY_BYTES: i64 = 16 * 1024 * 1024;

function isHex64(s: string): bool {
  if (s.length != 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

function join(path: string, key: string): string { return path.length ? path + "." + fieldName(key) : fieldName(key); }

/**
 * A key from the configuration as it appears in an error path: plain names as they are, anything
 * else JSON-quoted, so a control character in a misspelt key cannot break the log line.
 */
export function fieldName(key: string): string {
  let plain = key.length > 0 && key.length <= 64;
  for (let i = 0; i < key.length && plain; i++) {
    const c = key.charCodeAt(i);
    plain = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f || c == 0x2d || c == 0x3a;
  }
  if (plain) return key;
  const b = new ByteBuilder(key.length + 8);
  b.jsonString(key.length > 64 ? key.substring(0, 64) + "…" : key);
  return b.toString();
}



export function parseConfig(text: Uint8Array, env: Env): ConfigResult {
  const res = new ConfigResult();
  const doc = parseJson(text);
  if (!doc.ok) {
    res.error = "configuration: invalid JSON: " + doc.error + " at byte " + doc.errorAt.toString();
    return res;
  }
  const root = doc.root!;
  const v = new Validator(doc);
  if (root.kind != Kind.Obj) { res.error = "configuration: must be a JSON object"; return res; }
  if (!v.onlyKeys(root, "", ["backends", "models", "max_request_bytes", "max_response_bytes", "cluster_header", "clients", "client_header", "limits", "$schema"])) { res.error = v.error; return res; }
  // "$schema" lets editors find schema/ai-gateway-config.schema.json; the filter ignores it.
  const schemaRef = doc.get(root, "$schema");
  if (schemaRef !== null && schemaRef.kind != Kind.Str) { res.error = "$schema: must be a string (the JSON Schema's location)"; return res; }

  const cfg = new Config();
  cfg.maxRequestBytes = v.int(root, "max_request_bytes", "", cfg.maxRequestBytes, 1, MAX_BODY_BYTES);
  cfg.maxResponseBytes = v.int(root, "max_response_bytes", "", cfg.maxResponseBytes, 1, MAX_BODY_BYTES);
  const ch = v.str(root, "cluster_header", "", false, cfg.clusterHeader);
  if (ch !== null) {
    if (!isToken(ch)) v.fail("cluster_header", "must be a valid header name");
    cfg.clusterHeader = ch.toLowerCase();
  }

  const chdr = v.str(root, "client_header", "", false, "");
  if (chdr !== null && chdr.length) {
    if (!isToken(chdr)) v.fail("client_header", "must be a valid header name");
    cfg.clientHeader = chdr.toLowerCase();
  }
  const clients = doc.get(root, "clients");
  if (clients !== null) {
    if (clients.kind != Kind.Arr) v.fail("clients", "must be an array of {name, key_sha256}");
    else {
      for (let i = 0; i < clients.length && v.error.length == 0; i++) {
        const cp = "clients[" + i.toString() + "]";
        const c = clients.items![i];
        if (c.kind != Kind.Obj) { v.fail(cp, "must be an object"); break; }
        if (!v.onlyKeys(c, cp, ["name", "key_sha256", "key"])) break;
        const name = v.str(c, "name", cp, true, "");
        if (name === null) break;
        const h = doc.get(c, "key_sha256"), k = doc.get(c, "key");
        let hash = "";
        if (h !== null && k === null) {
          hash = doc.str(h).toLowerCase();
          if (h.kind != Kind.Str || !isHex64(hash)) { v.fail(cp + ".key_sha256", "must be 64 hex characters (sha256 of the key)"); break; }
        } else if (k !== null && h === null && k.kind == Kind.Str && k.end - k.start > 2) {
          // Convenience for local setups; production configs keep only hashes.
          hash = hexEncode(sha256(bytesOf(doc.str(k))));
        } else { v.fail(cp, "exactly one of \"key_sha256\" or \"key\" is required"); break; }
        if (cfg.clientKeys.has(hash)) { v.fail(cp + ".key_sha256", "the same key is already given to client \"" + cfg.clientKeys.get(hash) + "\""); break; }
        cfg.clientKeys.set(hash, name);
      }
    }
  }

  const backends = doc.get(root, "backends");
  if (backends === null || backends.kind != Kind.Arr || backends.length == 0) {
    v.fail("backends", "required: a non-empty array of backends");
  } else {
    const items = backends.items!;
    for (let i = 0; i < items.length && v.error.length == 0; i++) {
      const b = parseBackend(v, unchecked(items[i]), "backends[" + i.toString() + "]", env);
      if (b === null) break;
      for (let j = 0; j < cfg.backends.length; j++) {
        if (cfg.backends[j].name == b.name) v.fail("backends[" + i.toString() + "].name", "duplicate backend name \"" + b.name + "\"");
      }
      b.index = cfg.backends.length;
      cfg.backends.push(b);
    }
  }

  const models = doc.get(root, "models");
  if (v.error.length == 0) {
    if (models === null || models.kind != Kind.Arr || models.length == 0) {
      v.fail("models", "required: a non-empty array of model routes");
    } else {
      const items = models.items!;
      for (let i = 0; i < items.length && v.error.length == 0; i++) {
        const path = "models[" + i.toString() + "]";
        const m = unchecked(items[i]);
        if (m.kind != Kind.Obj) { v.fail(path, "must be an object"); break; }
        if (!v.onlyKeys(m, path, ["match", "backend", "upstream_model"])) break;
        const match = v.str(m, "match", path, true, "");
        const bname = v.str(m, "backend", path, true, "");
        const up = v.str(m, "upstream_model", path, false, "");
        if (match === null || bname === null || up === null) break;
        let backend: Backend | null = null;
        for (let j = 0; j < cfg.backends.length; j++) if (cfg.backends[j].name == bname) backend = cfg.backends[j];
        if (backend === null) { v.fail(path + ".backend", "no backend named \"" + bname + "\""); break; }
        const rule = new ModelRule(backend);
        rule.pattern = match;
        rule.parts = match.split("*");
        rule.upstreamModel = up;
        if (up.includes("*")) { v.fail(path + ".upstream_model", "must not contain '*'"); break; }
        cfg.models.push(rule);
      }
    }
  }

  const limits = doc.get(root, "limits");
  if (limits !== null && v.error.length == 0) cfg.limits = parseLimits(v, limits);

  if (v.error.length) { res.error = v.error; return res; }
  res.config = cfg;
  return res;
}

const WINDOWS: string[] = ["second", "minute", "hour", "day"];
const WINDOW_SECONDS: i64[] = [1, 60, 3600, 86400];

function keyOk(k: string): bool {
  return k == KEY_CLIENT || k == KEY_MODEL || k == KEY_BACKEND || (k.startsWith(KEY_HEADER_PREFIX) && isToken(k.substring(KEY_HEADER_PREFIX.length)));
}

function parseLimits(v: Validator, n: JNode): LimitsConfig | null {
  const doc = v.doc;
  const lc = new LimitsConfig();
  if (n.kind != Kind.Obj) { v.fail("limits", "must be an object"); return null; }
  if (!v.onlyKeys(n, "limits", ["mode", "rules", "rls_cluster", "domain", "timeout_ms", "failure_mode", "default_output_tokens", "bytes_per_token", "stream_edge", "usage_event", "max_keys"])) return null;
  const edge = v.str(n, "stream_edge", "limits", false, "finish");
  if (edge === null) return null;
  if (edge != "finish" && edge != "cut") { v.fail("limits.stream_edge", "must be \"finish\" or \"cut\""); return null; }
  lc.streamEdge = edge == "cut" ? StreamEdge.Cut : StreamEdge.Finish;
  const ue = doc.get(n, "usage_event");
  if (ue !== null) {
    if (ue.kind != Kind.Bool) { v.fail("limits.usage_event", "must be a boolean"); return null; }
    lc.usageEvent = ue.flag;
  }
  const mode = v.str(n, "mode", "limits", false, "local");
  if (mode === null) return null;
  if (mode != "local" && mode != "global") { v.fail("limits.mode", "must be \"local\" or \"global\""); return null; }
  lc.mode = mode == "global" ? LimitMode.Global : LimitMode.Local;
  const cl = v.str(n, "rls_cluster", "limits", false, "ratelimit");
  const dom = v.str(n, "domain", "limits", false, "ai_gateway");
  const fm = v.str(n, "failure_mode", "limits", false, "allow");
  if (cl === null || dom === null || fm === null) return null;
  if (!isToken(cl)) { v.fail("limits.rls_cluster", "must be a valid Envoy cluster name"); return null; }
  if (dom.length == 0) { v.fail("limits.domain", "must not be empty"); return null; }
  if (fm != "allow" && fm != "deny") { v.fail("limits.failure_mode", "must be \"allow\" or \"deny\""); return null; }
  lc.rlsCluster = cl; lc.domain = dom; lc.failOpen = fm == "allow";
  lc.timeoutMs = <u32>v.int(n, "timeout_ms", "limits", 100, 1, 60000);
  lc.defaultOutputTokens = v.int(n, "default_output_tokens", "limits", 1024, 0, 1 << 24);
  lc.bytesPerToken = v.int(n, "bytes_per_token", "limits", 4, 1, 64);
  // Local counter slots per rule: bounds shared data whatever values clients send (policy.ts SlotPlan).
  const maxKeys = <i32>v.int(n, "max_keys", "limits", DEFAULT_MAX_KEYS, 1, MAX_MAX_KEYS);
  const rules = doc.get(n, "rules");
  if (rules === null || rules.kind != Kind.Arr || rules.length == 0) { v.fail("limits.rules", "required: a non-empty array of rules"); return null; }
  for (let i = 0; i < rules.length; i++) {
    const rp = "limits.rules[" + i.toString() + "]";
    const rn = rules.items![i];
    if (rn.kind != Kind.Obj) { v.fail(rp, "must be an object"); return null; }
    if (!v.onlyKeys(rn, rp, ["name", "key", "window", "tokens", "cost", "match", "max_keys"])) return null;
    const r = new Rule();
    const name = v.str(rn, "name", rp, true, "");
    const window = v.str(rn, "window", rp, false, "minute");
    if (name === null || window === null) return null;
    if (!isToken(name)) { v.fail(rp + ".name", "must be a plain name ([A-Za-z0-9._-])"); return null; }
    for (let j = 0; j < lc.rules.length; j++) if (lc.rules[j].name == name) { v.fail(rp + ".name", "duplicate rule name \"" + name + "\""); return null; }
    const wi = WINDOWS.indexOf(window);
    if (wi < 0) { v.fail(rp + ".window", "must be one of " + WINDOWS.join(", ")); return null; }
    r.name = name; r.unit = window; r.windowSeconds = WINDOW_SECONDS[wi];
    const tokens = doc.get(rn, "tokens");
    if (tokens === null) { v.fail(rp + ".tokens", "required"); return null; }
    // The RLS carries limits as uint32 requests_per_unit.
    r.limit = v.int(rn, "tokens", rp, 0, 1, 4294967295);
    if (v.error.length) return null;
    const keys = doc.get(rn, "key");
    if (keys !== null) {
      if (keys.kind != Kind.Arr) { v.fail(rp + ".key", "must be an array of client, model, backend or header:<name>"); return null; }
      for (let j = 0; j < keys.length; j++) {
        const k = keys.items![j];
        const ks = k.kind == Kind.Str ? doc.str(k).toLowerCase() : "";
        if (!keyOk(ks)) { v.fail(rp + ".key[" + j.toString() + "]", "must be client, model, backend or header:<name>"); return null; }
        r.keys.push(ks);
        if (ks.startsWith(KEY_HEADER_PREFIX) && !lc.headers.includes(ks.substring(7))) lc.headers.push(ks.substring(7));
      }
    }
    const cost = doc.get(rn, "cost");
    if (cost !== null) {
      if (cost.kind != Kind.Obj) { v.fail(rp + ".cost", "must be an object of weights"); return null; }
      if (!v.onlyKeys(cost, rp + ".cost", ["input", "cached_input", "output", "reasoning", "request"])) return null;
      const fields = ["input", "cached_input", "output", "reasoning", "request"];
      const vals = new Array<f64>(5);
      for (let j = 0; j < 5; j++) {
        const w = doc.get(cost, fields[j]);
        vals[j] = -1;
        if (w === null) continue;
        if (w.kind != Kind.Num || w.num < 0 || w.num > 1e6) { v.fail(rp + ".cost." + fields[j], "must be a number between 0 and 1000000"); return null; }
        vals[j] = w.num;
      }
      if (vals[0] >= 0) r.cost.input = vals[0];
      r.cost.cachedInput = vals[1] >= 0 ? vals[1] : r.cost.input;
      if (vals[2] >= 0) r.cost.output = vals[2];
      r.cost.reasoning = vals[3] >= 0 ? vals[3] : r.cost.output;
      if (vals[4] >= 0) r.cost.perRequest = vals[4];
    }
    const match = doc.get(rn, "match");
    if (match !== null) {
      if (match.kind != Kind.Obj) { v.fail(rp + ".match", "must be an object of key: pattern"); return null; }
      for (let j = 0; j < match.keys!.length; j++) {
        const k = doc.str(match.keys![j]).toLowerCase();
        const g = match.items![j];
        if (!keyOk(k)) { v.fail(rp + ".match." + fieldName(k), "unknown key (client, model, backend or header:<name>)"); return null; }
        if (g.kind != Kind.Str) { v.fail(rp + ".match." + fieldName(k), "must be a string pattern ('*' wildcards)"); return null; }
        r.matchKeys.push(k); r.matchParts.push(doc.str(g).split("*"));
        if (k.startsWith(KEY_HEADER_PREFIX) && !lc.headers.includes(k.substring(7))) lc.headers.push(k.substring(7));
      }
    }
    // A rule without keys has one descriptor, so one slot.
    r.slots = r.keys.length == 0 ? 1 : <i32>v.int(rn, "max_keys", rp, maxKeys, 1, MAX_MAX_KEYS);
    if (v.error.length) return null;
    lc.rules.push(r);
  }
  return lc;
}

function parseBackend(v: Validator, n: JNode, path: string, env: Env): Backend | null {
  if (n.kind != Kind.Obj) { v.fail(path, "must be an object"); return null; }
  if (!v.onlyKeys(n, path, ["name", "schema", "preset", "cluster", "host", "base_path", "auth", "api_version", "deployment",
    "default_max_tokens", "drop_fields", "rename_fields", "stream_usage", "normalize", "region", "project", "location"])) return null;
  const b = new Backend();
  const presetName = v.str(n, "preset", path, false, "");
  if (presetName === null) return null;
  let preset: Preset | null = null;
  if (presetName.length) {
    preset = findPreset(presetName);
    if (preset === null) {
      const names = new Array<string>();
      for (let i = 0; i < PRESETS.length; i++) names.push(PRESETS[i].name);
      v.fail(path + ".preset", "unknown preset \"" + presetName + "\" (known: " + names.join(", ") + ")");
      return null;
    }
  }
  const name = v.str(n, "name", path, true, "");
  const schema = v.str(n, "schema", path, preset === null, "openai");
  const cluster = v.str(n, "cluster", path, true, "");
  const row = schema !== null ? providerRow(schema) : null;
  if (preset !== null && schema !== null && (row === null || !row.has(FIELD_PRESET))) { v.fail(path + ".preset", "presets are for schema \"" + schemasWith(FIELD_PRESET) + "\""); return null; }
  // Schemas whose host follows from other fields or is fixed fill it in below.
  const hostRequired = row === null || row.hostFrom == HostFrom.Required;
  const host = v.str(n, "host", path, hostRequired && (preset === null || preset.host.length == 0), preset !== null ? preset.host : "");
  const basePath = v.str(n, "base_path", path, false, preset !== null ? preset.basePath : row !== null ? row.basePath : "/v1");
  b.preset = presetName;
  if (preset !== null) {
    b.normalize = preset.normalize;
    b.toolChoiceAny = preset.toolChoiceAny;
    b.toolCallId9 = preset.toolCallId9;
    b.renameFields = preset.renames;
  }
  const norm = v.doc.get(n, "normalize");
  if (norm !== null) {
    if (norm.kind != Kind.Bool) { v.fail(path + ".normalize", "must be a boolean"); return null; }
    b.normalize = norm.flag;
  }
  const su = v.str(n, "stream_usage", path, false, preset !== null && preset.streamUsage == StreamUsage.Never ? "never" : "request");
  if (su === null) return null;
  if (su != "request" && su != "never") { v.fail(path + ".stream_usage", "must be \"request\" or \"never\""); return null; }
  b.streamUsage = su == "never" ? StreamUsage.Never : StreamUsage.Request;
  const drop = v.doc.get(n, "drop_fields");
  if (drop !== null) {
    if (drop.kind != Kind.Arr) { v.fail(path + ".drop_fields", "must be an array of field names"); return null; }
    for (let i = 0; i < drop.length; i++) {
      const f = drop.items![i];
      if (f.kind != Kind.Str) { v.fail(path + ".drop_fields[" + i.toString() + "]", "must be a string"); return null; }
      const fname = v.doc.str(f);
      if (fname == "model" || fname == "messages" || fname == "input") { v.fail(path + ".drop_fields[" + i.toString() + "]", "\"" + fname + "\" cannot be dropped"); return null; }
      b.dropFields.push(fname);
    }
  }
  const ren = v.doc.get(n, "rename_fields");
  if (ren !== null) {
    if (ren.kind != Kind.Obj) { v.fail(path + ".rename_fields", "must be an object of from: to names"); return null; }
    const rn = new Array<string>();
    for (let i = 0; i < ren.keys!.length; i++) {
      const to = ren.items![i];
      const from = v.doc.str(ren.keys![i]);
      if (to.kind != Kind.Str || !isToken(v.doc.str(to))) { v.fail(path + ".rename_fields." + fieldName(from), "must be a field name"); return null; }
      rn.push(from); rn.push(v.doc.str(to));
    }
    b.renameFields = rn;
  }
  const apiVersion = v.str(n, "api_version", path, false, row !== null ? row.apiVersion : "");
  const deployment = v.str(n, "deployment", path, false, "");
  b.defaultMaxTokens = v.int(n, "default_max_tokens", path, 4096, 1, 1 << 24);
  if (name === null || schema === null || cluster === null || host === null || basePath === null || apiVersion === null || deployment === null) return null;
  if (!isUnreserved(deployment)) { v.fail(path + ".deployment", "must be a plain deployment name ([A-Za-z0-9._~-])"); return null; }
  if (!isUnreserved(apiVersion)) { v.fail(path + ".api_version", "must be a plain version string"); return null; }
  b.apiVersion = apiVersion; b.deployment = deployment;
  if (row === null) {
    v.fail(path + ".schema", "unsupported schema \"" + schema + "\" (supported: " + schemaNames().join(", ") + ")");
    return null;
  }
  if (!isToken(cluster)) { v.fail(path + ".cluster", "must be a valid Envoy cluster name"); return null; }
  if (host.includes(" ") || host.includes("/")) { v.fail(path + ".host", "must be a host[:port] authority"); return null; }
  if (basePath.length > 0 && (basePath.charAt(0) != "/" || basePath.includes("?") || basePath.endsWith("/"))) {
    v.fail(path + ".base_path", "must start with '/' and not end with '/' (or be empty)");
    return null;
  }
  b.row = row;
  b.semconv = preset !== null && preset.name != "openai" ? (preset.semconv.length ? preset.semconv : preset.name) : row.semconv;
  b.name = name; b.cluster = cluster; b.host = host; b.basePath = basePath;

  const auth = v.doc.get(n, "auth");
  if (auth !== null) {
    const ac = parseAuth(v, env, auth, path + ".auth");
    if (ac === null) return null;
    b.auth = ac;
  }
  if (!parseBedrockFields(v, n, path, b)) return null;
  const sa = b.auth.serviceAccount;
  const place = parseVertexPlace(v, n, path, row, sa !== null ? sa.projectId : "");
  if (place === null) return null;
  b.project = place.project; b.location = place.location;
  if (b.host.length == 0 && row.hostFrom == HostFrom.Fixed) b.host = row.host;
  if (b.host.length == 0 && row.hostFrom == HostFrom.VertexLocation) b.host = vertexHost(b.location);
  return b;
}

/** `region` (bedrock-* only): defaults to auth.region; gives the default host; must match the signing region. */
function parseBedrockFields(v: Validator, n: JNode, path: string, b: Backend): bool {
  const region = v.str(n, "region", path, false, "");
  if (region === null) return false;
  if (!b.row.has(FIELD_REGION)) {
    if (v.doc.get(n, "region") !== null) return v.fail(path + ".region", "only used with the " + schemasWith(FIELD_REGION) + " schemas");
    return true;
  }
  const k = b.auth.kind;
  if (k != AuthKind.AwsSigV4 && k != AuthKind.Bearer && k != AuthKind.None) {
    return v.fail(path + ".auth.type", "Bedrock backends use \"aws-sigv4\" or \"bearer\" (a Bedrock API key), not \"" + b.auth.type + "\"");
  }
  const sigv4 = k == AuthKind.AwsSigV4;
  let r = region;
  if (r.length == 0 && sigv4) r = b.auth.region;
  if (r.length == 0) return v.fail(path + ".region", "required: the AWS region of the Bedrock endpoint (or auth.region with aws-sigv4)");
  for (let i = 0; i < r.length; i++) {
    const c = r.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d)) return v.fail(path + ".region", "must be an AWS region name like us-east-1");
  }
  // The signature's credential scope names auth.region: a different endpoint region would fail every request.
  if (sigv4 && b.auth.region != r) return v.fail(path + ".region", "is \"" + r + "\" but auth.region is \"" + b.auth.region + "\"; requests are signed for auth.region");
  b.region = r;
  if (b.host.length == 0 && b.row.hostFrom == HostFrom.AwsRegion) b.host = "bedrock-runtime." + r + ".amazonaws.com";
  return true;
}

/** Convenience for unit tests. */
export function parseConfigString(s: string, env: Env): ConfigResult { return parseConfig(bytesOf(s), env); }
