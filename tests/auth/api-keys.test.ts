// API-key backends (issue 4 item 1): where each provider expects its key (Authorization: Bearer,
// x-api-key + anthropic-version, Azure api-key, x-goog-api-key, ?key=), keys from the
// configuration and from the VM environment (plugin.env), round-robin rotation over several keys,
// and a key the provider answers with 401/403 being skipped on every worker until
// bad_key_seconds has passed. The upstream is a real server that checks the credential it gets
// the way the provider would, and answers 401 otherwise.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import type { Gateway } from "../support/gateway.ts";
import { assertChatCompletion, assertErrorResponse } from "../support/openai-schema.ts";
import {
  Upstream, startGateway, chat, okFor, unauthorized, assertHealthy, waitForLines, headerValues, one, secret, wireText, sleep,
  type Seen, type Reply,
} from "./support.ts";

const started: { gw: Gateway; up: Upstream }[] = [];
after(async () => { for (const s of started) { await s.gw.stop(); await s.up.stop(); } });

/** What a client sends along; none of it may reach a provider. */
const CLIENT = {
  authorization: "Bearer sk-client-CLIENTSECRET-1",
  "x-api-key": "client-CLIENTSECRET-2",
  "api-key": "client-CLIENTSECRET-3",
  "x-goog-api-key": "client-CLIENTSECRET-4",
  "proxy-authorization": "Basic Y2xpZW50OkNMSUVOVFNFQ1JFVA==",
  "openai-organization": "org-CLIENTSECRET",
  "openai-project": "proj-CLIENTSECRET",
};
const CREDENTIAL_HEADERS = ["authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "openai-organization", "openai-project"];

test("each API-key type puts the backend's key where its provider expects it; client credentials never go upstream", async () => {
  const K = {
    openai: secret("sk-openai"), openaiEnv: secret("sk-openai-env"), anthropicEnv: secret("sk-ant-env"),
    azure: secret("azkey"), googHeader: secret("AIzaHeader"),
    // Characters that must be percent-encoded in a query string.
    googQuery: "AIza+/=&?#%" + secret("q"),
  };
  // The provider's view: which credential each host accepts, and exactly how it must arrive.
  const accepts: Record<string, (r: Seen) => boolean> = {
    "api.openai.com": (r) => headerValues(r, "authorization").join() === `Bearer ${K.openai}` || headerValues(r, "authorization").join() === `Bearer ${K.openaiEnv}`,
    "api.anthropic.com": (r) => headerValues(r, "x-api-key").join() === K.anthropicEnv && headerValues(r, "anthropic-version").join() === "2023-06-01",
    "res.openai.azure.com": (r) => headerValues(r, "api-key").join() === K.azure,
    "generativelanguage.googleapis.com": (r) => headerValues(r, "x-goog-api-key").join() === K.googHeader || r.query.get("key") === K.googQuery,
  };
  const up = await Upstream.start((r): Reply => (accepts[String(r.headers.host)]?.(r) ? okFor(r) : unauthorized()));
  const gw = await startGateway({
    env: { OPENAI_KEY: K.openaiEnv, ANTHROPIC_KEY: K.anthropicEnv, UNRELATED: "x" },
    clusters: { openai: up.port, anthropic: up.port, azure: up.port, gemini: up.port },
    config: {
      backends: [
        { name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: K.openai } },
        { name: "openai-env", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", env: "OPENAI_KEY" } },
        { name: "claude", schema: "anthropic", cluster: "anthropic", host: "api.anthropic.com", auth: { type: "header", header: "x-api-key", env: "ANTHROPIC_KEY" } },
        { name: "azure", schema: "azure-openai", cluster: "azure", host: "res.openai.azure.com", auth: { type: "header", header: "api-key", key: K.azure } },
        { name: "gemini-h", schema: "openai", cluster: "gemini", host: "generativelanguage.googleapis.com", base_path: "/v1beta/openai", auth: { type: "header", header: "X-Goog-Api-Key", key: K.googHeader } },
        { name: "gemini-q", schema: "openai", cluster: "gemini", host: "generativelanguage.googleapis.com", base_path: "/v1beta/openai", auth: { type: "query", param: "key", key: K.googQuery } },
      ],
      models: [
        { match: "gpt-4o", backend: "openai" },
        { match: "env-gpt", backend: "openai-env", upstream_model: "gpt-4o" },
        { match: "claude-*", backend: "claude" },
        { match: "az-*", backend: "azure" },
        { match: "gemini-h", backend: "gemini-h", upstream_model: "gemini-2.0-flash" },
        { match: "gemini-q", backend: "gemini-q", upstream_model: "gemini-2.0-flash" },
      ],
    },
  });
  started.push({ gw, up });

  const cases: { model: string; host: string; url: string; cred: [string, string] | null; extra?: [string, string][] }[] = [
    { model: "gpt-4o", host: "api.openai.com", url: "/v1/chat/completions", cred: ["authorization", `Bearer ${K.openai}`] },
    { model: "env-gpt", host: "api.openai.com", url: "/v1/chat/completions", cred: ["authorization", `Bearer ${K.openaiEnv}`] },
    { model: "claude-sonnet-4-5", host: "api.anthropic.com", url: "/v1/messages", cred: ["x-api-key", K.anthropicEnv], extra: [["anthropic-version", "2023-06-01"]] },
    { model: "az-gpt4o", host: "res.openai.azure.com", url: "/openai/deployments/az-gpt4o/chat/completions?api-version=2024-10-21", cred: ["api-key", K.azure] },
    { model: "gemini-h", host: "generativelanguage.googleapis.com", url: "/v1beta/openai/chat/completions", cred: ["x-goog-api-key", K.googHeader] },
    { model: "gemini-q", host: "generativelanguage.googleapis.com", url: "/v1beta/openai/chat/completions?key=" + encodeURIComponent(K.googQuery), cred: null },
  ];
  for (const c of cases) {
    const before = up.requests.length;
    const res = await chat(gw, c.model, CLIENT);
    assert.equal(res.status, 200, `${c.model}: ${res.text}`);
    assertChatCompletion(res.json, `${c.model} answer`);
    assert.equal(up.requests.length, before + 1, `${c.model}: one upstream request`);
    const r = up.requests[before];
    assert.equal(one(r, "host"), c.host, c.model);
    assert.equal(r.url, c.url, `${c.model}: upstream URL`);
    for (const name of CREDENTIAL_HEADERS) {
      const want = c.cred && c.cred[0] === name ? [c.cred[1]] : [];
      assert.deepEqual(headerValues(r, name), want, `${c.model}: upstream ${name}`);
    }
    for (const [n, v] of c.extra ?? []) assert.equal(one(r, n), v, `${c.model}: ${n}`);
    assert.ok(!wireText(r).includes("CLIENTSECRET"), `${c.model}: a client credential reached the provider:\n${wireText(r)}`);
  }
  // The query key is decoded by the provider to exactly the configured key, and is the only query
  // parameter the gateway added.
  const q = up.requests[up.requests.length - 1];
  assert.deepEqual([...q.query.keys()], ["key"]);
  assert.equal(q.query.get("key"), K.googQuery);
  await assertHealthy(gw);
});

test("several keys rotate round-robin on each worker (keys from the configuration and from the VM environment)", async () => {
  const keys = [secret("k1"), secret("k2"), secret("k3")];
  const envKeys = { ROT_A: secret("e1"), ROT_B: secret("e2") };
  const up = await Upstream.start((r) => okFor(r));
  const gw = await startGateway({
    env: envKeys, clusters: { openai: up.port },
    config: {
      backends: [
        { name: "cfg", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: keys } },
        { name: "env", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "header", header: "x-api-key", env: ["ROT_A", "ROT_B"] } },
      ],
      models: [{ match: "cfg-model", backend: "cfg" }, { match: "env-model", backend: "env" }],
    },
  });
  started.push({ gw, up });

  // Sequential requests, each on a new connection (connections are spread over the workers).
  // Each worker keeps its own round-robin position; the log line says which worker served.
  const used = new Map<number, string[]>();
  const usedEnv = new Map<number, string[]>();
  const from = gw.logs.length;
  // At least 12 requests, and on until both workers served config-key requests (the kernel, not
  // the test, picks the worker of each connection).
  for (let i = 0; i < 40 && (i < 12 || used.size < 2); i++) {
    const model = i % 3 === 2 ? "env-model" : "cfg-model";
    const res = await chat(gw, model);
    assert.equal(res.status, 200, res.text);
    const lines = await waitForLines(gw, from, i + 1);
    const worker = lines[i].vm;
    const r = up.requests[i];
    const m = model === "cfg-model" ? used : usedEnv;
    if (!m.has(worker)) m.set(worker, []);
    m.get(worker)!.push(model === "cfg-model" ? one(r, "authorization").replace(/^Bearer /, "") : one(r, "x-api-key"));
  }
  assert.equal(used.size, 2, "both workers served requests");
  for (const [w, seq] of used) {
    assert.deepEqual(seq, seq.map((_, i) => keys[i % 3]), `worker ${w}: config keys in round-robin order`);
  }
  for (const [w, seq] of usedEnv) {
    assert.deepEqual(seq, seq.map((_, i) => [envKeys.ROT_A, envKeys.ROT_B][i % 2]), `worker ${w}: env keys in round-robin order`);
  }
  await assertHealthy(gw);
});

test("with one worker the rotation sequence over consecutive requests is k1 k2 k3 k1 k2 k3 k1", async () => {
  const keys = [secret("k1"), secret("k2"), secret("k3")];
  const up = await Upstream.start((r) => okFor(r));
  const gw = await startGateway({
    workers: 1, clusters: { openai: up.port },
    config: { backends: [{ name: "o", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: keys } }], models: [{ match: "m", backend: "o" }] },
  });
  started.push({ gw, up });
  for (let i = 0; i < 7; i++) assert.equal((await chat(gw, "m")).status, 200);
  assert.deepEqual(up.requests.map((r) => one(r, "authorization")), [0, 1, 2, 0, 1, 2, 0].map((i) => `Bearer ${keys[i]}`));
  await assertHealthy(gw);
});

/** Gateway with keys k1..k3 on two workers and a provider that refuses the keys in `revoked`. */
async function rotatingGateway(badKeySeconds: number, refuseWith: 401 | 403) {
  const keys = [secret("k1"), secret("k2"), secret("k3")];
  const revoked = new Set<string>();
  const up = await Upstream.start((r): Reply => {
    const k = String(r.headers.authorization ?? "").replace(/^Bearer /, "");
    if (!keys.includes(k) || revoked.has(k)) return refuseWith === 401 ? unauthorized() : { status: 403, body: { error: { message: "Key disabled.", type: "invalid_request_error", param: null, code: "forbidden" } } };
    return okFor(r);
  });
  const gw = await startGateway({
    workers: 2, clusters: { openai: up.port },
    config: {
      backends: [{ name: "o", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: keys, bad_key_seconds: badKeySeconds } }],
      models: [{ match: "m", backend: "o" }],
    },
  });
  started.push({ gw, up });
  const from = gw.logs.length;
  let n = 0;
  /** One request on a new connection; returns the key used upstream, the status and the worker. */
  const go = async () => {
    const before = up.requests.length;
    const second = Math.floor(Date.now() / 1000);
    const res = await chat(gw, "m");
    const line = (await waitForLines(gw, from, ++n))[n - 1];
    assert.equal(up.requests.length, before + 1);
    const key = one(up.requests[before], "authorization").replace(/^Bearer /, "");
    return { key: keys.indexOf(key) + 1, status: res.status, worker: line.vm, second, res };
  };
  return { keys, revoked, up, gw, go };
}

/** Waits until the wall clock (the host's clock, whole seconds in the filter) is early in a second. */
async function startOfSecond(): Promise<number> {
  while (Date.now() % 1000 > 30) await sleep(Math.max(1, 1000 - (Date.now() % 1000)));
  return Math.floor(Date.now() / 1000);
}

test("a key answered with 401 on one worker is skipped by the other worker right away", async () => {
  const BAD = 30;
  const { keys, revoked, go, gw } = await rotatingGateway(BAD, 401);
  const S = await startOfSecond();
  // Envoy spreads connections over workers by the kernel: send until both workers have served
  // (each has then looked at the shared penalties during second S). Each worker rotates on its own.
  const warm: Awaited<ReturnType<typeof go>>[] = [];
  while (new Set(warm.map((x) => x.worker)).size < 2 && warm.length < 30) warm.push(await go());
  for (const w of [0, 1]) {
    const seq = warm.filter((x) => x.worker === w).map((x) => x.key);
    assert.ok(seq.length > 0, `worker ${w} served one of ${warm.length} requests`);
    assert.deepEqual(seq, seq.map((_, i) => (i % 3) + 1), `worker ${w} rotates k1 k2 k3 from k1`);
  }
  assert.ok(warm.every((x) => x.status === 200));
  revoked.add(keys[0]);
  // Until a worker's rotation reaches k1 and the provider refuses it.
  let refused: Awaited<ReturnType<typeof go>> | undefined;
  for (let i = 0; i < 12 && !refused; i++) {
    const x = await go();
    if (x.key === 1) refused = x;
    else assert.equal(x.status, 200);
  }
  assert.ok(refused, "a worker came back to k1");
  assert.equal(refused.status, 401, "k1 is refused by the provider");
  assertErrorResponse(refused.res.json, "the provider's 401 reaches the client as an OpenAI error");
  // From now on, no worker may send k1 while its penalty lasts: a full rotation on each worker.
  const next: Awaited<ReturnType<typeof go>>[] = [];
  const served = (w: number) => next.filter((x) => x.worker === w).length;
  while ((served(0) < 3 || served(1) < 3) && next.length < 40) next.push(await go());
  assert.ok(served(0) >= 3 && served(1) >= 3, `both workers served 3 requests: ${JSON.stringify(next.map((x) => x.worker))}`);
  // The filter reads the shared penalties on every request: the other worker's very first request
  // after the 401 already skips k1 (checked below with the rest), as long as the penalty lasts.
  assert.ok(next.every((x) => x.second < S + BAD), "the sequence ran within the penalty (timing assumption of this test)");
  assert.deepEqual(next.filter((x) => x.key === 1).map((x) => `worker ${x.worker} used k1 (status ${x.status})`), [],
    "after the 401 on one worker, every worker skips k1");
  assert.ok(next.every((x) => x.status === 200));
  await assertHealthy(gw);
});

test("a key answered with 403 is skipped on every worker until bad_key_seconds has passed, then used again", async () => {
  const BAD = 3;
  const { keys, revoked, go, gw } = await rotatingGateway(BAD, 403);
  await startOfSecond();
  revoked.add(keys[0]);
  const first = await go();
  assert.deepEqual([first.key, first.status], [1, 403]);
  const S = Math.floor(Date.now() / 1000);
  // Skip into the next second: every worker has then re-read the shared penalties.
  await sleep((S + 1) * 1000 - Date.now() + 20);
  revoked.delete(keys[0]); // the provider accepts k1 again; the gateway must still wait for the penalty to end
  const during = [];
  while (Date.now() < (S + BAD) * 1000 - 150) { during.push(await go()); await sleep(40); }
  assert.ok(during.length >= 10, `enough requests during the penalty (${during.length})`);
  assert.deepEqual(new Set(during.map((x) => x.worker)), new Set([0, 1]), "both workers served");
  assert.deepEqual(during.filter((x) => x.key === 1).map((x) => `worker ${x.worker}`), [], `no worker uses k1 for ${BAD} s`);
  assert.ok(during.every((x) => x.status === 200));
  // The penalty ends at S + bad_key_seconds (whole seconds): k1 is back in both workers' rotation.
  await sleep((S + BAD) * 1000 - Date.now() + 50);
  // Until both workers came back to k1 (each rotates on its own; the kernel picks the worker).
  const afterwards: Awaited<ReturnType<typeof go>>[] = [];
  const k1Workers = new Set<number>();
  while (k1Workers.size < 2 && afterwards.length < 30) {
    const x = await go();
    afterwards.push(x);
    if (x.key === 1) k1Workers.add(x.worker);
  }
  assert.deepEqual(k1Workers, new Set([0, 1]), `k1 used again on both workers: ${JSON.stringify(afterwards.map((x) => [x.worker, x.key]))}`);
  assert.ok(afterwards.every((x) => x.status === 200));
  await assertHealthy(gw);
});

test("a single key answered with 401 keeps being used (nothing to rotate to); the 401 reaches the client", async () => {
  const key = secret("only");
  const up = await Upstream.start(() => unauthorized());
  const gw = await startGateway({
    clusters: { openai: up.port },
    config: { backends: [{ name: "o", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key, bad_key_seconds: 60 } }], models: [{ match: "m", backend: "o" }] },
  });
  started.push({ gw, up });
  for (let i = 0; i < 3; i++) {
    const res = await chat(gw, "m");
    assert.equal(res.status, 401);
    assertErrorResponse(res.json);
  }
  assert.deepEqual(up.requests.map((r) => one(r, "authorization")), Array(3).fill(`Bearer ${key}`));
  await assertHealthy(gw);
});
