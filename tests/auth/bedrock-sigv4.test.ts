// SigV4 on the Bedrock schemas' model-scoped paths (issue 6 item 1 with the SigV4 of issue 4): a
// model id is one percent-encoded path segment (`:` → %3A, and an ARN's `/` → %2F), and the
// canonical URI encodes that wire path once more (non-S3 services double-encode, providers.md
// §5.6). The mock plays AWS: it recomputes the signature with node:crypto from the path exactly as
// received (tests/auth/aws.ts, independent of the filter's signer) and answers 403
// InvalidSignatureException otherwise, so a path signed in any other form fails.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import type { Gateway } from "../support/gateway.ts";
import { assertChatCompletion } from "../support/openai-schema.ts";
import { verifySigV4, type SigCheck } from "./aws.ts";
import { Upstream, startGateway, chat, chatBody, send, assertHealthy, one, secret, type Reply, type Seen } from "./support.ts";

const REGION = "us-west-2";
const HOST = `bedrock-runtime.${REGION}.amazonaws.com`;
const creds = { accessKey: "AKIABEDROCKPATHS0001", secretKey: secret("bedrockSecret/+="), sessionToken: secret("FwoGZXIvYXdzE") + "/=" };
const auth = { type: "aws-sigv4", region: REGION, access_key: creds.accessKey, secret_key: creds.secretKey, session_token: creds.sessionToken };

const converse = { output: { message: { role: "assistant", content: [{ text: "ok" }] } }, stopReason: "end_turn", usage: { inputTokens: 3, outputTokens: 1, totalTokens: 4 }, metrics: { latencyMs: 5 } };
const messages = { id: "msg_sig", type: "message", role: "assistant", model: "claude", content: [{ type: "text", text: "ok" }], stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 3, output_tokens: 1 } };

let gw: Gateway, up: Upstream;
const verdicts: SigCheck[] = [];
after(async () => { await gw?.stop(); await up?.stop(); });

function bedrockAnswer(r: Seen): Reply {
  const v = verifySigV4(r, creds, REGION, "bedrock");
  verdicts.push(v);
  if (!v.ok) return { status: 403, headers: { "x-amzn-errortype": "InvalidSignatureException" }, body: { message: `The request signature we calculated does not match the signature you provided. (${v.why.split("\n")[0]})` } };
  if (r.path.endsWith("/converse")) return { status: 200, headers: { "x-amzn-requestid": "req-sig-1" }, body: converse };
  if (r.path.endsWith("/invoke") && r.json?.anthropic_version) return { status: 200, body: messages };
  if (r.path.endsWith("/invoke")) return { status: 200, body: { embedding: [0.5, -0.5], inputTextTokenCount: 2 } };
  return { status: 404, body: { message: "unknown operation" } };
}

async function start(): Promise<void> {
  if (gw) return;
  up = await Upstream.start(bedrockAnswer);
  gw = await startGateway({
    clusters: { bedrock: up.port },
    config: {
      backends: [
        { name: "converse", schema: "bedrock-converse", cluster: "bedrock", auth },
        { name: "claude", schema: "bedrock-anthropic", cluster: "bedrock", auth },
      ],
      models: [
        { match: "sonnet", backend: "converse", upstream_model: "anthropic.claude-3-5-sonnet-20240620-v1:0" },
        { match: "profile", backend: "converse", upstream_model: "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/x1y2z3" },
        { match: "claude", backend: "claude", upstream_model: "us.anthropic.claude-3-7-sonnet-20250219-v1:0" },
        { match: "titan", backend: "converse", upstream_model: "amazon.titan-embed-text-v2:0" },
      ],
    },
  });
}

const cases = [
  { name: "model id with ':' (Converse)", model: "sonnet", path: "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", canonical: "/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse" },
  { name: "inference-profile ARN with ':' and '/' (Converse)", model: "profile", path: "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Aapplication-inference-profile%2Fx1y2z3/converse", canonical: "/model/arn%253Aaws%253Abedrock%253Aus-west-2%253A123456789012%253Aapplication-inference-profile%252Fx1y2z3/converse" },
  { name: "cross-region profile id (Claude InvokeModel)", model: "claude", path: "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/invoke", canonical: "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%253A0/invoke" },
];

for (const c of cases) {
  test(`SigV4 over the encoded model path, ${c.name}: the path is sent encoded once, signed encoded twice, and AWS's recomputation matches`, async () => {
    await start();
    const from = up.requests.length;
    const res = await chat(gw, c.model, { authorization: "Bearer client-key" }, { body: chatBody(c.model, { max_tokens: 16 }) });
    assert.equal(res.status, 200, res.text);
    assertChatCompletion(res.json);
    const r = up.requests[from];
    const v = verdicts[from];
    assert.equal(r.url, c.path, "the wire path: the model id percent-encoded as one segment");
    assert.ok(v.ok, v.why);
    assert.equal(v.canonical.split("\n")[1], c.canonical, "the canonical URI: the wire path encoded again");
    assert.equal(one(r, "host"), HOST, "the default host comes from the region");
    for (const h of ["host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"]) assert.ok(v.signedHeaders.includes(h), `${h} is signed`);
    assert.ok(!r.rawHeaders.join("\n").includes("client-key"), "the client's key never goes upstream");
  });
}

test("SigV4 on an embeddings InvokeModel request (the body is the translated Titan body)", async () => {
  await start();
  const from = up.requests.length;
  const res = await send(gw, { path: "/v1/embeddings", body: JSON.stringify({ model: "titan", input: "hi", encoding_format: "float" }) });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json.data[0].embedding, [0.5, -0.5]);
  assert.equal(up.requests[from].url, "/model/amazon.titan-embed-text-v2%3A0/invoke");
  assert.deepEqual(up.requests[from].json, { inputText: "hi", normalize: true });
  assert.ok(verdicts[from].ok, verdicts[from].why);
  await assertHealthy(gw);
});

test("a wrong secret: AWS's recomputation differs, Bedrock's 403 reaches the client as an OpenAI error with its message", async () => {
  const wrong = await Upstream.start((r) => {
    const v = verifySigV4(r, { ...creds, secretKey: "not-the-gateway-secret" }, REGION, "bedrock");
    return v.ok ? { status: 200, body: converse } : { status: 403, headers: { "x-amzn-errortype": "InvalidSignatureException:http://internal.amazon.com/coral/" }, body: { message: "The request signature we calculated does not match the signature you provided." } };
  });
  const g = await startGateway({ clusters: { bedrock: wrong.port }, config: { backends: [{ name: "converse", schema: "bedrock-converse", cluster: "bedrock", auth }], models: [{ match: "*", backend: "converse" }] } });
  try {
    const res = await chat(g, "anthropic.claude-3-haiku-20240307-v1:0");
    assert.equal(res.status, 403, res.text);
    assert.equal(res.json.error.code, "InvalidSignatureException");
    assert.match(res.json.error.message, /signature we calculated does not match/);
    await assertHealthy(g);
  } finally { await g.stop(); await wrong.stop(); }
});
