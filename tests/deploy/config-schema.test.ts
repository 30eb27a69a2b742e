// schema/ai-gateway-config.schema.json (JSON Schema 2020-12, for editors and tooling) against the
// real filter: a corpus of configurations — the provider fixture configs, every shipped one, and
// a full configuration with each field changed to valid and invalid values — goes through ajv and
// through the filter (on_configure in the test host), and both must give the same verdict. Each
// case also carries the expected verdict, so a mutation that stopped testing anything is noticed.
// The few rules a JSON Schema cannot express are listed (FILTER_ONLY) and checked to be exactly
// those. The schema's closed lists (backend schemas, presets, auth types) are compared with the
// lists the filter prints in its own errors.
// Host-only: hundreds of configurations loaded in-process (an Envoy start each would take minutes).

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Ajv2020Module from "ajv/dist/2020.js";
import { ROOT, shippedEnvoyConfigs, readYaml, wasmFilters, readYamlDocuments, envNamesOf, fakeEnv, fakeServiceAccountJson, loadPlugin, supportedSchemas } from "./support.ts";

const Ajv2020 = (Ajv2020Module as any).default ?? Ajv2020Module;
const SCHEMA_FILE = join(ROOT, "schema", "ai-gateway-config.schema.json");
const schema = JSON.parse(readFileSync(SCHEMA_FILE, "utf8"));
let validate: any;

before(() => {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
  validate = ajv.compile(schema);
});

const schemaErrors = (cfg: unknown) => (validate(cfg) ? [] : validate.errors.map((e: any) => `${e.instancePath || "/"} ${e.message}`));

async function verdicts(cfg: any): Promise<{ schema: string[]; filter: string }> {
  const r = await loadPlugin(JSON.stringify(cfg), fakeEnv(envNamesOf(cfg)));
  return { schema: schemaErrors(cfg), filter: r.ok ? "" : r.error };
}

// ---- a configuration using every field --------------------------------------------------------

const HEX = "ab".repeat(32);
const FULL = {
  $schema: "./schema/ai-gateway-config.schema.json",
  max_request_bytes: 1048576, max_response_bytes: 8388608, cluster_header: "x-ai-gateway-cluster",
  clients: [{ name: "team-a", key_sha256: HEX }, { name: "team-b", key: "local-key" }],
  backends: [
    { name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", base_path: "/v1", auth: { type: "bearer", env: ["OPENAI_1", "OPENAI_2"], bad_key_seconds: 30 },
      drop_fields: ["seed"], rename_fields: { max_tokens: "max_completion_tokens" }, stream_usage: "request", normalize: false },
    { name: "azure", schema: "azure-openai", cluster: "azure", host: "r.openai.azure.com", deployment: "gpt4o", api_version: "2024-10-21",
      auth: { type: "azure-entra", tenant_id: "tenant", client_id: "client", client_secret_env: "AZURE_SECRET", token_cluster: "azure_login", token_host: "login.microsoftonline.com", scope: "s/.default", timeout_ms: 5000 } },
    { name: "claude", schema: "anthropic", cluster: "anthropic", host: "api.anthropic.com", default_max_tokens: 1000, api_version: "2023-06-01", auth: { type: "x-api-key", key: "sk-ant" } },
    { name: "groq", preset: "groq", cluster: "groq", auth: { type: "bearer", key: ["k1", "k2"] } },
    { name: "q", schema: "openai", cluster: "q", host: "q.example", auth: { type: "query", param: "key", env: "QUERY_KEY" } },
    { name: "h", schema: "openai", cluster: "h", host: "h.example:8443", auth: { type: "header", header: "X-Key", key: "v" } },
    { name: "aws", schema: "openai", cluster: "aws", host: "aws.example", auth: { type: "aws-sigv4", region: "us-east-1", service: "bedrock", access_key_env: "AWS_AK", secret_key: "sk", session_token_env: "AWS_ST" } },
    { name: "gcp", schema: "openai", cluster: "gcp", host: "gcp.example", auth: { type: "gcp-service-account", credentials_env: "GCP_SERVICE_ACCOUNT", token_cluster: "gcp_oauth", scope: "x", timeout_ms: 1000 } },
    { name: "none", schema: "openai", cluster: "none", host: "none.example", auth: { type: "none" } },
  ],
  models: [{ match: "gpt-*", backend: "openai", upstream_model: "gpt-4o" }, { match: "claude-*", backend: "claude" }],
  limits: {
    mode: "global", rls_cluster: "ratelimit", domain: "ai_gateway", timeout_ms: 100, failure_mode: "deny", default_output_tokens: 100, bytes_per_token: 4, stream_edge: "cut", usage_event: true,
    rules: [{ name: "r1", key: ["client", "Model", "header:x-team"], window: "hour", tokens: 1000, cost: { input: 1, cached_input: 0.1, output: 4, reasoning: 4, request: 10 }, match: { model: "gpt-*", "HEADER:x-team": "a*" } }],
  },
};

type Edit = (c: any) => void;
const b = (i: number) => (c: any) => c.backends[i];
const set = (pick: (c: any) => any, key: string, value: unknown): Edit => (c) => { pick(c)[key] = value; };
const del = (pick: (c: any) => any, key: string): Edit => (c) => { delete pick(c)[key]; };
const root = (c: any) => c, auth = (i: number) => (c: any) => c.backends[i].auth, lim = (c: any) => c.limits, rule = (c: any) => c.limits.rules[0];
const model = (c: any) => c.models[0], client = (i: number) => (c: any) => c.clients[i];

/** [name, edit, expected: accepted?] */
const CASES: [string, Edit, boolean][] = [
  ["full configuration", () => {}, true],
  ["without $schema", del(root, "$schema"), true],
  ["$schema not a string", set(root, "$schema", 1), false],
  ["unknown top-level field", set(root, "extra", 1), false],
  ["backends missing", del(root, "backends"), false],
  ["backends empty", set(root, "backends", []), false],
  ["models empty", set(root, "models", []), false],
  ["max_request_bytes 0", set(root, "max_request_bytes", 0), false],
  ["max_request_bytes above 16 MiB (the VM has 1 GiB)", set(root, "max_request_bytes", 16777217), false],
  ["max_request_bytes 16 MiB", set(root, "max_request_bytes", 16777216), true],
  ["max_response_bytes above 16 MiB (the VM has 1 GiB)", set(root, "max_response_bytes", 16777217), false],
  ["max_response_bytes 16 MiB", set(root, "max_response_bytes", 16777216), true],
  ["max_response_bytes 1 GiB (once allowed; traps the VM)", set(root, "max_response_bytes", 1073741824), false],
  ["max_response_bytes fractional", set(root, "max_response_bytes", 1.5), false],
  ["max_response_bytes as string", set(root, "max_response_bytes", "1"), false],
  ["cluster_header empty", set(root, "cluster_header", ""), false],
  ["cluster_header with a space", set(root, "cluster_header", "x cluster"), false],
  ["client_header set", set(root, "client_header", "x-user"), true],
  ["client_header empty", set(root, "client_header", ""), true],
  ["client_header with a colon", set(root, "client_header", "x:user"), false],
  ["clients empty", set(root, "clients", []), true],
  ["clients not an array", set(root, "clients", {}), false],
  ["client without name", del(client(0), "name"), false],
  ["client with both key and key_sha256", set(client(0), "key", "k"), false],
  ["client with neither key", del(client(0), "key_sha256"), false],
  ["client key_sha256 upper case", set(client(0), "key_sha256", HEX.toUpperCase()), true],
  ["client key_sha256 too short", set(client(0), "key_sha256", "abc"), false],
  ["client key empty", set(client(1), "key", ""), false],
  ["client key a number", set(client(1), "key", 5), false],
  ["client unknown field", set(client(0), "role", "admin"), false],
  // backends
  ["backend unknown field", set(b(0), "timeout", 5), false],
  ["backend name empty", set(b(0), "name", ""), false],
  ["backend name with a line break", set(b(0), "name", "a\nb"), false],
  ["backend schema unknown", set(b(0), "schema", "cohere"), false],
  ["backend schema missing without preset", del(b(0), "schema"), false],
  ["backend preset empty string", set(b(0), "preset", ""), true],
  ["backend preset unknown", set(b(3), "preset", "acme"), false],
  ["backend preset with schema openai", set(b(3), "schema", "openai"), true],
  ["backend preset with schema anthropic", set(b(3), "schema", "anthropic"), false],
  ["backend preset host overridden", set(b(3), "host", "groq.internal"), true],
  ["backend preset vllm needs a host", set(b(3), "preset", "vllm"), false],
  ["backend preset vllm with host", (c) => { c.backends[3].preset = "vllm"; c.backends[3].host = "vllm:8000"; }, true],
  ["backend cluster with a slash", set(b(0), "cluster", "a/b"), false],
  ["backend cluster missing", del(b(0), "cluster"), false],
  ["backend host missing", del(b(0), "host"), false],
  ["backend host empty", set(b(0), "host", ""), false],
  ["backend host with a path", set(b(0), "host", "api.openai.com/v1"), false],
  ["backend base_path empty", set(b(0), "base_path", ""), true],
  ["backend base_path without leading slash", set(b(0), "base_path", "v1"), false],
  ["backend base_path with trailing slash", set(b(0), "base_path", "/v1/"), false],
  ["backend base_path with a query", set(b(0), "base_path", "/v1?x=1"), false],
  ["backend base_path deep", set(b(0), "base_path", "/openai/v1"), true],
  ["backend api_version with a space", set(b(1), "api_version", "2024 10"), false],
  ["backend deployment with a slash", set(b(1), "deployment", "a/b"), false],
  ["backend default_max_tokens 0", set(b(2), "default_max_tokens", 0), false],
  ["backend default_max_tokens 2^24", set(b(2), "default_max_tokens", 16777216), true],
  ["backend default_max_tokens above 2^24", set(b(2), "default_max_tokens", 16777217), false],
  ["backend drop_fields model", set(b(0), "drop_fields", ["model"]), false],
  ["backend drop_fields not an array", set(b(0), "drop_fields", "seed"), false],
  ["backend drop_fields number item", set(b(0), "drop_fields", [1]), false],
  ["backend rename_fields to a non-token", set(b(0), "rename_fields", { a: "b c" }), false],
  ["backend rename_fields as array", set(b(0), "rename_fields", ["a", "b"]), false],
  ["backend stream_usage never", set(b(0), "stream_usage", "never"), true],
  ["backend stream_usage unknown", set(b(0), "stream_usage", "always"), false],
  ["backend normalize as string", set(b(0), "normalize", "yes"), false],
  ["backend region on an openai backend", set(b(0), "region", "us-east-1"), false],
  ["backend project on an openai backend", set(b(0), "project", "p"), false],
  // auth
  ["backend without auth", del(b(0), "auth"), true],
  ["auth not an object", set(b(0), "auth", "bearer"), false],
  ["auth type missing", del(auth(0), "type"), false],
  ["auth type unknown", set(auth(0), "type", "basic"), false],
  ["auth none with a key", set(auth(8), "key", "k"), false],
  ["auth bearer with key and env", set(auth(0), "key", "k"), false],
  ["auth bearer with neither key nor env", del(auth(0), "env"), false],
  ["auth bearer env single name", set(auth(0), "env", "OPENAI_1"), true],
  ["auth key empty", set(auth(2), "key", ""), false],
  ["auth key empty list", set(auth(3), "key", []), false],
  ["auth key list with empty item", set(auth(3), "key", ["a", ""]), false],
  ["auth key with a line break", set(auth(2), "key", "a\r\nX-Evil: 1"), false],
  ["auth env a number", set(auth(4), "env", 5), false],
  ["auth bearer ignores header", set(auth(0), "header", 5), true],
  ["auth bad_key_seconds negative", set(auth(0), "bad_key_seconds", -1), false],
  ["auth bad_key_seconds above a day", set(auth(0), "bad_key_seconds", 86401), false],
  ["auth keyed unknown field", set(auth(0), "prefix", "Bearer"), false],
  ["auth header without header name", del(auth(5), "header"), false],
  ["auth header name with a space", set(auth(5), "header", "x key"), false],
  ["auth x-api-key with header", set(auth(2), "header", "x-api-key"), false],
  ["auth api-key shorthand", (c) => { c.backends[2].auth = { type: "api-key", key: "k" }; }, true],
  ["auth query without param", del(auth(4), "param"), false],
  ["auth query param with a space", set(auth(4), "param", "a b"), false],
  ["auth aws-sigv4 without region", del(auth(6), "region"), false],
  ["auth aws-sigv4 region with a space", set(auth(6), "region", "us east"), false],
  ["auth aws-sigv4 service empty", set(auth(6), "service", ""), false],
  ["auth aws-sigv4 without access key", del(auth(6), "access_key_env"), false],
  ["auth aws-sigv4 secret key twice", set(auth(6), "secret_key_env", "AWS_SK"), false],
  ["auth aws-sigv4 session token twice", set(auth(6), "session_token", "st"), false],
  ["auth aws-sigv4 without session token", del(auth(6), "session_token_env"), true],
  ["auth aws-sigv4 unknown field", set(auth(6), "role_arn", "x"), false],
  ["auth gcp without token_cluster", del(auth(7), "token_cluster"), false],
  ["auth gcp credentials twice", set(auth(7), "credentials", fakeServiceAccountJson()), false],
  ["auth gcp without credentials", del(auth(7), "credentials_env"), false],
  ["auth gcp literal credentials text", (c) => { delete c.backends[7].auth.credentials_env; c.backends[7].auth.credentials = fakeServiceAccountJson(); }, true],
  ["auth gcp literal credentials object", (c) => { delete c.backends[7].auth.credentials_env; c.backends[7].auth.credentials = JSON.parse(fakeServiceAccountJson()); }, true],
  ["auth gcp credentials a number", (c) => { delete c.backends[7].auth.credentials_env; c.backends[7].auth.credentials = 5; }, false],
  ["auth gcp timeout_ms 99", set(auth(7), "timeout_ms", 99), false],
  ["auth azure without tenant", del(auth(1), "tenant_id"), false],
  ["auth azure tenant with a slash", set(auth(1), "tenant_id", "a/b"), false],
  ["auth azure secret twice", set(auth(1), "client_secret", "s"), false],
  ["auth azure without client_id", del(auth(1), "client_id"), false],
  ["auth azure unknown field", set(auth(1), "authority", "x"), false],
  // models
  ["model without match", del(model, "match"), false],
  ["model match empty", set(model, "match", ""), false],
  ["model without backend", del(model, "backend"), false],
  ["model upstream_model with a star", set(model, "upstream_model", "gpt-*"), false],
  ["model unknown field", set(model, "weight", 1), false],
  // limits
  ["limits not an object", set(root, "limits", []), false],
  ["limits unknown field", set(lim, "burst", 1), false],
  ["limits mode unknown", set(lim, "mode", "remote"), false],
  ["limits only rules", (c) => { c.limits = { rules: c.limits.rules }; }, true],
  ["limits rules empty", set(lim, "rules", []), false],
  ["limits rules missing", del(lim, "rules"), false],
  ["limits rls_cluster with a space", set(lim, "rls_cluster", "rate limit"), false],
  ["limits domain empty", set(lim, "domain", ""), false],
  ["limits failure_mode unknown", set(lim, "failure_mode", "open"), false],
  ["limits timeout_ms 0", set(lim, "timeout_ms", 0), false],
  ["limits default_output_tokens 0", set(lim, "default_output_tokens", 0), true],
  ["limits default_output_tokens negative", set(lim, "default_output_tokens", -1), false],
  ["limits bytes_per_token 65", set(lim, "bytes_per_token", 65), false],
  ["limits stream_edge unknown", set(lim, "stream_edge", "stop"), false],
  ["limits usage_event as string", set(lim, "usage_event", "true"), false],
  ["limits max_keys 1", set(lim, "max_keys", 1), true],
  ["limits max_keys 65536", set(lim, "max_keys", 65536), true],
  ["limits max_keys 0", set(lim, "max_keys", 0), false],
  ["limits max_keys 65537", set(lim, "max_keys", 65537), false],
  ["rule max_keys 100", set(rule, "max_keys", 100), true],
  ["rule max_keys 0", set(rule, "max_keys", 0), false],
  ["rule name with a space", set(rule, "name", "per client"), false],
  ["rule without name", del(rule, "name"), false],
  ["rule without tokens", del(rule, "tokens"), false],
  ["rule tokens 0", set(rule, "tokens", 0), false],
  ["rule tokens uint32 max", set(rule, "tokens", 4294967295), true],
  ["rule tokens above uint32", set(rule, "tokens", 4294967296), false],
  ["rule tokens fractional", set(rule, "tokens", 1.5), false],
  ["rule window week", set(rule, "window", "week"), false],
  ["rule without window", del(rule, "window"), true],
  ["rule key unknown", set(rule, "key", ["tenant"]), false],
  ["rule key header without name", set(rule, "key", ["header:"]), false],
  ["rule key upper case", set(rule, "key", ["CLIENT", "Header:X-Team"]), true],
  ["rule key not an array", set(rule, "key", "client"), false],
  ["rule key empty", set(rule, "key", []), true],
  ["rule cost unknown weight", set(rule, "cost", { cached: 1 }), false],
  ["rule cost negative", set(rule, "cost", { input: -1 }), false],
  ["rule cost above a million", set(rule, "cost", { output: 1e7 }), false],
  ["rule cost as string", set(rule, "cost", { input: "1" }), false],
  ["rule cost zero weights", set(rule, "cost", { input: 0, output: 0, request: 1 }), true],
  ["rule match unknown key", set(rule, "match", { tenant: "a" }), false],
  ["rule match value a number", set(rule, "match", { model: 4 }), false],
  ["rule unknown field", set(rule, "burst", 1), false],
];

test("schema/ai-gateway-config.schema.json is a valid JSON Schema 2020-12 document", () => {
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  const ajv = new Ajv2020({ strict: false });
  assert.equal(ajv.validateSchema(schema), true, JSON.stringify(ajv.errors));
});

test("the schema and the filter agree on the full configuration changed field by field", { timeout: 120_000 }, async () => {
  const disagreements: string[] = [], wrongExpectation: string[] = [];
  for (const [name, edit, expected] of CASES) {
    const cfg = structuredClone(FULL);
    edit(cfg);
    const v = await verdicts(cfg);
    const filterOk = v.filter === "", schemaOk = v.schema.length === 0;
    if (filterOk !== expected) wrongExpectation.push(`${name}: expected ${expected ? "accepted" : "refused"}, the filter ${filterOk ? "accepted it" : "said " + v.filter}`);
    if (filterOk !== schemaOk) disagreements.push(`${name}: filter ${filterOk ? "accepts" : "refuses (" + v.filter + ")"}, schema ${schemaOk ? "accepts" : "refuses (" + v.schema.join("; ") + ")"}`);
  }
  assert.deepEqual(wrongExpectation, []);
  assert.deepEqual(disagreements, []);
  assert.ok(CASES.filter((c) => !c[2]).length >= 100 && CASES.filter((c) => c[2]).length >= 25, "both verdicts are well represented");
});

test("the schema and the filter agree on every fixture and shipped configuration", { timeout: 60_000 }, async (t) => {
  const corpus: [string, any][] = [];
  const dir = join(ROOT, "tests", "fixtures", "providers", "configs");
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".json"))) corpus.push([`tests/fixtures/providers/configs/${f}`, JSON.parse(readFileSync(join(dir, f), "utf8"))]);
  for (const f of shippedEnvoyConfigs()) for (const w of wasmFilters(readYaml(f))) corpus.push([f, w.plugin]);
  for (const f of ["wasm-http.yaml", "wasm-oci.yaml"]) corpus.push([f, readYamlDocuments(join(ROOT, "envoy", "gateway", f))[0].spec.wasm[0].config]);
  assert.ok(corpus.length >= 8);
  for (const [name, cfg] of corpus) {
    const v = await verdicts(cfg);
    assert.equal(v.filter, "", `${name}: the filter refuses it`);
    assert.deepEqual(v.schema, [], `${name}: the schema refuses what the filter accepts`);
  }
  t.diagnostic(`${corpus.length} configurations`);
});

/** What only the filter can check (named in the schema's description). */
const FILTER_ONLY: [string, Edit, RegExp][] = [
  ["duplicate backend name", (c) => { c.backends[1].name = "openai"; }, /^backends\[1\]\.name: duplicate backend name "openai"/],
  ["model routed to a missing backend", set(model, "backend", "nowhere"), /^models\[0\]\.backend: no backend named "nowhere"/],
  ["duplicate limit rule name", (c) => { c.limits.rules.push({ ...c.limits.rules[0] }); }, /^limits\.rules\[1\]\.name: duplicate rule name "r1"/],
  ["the same gateway key for two clients", (c) => { c.clients[1] = { name: "team-c", key_sha256: HEX }; }, /^clients\[1\]\.key_sha256: the same key is already given/],
  ["service-account key that does not parse", (c) => { delete c.backends[7].auth.credentials_env; c.backends[7].auth.credentials = { type: "service_account", client_email: "a@b", private_key: "not a key" }; }, /^backends\[7\]\.auth\.credentials: invalid service account key/],
];

test("the rules a JSON Schema cannot express are exactly the documented ones", async () => {
  for (const [name, edit, error] of FILTER_ONLY) {
    const cfg = structuredClone(FULL);
    edit(cfg);
    const v = await verdicts(cfg);
    assert.deepEqual(v.schema, [], `${name}: the schema accepts it`);
    assert.match(v.filter, error, name);
  }
  const unset = await loadPlugin(JSON.stringify(FULL), {});
  assert.match(unset.error, /environment variable OPENAI_1 is not set in the Wasm VM/, "unset environment variables: filter only");
  assert.equal(schemaErrors(FULL).length, 0);
});

test("the schema's closed lists are the filter's: backend schemas, presets, auth types", async () => {
  const probe = async (edit: Edit, re: RegExp) => {
    const cfg = structuredClone(FULL);
    edit(cfg);
    const m = re.exec((await verdicts(cfg)).filter);
    assert.ok(m, `the filter's error did not list the known values (${re})`);
    return m[1].split(",").map((s) => s.trim());
  };
  const schemas = await supportedSchemas();
  assert.deepEqual(schema.$defs.schemaName.enum, schemas,
    "schema/ai-gateway-config.schema.json $defs.schemaName.enum must list exactly the schemas the filter supports (fields of a new schema go in $defs.backend.allOf)");
  const presets = await probe(set(b(3), "preset", "no-such-preset"), /unknown preset "no-such-preset" \(known: ([^)]*)\)/);
  assert.deepEqual(schema.$defs.presetName.enum, presets);
  const types = await probe(set(auth(0), "type", "no-such-type"), /unsupported auth type "no-such-type" \(supported: ([^)]*)\)/);
  assert.deepEqual(schema.$defs.authType.enum, types);
});

/** The backend.allOf branches keyed on the backend schema name, as lists of schema names. */
function schemaBranches(): { defaultHost: string[]; region: string[]; vertex: string[] } {
  const found = { defaultHost: [] as string[], region: [] as string[], vertex: [] as string[] };
  const visit = (n: any): void => {
    if (!n || typeof n !== "object") return;
    const list = n.if?.properties?.schema?.enum;
    if (Array.isArray(list)) {
      if (n.then?.properties?.region) found.region = list;
      if (n.then?.properties?.project) found.vertex = list;
      if (n.else?.required?.includes("host")) found.defaultHost = list;
    }
    for (const v of Object.values(n)) visit(v);
  };
  visit(schema.$defs.backend.allOf);
  return found;
}

test("the schema's per-backend-schema rules are the filter's provider table (default host, region, project/location)", async () => {
  const schemas = await supportedSchemas();
  const errorOf = async (backend: object) =>
    (await loadPlugin(JSON.stringify({ backends: [{ name: "b", cluster: "c", ...backend }], models: [{ match: "*", backend: "b" }] }))).error ?? "";
  // The filter names the schemas that take a field when another schema is given it (from the table's FIELD_* bits).
  const listed = (e: string, re: RegExp): string[] => { const m = re.exec(e); assert.ok(m, `unexpected error: ${e}`); return m[1].split(" and "); };
  const region = listed(await errorOf({ schema: "openai", host: "h", region: "us-east-1" }), /\.region: only used with the (.*) schemas$/);
  const vertex = listed(await errorOf({ schema: "openai", host: "h", project: "p" }), /\.project: only for schemas (.*)$/);
  // A schema has a default host (HostFrom other than Required) when leaving `host` out is not the error.
  const defaultHost: string[] = [];
  for (const s of schemas) if (!/\.host: required$/.test(await errorOf({ schema: s }))) defaultHost.push(s);
  const b = schemaBranches();
  const where = "schema/ai-gateway-config.schema.json $defs.backend.allOf";
  assert.deepEqual(b.region, region, `${where}: the schemas taking region`);
  assert.deepEqual(b.vertex, vertex, `${where}: the schemas taking project/location`);
  assert.deepEqual(b.defaultHost, defaultHost, `${where}: the schemas with a default host`);
  assert.ok(region.length > 0 && vertex.length > 0 && defaultHost.length > region.length, "the probes found the table's rows");
});
