// Self-test of the mock provider: exact bytes out, chunking, request recording, fixture selection.
import { test, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { MockProvider, loadFixture, loadFixtures, fixtureFromSpec, splitBody, fixtureBytes } from "../../dev/mock-provider.ts";

const openaiDir = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "openai");
const mock = await MockProvider.start();
after(() => mock.stop());
beforeEach(() => mock.reset());

interface RawResponse { status: number; headers: Record<string, string | string[] | undefined>; chunks: Buffer[]; body: Buffer; error?: Error }

/** A raw HTTP/1.1 request that keeps every `data` event, so chunk boundaries are observable. */
function send(method: string, path: string, body: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: mock.port, method, path, headers: { "content-type": "application/json", ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      const done = (error?: Error) => resolve({ status: res.statusCode!, headers: res.headers, chunks, body: Buffer.concat(chunks), error });
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => done());
      res.on("error", done);
      res.on("aborted", () => done(new Error("aborted")));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const chatBody = (model: string, stream = false) => JSON.stringify({ model, stream, messages: [{ role: "user", content: "hi" }] });

test("a whole-body fixture goes out byte-for-byte with its status, headers and content-length", async () => {
  const fx = loadFixture(join(openaiDir, "error-429-rate-limit-exceeded.fixture.json"));
  mock.enqueue(fx);
  const res = await send("POST", "/v1/chat/completions", chatBody("gpt-4o-mini"));
  const file = readFileSync(join(openaiDir, "error-429-rate-limit-exceeded.body.json"));
  assert.equal(res.status, 429);
  assert.deepEqual(res.body, file);
  assert.equal(res.headers["content-length"], String(file.length));
  assert.equal(res.headers["transfer-encoding"], undefined);
  assert.equal(res.headers["x-ratelimit-remaining-tokens"], "128");
  assert.equal(res.headers["content-type"], "application/json; charset=utf-8");
});

test("every request is recorded with method, path, query, headers and body", async () => {
  mock.enqueue(loadFixture(join(openaiDir, "chat-completion-gpt-4o-mini.fixture.json")));
  const body = chatBody("gpt-4o-mini");
  await send("POST", "/v1/chat/completions?api-version=2024-10-21", body, { authorization: "Bearer sk-test", "X-Custom": "A" });
  assert.equal(mock.requests.length, 1);
  const r = mock.requests[0];
  assert.equal(r.method, "POST");
  assert.equal(r.url, "/v1/chat/completions?api-version=2024-10-21");
  assert.equal(r.path, "/v1/chat/completions");
  assert.equal(r.headers.authorization, "Bearer sk-test");
  assert.equal(r.headers["x-custom"], "A");
  assert.ok(r.rawHeaders.includes("X-Custom"), "raw header names keep their case");
  assert.equal(r.bodyText, body);
  assert.deepEqual(r.json, JSON.parse(body));
  assert.equal(r.fixture, "chat-completion-gpt-4o-mini");
});

test("a non-JSON body is recorded with json undefined", async () => {
  mock.enqueue(loadFixture(join(openaiDir, "error-500-server-error.fixture.json")));
  await send("POST", "/v1/chat/completions", "{not json");
  assert.equal(mock.requests[0].json, undefined);
  assert.equal(mock.requests[0].bodyText, "{not json");
});

test("an SSE stream is written event by event, chunked, and arrives byte-identical", async () => {
  // A delay between writes makes each write its own TCP segment on loopback, so the client
  // sees one data event per SSE event.
  const fx = loadFixture(join(openaiDir, "chat-stream-include-usage.fixture.json"), { chunkDelayMs: 15 });
  mock.enqueue(fx);
  const res = await send("POST", "/v1/chat/completions", chatBody("gpt-4o-mini", true));
  const file = readFileSync(join(openaiDir, "chat-stream-include-usage.sse"));
  assert.equal(res.status, 200);
  assert.equal(res.headers["transfer-encoding"], "chunked");
  assert.equal(res.headers["content-length"], undefined);
  assert.equal(res.headers["content-type"], "text/event-stream; charset=utf-8");
  assert.deepEqual(res.body, file);
  const events = file.toString().split("\n\n").length - 1;
  assert.equal(fx.parts.length, events);
  assert.deepEqual(res.chunks.map((c) => c.toString()), fx.parts.map((p) => p.bytes.toString()));
});

test("chunk delays are honoured", async () => {
  const fx = fixtureFromSpec("slow", { status: 200, chunks: [{ text: "a" }, { text: "b", delayMs: 120 }] }, openaiDir);
  mock.enqueue(fx);
  const t0 = performance.now();
  const res = await send("GET", "/slow", "");
  assert.ok(performance.now() - t0 >= 110, "second chunk waited");
  assert.equal(res.body.toString(), "ab");
});

const splitCases: { name: string; input: Buffer; split: Parameters<typeof splitBody>[1]; want: string[] }[] = [
  { name: "sse LF", input: Buffer.from("data: 1\n\ndata: 2\n\n"), split: "sse-events", want: ["data: 1\n\n", "data: 2\n\n"] },
  { name: "sse CRLF + unterminated tail", input: Buffer.from("event: a\r\ndata: 1\r\n\r\ndata: 2"), split: "sse-events", want: ["event: a\r\ndata: 1\r\n\r\n", "data: 2"] },
  { name: "fixed bytes", input: Buffer.from("abcdefghij"), split: { bytes: 4 }, want: ["abcd", "efgh", "ij"] },
  { name: "whole", input: Buffer.from("abc\n\ndef"), split: "whole", want: ["abc\n\ndef"] },
];
for (const c of splitCases) test(`splitBody: ${c.name}`, () => {
  assert.deepEqual(splitBody(c.input, c.split).map((b) => b.toString()), c.want);
});

test("splitBody: AWS eventstream frames are cut on their length prelude", () => {
  const frame = (payload: string) => {
    const p = Buffer.from(payload);
    const b = Buffer.alloc(16 + p.length); // prelude(12) + no headers + payload + crc(4); CRCs are not checked here
    b.writeUInt32BE(b.length, 0);
    p.copy(b, 12);
    return b;
  };
  const a = frame("first"), b = frame("second-frame");
  const parts = splitBody(Buffer.concat([a, b]), "aws-eventstream-frames");
  assert.deepEqual(parts, [a, b]);
  assert.throws(() => splitBody(Buffer.concat([a, b.subarray(0, 10)]), "aws-eventstream-frames"), /bad frame length/);
});

test("binary chunks go out exactly", async () => {
  const bytes = Buffer.from([0, 0, 0, 16, 255, 1, 2, 3]);
  mock.enqueue(fixtureFromSpec("bin", { status: 200, headers: { "content-type": "application/vnd.amazon.eventstream" }, chunks: [{ base64: bytes.toString("base64") }] }, openaiDir));
  const res = await send("POST", "/model/x/converse-stream", "{}");
  assert.deepEqual(res.body, bytes);
});

test("the queue answers first, in order, before registered fixtures", async () => {
  const all = loadFixtures(openaiDir);
  mock.register(all.get("chat-completion-gpt-4o-mini")!);
  mock.enqueue(all.get("error-401-invalid-api-key")!, all.get("error-500-server-error")!);
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await send("POST", "/v1/chat/completions", chatBody("gpt-4o-mini"))).status);
  assert.deepEqual(statuses, [401, 500, 200]);
  assert.deepEqual(mock.requests.map((r) => r.fixture), ["error-401-invalid-api-key", "error-500-server-error", "chat-completion-gpt-4o-mini"]);
  assert.deepEqual(mock.pendingFixtures(), []);
});

test("registered fixtures are selected by the request's model and stream flag", async () => {
  const all = loadFixtures(openaiDir);
  mock.register(all.get("chat-completion-gpt-4o-mini")!, all.get("chat-stream-include-usage")!, all.get("chat-completion-reasoning-usage")!);
  const cases: [string, boolean, string][] = [
    ["gpt-4o-mini", false, "chat-completion-gpt-4o-mini"],
    ["gpt-4o-mini", true, "chat-stream-include-usage"],
    ["gpt-5-mini", false, "chat-completion-reasoning-usage"],
  ];
  for (const [model, stream, want] of cases) {
    const res = await send("POST", "/v1/chat/completions", chatBody(model, stream));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, fixtureBytes(all.get(want)!), `${model} stream=${stream}`);
  }
  mock.assertNoFailures();
});

test("no fitting fixture: 501 with an OpenAI-style error, and the failure is recorded", async () => {
  mock.register(loadFixtures(openaiDir).get("chat-completion-gpt-4o-mini")!);
  const res = await send("POST", "/v1/chat/completions", chatBody("gpt-4o-mini", true));
  assert.equal(res.status, 501);
  const body = JSON.parse(res.body.toString());
  assert.equal(body.error.code, "mock_no_fixture");
  assert.match(body.error.message, /model="gpt-4o-mini" stream=true/);
  assert.equal(mock.requests[0].fixture, null);
  assert.throws(() => mock.assertNoFailures(), /could not answer/);
});

test("two fitting fixtures are an error, not a silent pick", async () => {
  const all = loadFixtures(openaiDir);
  const twin = fixtureFromSpec("twin", { status: 200, body: "{}", match: { model: "gpt-4o-mini" } }, openaiDir);
  mock.register(all.get("chat-completion-gpt-4o-mini")!, twin);
  const res = await send("POST", "/v1/chat/completions", chatBody("gpt-4o-mini"));
  assert.equal(res.status, 501);
  assert.match(mock.failures[0], /2 registered fixtures fit/);
});

test("abortAfterBody cuts the connection after the last chunk (no terminating chunk)", async () => {
  mock.enqueue(loadFixture(join(openaiDir, "chat-stream-include-usage.fixture.json"), { split: { bytes: 500 }, abortAfterBody: true }));
  const res = await send("POST", "/v1/chat/completions", chatBody("gpt-4o-mini", true));
  assert.ok(res.error, "the client saw the connection end abnormally");
  assert.deepEqual(res.body, readFileSync(join(openaiDir, "chat-stream-include-usage.sse")));
});

test("waitForRequests resolves on arrival and rejects on timeout", async () => {
  mock.enqueue(loadFixture(join(openaiDir, "error-500-server-error.fixture.json")));
  const waiting = mock.waitForRequests(1, 2000);
  await send("POST", "/v1/chat/completions", chatBody("gpt-4o-mini"));
  await waiting;
  await assert.rejects(mock.waitForRequests(2, 50), /1 requests after 50 ms/);
});

test("fixture files are checked: exactly one body source, split only on streams", () => {
  assert.throws(() => fixtureFromSpec("x", { status: 200, body: "a", bodyFile: "b" }, openaiDir), /exactly one of/);
  assert.throws(() => fixtureFromSpec("x", { status: 200 }, openaiDir), /has none/);
  assert.throws(() => fixtureFromSpec("x", { status: 700, body: "" }, openaiDir), /bad status/);
  assert.throws(() => fixtureFromSpec("x", { status: 200, body: "" }, openaiDir, { split: "whole" }), /only to a streamFile/);
  assert.throws(() => mock.register(fixtureFromSpec("x", { status: 200, body: "" }, openaiDir)), /no match/);
});
