// The Gemini and Vertex translators never trap: malformed client requests and damaged provider
// answers (every Gemini fixture answer cut short at many points, bytes flipped, wrong JSON types)
// each get a well-formed answer in the client's format, and the worker VM stays healthy.
// A trap would kill the VM for every request on that Envoy worker (README "Never traps").
// Host-only: thousands of damaged answers through the socket-free driver in seconds (a real Envoy
// round trip each would take minutes); the Gemini translation itself runs in Envoy in tests/e2e/gemini.test.ts.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { PluginHost } from "../host/plugin-host.ts";
import { loadCase, nonEmpty, PROVIDER_FIXTURES, CLIENT_SECRETS, GATEWAY_WASM, parseClientStream, type ProviderCase } from "./fixture-case.ts";
import { schemaErrors } from "../support/openai-schema.ts";
import { seedGcpTokens } from "./gcp-token.ts";

const hosts = new Map<string, Promise<PluginHost>>();
function hostFor(c: ProviderCase): Promise<PluginHost> {
  let h = hosts.get(c.configText);
  if (!h) {
    h = PluginHost.load({ wasm: GATEWAY_WASM, plugin: { configuration: c.configText, vmId: `gemini-robust-${hosts.size}` }, workers: 1, bufferLimitBytes: 16 * 1024 * 1024 })
      .then((host) => { seedGcpTokens(host.sharedData, c.config); return host; });
    hosts.set(c.configText, h);
  }
  return h;
}
after(async () => { for (const h of hosts.values()) (await h).close(); });

/** One request; the upstream answers `status`/`ct` with `parts`. Returns what the client got. */
function run(host: PluginHost, c: ProviderCase, request: Uint8Array, answer?: { status: number; ct: string; parts: Uint8Array[] }) {
  const d = host.worker(0).newStream();
  d.requestHeaders([[":method", "POST"], [":scheme", "http"], [":authority", "gw"], [":path", c.endpoint], ["content-type", "application/json"],
    ["content-length", String(request.length)], ["authorization", CLIENT_SECRETS.authorization]]);
  d.requestBody(request, true);
  if (d.upstream.headers && !d.downstream.headers && answer) {
    d.responseHeaders([[":status", String(answer.status)], ["content-type", answer.ct]], false);
    answer.parts.forEach((p, i) => d.responseBody(p, i === answer.parts.length - 1));
  }
  d.complete();
  return { status: Number(d.downstream.headers?.get(":status") ?? 0), ct: d.downstream.headers?.get("content-type") ?? "", text: d.downstreamBody() };
}

/** The client got an OpenAI-shaped answer: a valid JSON body, or an SSE stream that ends with [DONE] or an error event. */
function wellFormed(r: { status: number; ct: string; text: string }, stream: boolean, what: string): void {
  assert.ok(r.status >= 200 && r.status < 600, `${what}: status ${r.status}`);
  if (stream && r.status === 200 && r.ct.startsWith("text/event-stream")) {
    const evs = parseClientStream(r.text);
    const last = evs.at(-1);
    assert.ok(last === "[DONE]" || (last && typeof last === "object" && "error" in last), `${what}: the stream neither ends with [DONE] nor with an error event: ${r.text.slice(-200)}`);
    for (const ev of evs) if (ev !== "[DONE]" && "error" in ev) assert.deepEqual(schemaErrors("ErrorResponse", ev), [], `${what}: error event`);
    return;
  }
  let body: any;
  assert.doesNotThrow(() => { body = JSON.parse(r.text); }, `${what}: body is not JSON: ${r.text.slice(0, 200)}`);
  if (r.status >= 400) assert.deepEqual(schemaErrors("ErrorResponse", body), [], `${what}: error body`);
}

function healthy(host: PluginHost, what: string): void {
  const vm = host.worker(0).vm;
  assert.ok(vm && !vm.isFailed, `${what}: the VM failed: ${host.logs.slice(-3).map((l) => l.message).join(" | ")}`);
  assert.equal(host.liveContexts(), 0, `${what}: stream contexts left`);
}

const answered = nonEmpty(["gemini", "vertex-gemini", "vertex-anthropic"].flatMap((p) => readdirSync(join(PROVIDER_FIXTURES, p)).map((n) => join(PROVIDER_FIXTURES, p, n)))
  .filter((d) => existsSync(join(d, "upstream-request.json"))).map(loadCase), "Google fixture answers");

test(`damaged answers: each of ${answered.length} Google fixture answers cut short at 16 points and with bytes flipped → a well-formed answer, no trap`, async () => {
  let n = 0;
  for (const c of answered) {
    const host = await hostFor(c);
    const body = c.response!.body;
    const ct = String(Object.entries(c.response!.headers).find(([k]) => k.toLowerCase() === "content-type")?.[1] ?? "application/json");
    const stream = c.request.stream === true;
    const variants: [string, Uint8Array][] = [];
    for (let k = 1; k <= 16; k++) variants.push([`cut at ${k}/17`, body.subarray(0, Math.floor((body.length * k) / 17))]);
    for (const flip of [0x22, 0x7b, 0x5c, 0x0a, 0x00, 0xff]) {
      const b = Buffer.from(body);
      for (let i = 7; i < b.length; i += 29) b[i] = flip;
      variants.push([`bytes flipped to 0x${flip.toString(16)}`, b]);
    }
    for (const [what, v] of variants) {
      // Delivered in three uneven pieces, as body callbacks may come.
      const a = Math.floor(v.length / 3), b2 = Math.floor((2 * v.length) / 3);
      const r = run(host, c, c.requestBytes, { status: c.response!.status, ct, parts: [v.subarray(0, a), v.subarray(a, b2), v.subarray(b2)] });
      wellFormed(r, stream, `${c.id} ${what}`);
      healthy(host, `${c.id} ${what}`);
      n++;
    }
  }
  assert.ok(n > 1000, `${n} damaged answers`);
});

const BAD_REQUESTS: [string, unknown][] = [
  ["messages not an array", { messages: { role: "user" } }],
  ["a message that is a number", { messages: [7] }],
  ["content a number", { messages: [{ role: "user", content: 7 }] }],
  ["a part without type", { messages: [{ role: "user", content: [{ text: "x" }] }] }],
  ["image_url without url", { messages: [{ role: "user", content: [{ type: "image_url", image_url: {} }] }] }],
  ["data URL with bad base64", { messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64,@@@@" } }] }] }],
  ["data URL with a bad media type", { messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image png;base64,AAAA" } }] }] }],
  ["input_audio format flac", { messages: [{ role: "user", content: [{ type: "input_audio", input_audio: { data: "AAAA", format: "flac" } }] }] }],
  ["file_id", { messages: [{ role: "user", content: [{ type: "file", file: { file_id: "file-1" } }] }] }],
  ["file_data without a media type", { messages: [{ role: "user", content: [{ type: "file", file: { file_data: "AAAA", filename: "x.bin" } }] }] }],
  ["tool_calls not an array", { messages: [{ role: "user", content: "x" }, { role: "assistant", tool_calls: {} }] }],
  ["arguments not JSON", { messages: [{ role: "user", content: "x" }, { role: "assistant", tool_calls: [{ id: "a", type: "function", function: { name: "f", arguments: "{oops" } }] }] }],
  ["arguments a JSON array", { messages: [{ role: "user", content: "x" }, { role: "assistant", tool_calls: [{ id: "a", type: "function", function: { name: "f", arguments: "[1]" } }] }] }],
  ["a tool call without a name", { messages: [{ role: "user", content: "x" }, { role: "assistant", tool_calls: [{ id: "a", type: "function", function: { arguments: "{}" } }] }] }],
  ["a tool message without tool_call_id", { messages: [{ role: "user", content: "x" }, { role: "tool", content: "y" }] }],
  ["an unknown role", { messages: [{ role: "robot", content: "x" }] }],
  ["temperature 3", { messages: [{ role: "user", content: "x" }], temperature: 3 }],
  ["max_tokens 0", { messages: [{ role: "user", content: "x" }], max_tokens: 0 }],
  ["stop a number", { messages: [{ role: "user", content: "x" }], stop: 5 }],
  ["seed 2^40", { messages: [{ role: "user", content: "x" }], seed: 2 ** 40 }],
  ["reasoning_effort extreme", { messages: [{ role: "user", content: "x" }], reasoning_effort: "extreme" }],
  ["response_format json_schema without schema", { messages: [{ role: "user", content: "x" }], response_format: { type: "json_schema", json_schema: { name: "x" } } }],
  ["tools not an array", { messages: [{ role: "user", content: "x" }], tools: {} }],
  ["tool parameters a string", { messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: { name: "f", parameters: "{}" } }] }],
  ["tool_choice required without tools", { messages: [{ role: "user", content: "x" }], tool_choice: "required" }],
  ["tool_choice allowed_tools naming nothing declared", { messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: { name: "f" } }],
    tool_choice: { type: "allowed_tools", allowed_tools: { mode: "auto", tools: [{ type: "function", function: { name: "g" } }] } } }],
  ["embeddings input empty", { input: [] }],
  ["embeddings input an object", { input: { text: "x" } }],
  ["embeddings encoding_format hex", { input: "x", encoding_format: "hex" }],
  ["embeddings dimensions -1", { input: "x", dimensions: -1 }],
];

test(`malformed requests (${BAD_REQUESTS.length} kinds) to Gemini and Vertex backends → 400 with an OpenAI error naming the problem, nothing upstream, no trap`, async () => {
  for (const id of ["gemini/plain-chat", "vertex-gemini/chat"]) {
    const c = loadCase(join(PROVIDER_FIXTURES, id));
    const host = await hostFor(c);
    for (const [what, extra] of BAD_REQUESTS) {
      const embeddings = "input" in (extra as object);
      const req = { model: embeddings ? "gemini-embedding-001" : c.request.model, ...(extra as object) };
      const cc = { ...c, endpoint: embeddings ? "/v1/embeddings" : "/v1/chat/completions" };
      const r = run(host, cc, Buffer.from(JSON.stringify(req)));
      assert.equal(r.status, 400, `${id} ${what}: ${r.text}`);
      const body = JSON.parse(r.text);
      assert.deepEqual(schemaErrors("ErrorResponse", body), [], `${id} ${what}`);
      assert.ok(body.error.message.length > 10, `${id} ${what}: ${r.text}`);
      healthy(host, `${id} ${what}`);
    }
  }
});
