// Responses API clients, split at every byte: the provider's answer cut into two body callbacks at
// every position must give the client the same bytes as the whole answer, and every exchange
// must satisfy the oracle (Responses schemas, event order, a terminal event). Stays on the
// imitation host: Envoy cannot be made to cut a body at a chosen byte.
// Translated: the answer of one stream case per provider, behind a Responses
// client (tests/support/responses-from-chat.ts derives the request); pass-through: OpenAI's own
// Responses streams (tests/fixtures/responses/openai).

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadCase, PROVIDER_FIXTURES, ROOT } from "../providers/fixture-case.ts";
import { responsesCaseOf } from "../support/responses-from-chat.ts";
import { responsesSchemaErrors } from "../support/openai-schema.ts";
import { Hosts, runExchange, caseRequest, caseResponse, type RequestSpec, type ResponseSpec } from "./harness.ts";

const hosts = new Hosts();
after(() => hosts.close());
responsesSchemaErrors("Response", {}); // compile once, up front

async function everySplit(configText: string, req: RequestSpec, resp: ResponseSpec): Promise<void> {
  const config = JSON.parse(configText);
  const whole = runExchange(await hosts.get(configText), config, req, resp, { clientFault: false });
  assert.deepEqual(whole.problems, [], "the whole answer");
  assert.ok(whole.exchange.upstream, "the request went upstream");
  const bad: string[] = [];
  for (let k = 1; k < resp.body.length && bad.length < 3; k++) {
    const r = runExchange(await hosts.get(configText), config, req, { ...resp, cuts: [k] }, { clientFault: false });
    if (r.problems.length) bad.push(`split at ${k}: ${r.problems.join("; ")}`);
    else if (r.clientText !== whole.clientText) {
      let i = 0;
      while (i < r.clientText.length && r.clientText[i] === whole.clientText[i]) i++;
      bad.push(`split at ${k} changes the client bytes at ${i}: ${JSON.stringify(whole.clientText.slice(i - 40, i + 60))} vs ${JSON.stringify(r.clientText.slice(i - 40, i + 60))}`);
    }
  }
  assert.deepEqual(bad, []);
}

// Streams: JSON answers are buffered whole before translation, the fuzz split sweeps cover them.
const TRANSLATED = ["anthropic/stream-tool-use", "bedrock-converse/stream-tool-use", "gemini/stream-tool-calls"];
for (const id of TRANSLATED) {
  test(`translated ${id} behind a Responses client: every split point gives the whole answer's bytes`, async () => {
    const c = responsesCaseOf(loadCase(join(PROVIDER_FIXTURES, id)));
    assert.ok(c, "the case has a Responses version");
    await everySplit(c.configText, caseRequest(c), caseResponse(c)!);
  });
}

const PASS_CONFIG = JSON.stringify({
  backends: [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: "sk-up" } }],
  models: [{ match: "gpt-*", backend: "openai" }],
});
for (const [file, stream] of [["text.sse", true], ["function-call.sse", true]] as const) {
  test(`OpenAI pass-through ${file}: every split point gives the whole answer's bytes`, async () => {
    const body = readFileSync(join(ROOT, "tests", "fixtures", "responses", "openai", file));
    const req: RequestSpec = { path: "/v1/responses", body: Buffer.from(JSON.stringify({ model: "gpt-4.1-mini", input: "hi", ...(stream ? { stream: true } : {}) })) };
    const resp: ResponseSpec = { status: 200, headers: [["content-type", stream ? "text/event-stream" : "application/json"], ...(stream ? [] : [["content-length", String(body.length)] as [string, string]])], body };
    await everySplit(PASS_CONFIG, req, resp);
  });
}
