// SigV4 (issue 4 item 2): an OpenAI-schema backend on Bedrock's OpenAI-compatible endpoint with
// aws-sigv4 auth. The mock plays AWS: it recomputes the signature with node:crypto from what it
// received (method, path, query, the signed headers, the body) and the secret it shares with
// the gateway, and answers 403 SignatureDoesNotMatch otherwise. The body the filter rewrote
// (renamed model, injected stream_options) is the one that must be signed.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Gateway } from "../support/gateway.ts";
import { assertChatCompletion } from "../support/openai-schema.ts";
import { verifySigV4, type AwsCreds, type SigCheck } from "./aws.ts";
import { Upstream, startGateway, chat, chatBody, openaiCompletion, assertHealthy, headerValues, one, secret, type Reply } from "./support.ts";

const started: { gw: Gateway; up: Upstream }[] = [];
after(async () => { for (const s of started) { await s.gw.stop(); await s.up.stop(); } });

const REGION = "us-west-2";
const HOST = `bedrock-runtime.${REGION}.amazonaws.com`;

function sse(model: string): string {
  const base = { id: "chatcmpl-sig", object: "chat.completion.chunk", created: 1756316240, model };
  return [
    { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "ok" }, finish_reason: null }] },
    { ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
    { ...base, choices: [], usage: { prompt_tokens: 7, completion_tokens: 1, total_tokens: 8 } },
  ].map((c) => `data: ${JSON.stringify(c)}\n\n`).join("") + "data: [DONE]\n\n";
}

/** Bedrock: verifies every request against `creds`; remembers each verdict. */
async function bedrock(creds: AwsCreds) {
  const verdicts: SigCheck[] = [];
  const up = await Upstream.start((r): Reply => {
    const v = verifySigV4(r, creds, REGION, "bedrock");
    verdicts.push(v);
    if (!v.ok) return { status: 403, headers: { "x-amzn-errortype": "InvalidSignatureException" }, body: { message: `The request signature we calculated does not match the signature you provided. (${v.why.split("\n")[0]})` } };
    if (r.json?.stream) return { status: 200, headers: { "content-type": "text/event-stream" }, body: sse(r.json.model) };
    return { status: 200, body: openaiCompletion(r.json.model) };
  });
  return { up, verdicts };
}

const backend = (auth: object) => ({
  name: "bedrock", schema: "openai", cluster: "bedrock", host: HOST, base_path: "/openai/v1", auth: { type: "aws-sigv4", region: REGION, ...auth },
});
const models = [
  { match: "gpt-oss", backend: "bedrock", upstream_model: "openai.gpt-oss-120b-1:0" },
  { match: "openai.*", backend: "bedrock" },
];

test("SigV4 with a session token: AWS's recomputed signature matches, over the renamed-model body the filter sends", async () => {
  const creds = { accessKey: "AKIA" + secret("X").slice(2, 18).toUpperCase(), secretKey: secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCY"), sessionToken: secret("IQoJb3JpZ2luX2VjE") + "/+=" };
  const { up, verdicts } = await bedrock(creds);
  const gw = await startGateway({
    clusters: { bedrock: up.port },
    config: { backends: [backend({ access_key: creds.accessKey, secret_key: creds.secretKey, session_token: creds.sessionToken })], models },
  });
  started.push({ gw, up });

  const clientBody = chatBody("gpt-oss", { temperature: 0.5 });
  const res = await chat(gw, "gpt-oss", { authorization: "Bearer client-key" }, { body: clientBody });
  assert.equal(res.status, 200, res.text);
  assertChatCompletion(res.json);
  const r = up.requests[0];
  assert.ok(verdicts[0].ok, verdicts[0].why);
  assert.equal(r.url, "/openai/v1/chat/completions");
  assert.equal(one(r, "host"), HOST);
  assert.equal(r.json.model, "openai.gpt-oss-120b-1:0", "the filter renamed the model");
  assert.notEqual(r.text, clientBody, "the body sent is not the client's");
  assert.equal(one(r, "x-amz-content-sha256"), createHash("sha256").update(r.body).digest("hex"), "the hash is of the rewritten body");
  assert.equal(one(r, "x-amz-security-token"), creds.sessionToken);
  for (const h of ["host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"]) assert.ok(verdicts[0].signedHeaders.includes(h), `${h} is signed`);
  assert.ok(!r.rawHeaders.join("\n").includes(creds.secretKey) && !r.text.includes(creds.secretKey), "the secret key never goes upstream");

  // A streamed request: the filter injects stream_options.include_usage, so the body changes again.
  const res2 = await chat(gw, "openai.gpt-oss-20b-1:0", {}, { body: chatBody("openai.gpt-oss-20b-1:0", { stream: true }) });
  assert.equal(res2.status, 200, res2.text);
  assert.ok(res2.text.includes("data: [DONE]"), res2.text);
  assert.deepEqual(up.requests[1].json.stream_options, { include_usage: true }, "the filter rewrote the body");
  assert.ok(verdicts[1].ok, verdicts[1].why);
  await assertHealthy(gw);
});

test("SigV4 with credentials from the VM environment and no session token", async () => {
  const creds = { accessKey: "AKIAENVEXAMPLE12345", secretKey: secret("envsecret/+") };
  const { up, verdicts } = await bedrock(creds);
  const gw = await startGateway({
    env: { AWS_ACCESS_KEY_ID: creds.accessKey, AWS_SECRET_ACCESS_KEY: creds.secretKey },
    clusters: { bedrock: up.port },
    config: { backends: [backend({ access_key_env: "AWS_ACCESS_KEY_ID", secret_key_env: "AWS_SECRET_ACCESS_KEY" })], models },
  });
  started.push({ gw, up });
  const res = await chat(gw, "gpt-oss", { authorization: "Bearer client-key" });
  assert.equal(res.status, 200, res.text);
  const r = up.requests[0];
  assert.ok(verdicts[0].ok, verdicts[0].why);
  assert.deepEqual(headerValues(r, "x-amz-security-token"), [], "no session token configured: none sent");
  assert.ok(!verdicts[0].signedHeaders.includes("x-amz-security-token"));
  assert.ok(!r.rawHeaders.join("\n").includes("client-key"));
  await assertHealthy(gw);
});

test("client x-amz-* credential headers do not reach AWS (no session token configured)", async () => {
  const creds = { accessKey: "AKIAENVEXAMPLE12345", secretKey: secret("envsecret/+") };
  const { up, verdicts } = await bedrock(creds);
  const gw = await startGateway({
    clusters: { bedrock: up.port },
    config: { backends: [backend({ access_key: creds.accessKey, secret_key: creds.secretKey })], models },
  });
  started.push({ gw, up });
  const clientAws = {
    authorization: "AWS4-HMAC-SHA256 Credential=AKIACLIENT/20250101/us-west-2/bedrock/aws4_request, SignedHeaders=host, Signature=" + "0".repeat(64),
    "x-amz-date": "20250101T000000Z", "x-amz-security-token": "CLIENT-SESSION-TOKEN", "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
  };
  const res = await chat(gw, "gpt-oss", clientAws);
  const r = up.requests[0];
  assert.notEqual(one(r, "x-amz-date"), clientAws["x-amz-date"], "the gateway's own date");
  assert.deepEqual(headerValues(r, "x-amz-security-token"), [], "the client's session token is not forwarded");
  assert.ok(!r.rawHeaders.join("\n").includes("CLIENT"), `no client AWS credential upstream: ${JSON.stringify(r.rawHeaders)}`);
  assert.equal(res.status, 200, res.text);
  assert.ok(verdicts[0].ok, verdicts[0].why);
  await assertHealthy(gw);
});

test("the verifier is strict: a gateway holding the wrong secret gets AWS's 403 and the client sees the error", async () => {
  const { up, verdicts } = await bedrock({ accessKey: "AKIAWRONGSECRET0001", secretKey: "the-real-secret" });
  const gw = await startGateway({
    clusters: { bedrock: up.port },
    config: { backends: [backend({ access_key: "AKIAWRONGSECRET0001", secret_key: "not-the-real-secret" })], models },
  });
  started.push({ gw, up });
  const res = await chat(gw, "gpt-oss");
  assert.equal(res.status, 403);
  assert.equal(verdicts.length, 1);
  assert.match(verdicts[0].why, /signature mismatch/);
  await assertHealthy(gw);
});
