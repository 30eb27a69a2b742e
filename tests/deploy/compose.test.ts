// docker-compose.yml and the configuration it runs, without Docker:
//   1. the compose file against the compose specification JSON schema (compose-go v2.16.2, after
//      ${VAR:-default} interpolation as compose does it), broken copies refused;
//   2. its wiring: mounted files exist, Envoy gets the config, the .wasm at the path vm_config
//      names and every variable host_env_keys lists, cluster addresses are compose services on the
//      ports they listen on, the rate limit service reads the mounted config;
//   3. the README's docker compose walkthrough, run in the test host instead of the Envoy
//      container: envoy/envoy.compose.yaml (routes, clusters, filter settings taken from the file)
//      with the compose environment, scripts/mock-providers.ts as the mock-providers service and the
//      real envoyproxy/ratelimit + Redis with envoy/ratelimit/config.yaml: 401 without a gateway
//      key, a request translated to Anthropic with the provider key the gateway holds, a stream
//      through the official openai client, then 429 once the demo budget is spent.
// The ratelimit part needs `bash scripts/install-ratelimit.sh` (fails, never skips, without it).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import Ajv2020Module from "ajv/dist/2020.js";
import OpenAI from "openai";
import { ROOT, SCHEMAS, ensureValidators, readYaml, wasmFilters, clustersOf as envoyClusters, endpointOf } from "./support.ts";
import { startEnvoyConfig, type HostedEnvoy } from "./envoy-host.ts";
import { startMockProviders, type MockProviders } from "../../scripts/mock-providers.ts";
import { startRateLimit, type RateLimitService } from "../support/ratelimit.ts";

const Ajv2020 = (Ajv2020Module as any).default ?? Ajv2020Module;
const COMPOSE = join(ROOT, "docker-compose.yml");
const COMPOSE_ENVOY = join(ROOT, "envoy", "envoy.compose.yaml");

/** Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $VAR, $$. */
export function interpolate(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, name, op, arg, bare) => {
    if (all === "$$") return "$";
    const n = name ?? bare, v = env[n];
    if (!op) return v ?? "";
    const unset = op.startsWith(":") ? !v : v === undefined;
    if (op.endsWith("-")) return unset ? arg : v!;
    if (unset) throw new Error(`required variable ${n}: ${arg}`);
    return v!;
  });
}

const composeText = readFileSync(COMPOSE, "utf8");
const compose = () => parseYaml(interpolate(composeText, {}));
let validateCompose: any;

before(() => {
  ensureValidators();
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  validateCompose = ajv.compile(JSON.parse(readFileSync(join(SCHEMAS, "compose", "compose-spec.json"), "utf8")));
}, { timeout: 180_000 });

const composeErrors = (doc: unknown): string[] => (validateCompose(doc) ? [] : validateCompose.errors.map((e: any) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`));

test("docker-compose.yml is valid against the compose specification schema", () => {
  assert.deepEqual(composeErrors(compose()), []);
});

test("interpolation follows compose: defaults when unset or empty, the value otherwise", () => {
  assert.equal(interpolate("${A:-x} ${A-y} $$A $B ${C:-}", { A: "", B: "b" }), "x  $A b ");
  assert.equal(interpolate("${OPENAI_API_KEY:-sk-mock}", { OPENAI_API_KEY: "sk-real" }), "sk-real");
  assert.throws(() => interpolate("${K:?set K}", {}), /required variable K: set K/);
});

const BROKEN: [string, (d: any) => void, RegExp][] = [
  ["unknown service key", (d) => { d.services.envoy.imagee = "x"; }, /unevaluated properties.*imagee/],
  ["unknown top-level key", (d) => { d.servicez = {}; }, /additional properties.*servicez/],
  ["depends_on condition not in the spec", (d) => { d.services.envoy.depends_on.ratelimit.condition = "service_ready"; }, /\/services\/envoy\/depends_on\/ratelimit\/condition must be equal to one of the allowed values/],
  ["environment value of a wrong type", (d) => { d.services.envoy.environment.OPENAI_API_KEY = { value: "x" }; }, /\/services\/envoy\/environment\/OPENAI_API_KEY must be/],
  ["command of a wrong type", (d) => { d.services.envoy.command = { run: "envoy" }; }, /\/services\/envoy\/command must be/],
];

for (const [name, edit, error] of BROKEN) {
  test(`a broken compose file is refused: ${name}`, () => {
    const d = compose();
    edit(d);
    const errors = composeErrors(d);
    assert.ok(errors.some((e) => error.test(e)), `expected ${error}, got:\n${errors.join("\n")}`);
  });
}

/** "./a:/b:ro" → { host: "a", container: "/b" } */
function mounts(service: any): { host: string; container: string }[] {
  return (service.volumes ?? []).map((v: string) => {
    const [host, container] = v.split(":");
    return { host: host.replace(/^\.\//, ""), container };
  });
}

test("docker-compose.yml is wired to the files and services it names", () => {
  const d = compose();
  const envoySvc = d.services.envoy;
  const envoy = readYaml(COMPOSE_ENVOY);
  const [w] = wasmFilters(envoy);

  // Envoy image new enough for allow_on_headers_stop_iteration.
  const tag = /^envoyproxy\/envoy:v(\d+)\.(\d+)\.\d+$/.exec(envoySvc.image);
  assert.ok(tag && Number(tag[1]) === 1 && Number(tag[2]) >= 35, `Envoy >= 1.35 pinned to a release: ${envoySvc.image}`);

  // Every bind mount exists (the .wasm after `npm run build`), and the files land where used.
  for (const [name, svc] of Object.entries<any>(d.services)) {
    for (const m of mounts(svc)) assert.ok(existsSync(join(ROOT, m.host)), `${name}: ${m.host} exists`);
  }
  const envoyMounts = new Map(mounts(envoySvc).map((m) => [m.container, m.host]));
  const cfgPath = envoySvc.command[envoySvc.command.indexOf("-c") + 1];
  assert.equal(envoyMounts.get(cfgPath), "envoy/envoy.compose.yaml", "Envoy runs envoy/envoy.compose.yaml");
  assert.equal(envoyMounts.get(w.config.vm_config.code.local.filename), "build/ai-gateway.wasm", "the filter file is the built module");

  // Every variable the VM gets from the Envoy process is set in the service environment.
  assert.deepEqual(Object.keys(envoySvc.environment).sort(), [...w.hostEnvKeys].sort());
  for (const k of w.hostEnvKeys) assert.ok(envoySvc.environment[k], `${k} has a value (default) in docker-compose.yml`);

  // Ports: the listener and admin as published.
  assert.ok(envoySvc.ports.some((p: string) => p === `8080:${envoy.static_resources.listeners[0].address.socket_address.port_value}`));
  assert.ok(envoySvc.ports.some((p: string) => p.endsWith(`:${envoy.admin.address.socket_address.port_value}`)));

  // Clusters point at compose services, on the ports those services listen on.
  const listens: Record<string, number> = {
    "mock-providers": Number(d.services["mock-providers"].command[d.services["mock-providers"].command.indexOf("--port") + 1]),
    ratelimit: Number(d.services.ratelimit.environment.GRPC_PORT ?? 8081),
  };
  for (const [name, c] of envoyClusters(envoy)) {
    const ep = endpointOf(c);
    assert.ok(ep.address in d.services, `cluster ${name}: ${ep.address} is a compose service`);
    assert.equal(ep.port, listens[ep.address], `cluster ${name}: ${ep.address} listens on ${ep.port}`);
  }
  assert.ok(d.services["mock-providers"].command.includes("0.0.0.0"), "the mock listens on all interfaces of its container");

  // The rate limit service reads envoy/ratelimit/*.yaml and talks to the redis service.
  const e = d.services.ratelimit.environment;
  const rlsMounts = new Map(mounts(d.services.ratelimit).map((m) => [m.container, m.host]));
  assert.equal(rlsMounts.get(`${e.RUNTIME_ROOT}/${e.RUNTIME_SUBDIRECTORY}/${e.RUNTIME_APPDIRECTORY}`), "envoy/ratelimit");
  assert.equal(e.REDIS_SOCKET_TYPE, "tcp");
  assert.equal(e.REDIS_URL, "redis:6379");
  assert.ok("redis" in d.services);
  assert.equal(e.USE_STATSD, "false");
});

// ---- the walkthrough, in the test host ---------------------------------------------------------

let rls: RateLimitService, mocks: MockProviders, hosted: HostedEnvoy;
const composeEnv = () => compose().services.envoy.environment as Record<string, string>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  rls = await startRateLimit({ config: readFileSync(join(ROOT, "envoy", "ratelimit", "config.yaml"), "utf8") });
  mocks = await startMockProviders({ host: "127.0.0.1", port: 0 });
  hosted = await startEnvoyConfig(COMPOSE_ENVOY, composeEnv(), (address, port) => {
    if (address === "mock-providers" && port === 8080) return { host: "127.0.0.1", port: mocks.mock.port };
    if (address === "ratelimit" && port === 8081) return { host: "127.0.0.1", port: rls.grpcPort };
    throw new Error(`no local stand-in for ${address}:${port}`);
  });
}, { timeout: 60_000 });

after(async () => {
  await hosted?.stop();
  await mocks?.stop();
  await rls?.stop();
});

async function post(path: string, body: object, key?: string): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const r = await fetch(hosted.gateway.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, headers: r.headers, text, json };
}

test("walkthrough: without a gateway key the gateway answers 401 and calls no provider", async () => {
  const before = mocks.mock.requests.length;
  const hi = { model: "claude-sonnet-4-5", messages: [{ role: "user", content: "Hi" }] };
  for (const key of [undefined, "not-a-demo-key"]) {
    const r = await post("/v1/chat/completions", hi, key);
    assert.equal(r.status, 401, r.text);
    assert.equal(typeof r.json?.error?.message, "string");
  }
  assert.equal(mocks.mock.requests.length, before);
});

test("walkthrough: translated, authorized, limited — Anthropic answer, a stream, then 429", { timeout: 120_000 }, async () => {
  // The demo budget is per minute: do not straddle a window edge.
  const left = 60 - (Math.floor(Date.now() / 1000) % 60);
  if (left < 15) await sleep(left * 1000 + 300);
  const env = composeEnv();

  // 1. An OpenAI request for a Claude model: translated to the Anthropic Messages API.
  const r1 = await post("/v1/chat/completions", { model: "claude-sonnet-4-5", messages: [{ role: "user", content: "Hi" }] }, "demo-key-team-a");
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r1.json.object, "chat.completion");
  assert.equal(typeof r1.json.choices[0].message.content, "string");
  assert.equal(r1.json.usage.total_tokens, 24);
  const up = mocks.mock.requests[mocks.mock.requests.length - 1];
  assert.equal(up.path, "/v1/messages");
  assert.equal(up.headers["x-api-key"], env.ANTHROPIC_API_KEY, "the provider key from the compose environment");
  assert.equal(up.headers.authorization, undefined, "the client's gateway key does not reach the provider");
  assert.equal(up.headers.host, "api.anthropic.com");
  assert.equal(up.headers["x-ai-gateway-cluster"], undefined, "the route removes the gateway's route header (request_headers_to_remove)");
  assert.equal(up.json.max_tokens, 1024, "Anthropic needs max_tokens: the backend's default_max_tokens");
  assert.ok(Array.isArray(up.json.messages));

  // 2. The official openai client, streaming (this answer is 1544 tokens: over the demo budget).
  const client = new OpenAI({ apiKey: "demo-key-team-a", baseURL: hosted.gateway.url + "/v1", maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], stream: true, stream_options: { include_usage: true } });
  let text = "", usage: any = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(text.length > 0);
  assert.equal(usage?.total_tokens, 1544);
  assert.equal(mocks.mock.requests[mocks.mock.requests.length - 1].headers.authorization, `Bearer ${env.OPENAI_API_KEY}`);

  // 3. Budget spent (300 tokens a minute per client, envoy/ratelimit/config.yaml): 429.
  await sleep(200); // the debit of the stream is sent when it ends
  const r3 = await post("/v1/chat/completions", { model: "claude-sonnet-4-5", messages: [{ role: "user", content: "Hi" }] }, "demo-key-team-a");
  assert.equal(r3.status, 429, r3.text);
  assert.equal(r3.json.error.code, "rate_limit_exceeded");
  assert.ok(Number(r3.headers.get("retry-after")) > 0);
  assert.equal(r3.headers.get("x-ratelimit-limit-tokens"), "300");
  await assert.rejects(client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] }), (e: any) => e.status === 429);

  // 4. Another client has its own budget.
  const r4 = await post("/v1/chat/completions", { model: "llama-3.3-70b", messages: [{ role: "user", content: "Hi" }] }, "demo-key-team-b");
  assert.equal(r4.status, 200, r4.text);
  assert.equal(mocks.mock.requests[mocks.mock.requests.length - 1].path, "/openai/v1/chat/completions", "Groq preset path");
  mocks.mock.assertNoFailures();
});
