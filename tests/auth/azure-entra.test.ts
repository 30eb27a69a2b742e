// Azure Entra ID (issue 4 item 4): the filter gets a token with the client-credentials grant
// (form POST to /<tenant>/oauth2/v2.0/token on the token cluster, Host login.microsoftonline.com
// unless token_host says otherwise) and sends it to Azure OpenAI as Authorization: Bearer,
// never api-key. The local endpoint checks every form field; Azure accepts only issued tokens.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { assertChatCompletion, assertErrorResponse } from "../support/openai-schema.ts";
import { Upstream, startGateway, chat, okFor, unauthorized, assertHealthy, headerValues, secret } from "./support.ts";
import { EntraTokenEndpoint, bearerOf } from "./tokens.ts";

const cleanup: (() => Promise<void>)[] = [];
after(async () => { for (const c of cleanup.reverse()) await c(); });

async function setup(o: { secretFromEnv?: boolean; scope?: string; tokenHost?: string } = {}) {
  const tenant = "contoso.onmicrosoft.com";
  const clientId = "8f1c0e8a-2a5e-4d1e-9a55-6b3c1d2e4f50";
  // Characters that must be form-encoded.
  const clientSecret = secret("Q~s3cr3t+/=&%");
  const entra = await EntraTokenEndpoint.start({ tenant, clientId, clientSecret, scope: o.scope, host: o.tokenHost });
  const azure = await Upstream.start((r) => (entra.valid(bearerOf(r)) && headerValues(r, "api-key").length === 0 ? okFor(r) : unauthorized("Access denied due to invalid subscription key or wrong API endpoint.")));
  const auth: Record<string, unknown> = { type: "azure-entra", tenant_id: tenant, client_id: clientId, token_cluster: "entra" };
  if (o.secretFromEnv) auth.client_secret_env = "AZURE_CLIENT_SECRET"; else auth.client_secret = clientSecret;
  if (o.scope) auth.scope = o.scope;
  if (o.tokenHost) auth.token_host = o.tokenHost;
  const gw = await startGateway({
    env: { AZURE_CLIENT_SECRET: clientSecret },
    clusters: { azure: azure.port, entra: entra.port },
    config: {
      backends: [{ name: "azure", schema: "azure-openai", cluster: "azure", host: "contoso.openai.azure.com", deployment: "gpt-4o-prod", auth }],
      models: [{ match: "gpt-4o", backend: "azure" }],
    },
  });
  cleanup.push(async () => { await gw.stop(); await azure.stop(); await entra.stop(); });
  return { gw, entra, azure, clientSecret };
}

test("Entra client credentials: the form is right, the token reaches Azure as Authorization: Bearer, the client's api-key does not", async () => {
  const { gw, entra, azure, clientSecret } = await setup();
  const res = await chat(gw, "gpt-4o", { "api-key": "client-azure-key", authorization: "Bearer client-token" });
  assert.equal(res.status, 200, res.text);
  assertChatCompletion(res.json);
  assert.deepEqual(entra.rejected, [], "the token request was accepted");
  assert.equal(entra.fetches, 1);
  const tr = entra.up.requests[0];
  assert.equal(tr.headers.host, "login.microsoftonline.com");
  const form = new URLSearchParams(tr.text);
  assert.deepEqual(Object.fromEntries(form), {
    grant_type: "client_credentials", client_id: "8f1c0e8a-2a5e-4d1e-9a55-6b3c1d2e4f50", client_secret: clientSecret,
    scope: "https://cognitiveservices.azure.com/.default",
  });
  const r = azure.requests[0];
  assert.equal(r.url, "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21");
  assert.deepEqual(headerValues(r, "authorization"), [`Bearer ${entra.tokens[0]}`]);
  assert.deepEqual(headerValues(r, "api-key"), []);
  assert.ok(!r.rawHeaders.join("\n").includes(clientSecret) && !r.text.includes(clientSecret), "the client secret goes only to Entra");
  // Cached: later requests reuse the token.
  for (let i = 0; i < 4; i++) assert.equal((await chat(gw, "gpt-4o")).status, 200);
  assert.equal(entra.fetches, 1);
  assert.ok(azure.requests.every((x) => bearerOf(x) === entra.tokens[0]));
  await assertHealthy(gw);
});

test("Entra with the secret from the VM environment, a custom scope and token_host", async () => {
  const { gw, entra, azure } = await setup({ secretFromEnv: true, scope: "api://contoso-gateway/.default", tokenHost: "login.microsoftonline.us" });
  const res = await chat(gw, "gpt-4o");
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(entra.rejected, []);
  assert.equal(entra.up.requests[0].headers.host, "login.microsoftonline.us");
  assert.equal(bearerOf(azure.requests[0]), entra.tokens[0]);
  await assertHealthy(gw);
});

test("Entra refusing the client secret: the waiting request gets 503 upstream_auth_unavailable, Azure is not called", async () => {
  const { gw, entra, azure } = await setup();
  entra.clientSecret = "rotated-elsewhere";
  const res = await chat(gw, "gpt-4o");
  assert.equal(res.status, 503, res.text);
  assertErrorResponse(res.json);
  assert.equal(res.json.error.code, "upstream_auth_unavailable");
  assert.deepEqual(entra.rejected, ["client_secret"]);
  assert.equal(azure.requests.length, 0);
  await assertHealthy(gw);
});
