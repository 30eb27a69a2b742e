// GCP service-account auth (issue 4 item 3): the filter signs an RS256 JWT assertion with the
// service account's key and trades it for an access token at the key file's token_uri, through
// http_call on the token cluster. The local token endpoint verifies the signature with
// node:crypto (the public half of a key pair generated for the test) and the claims; Vertex AI
// (OpenAI-compatible endpoint) accepts only tokens that endpoint issued.
// Covered: requests waiting for the first token (one fetch per worker at most), the token shared
// across workers, refresh ahead of expiry in the background, an expired token not being used,
// token-endpoint failures (500, refused, hanging past timeout_ms, no token) answered with 503
// upstream_auth_unavailable in bounded time, a 401 dropping the token, a client leaving while
// it waits.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import type { Gateway } from "../support/gateway.ts";
import { assertChatCompletion, assertErrorResponse } from "../support/openai-schema.ts";
import { Upstream, startGateway, chat, okFor, unauthorized, assertHealthy, waitForLines, closedPort, sleep, until, untilAnotherWorker, type Answer } from "./support.ts";
import { GoogleTokenEndpoint, bearerOf } from "./tokens.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => { for (const c of cleanup.reverse()) await c(); });

const VERTEX_HOST = "us-central1-aiplatform.googleapis.com";
const BASE = "/v1beta1/projects/auth-test-project/locations/us-central1/endpoints/openapi";

interface Setup { gw: Gateway; google: GoogleTokenEndpoint; vertex: Upstream }

async function setup(o: { workers?: number; timeoutMs?: number; tokenPort?: number; credentialsAs?: "object" | "string" | "env"; scope?: string } = {}): Promise<Setup> {
  const google = await GoogleTokenEndpoint.start(o.scope);
  const vertex = await Upstream.start((r) => (google.valid(bearerOf(r)) ? okFor(r) : unauthorized("Request had invalid authentication credentials.")));
  const auth: Record<string, unknown> = { type: "gcp-service-account", token_cluster: "gcp_oauth" };
  if (o.timeoutMs) auth.timeout_ms = o.timeoutMs;
  if (o.scope) auth.scope = o.scope;
  const env: Record<string, string> = {};
  if (o.credentialsAs === "env") { auth.credentials_env = "GOOGLE_SA_KEY"; env.GOOGLE_SA_KEY = JSON.stringify(google.key, null, 2); }
  else auth.credentials = o.credentialsAs === "string" ? JSON.stringify(google.key) : google.key;
  const gw = await startGateway({
    workers: o.workers ?? 2, env,
    clusters: { vertex: vertex.port, gcp_oauth: o.tokenPort ?? google.port },
    config: {
      backends: [{ name: "vertex", schema: "openai", cluster: "vertex", host: VERTEX_HOST, base_path: BASE, auth }],
      models: [{ match: "google/*", backend: "vertex" }],
    },
  });
  cleanup.push(async () => { await gw.stop(); await vertex.stop(); await google.stop(); });
  return { gw, google, vertex };
}

const MODEL = "google/gemini-2.0-flash";

function assertAuthUnavailable(a: Answer, what: string): void {
  assert.equal(a.status, 503, `${what}: ${a.text}`);
  assert.match(String(a.headers["content-type"]), /^application\/json/);
  assertErrorResponse(a.json, what);
  assert.equal(a.json.error.code, "upstream_auth_unavailable", what);
  assert.equal(a.json.error.type, "server_error", what);
}

test("5 concurrent first requests wait for the token and all succeed; one fetch per worker at most; the JWT verifies", async () => {
  const { gw, google, vertex } = await setup({ credentialsAs: "object" });
  google.delayMs = 300; // all five arrive before the first token
  const from = gw.logs.length;
  const answers = await Promise.all(Array.from({ length: 5 }, () => chat(gw, MODEL)));
  for (const [i, a] of answers.entries()) {
    assert.equal(a.status, 200, `request ${i}: ${a.text}`);
    assertChatCompletion(a.json, `request ${i}`);
    assert.ok(a.ms >= 250, `request ${i} waited for the token (${a.ms.toFixed(0)} ms)`);
  }
  assert.deepEqual(google.rejected, [], "every assertion verified");
  const lines = await waitForLines(gw, from, 5);
  // Which workers the five connections land on is the kernel's choice: one or both.
  const workers = new Set(lines.map((l) => l.vm));
  assert.ok(google.fetches >= 1 && google.fetches <= workers.size, `token fetches: ${google.fetches} (at most one per worker)`);
  assert.equal(vertex.requests.length, 5);
  for (const r of vertex.requests) {
    assert.ok(google.valid(bearerOf(r)), `Vertex got an issued token: ${r.headers.authorization}`);
    assert.equal(r.url, `${BASE}/chat/completions`);
    assert.equal(r.headers.host, VERTEX_HOST);
  }
  // Later requests on both workers reuse the cached token: no more fetches.
  const fetched = google.fetches;
  google.delayMs = 0;
  for (let i = 0; i < 6; i++) assert.equal((await chat(gw, MODEL)).status, 200);
  assert.equal(google.fetches, fetched, "no fetch while the token is fresh");
  await assertHealthy(gw);
});

test("the token fetched by one worker is used by the other worker without a fetch of its own (key file from the VM environment)", async () => {
  const { gw, google, vertex } = await setup({ credentialsAs: "env" });
  const from = gw.logs.length;
  const a = await chat(gw, MODEL);
  assert.equal(a.status, 200, a.text);
  const [first] = await waitForLines(gw, from, 1);
  const more = await untilAnotherWorker(gw, first.vm, () => chat(gw, MODEL));
  for (const m of more) assert.equal(m.result.status, 200, m.result.text);
  assert.equal(google.fetches, 1, "one fetch for both workers");
  for (const r of vertex.requests) assert.equal(bearerOf(r), bearerOf(vertex.requests[0]));
  await assertHealthy(gw);
});

test("a token with less than 5 minutes left is refreshed in the background: the request does not wait, the next ones use the new token", async () => {
  const { gw, google, vertex } = await setup({ workers: 1, credentialsAs: "string" });
  google.expiresIn = [200, 3599];
  const first = await chat(gw, MODEL);
  assert.equal(first.status, 200, first.text);
  const [t1] = google.tokens;
  google.delayMs = 400;
  const second = await chat(gw, MODEL);
  assert.equal(second.status, 200, second.text);
  assert.equal(bearerOf(vertex.requests[1]), t1, "the still-valid token is used meanwhile");
  assert.ok(second.ms < 300, `the request did not wait for the refresh (${second.ms.toFixed(0)} ms)`);
  await until("the background refresh", () => google.issued.length === 2);
  await sleep(50);
  const t2 = google.tokens[1];
  for (let i = 0; i < 3; i++) assert.equal((await chat(gw, MODEL)).status, 200);
  assert.deepEqual(vertex.requests.slice(2).map(bearerOf), [t2, t2, t2], "the refreshed token is used");
  assert.equal(google.fetches, 2, "one refresh; the new token (3599 s) needs none");
  await assertHealthy(gw);
});

test("a token refreshed by one worker is adopted by the other worker (one refresh, not one per worker)", async () => {
  const { gw, google, vertex } = await setup({ workers: 2 });
  google.expiresIn = [200, 3599];
  assert.equal((await chat(gw, MODEL)).status, 200); // a worker fetches t1 (200 s)
  assert.equal((await chat(gw, MODEL)).status, 200); // a worker uses t1 and starts the refresh
  await until("the background refresh", () => google.issued.length === 2);
  await sleep(50);
  const t2 = google.tokens[1];
  // On until both workers served after the refresh (the kernel picks the worker of a connection).
  const seen = vertex.requests.length, afterFrom = gw.logs.length;
  const workers = new Set<number>();
  for (let i = 0; i < 30 && (i < 4 || workers.size < 2); i++) {
    assert.equal((await chat(gw, MODEL)).status, 200);
    workers.add((await waitForLines(gw, afterFrom, i + 1))[i].vm);
  }
  assert.equal(workers.size, 2, "both workers served after the refresh");
  assert.deepEqual(vertex.requests.slice(seen).map((r) => (bearerOf(r) === t2 ? "t2" : bearerOf(r) === google.tokens[0] ? "t1" : bearerOf(r))).filter((t) => t !== "t2"), [],
    "after the refresh every worker uses the new token");
  assert.equal(google.fetches, 2, `token fetches: ${google.fetches} (one initial + one refresh)`);
  await assertHealthy(gw);
});

test("a token with 60 s or less left is not used: the next request waits for a new one", async () => {
  const { gw, google, vertex } = await setup({ workers: 1 });
  google.expiresIn = [62, 3599]; // usable for 1-2 s (the filter drops tokens with <= 60 s left)
  assert.equal((await chat(gw, MODEL)).status, 200);
  const [t1] = google.tokens;
  const fetchedAt = Math.floor(google.issued[0].at / 1000);
  await sleep((fetchedAt + 2) * 1000 - Date.now() + 30);
  google.delayMs = 200;
  const a = await chat(gw, MODEL);
  assert.equal(a.status, 200, a.text);
  assert.equal(google.fetches, 2);
  assert.notEqual(bearerOf(vertex.requests[1]), t1, "the expiring token was not sent");
  assert.equal(bearerOf(vertex.requests[1]), google.tokens[1]);
  assert.ok(a.ms >= 180, `the request waited for the new token (${a.ms.toFixed(0)} ms)`);
  await assertHealthy(gw);
});

for (const failure of ["500", "refused", "hang", "no-token"] as const) {
  test(`token endpoint ${failure}: each of 5 waiting requests gets 503 upstream_auth_unavailable in bounded time; nothing leaks or hangs`, async () => {
    const TIMEOUT = 600;
    const tokenPort = failure === "refused" ? await closedPort() : undefined;
    const { gw, google, vertex } = await setup({ timeoutMs: TIMEOUT, tokenPort });
    if (failure === "500" || failure === "hang" || failure === "no-token") google.mode = failure;
    google.delayMs = 100;
    const t0 = performance.now();
    const answers = await Promise.all(Array.from({ length: 5 }, () => chat(gw, MODEL)));
    const elapsed = performance.now() - t0;
    for (const [i, a] of answers.entries()) assertAuthUnavailable(a, `request ${i}`);
    assert.ok(elapsed < TIMEOUT + 1000, `answered within timeout_ms + 1 s (${elapsed.toFixed(0)} ms)`);
    if (failure === "hang") assert.ok(elapsed >= TIMEOUT - 50, `waited for timeout_ms (${elapsed.toFixed(0)} ms)`);
    assert.equal(vertex.requests.length, 0, "nothing reached the provider without a token");
    await assertHealthy(gw);
    // The next request tries again and succeeds once the endpoint works.
    if (failure !== "refused") {
      google.mode = "ok";
      const a = await chat(gw, MODEL);
      assert.equal(a.status, 200, `after recovery: ${a.text}`);
      assert.ok(google.valid(bearerOf(vertex.requests[0])));
      await assertHealthy(gw);
    }
  });
}

test("a 401 from the provider drops the cached token: the next request fetches a new one", async () => {
  const { gw, google, vertex } = await setup({ workers: 1 });
  assert.equal((await chat(gw, MODEL)).status, 200);
  const [t1] = google.tokens;
  google.revoke(t1);
  const refused = await chat(gw, MODEL);
  assert.equal(refused.status, 401);
  assertErrorResponse(refused.json);
  const again = await chat(gw, MODEL);
  assert.equal(again.status, 200, again.text);
  assert.equal(google.fetches, 2);
  assert.equal(bearerOf(vertex.requests[2]), google.tokens[1]);
  await assertHealthy(gw);
});

test("a token the provider refused (401) on one worker is not sent again by the other worker", async () => {
  const { gw, google, vertex } = await setup({ workers: 2 });
  const from = gw.logs.length;
  assert.equal((await chat(gw, MODEL)).status, 200);
  const [first] = await waitForLines(gw, from, 1);
  // Both workers now hold t1.
  for (const m of await untilAnotherWorker(gw, first.vm, () => chat(gw, MODEL))) assert.equal(m.result.status, 200);
  const [t1] = google.tokens;
  assert.equal(google.fetches, 1);
  google.revoke(t1);
  const seen = vertex.requests.length;
  const refusedFrom = gw.logs.length;
  assert.equal((await chat(gw, MODEL)).status, 401); // worker A learns that t1 is refused
  const [refused] = await waitForLines(gw, refusedFrom, 1);
  const after = await untilAnotherWorker(gw, refused.vm, () => chat(gw, MODEL)); // until worker B served one
  for (const m of after) assert.equal(m.result.status, 200, m.result.text);
  assert.deepEqual(vertex.requests.slice(seen + 1).map(bearerOf).filter((t) => t === t1), [],
    "the refused token is not used again, on this worker or another");
  await assertHealthy(gw);
});

test("a client that disconnects while waiting for the token leaves nothing behind; the others still get answers", async () => {
  const { gw, google } = await setup({ workers: 1 });
  google.delayMs = 400;
  const leaving = chat(gw, MODEL, {}, { abortAfterMs: 100 }).then(() => "answered", (e: Error) => e.message);
  const staying = chat(gw, MODEL);
  assert.equal(await leaving, "aborted by the test");
  const a = await staying;
  assert.equal(a.status, 200, a.text);
  await assertHealthy(gw);
  assert.equal((await chat(gw, MODEL)).status, 200);
  await assertHealthy(gw);
});
