// The Envoy Gateway example, checked with Envoy Gateway's own code and run in real Envoy:
//   1. envoy/gateway/ai-gateway.yaml + wasm-http.yaml (as shipped; the policy's url and sha256
//      filled in by scripts/gateway-policy.mjs, as the walkthrough does) go through Envoy Gateway
//      v1.9.1's resource loader, Gateway API translator, Wasm cache and xDS translator
//      (tools/eg-translate): every object Accepted, the EnvoyPatchPolicy Programmed, and the
//      generated Wasm filter carries the two settings the patch adds;
//   2. that xDS, made a static bootstrap (tests/deploy/eg-envoy.ts: addresses, ports and the CA
//      log paths substituted, nothing else), runs in real Envoy (dev/envoy.ts: ENVOY_BIN, else the
//      pinned 1.40.0 scripts/install-envoy.sh installs): Envoy fetches the module
//      from the serving URL Envoy Gateway generated and checks its sha256, then serves a chat
//      request to OpenAI, a chat request translated to Anthropic, an Anthropic Messages request, and
//      the local token limit's 429, through the filter to mock providers behind TLS (the SNI and
//      certificate name the BackendTLSPolicy sets);
//   3. without the EnvoyPatchPolicy, the same translation leaves the filter without
//      allow_on_headers_stop_iteration and the request never reaches a provider (the reason the
//      patch ships).
// The OCI variant (wasm-oci.yaml) is not translated here: Envoy Gateway's cache would pull it
// from an OCI registry and there is none on this machine; it is checked against its CRD schema
// (gateway.test.ts) and differs from wasm-http.yaml only in the code source (checked there too).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import http2 from "node:http2";
import tls from "node:tls";
import net from "node:net";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { parseAllDocuments, stringify } from "yaml";
import { ROOT, WASM, fakeEnv } from "./support.ts";
import { translate, staticBootstrap, conditionsOf, ensureEgTranslate, EG_VERSION, type Translation } from "./eg-envoy.ts";
import { EnvoyProcess, envoyBinary } from "../../dev/envoy.ts";
import { renderHttpPolicy } from "../../scripts/gateway-policy.mjs";
import { startMockProviders, type MockProviders } from "../../scripts/mock-providers.ts";

const DIR = join(ROOT, "envoy", "gateway");
const BASE = readFileSync(join(DIR, "ai-gateway.yaml"), "utf8");
const PROVIDER_HOSTS = ["api.openai.com", "api.anthropic.com"];
const SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt";   // what wellKnownCACertificates: System becomes
const CONTROL_PLANE_CA = "/certs/ca.crt";                 // the CA of Envoy Gateway's certgen, in its proxies
const WASM_SERVER = "envoy-gateway.envoy-gateway-system.svc.cluster.local";

let tmp: string, caFile: string, envoySecret: string;
let mocks: MockProviders;
let tlsFront: tls.Server;
const sni: string[] = [];
let wasmOrigin: Server;                    // the URL the policy names: Envoy Gateway's cache downloads it
let wasmServing: http2.Http2SecureServer;  // stands in for Envoy Gateway's Wasm server (mTLS, HTTP/2)
const wasmGets: string[] = [];
let servingPath = "";

before(async () => {
  ensureEgTranslate();
  tmp = mkdtempSync(join(tmpdir(), "eg-translate-"));
  // A CA standing for both the public CAs (provider hosts) and Envoy Gateway's certgen (its Wasm
  // server and the proxies' client certificate, the Secret envoy-gateway-system/envoy).
  const ossl = (...args: string[]) => execFileSync("openssl", args, { cwd: tmp, stdio: "ignore" });
  ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA", "-keyout", "ca.key", "-out", "ca.pem");
  const leaf = (name: string, sans: string[]) => {
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${sans[0]}`, "-keyout", `${name}.key`, "-out", `${name}.csr`);
    writeFileSync(join(tmp, `${name}.ext`), `subjectAltName=${sans.map((h) => "DNS:" + h).join(",")}\n`);
    ossl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.pem`);
  };
  leaf("provider", PROVIDER_HOSTS);
  leaf("wasm-server", [WASM_SERVER]);
  leaf("envoy", ["envoy"]);
  caFile = join(tmp, "ca.pem");
  const b64 = (f: string) => readFileSync(join(tmp, f)).toString("base64");
  envoySecret = stringify({ apiVersion: "v1", kind: "Secret", type: "kubernetes.io/tls", metadata: { name: "envoy", namespace: "envoy-gateway-system" },
    data: { "ca.crt": b64("ca.pem"), "tls.crt": b64("envoy.pem"), "tls.key": b64("envoy.key") } });

  mocks = await startMockProviders({ host: "127.0.0.1", port: 0 });
  // TLS in front of the mock providers (they speak plain HTTP): records the SNI Envoy sends.
  tlsFront = tls.createServer({ cert: readFileSync(join(tmp, "provider.pem")), key: readFileSync(join(tmp, "provider.key")) }, (s) => {
    sni.push(String((s as unknown as { servername: string | false }).servername));
    const up = net.connect(mocks.mock.port, "127.0.0.1");
    s.pipe(up).pipe(s);
    const close = () => { s.destroy(); up.destroy(); };
    s.on("error", close); up.on("error", close);
  });
  await new Promise<void>((r) => tlsFront.listen(0, "127.0.0.1", () => r()));
  const wasm = readFileSync(WASM);
  wasmOrigin = createServer((req, res) => {
    if (req.url === "/ai-gateway.wasm") { res.writeHead(200, { "content-type": "application/wasm", "content-length": wasm.length }); res.end(wasm); }
    else { res.writeHead(404); res.end(); }
  });
  await new Promise<void>((r) => wasmOrigin.listen(0, "127.0.0.1", () => r()));
  wasmServing = http2.createSecureServer({ cert: readFileSync(join(tmp, "wasm-server.pem")), key: readFileSync(join(tmp, "wasm-server.key")),
    ca: readFileSync(caFile), requestCert: true, rejectUnauthorized: true }, (req, res) => {
    wasmGets.push(req.url);
    if (servingPath && req.url === servingPath) { res.writeHead(200, { "content-type": "application/wasm" }); res.end(wasm); }
    else { res.writeHead(404); res.end(); }
  });
  await new Promise<void>((r) => wasmServing.listen(0, "127.0.0.1", () => r()));
}, { timeout: 1_800_000 });

after(async () => {
  await mocks?.stop();
  tlsFront?.close();
  wasmOrigin?.close();
  wasmServing?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const port = (s: net.Server) => (s.address() as AddressInfo).port;

/** The shipped manifests with the policy rendered for the local module URL (`keep` drops
 *  documents), plus the Secret Envoy Gateway's install creates (certgen) for its proxies. */
function manifests(keep: (doc: any) => boolean = () => true): string {
  const url = `http://127.0.0.1:${port(wasmOrigin)}/ai-gateway.wasm`;
  const docs = [...parseAllDocuments(BASE).map((d) => d.toJS()), ...parseAllDocuments(renderHttpPolicy(url, readFileSync(WASM))).map((d) => d.toJS())];
  return [...docs.filter((d) => d && keep(d)).map((d) => stringify(d)), envoySecret].join("---\n");
}

const WASM_FILTER = "envoy.filters.http.wasm/envoyextensionpolicy/ai-gateway/ai-gateway/wasm/0";

function wasmFilterOf(t: Translation): any {
  const [x] = Object.values(t.xds);
  const l = x.listeners.find((l: any) => l.name === "ai-gateway/ai-gateway/http");
  assert.ok(l, `listener ai-gateway/ai-gateway/http in ${x.listeners.map((l: any) => l.name).join(", ")}`);
  const chains = [l.default_filter_chain, ...(l.filter_chains ?? [])].filter(Boolean);
  const hcm = chains.flatMap((c: any) => c.filters).find((f: any) => f.name === "envoy.filters.network.http_connection_manager");
  const f = hcm.typed_config.http_filters.find((h: any) => h.name === WASM_FILTER);
  assert.ok(f, `http filter ${WASM_FILTER} in ${hcm.typed_config.http_filters.map((h: any) => h.name).join(", ")}`);
  return f.typed_config.config;
}

async function runInEnvoy(t: Translation): Promise<{ envoy: EnvoyProcess; listen: number; substituted: string[] }> {
  const served = t.wasm.find((w) => w.policy === "envoyextensionpolicy/ai-gateway/ai-gateway/wasm/0");
  assert.ok(served, `Envoy Gateway's cache served the module: ${JSON.stringify(t.wasm)}`);
  const u = new URL(served.servingUrl);
  servingPath = u.pathname;
  const subs = {
    addresses: {
      ...Object.fromEntries(PROVIDER_HOSTS.map((h) => [`${h}:443`, { address: "127.0.0.1", port: port(tlsFront) }])),
      [`${u.hostname}:${u.port}`]: { address: "127.0.0.1", port: port(wasmServing) },
    },
    caFiles: { [SYSTEM_CA]: caFile, [CONTROL_PLANE_CA]: caFile },
    logFiles: { "/dev/stdout": join(tmp, "access.log") },
    listenerPorts: { 10080: 0, 19003: 0 },
  };
  const { config, substituted } = staticBootstrap(t, subs);
  // The Secret the EnvoyProxy reads the provider keys from: test values.
  const envoy = await EnvoyProcess.start({ bin: envoyBinary("newest", { install: true }), bootstrap: config, concurrency: 1,
    env: { ...fakeEnv(["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]), PATH: process.env.PATH }, readyTimeoutMs: 60_000 });
  const listen = envoy.listenerPorts.get("ai-gateway/ai-gateway/http");
  assert.ok(listen, `the Gateway's listener is bound (${[...envoy.listenerPorts.keys()].join(", ")})`);
  return { envoy, listen, substituted };
}

async function post(listen: number, path: string, headers: Record<string, string>, body: unknown, timeoutMs = 15_000) {
  const r = await fetch(`http://127.0.0.1:${listen}${path}`, {
    method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await r.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, text, json };
}

test(`Envoy Gateway ${EG_VERSION} accepts the manifests and applies the EnvoyPatchPolicy (its own translators)`, async (t) => {
  const tr = await translate(manifests());
  assert.equal(tr.envoyGateway, EG_VERSION);
  assert.deepEqual(tr.envoyProxyErrors, [], "the GatewayClass parameters (EnvoyProxy) are valid");
  const kinds = tr.statuses.map((s) => s.kind).sort();
  for (const k of ["Gateway", "HTTPRoute", "Backend", "BackendTLSPolicy", "EnvoyExtensionPolicy", "EnvoyPatchPolicy"]) assert.ok(kinds.includes(k), `${k} translated (${kinds.join(", ")})`);
  const bad = tr.statuses.flatMap((s) => conditionsOf(s.status).filter((c) => c.status !== "True").map((c) => `${s.kind} ${s.name}: ${c.type}=${c.status} ${c.reason}: ${c.message}`));
  assert.deepEqual(bad, [], "every condition True");
  for (const s of tr.statuses.filter((s) => s.kind !== "Backend")) {
    assert.ok(conditionsOf(s.status).some((c) => c.type === "Accepted" && c.status === "True"), `${s.kind} ${s.name} Accepted`);
  }
  const patch = tr.patchStatuses.flatMap((p) => conditionsOf(p.status).map((c) => `${p.namespace}/${p.name} ${c.type}=${c.status} ${c.reason}`));
  assert.ok(patch.includes("ai-gateway/ai-gateway-wasm-settings Programmed=True Programmed"), `patch statuses: ${patch.join("; ")}`);
  // The generated filter, patched.
  const cfg = wasmFilterOf(tr);
  assert.equal(cfg.allow_on_headers_stop_iteration, true);
  assert.equal(cfg.failure_policy, "FAIL_RELOAD"); // the shipped policy (envoy/envoy.yaml explains why)
  assert.equal(cfg.root_id, "ai_gateway");
  const sha = createHash("sha256").update(readFileSync(WASM)).digest("hex");
  assert.equal(cfg.vm_config.code.remote.sha256, sha, "Envoy checks the module Envoy Gateway downloaded and verified");
  assert.deepEqual(cfg.vm_config.environment_variables.host_env_keys, ["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]);
  // The stats tags merged into Envoy Gateway's bootstrap by the EnvoyProxy.
  const tags = tr.bootstrap.stats_config?.stats_tags?.map((s: any) => s.tag_name) ?? [];
  assert.ok(tags.includes("gen_ai.request.model") && tags.includes("ai_gateway.limit.decision"), `stats tags in the bootstrap: ${tags.join(", ")}`);
  t.diagnostic(`Envoy Gateway ${tr.envoyGateway}: ${tr.statuses.map((s) => `${s.kind} ${s.name}`).join(", ")} Accepted; patch Programmed`);
});

test(`the Envoy config Envoy Gateway ${EG_VERSION} generates serves chat, Messages and the token limit through the filter in real Envoy`, { timeout: 180_000 }, async (t) => {
  const tr = await translate(manifests());
  const { envoy, listen, substituted } = await runInEnvoy(tr);
  t.diagnostic(`Envoy ${envoy.version}; substituted: ${substituted.join("; ")}`);
  try {
    assert.ok(wasmGets.includes(servingPath), `Envoy fetched the module from Envoy Gateway's serving URL (${wasmGets.join(", ")})`);
    const first = mocks.mock.requests.length;
    // Chat to OpenAI.
    const chat = await post(listen, "/v1/chat/completions", { authorization: "Bearer demo-key-team-a" },
      { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] });
    assert.equal(chat.status, 200, chat.text);
    assert.equal(chat.json.object, "chat.completion");
    // Chat translated to Anthropic.
    const claude = await post(listen, "/v1/chat/completions", { authorization: "Bearer demo-key-team-b" },
      { model: "claude-sonnet-4-5", messages: [{ role: "user", content: "Hi" }] });
    assert.equal(claude.status, 200, claude.text);
    assert.equal(claude.json.object, "chat.completion");
    // Anthropic Messages.
    const messages = await post(listen, "/v1/messages", { "x-api-key": "demo-key-team-b", "anthropic-version": "2023-06-01" },
      { model: "claude-sonnet-4-5", max_tokens: 100, messages: [{ role: "user", content: "Hi" }] });
    assert.equal(messages.status, 200, messages.text);
    assert.equal(messages.json.type, "message");

    const seen = mocks.mock.requests.slice(first).map((r) => ({ path: r.path, auth: r.headers.authorization ?? r.headers["x-api-key"], routeHeader: r.headers["x-ai-gateway-cluster"] }));
    assert.deepEqual(seen, [
      { path: "/v1/chat/completions", auth: "Bearer fake-openai_api_key-value", routeHeader: undefined },
      { path: "/v1/messages", auth: "fake-anthropic_api_key-value", routeHeader: undefined },
      { path: "/v1/messages", auth: "fake-anthropic_api_key-value", routeHeader: undefined },
    ]);
    assert.deepEqual([...new Set(sni)].sort(), PROVIDER_HOSTS.slice().sort(), "SNI per BackendTLSPolicy");

    // The local limit (1000 tokens per client per minute): an estimate over what is left is refused.
    const limited = await post(listen, "/v1/chat/completions", { authorization: "Bearer demo-key-team-a" },
      { model: "gpt-4o-mini", max_tokens: 5000, messages: [{ role: "user", content: "Hi" }] });
    assert.equal(limited.status, 429, limited.text);
    assert.equal(limited.json.error.code, "rate_limit_exceeded");
    assert.match(limited.json.error.message, /rule client-minute/);
    assert.equal(mocks.mock.requests.length, first + 3, "the limited request did not reach a provider");
    mocks.mock.assertNoFailures();
  } finally {
    await envoy.stop();
  }
});

test("without the EnvoyPatchPolicy the generated filter lacks allow_on_headers_stop_iteration and no request reaches a provider", { timeout: 120_000 }, async (t) => {
  const tr = await translate(manifests((d) => d.kind !== "EnvoyPatchPolicy"));
  const cfg = wasmFilterOf(tr);
  assert.equal(cfg.allow_on_headers_stop_iteration, undefined);
  assert.equal(cfg.failure_policy, undefined);
  const { envoy, listen } = await runInEnvoy(tr);
  try {
    const first = mocks.mock.requests.length;
    const r = await post(listen, "/v1/chat/completions", { authorization: "Bearer demo-key-team-a" },
      { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] }, 5_000).catch((e) => ({ status: 0, text: String(e), json: undefined }));
    assert.notEqual(r.status, 200, r.text);
    assert.equal(mocks.mock.requests.length, first, "no request reached a provider");
    t.diagnostic(`without the patch: ${r.status === 0 ? "no answer within 5 s" : `status ${r.status}`} (${r.text.slice(0, 120)})`);
  } finally {
    await envoy.stop();
  }
});
