// One test per bug the fuzzer found (docs/robustness.md "Bugs found"), driving the release filter
// through the socket-free host with the exact input shape that broke it. Bugs whose logic lives in
// one module are also pinned by unit tests (tests/unit/openai.spec.ts "stream endings", the 2xx/
// error-envelope tests there, tests/unit/sse.spec.ts "event size bound", tests/unit/config.spec.ts
// "quoted in the path").
// Host-only: each bug's exact callback split and input shape, which only the socket-free driver stages.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Hosts, runExchange, caseResponse, caseRequest, type ResponseSpec } from "./harness.ts";
import { loadCases, type ProviderCase } from "../providers/fixture-case.ts";
import { sseParse, sseEvents } from "./framings.ts";
import { schemaErrors } from "../support/openai-schema.ts";
import { messagesSchemaErrors } from "../support/anthropic-messages.ts";

const hosts = new Hosts();
after(() => hosts.close());
const cases = loadCases();
const byId = (id: string): ProviderCase => {
  const c = cases.find((x) => x.id === id);
  if (!c) throw new Error(`fixture case ${id} is missing`);
  return c;
};

async function run(c: ProviderCase, resp: ResponseSpec) {
  const h = await hosts.get(c.configText);
  const r = runExchange(h, c.config, caseRequest(c), resp, { clientFault: false });
  assert.deepEqual(r.problems, [], "every invariant holds");
  return { ...r.exchange.client, text: r.exchange.client.body.toString("utf8"), host: h };
}

const events = (text: string) => sseParse(text).events.map((e) => e.data);

test("an OpenAI stream cut mid-event reaches the client closed and ended by an error event (was: partial event, no end)", async () => {
  const c = byId("groq/stream-usage-in-x-groq");
  const base = caseResponse(c)!;
  const cut = base.body.subarray(0, base.body.indexOf("\n\n", 200) + 30);
  const got = await run(c, { ...base, body: cut });
  const evs = events(got.text);
  assert.equal(sseParse(got.text).partial, "", "no partial event at the end");
  const last = JSON.parse(evs[evs.length - 1]);
  assert.equal(last.error?.code, "upstream_stream_truncated");
  assert.deepEqual(schemaErrors("ErrorResponse", last), []);
});

test("an OpenAI stream that finished but never sent [DONE] gets [DONE] (was: no terminator)", async () => {
  const c = byId("openai/stream-usage-requested");
  const base = caseResponse(c)!;
  const body = Buffer.from(base.body.toString("utf8").replace("data: [DONE]\n\n", ""));
  const got = await run(c, { ...base, body });
  assert.equal(events(got.text).at(-1), "[DONE]");
});

test("a 200 JSON body that is not JSON becomes 502 with the OpenAI error envelope (was: forwarded with 200)", async () => {
  const c = byId("deepseek/chat-prompt-cache-hit-tokens");
  const base = caseResponse(c)!;
  const got = await run(c, { ...base, body: base.body.subarray(0, 40), headers: base.headers.map(([k, v]) => [k, k === "content-length" ? "40" : v]) });
  assert.equal(got.status, 502);
  assert.equal(JSON.parse(got.text).error.code, "bad_upstream_response");
});

test("a plain-OpenAI error with an HTML body reaches the client as the OpenAI error envelope (was: HTML passed through)", async () => {
  const c = byId("openai/stream-usage-requested");
  const html = Buffer.from("<html><body>502 Bad Gateway</body></html>");
  const got = await run(c, { status: 502, headers: [["content-type", "text/html"], ["content-length", String(html.length)]], body: html });
  assert.equal(got.status, 502);
  assert.match(got.headers["content-type"], /^application\/json/);
  assert.deepEqual(schemaErrors("ErrorResponse", JSON.parse(got.text)), []);
});

test("a translated Anthropic answer labelled text/html is sent as application/json (was: the provider's label kept)", async () => {
  const c = byId("anthropic/non-stream-text-response");
  const base = caseResponse(c)!;
  const got = await run(c, { ...base, headers: [...base.headers.filter(([k]) => k !== "content-type"), ["content-type", "text/html"]] });
  assert.equal(got.status, 200);
  assert.equal(got.headers["content-type"], "application/json");
});

test("an Anthropic tool_use block whose id and name are not strings still gives schema-valid chunks (was: raw JSON copied)", async () => {
  const c = byId("anthropic/stream-tool-use");
  const base = caseResponse(c)!;
  const body = Buffer.from(base.body.toString("utf8").replace(/"content_block":\{"type":"tool_use","id":"[^"]*","name":"[^"]*"/, '"content_block":{"type":"tool_use","id":{"x":1},"name":7'));
  assert.notDeepEqual(body, base.body, "the fixture has a tool_use block to break");
  await run(c, { ...base, body }); // the oracle validates every chunk against the OpenAI schema
});

test("a repeated Anthropic message_start does not change the chunks' id mid-stream (was: a second id)", async () => {
  const c = byId("anthropic/stream-text");
  const base = caseResponse(c)!;
  const text = base.body.toString("utf8");
  const body = Buffer.from(text.replace("event: content_block_delta", 'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_other","model":"other","usage":{"input_tokens":1}}}\n\nevent: content_block_delta'));
  const got = await run(c, { ...base, body });
  const ids = new Set(events(got.text).filter((d) => d.startsWith("{")).map((d) => JSON.parse(d).id));
  assert.equal(ids.size, 1, [...ids].join(", "));
});

test("a translated answer larger than max_response_bytes is a 502, not the provider's untranslated body (was: Anthropic JSON to an OpenAI client)", async () => {
  const c = byId("anthropic/non-stream-text-response");
  const base = caseResponse(c)!;
  const big = Buffer.concat([base.body, Buffer.alloc(8 * 1024 * 1024 + 1 - base.body.length, 0x20)]);
  const cuts = [1 << 20, 4 << 20, 8 << 20];
  const got = await run(c, { ...base, body: big, cuts, headers: base.headers.map(([k, v]) => [k, k === "content-length" ? String(big.length) : v]) });
  assert.equal(got.status, 502);
  assert.equal(JSON.parse(got.text).error.code, "upstream_response_too_large");
  assert.equal(Number(got.headers["content-length"]), got.body.length);
});

test("an endless SSE line ends the stream with an error event and the VM's memory stays bounded (was: growth to 1 GiB for 64 MiB)", async () => {
  // (anthropic/messages-native-stream: the Messages pass-through, found after /v1/messages landed.)
  for (const id of ["groq/stream-usage-in-x-groq", "anthropic/stream-text", "anthropic/messages-native-stream"]) {
    const c = byId(id);
    const base = caseResponse(c)!;
    const line = Buffer.concat([Buffer.from('data: {"x":"'), Buffer.alloc(32 << 20, 0x61)]);
    const cuts: number[] = [];
    for (let at = 1 << 20; at < line.length; at += 1 << 20) cuts.push(at);
    const got = await run(c, { ...base, body: line, cuts });
    const last = JSON.parse(events(got.text).at(-1)!);
    assert.match(last.error.message, /exceeds 8388608 bytes|too large/);
    const mem = got.host.worker(0).vm!.memory.buffer.byteLength;
    assert.ok(mem <= 64 << 20, `${id}: linear memory ${mem >> 20} MiB after a 32 MiB line`);
  }
});

test("a provider answer without a body (error status or 200, end of stream on the headers) still gives the client a well-formed answer (was: an empty body)", async () => {
  for (const [id, status, want] of [["openai/stream-usage-requested", 502, 502], ["anthropic/non-stream-text-response", 529, 503], ["deepseek/chat-prompt-cache-hit-tokens", 200, 502]] as const) {
    const c = byId(id);
    const base = caseResponse(c)!;
    const got = await run(c, { ...base, status, endOnHeaders: true, headers: base.headers.filter(([k]) => k !== "content-length") });
    assert.equal(got.status, want, id);
    assert.deepEqual(schemaErrors("ErrorResponse", JSON.parse(got.text)), [], `${id}: ${got.text}`);
  }
  const s = byId("anthropic/stream-text");
  const got = await run(s, { ...caseResponse(s)!, endOnHeaders: true });
  assert.match(events(got.text).at(-1)!, /"error"/, "an empty stream ends with an error event");
});

// Found once the Messages API input, Bedrock and Gemini/Vertex joined the fuzz targets.

const withHeader = (r: ResponseSpec, name: string, value: string | null): ResponseSpec =>
  ({ ...r, headers: [...r.headers.filter(([k]) => k !== name), ...(value === null ? [] : [[name, value] as [string, string]])] });
const withBody = (r: ResponseSpec, body: Buffer): ResponseSpec =>
  ({ ...r, body, headers: r.headers.map(([k, v]) => [k, k === "content-length" ? String(body.length) : v] as [string, string]) });
const anthropicError = (text: string) => { const b = JSON.parse(text); assert.deepEqual(messagesSchemaErrors("ErrorResponse", b), [], text); return b; };

test("a native Messages answer with a 2xx that is not a JSON object is a 502 in Anthropic's envelope (was: forwarded with the 2xx)", async () => {
  const c = byId("anthropic/messages-native-json");
  const base = caseResponse(c)!;
  const plain = byId("anthropic/messages-native-error-not-anthropic-shape").response!.body; // a proxy's plain-text page
  for (const body of [base.body.subarray(0, 100), plain, Buffer.from("[1,2]")]) {
    const got = await run(c, withBody(base, body));
    assert.equal(got.status, 502, body.toString().slice(0, 40));
    assert.match(got.headers["content-type"], /^application\/json/);
    assert.equal(anthropicError(got.text).error.type, "api_error");
  }
  const none = await run(c, { ...base, endOnHeaders: true, headers: base.headers.filter(([k]) => k !== "content-length") });
  assert.equal(none.status, 502, "a 200 without a body");
});

test("native Messages answers labelled otherwise (text/html, none, text/event-stream) are sent as application/json (was: the provider's label kept)", async () => {
  for (const [id, ct] of [["anthropic/messages-native-json", "text/html"], ["anthropic/messages-native-json", null], ["anthropic/messages-native-error-429", "text/event-stream"], ["anthropic/messages-native-error-529", "text/html"]] as const) {
    const c = byId(id);
    const got = await run(c, withHeader(caseResponse(c)!, "content-type", ct));
    assert.equal(got.headers["content-type"], "application/json", `${id} labelled ${ct}`);
  }
});

test("an error whose message is empty still reaches a Messages client with a message (was: message \"\")", async () => {
  const c = byId("anthropic/messages-native-error-529");
  const base = caseResponse(c)!;
  for (const body of ['{"type":"error","error":""}', '{"error":{"message":"  "},"message":""}', ""]) {
    const got = await run(c, withBody(base, Buffer.from(body)));
    assert.equal(got.status, 529);
    assert.match(anthropicError(got.text).error.message, /\S/, body);
  }
  const kept = await run(c, withBody(base, Buffer.from('{"error":{"message":""},"message":"the real one"}')));
  assert.equal(anthropicError(kept.text).error.message, "the real one");
  // Mid-stream, through a translated backend: an OpenAI error event whose error is "".
  const s = byId("openai/messages-stream-error");
  const sb = caseResponse(s)!;
  const got = await run(s, withBody(sb, Buffer.from(sb.body.toString("utf8").replace(/"error":\{[^}]*\}/, '"error":""'))));
  const last = sseParse(got.text).events.at(-1)!;
  assert.equal(last.name, "error");
  assert.match(anthropicError(last.data).error.message, /\S/);
});

test("a passed-through Messages stream cut before message_stop ends with the partial event closed and an error event (was: partial event, no end)", async () => {
  const c = byId("anthropic/messages-native-stream");
  const base = caseResponse(c)!;
  const text = base.body.toString("utf8");
  const between = text.indexOf("event: content_block_stop");
  for (const cut of [between + 30, between, 20]) {
    const got = await run(c, withBody(base, base.body.subarray(0, cut)));
    const p = sseParse(got.text);
    assert.equal(p.partial, "", `cut at ${cut}: no partial event at the end`);
    assert.equal(p.events.at(-1)!.name, "error");
    assert.equal(anthropicError(p.events.at(-1)!.data).error.type, "api_error");
    assert.ok(got.text.startsWith(text.slice(0, cut)), "the provider's bytes before the cut pass through untouched");
  }
});

test("a passed-through stream the filter may lengthen does not keep the provider's content-length (was: kept, bytes appended)", async () => {
  for (const id of ["anthropic/messages-native-stream", "openai/stream-usage-requested"]) {
    const c = byId(id);
    const base = caseResponse(c)!;
    const cut = base.body.subarray(0, 200);
    const got = await run(c, withHeader(withBody(base, cut), "content-length", String(cut.length)));
    assert.ok(got.body.length > cut.length, `${id}: the cut stream was closed`);
    assert.equal(got.headers["content-length"], undefined, id);
  }
});

test("an answer for a Messages client over max_response_bytes is a 502 in Anthropic's envelope (was: OpenAI's)", async () => {
  const c = byId("openai/messages-json-text");
  const base = caseResponse(c)!;
  const big = Buffer.concat([base.body, Buffer.alloc(8 * 1024 * 1024 + 1 - base.body.length, 0x20)]);
  const got = await run(c, { ...withBody(base, big), cuts: [1 << 20, 4 << 20] });
  assert.equal(got.status, 502);
  assert.match(anthropicError(got.text).error.message, /max_response_bytes/);
});

test("Gemini answers labelled otherwise (text/event-stream, text/html) are sent as application/json (was: the provider's label kept)", async () => {
  for (const [id, ct] of [["gemini/embeddings-single-base64", "text/event-stream"], ["gemini/plain-chat", "text/html"], ["vertex-gemini/chat", null]] as const) {
    const c = byId(id);
    const got = await run(c, withHeader(caseResponse(c)!, "content-type", ct));
    assert.equal(got.status, 200, id);
    assert.equal(got.headers["content-type"], "application/json", `${id} labelled ${ct}`);
  }
});

test("a Gemini 2xx that carries a google.rpc.Status error gets that error's status (was: always 500)", async () => {
  const c = byId("gemini/plain-chat");
  const err = byId("gemini/error-403-permission-denied").response!.body;
  const got = await run(c, withBody(caseResponse(c)!, err));
  assert.equal(got.status, 403);
  assert.equal(JSON.parse(got.text).error.type, "permission_error");
  const emb = byId("gemini/embeddings-single-float");
  assert.equal((await run(emb, withBody(caseResponse(emb)!, err))).status, 403, "embeddings");
});

test("a Messages client gets no tool_use block without a name, and no delta for a closed block (was: name \"\", delta after content_block_stop)", async () => {
  const j = byId("openai/messages-json-tools");
  const jb = caseResponse(j)!;
  const doc = JSON.parse(jb.body.toString("utf8"));
  const calls = doc.choices[0].message.tool_calls;
  calls[0].function.name = 7;
  const got = await run(j, withBody(jb, Buffer.from(JSON.stringify(doc)))); // the oracle validates the Message
  const blocks = JSON.parse(got.text).content.filter((b: any) => b.type === "tool_use");
  assert.equal(blocks.length, calls.length - 1, "the nameless call is left out");

  const s = byId("openai/messages-stream-tools");
  const sb = caseResponse(s)!;
  const evs = sseEvents(sb.body);
  const named = evs.findIndex((e) => e.includes('"name":"get_weather"'));
  // The first fragment (with the name) lost: the call's other fragments have nowhere to go.
  await run(s, withBody(sb, Buffer.concat(evs.filter((_, i) => i !== named))));
  // Text between two fragments of one call: the tool block was closed, its later fragment is dropped.
  const text = Buffer.from(evs[0].toString("utf8").replace("Checking both.", "more text"));
  await run(s, withBody(sb, Buffer.concat([...evs.slice(0, named + 1), text, ...evs.slice(named + 1)])));
});

test("usage counts a backend reports as negative reach a Messages client as 0 (was: output_tokens -1)", async () => {
  const c = byId("openai/messages-stream-tools");
  const base = caseResponse(c)!;
  const evs = sseEvents(base.body);
  const bad = Buffer.from('data: {"choices":[],"usage":{"prompt_tokens":1e400,"completion_tokens":-1,"total_tokens":null}}\n\n');
  const done = evs.findIndex((e) => e.toString().startsWith("data: [DONE]"));
  assert.ok(done > 0, "the fixture ends with [DONE]");
  // The last usage report before [DONE] is the one the client gets.
  const got = await run(c, withBody(base, Buffer.concat([...evs.slice(0, done), bad, ...evs.slice(done)]))); // the oracle checks every count
  const delta = JSON.parse(sseParse(got.text).events.find((e) => e.name === "message_delta")!.data);
  assert.equal(delta.usage.output_tokens, 0);
});

test("what a Messages client gets at an early [DONE] does not depend on where the body is split (was: usage read after [DONE] in the same chunk)", async () => {
  const c = byId("openai/messages-stream-tools");
  const base = caseResponse(c)!;
  const evs = sseEvents(base.body);
  const usage = Buffer.from('data: {"id":"chatcmpl-stream0002","object":"chat.completion.chunk","created":1741570100,"model":"m","choices":[],"usage":{"prompt_tokens":80,"completion_tokens":4,"total_tokens":84}}\n\n');
  const body = Buffer.concat([...evs.slice(0, 4), Buffer.from("data: [DONE]\n\n"), usage, ...evs.slice(4)]);
  const whole = await run(c, withBody(base, body));
  const at = body.indexOf(usage);
  const split = await run(c, { ...withBody(base, body), cuts: [at] });
  assert.equal(split.text.replace(/"created":\d+/g, ""), whole.text.replace(/"created":\d+/g, ""));
});

test("a Messages client naming a Vertex Claude model that is not one URL path segment gets a 400, nothing upstream (was: sent upstream with an empty :path)", async () => {
  const c = byId("anthropic/messages-native-json");
  const v = byId("vertex-anthropic/chat");
  const h = await hosts.get(v.configText);
  for (const model of ["claude-sonnet-4-5@2025=29", "claude-x/../../other", "claude-a:b"]) {
    const body = Buffer.from(JSON.stringify({ ...c.request, model }));
    const r = runExchange(h, v.config, { ...caseRequest(c, body) }, null, { clientFault: true });
    assert.deepEqual(r.problems, [], model);
    assert.equal(r.exchange.upstream, null, `${model}: nothing upstream`);
    assert.equal(r.exchange.client.status, 400, model);
    assert.match(anthropicError(r.exchange.client.body.toString()).error.message, /URL/);
  }
});
