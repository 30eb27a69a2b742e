// The Envoy Gateway example's request path, in the test host (no Kubernetes here): the routes
// Envoy Gateway derives from envoy/gateway/ai-gateway.yaml's HTTPRoute (Gateway API precedence:
// header-matching rules before the catch-all; the catch-all's HTTPRouteFilter direct response),
// the filter with the EnvoyExtensionPolicy's configuration, env and rootID, plus the two settings
// the EnvoyPatchPolicy adds. Mock providers stand in for the Backends (plain HTTP: TLS is not
// emulated). Shows that routing by the filter's header works through the route cache clear, and
// that without the patch (allow_on_headers_stop_iteration unset, Envoy Gateway's default) the
// filter never sees the body and the request never leaves Envoy.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Gateway } from "../support/gateway.ts";
import type { RouteConfig } from "../host/router.ts";
import { ROOT, WASM, readYamlDocuments, fakeEnv } from "./support.ts";
import { startMockProviders, type MockProviders } from "../../scripts/mock-providers.ts";

const dir = join(ROOT, "envoy", "gateway");
const base = readYamlDocuments(join(dir, "ai-gateway.yaml"));
const policy = readYamlDocuments(join(dir, "wasm-oci.yaml"))[0];
const patch = base.find((m) => m.kind === "EnvoyPatchPolicy");

function durationMs(d: string | undefined): number | undefined {
  if (d === undefined) return undefined;
  const m = /^(\d+)(ms|s|m|h)$/.exec(d);
  if (!m) throw new Error(`timeout ${d}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2] as "ms"];
}

/** Routes and clusters as Envoy Gateway would generate them for the HTTPRoute (the subset used). */
function fromHttpRoute(resolve: (host: string, port: number) => { host: string; port: number }) {
  const route = base.find((m) => m.kind === "HTTPRoute");
  const routes: RouteConfig[] = [], clusters: Record<string, { host: string; port: number }> = {};
  const rules = route.spec.rules.map((r: any, i: number) => ({ r, i }));
  // Gateway API precedence for equal paths: more header matches first; then the order given.
  rules.sort((a: any, b: any) => (b.r.matches[0].headers?.length ?? 0) - (a.r.matches[0].headers?.length ?? 0));
  for (const { r, i } of rules) {
    for (const m of r.matches) {
      assert.equal(m.path.type, "PathPrefix");
      const match = { prefix: m.path.value, headers: (m.headers ?? []).map((h: any) => ({ name: h.name, exact: h.value })) };
      const name = `httproute/${route.metadata.namespace}/${route.metadata.name}/rule/${i}`;
      if (r.backendRefs?.length) {
        const ref = r.backendRefs[0];
        const backend = base.find((x) => x.kind === "Backend" && x.metadata.name === ref.name);
        const fqdn = backend.spec.endpoints[0].fqdn;
        clusters[name] = resolve(fqdn.hostname, fqdn.port);
        routes.push({ name, match, cluster: name, timeoutMs: durationMs(r.timeouts?.request) ?? 15000 });
      } else {
        const ext = r.filters.find((f: any) => f.type === "ExtensionRef").extensionRef;
        const filter = base.find((x) => x.kind === ext.kind && x.metadata.name === ext.name);
        routes.push({ name, match, directResponse: { status: filter.spec.directResponse.statusCode, body: filter.spec.directResponse.body.inline } });
      }
    }
  }
  return { routes, clusters };
}

let mocks: MockProviders;
const env = fakeEnv(policy.spec.wasm[0].env.hostKeys);

before(async () => { mocks = await startMockProviders({ host: "127.0.0.1", port: 0 }); });
after(async () => { await mocks?.stop(); });

async function gateway(patched: boolean): Promise<Gateway> {
  const w = policy.spec.wasm[0];
  const settings = Object.fromEntries(patch.spec.jsonPatches.map((j: any) => [j.operation.path.slice(1), j.operation.value]));
  const { routes, clusters } = fromHttpRoute(() => ({ host: "127.0.0.1", port: mocks.mock.port }));
  return Gateway.start({
    wasm: WASM,
    plugin: {
      name: w.name, rootId: w.rootID, configuration: JSON.stringify(w.config), env,
      // Envoy Gateway sets only the legacy fail_open (false); the patch adds the other two.
      ...(patched ? { failurePolicy: settings.failure_policy, allowOnHeadersStopIteration: settings.allow_on_headers_stop_iteration } : { failOpen: w.failOpen, allowOnHeadersStopIteration: false }),
    },
    workers: 2, routes, clusters,
  });
}

const chat = (gw: Gateway, model: string, key?: string, signal?: AbortSignal) => fetch(gw.url + "/v1/chat/completions", {
  method: "POST", signal,
  headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
  body: JSON.stringify({ model, messages: [{ role: "user", content: "Hi" }], max_tokens: 200 }),
});

test("Envoy Gateway path: the filter's header selects the HTTPRoute rule, keys and limits apply", { timeout: 60_000 }, async () => {
  const gw = await gateway(true);
  try {
    assert.equal((await chat(gw, "claude-sonnet-4-5")).status, 401, "no gateway key");
    const r = await chat(gw, "claude-sonnet-4-5", "demo-key-team-a");
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal((await r.json()).object, "chat.completion");
    let up = mocks.mock.requests[mocks.mock.requests.length - 1];
    assert.equal(up.path, "/v1/messages", "routed by the header to the anthropic rule's Backend, translated");
    assert.equal(up.headers["x-api-key"], env.ANTHROPIC_API_KEY);
    const g = await chat(gw, "gpt-4o-mini", "demo-key-team-a");
    assert.equal(g.status, 200);
    up = mocks.mock.requests[mocks.mock.requests.length - 1];
    assert.equal(up.path, "/v1/chat/completions");
    assert.equal(up.headers.authorization, `Bearer ${env.OPENAI_API_KEY}`);
    // A model no backend serves: the filter's own 404, not the catch-all's.
    const unknown = await chat(gw, "mistral-large", "demo-key-team-a");
    assert.equal(unknown.status, 404);
    assert.notEqual((await unknown.json()).error.message, "no route");
    // The walkthrough's loop: the local limit (1000 tokens a minute) ends in 429.
    const codes: number[] = [];
    for (let i = 0; i < 60 && !codes.includes(429); i++) codes.push((await chat(gw, "gpt-4o-mini", "demo-key-team-b")).status);
    assert.ok(codes.includes(429), `no 429 in ${codes.length} requests`);
    assert.ok(codes.slice(0, -1).every((c) => c === 200) && codes.length > 3, codes.join(" "));
    mocks.mock.assertNoFailures();
  } finally {
    await gw.stop();
  }
});

test("without the EnvoyPatchPolicy (Envoy Gateway's filter settings alone) requests never reach a provider", { timeout: 30_000 }, async () => {
  const gw = await gateway(false);
  try {
    const before = mocks.mock.requests.length;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 1500);
    await assert.rejects(chat(gw, "claude-sonnet-4-5", "demo-key-team-a", ac.signal), /abort/i, "no answer: the filter waits for a body it is never given");
    clearTimeout(timer);
    assert.equal(mocks.mock.requests.length, before, "nothing went upstream");
  } finally {
    await gw.stop();
  }
});
