// Bounded metric cardinality and the edge outcomes: past 256 distinct routed models per worker
// further models share `other`; with client_header, past 128 distinct clients further clients
// share `other`; a stream the provider cuts short counts as an `incomplete` error; an embeddings
// request is labelled with its operation.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Gateway } from "../support/gateway.ts";
import { MockProvider, loadFixture } from "../../dev/mock-provider.ts";
import { GATEWAY_WASM, OPENAI_FIXTURES } from "../e2e/harness.ts";
import { statName } from "./support.ts";

const CONFIG = {
  backends: [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.test", auth: { type: "bearer", key: "sk-upstream" } }],
  models: [{ match: "*", backend: "openai" }],
  client_header: "x-client",
};

async function post(url: string, path: string, body: object, client: string): Promise<number> {
  const r = await fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json", "x-client": client }, body: JSON.stringify(body) });
  await r.arrayBuffer().catch(() => undefined);
  return r.status;
}

test("cardinality caps (models, trusted-header clients), incomplete streams and the embeddings operation", { timeout: 120000 }, async () => {
  const mock = await MockProvider.start();
  const json = loadFixture(join(OPENAI_FIXTURES, "chat-completion-gpt-4o-mini.fixture.json"));
  mock.register({ ...json, match: { path: "/v1/chat/completions", stream: false } });
  const gw = await Gateway.start({
    wasm: GATEWAY_WASM, plugin: { configuration: JSON.stringify(CONFIG) }, workers: 1,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters: { openai: { host: "127.0.0.1", port: mock.port } },
  });
  try {
    const chat = (model: string, client: string) => post(gw.url, "/v1/chat/completions", { model, messages: [{ role: "user", content: "x" }] }, client);
    // 260 distinct models from one client: the first 256 get their own series, the rest `other`.
    for (let i = 0; i < 260; i++) assert.equal(await chat(`m-${i}`, "c"), 200);
    // 130 distinct trusted clients on one model: 128 (incl. "c") are named, the rest `other`.
    for (let i = 0; i < 129; i++) assert.equal(await chat("m-0", `client-${i}`), 200);

    const stats = await gw.stats();
    const req = (model: string, client: string) => stats[statName("ai_gateway.requests", { provider: "openai", model, backend: "openai", client })];
    assert.equal(req("m-0", "c"), 1);
    assert.equal(req("m-255", "c"), 1);
    assert.equal(req("m-256", "c"), undefined, "the 257th model has no series of its own");
    assert.equal(req("other", "c"), 4, "models 257…260");
    assert.equal(req("m-0", "client-126"), 1);
    assert.equal(req("m-0", "client-127"), undefined);
    assert.equal(req("m-0", "other"), 2, "clients 129 and 130 (client-127, client-128)");
    const requestSeries = Object.keys(stats).filter((k) => k.startsWith("wasmcustom.ai_gateway.requests;"));
    assert.equal(requestSeries.length, 256 + 1 + 127 + 1, "series: 256 models + other for c, 127 more clients + other on m-0");

    // A stream the provider cuts after the headers and part of the body: incomplete, 2xx.
    mock.enqueue(loadFixture(join(OPENAI_FIXTURES, "chat-stream-include-usage.fixture.json"), { abortAfterBody: true }));
    await post(gw.url, "/v1/chat/completions", { model: "m-1", stream: true, messages: [{ role: "user", content: "x" }] }, "c").catch(() => 0);
    const until = Date.now() + 3000;
    const errName = statName("ai_gateway.errors", { provider: "openai", model: "m-1", backend: "openai", client: "c" },
      [["error.type", "incomplete"], ["ai_gateway.status_class", "2xx"]]);
    while ((await gw.stats())[errName] === undefined && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await gw.stats())[errName], 1);

    // Embeddings: the operation tag says so.
    mock.enqueue({ ...json, name: "embedding", parts: [{ bytes: Buffer.from(JSON.stringify({ object: "list", model: "e", data: [{ object: "embedding", index: 0, embedding: [0.1] }], usage: { prompt_tokens: 3, total_tokens: 3 } })), delayMs: 0 }] });
    assert.equal(await post(gw.url, "/v1/embeddings", { model: "m-2", input: "x" }, "c"), 200);
    assert.equal((await gw.stats())[statName("ai_gateway.requests", { provider: "openai", model: "m-2", backend: "openai", client: "c", op: "embeddings" })], 1);
    assert.equal((await gw.stats())[statName("gen_ai.client.inference.usage.input_tokens", { provider: "openai", model: "m-2", backend: "openai", client: "c", op: "embeddings" })], 3);
  } finally {
    await gw.stop();
    await mock.stop();
  }
});
