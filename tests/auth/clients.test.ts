// Client identity (issue 4 item 5): gateway API keys (SHA-256 form and plain form) in
// Authorization: Bearer, x-api-key or api-key; missing/unknown → 401 invalid_api_key in OpenAI's
// error shape (the official client raises AuthenticationError); or a trusted header set by an
// earlier Envoy filter. The identity is in the per-request log line, and no client credential
// header reaches the provider.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import type { Gateway } from "../support/gateway.ts";
import { assertChatCompletion, assertErrorResponse } from "../support/openai-schema.ts";
import { openaiClient } from "../e2e/harness.ts";
import { Upstream, startGateway, chat, send, okFor, assertHealthy, waitForLines, headerValues, sha256hex, secret, wireText } from "./support.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => { for (const c of cleanup.reverse()) await c(); });

const BACKEND_KEY = secret("sk-backend");
const backends = [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: BACKEND_KEY } }];
const models = [{ match: "gpt-4o", backend: "openai" }];
const CREDENTIAL_HEADERS = ["authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "openai-organization", "openai-project"];

async function setup(identity: object): Promise<{ gw: Gateway; up: Upstream }> {
  const up = await Upstream.start((r) => okFor(r));
  const gw = await startGateway({ clusters: { openai: up.port }, config: { backends, models, ...identity } });
  cleanup.push(async () => { await gw.stop(); await up.stop(); });
  return { gw, up };
}

/** The upstream request carries the backend's key and nothing of the client's. */
function assertOnlyBackendCredential(r: import("./support.ts").Seen, clientSecrets: string[]): void {
  for (const h of CREDENTIAL_HEADERS) assert.deepEqual(headerValues(r, h), h === "authorization" ? [`Bearer ${BACKEND_KEY}`] : [], `upstream ${h}`);
  for (const s of clientSecrets) assert.ok(!wireText(r).includes(s), `client secret ${s} reached the provider`);
}

test("gateway API keys (sha256 and plain form) in Authorization, x-api-key or api-key identify the client; the log line names it", async () => {
  const keyA = secret("gw-team-a"), keyB = secret("gw-team-b");
  const { gw, up } = await setup({ clients: [{ name: "team-a", key_sha256: sha256hex(keyA).toUpperCase() }, { name: "team-b", key: keyB }] });
  const from = gw.logs.length;
  const extras = { "openai-organization": "org-client", "openai-project": "proj-client", "proxy-authorization": "Basic Y2xpZW50", "x-goog-api-key": "client-goog" };
  const cases: [Record<string, string>, string][] = [
    [{ authorization: `Bearer ${keyA}`, ...extras }, "team-a"],
    [{ authorization: `bearer ${keyB}` }, "team-b"],
    [{ "x-api-key": keyA }, "team-a"],
    [{ "api-key": keyB }, "team-b"],
    // A non-Bearer Authorization is not a gateway key; x-api-key then is.
    [{ authorization: "Basic dXNlcjpwYXNz", "x-api-key": keyB }, "team-b"],
  ];
  for (const [i, [headers]] of cases.entries()) {
    const res = await chat(gw, "gpt-4o", headers);
    assert.equal(res.status, 200, `case ${i}: ${res.text}`);
    assertChatCompletion(res.json);
    assertOnlyBackendCredential(up.requests[i], [keyA, keyB, ...Object.values(headers).filter((v) => !v.includes(keyA) && !v.includes(keyB))]);
  }
  const lines = await waitForLines(gw, from, cases.length);
  assert.deepEqual(lines.map((l) => l.kv.client), cases.map((c) => c[1]));
  // The official client (Authorization: Bearer) works with a gateway key.
  const data = await openaiClient(gw, { apiKey: keyA }).chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
  assert.equal(data.object, "chat.completion");
  await assertHealthy(gw);
});

test("missing or unknown gateway key → 401 invalid_api_key (OpenAI error shape), nothing goes upstream", async () => {
  const keyA = secret("gw-team-a");
  const { gw, up } = await setup({ clients: [{ name: "team-a", key_sha256: sha256hex(keyA) }] });
  const from = gw.logs.length;
  const bad: Record<string, string>[] = [
    {},
    { authorization: "Bearer sk-unknown-key" },
    { authorization: `Basic ${Buffer.from(`x:${keyA}`).toString("base64")}` },
    { "x-api-key": keyA.slice(0, -1) },
    { authorization: `Bearer ${sha256hex(keyA)}` }, // the hash is not the key
    { authorization: "Bearer " },
  ];
  for (const [i, headers] of bad.entries()) {
    const res = await chat(gw, "gpt-4o", headers);
    assert.equal(res.status, 401, `case ${i}: ${res.text}`);
    assertErrorResponse(res.json, `case ${i}`);
    assert.equal(res.json.error.code, "invalid_api_key");
    assert.ok(!res.text.includes(keyA), "the error does not echo a key");
  }
  // Every endpoint, including the model list, needs the key.
  const models = await send(gw, { method: "GET", path: "/v1/models" });
  assert.equal(models.status, 401);
  assertErrorResponse(models.json);
  // The official client raises AuthenticationError.
  const err = await openaiClient(gw, { apiKey: "sk-wrong" }).chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }).then(() => null, (e) => e);
  assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
  assert.equal(up.requests.length, 0, "no request reached the provider");
  const lines = await waitForLines(gw, from, bad.length + 1);
  assert.ok(lines.every((l) => l.kv.status === "401" && l.kv.client === "-"), lines.map((l) => l.line).join("\n"));
  await assertHealthy(gw);
});

test("trusted client header: identity from x-client-name, logged, not forwarded; missing → 401; client credentials still stripped", async () => {
  const { gw, up } = await setup({ client_header: "X-Client-Name" });
  const from = gw.logs.length;
  const ok = await chat(gw, "gpt-4o", { "x-client-name": "team-jwt", authorization: "Bearer eyJhbGciOiJSUzI1NiJ9.client-jwt.sig", "x-api-key": "client-x-api-key" });
  assert.equal(ok.status, 200, ok.text);
  const r = up.requests[0];
  assert.deepEqual(headerValues(r, "x-client-name"), [], "the identity header is not forwarded");
  assertOnlyBackendCredential(r, ["client-jwt", "client-x-api-key"]);
  // Spaces would break the key=value log format: sanitized.
  const spaced = await chat(gw, "gpt-4o", { "x-client-name": "team b  spaced" });
  assert.equal(spaced.status, 200);
  const missing = await chat(gw, "gpt-4o", { authorization: "Bearer some-key" });
  assert.equal(missing.status, 401);
  assertErrorResponse(missing.json);
  assert.equal(missing.json.error.code, "invalid_api_key");
  const empty = await chat(gw, "gpt-4o", { "x-client-name": "" });
  assert.equal(empty.status, 401);
  assert.equal(up.requests.length, 2);
  const lines = await waitForLines(gw, from, 4);
  assert.deepEqual(lines.map((l) => [l.kv.client, l.kv.status]), [["team-jwt", "200"], ["team_b__spaced", "200"], ["-", "401"], ["-", "401"]]);
  await assertHealthy(gw);
});

test("without clients configured, requests are anonymous (client=-) and client credentials are still stripped", async () => {
  const { gw, up } = await setup({});
  const from = gw.logs.length;
  const res = await chat(gw, "gpt-4o", { authorization: "Bearer sk-client-own-openai-key", "api-key": "client-az", "openai-organization": "org-x" });
  assert.equal(res.status, 200, res.text);
  assertOnlyBackendCredential(up.requests[0], ["sk-client-own-openai-key", "client-az", "org-x"]);
  assert.equal((await waitForLines(gw, from, 1))[0].kv.client, "-");
  await assertHealthy(gw);
});
