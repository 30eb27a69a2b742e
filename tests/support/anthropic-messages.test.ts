// The Messages API checks (anthropic-messages.schema.json, the strict SSE reader, the stream state
// machine) accept what Anthropic sends and reject what a broken translator would send: each
// negative case below is a mistake the schema or the contract must catch.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { messagesSchemaErrors, messagesStreamProblems, parseMessagesSse, assembleMessage } from "./anthropic-messages.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const sdkFixture = readFileSync(join(ROOT, "tests/fixtures/providers/anthropic/stream-tool-use/upstream-response.sse"), "utf8");

const message = () => ({
  id: "msg_01", type: "message", role: "assistant", model: "claude-x",
  content: [{ type: "text", text: "Hi" }, { type: "tool_use", id: "toolu_1", name: "f", input: { a: 1 } }],
  stop_reason: "tool_use", stop_sequence: null,
  usage: { input_tokens: 3, output_tokens: 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
});

test("Anthropic's own stream (the SDK's tool_use fixture) passes the reader, the schema and the contract", () => {
  const { events, names } = parseMessagesSse(sdkFixture);
  assert.equal(events.length, 15);
  assert.deepEqual(names.slice(0, 3), ["message_start", "content_block_start", "ping"]);
  assert.deepEqual(messagesStreamProblems(events), []);
  const msg = assembleMessage(events);
  assert.deepEqual(msg.content[1].input, { location: "Paris" });
  assert.deepEqual(messagesSchemaErrors("Message", msg), []);
});

test("a valid Message passes; each broken variant fails the Message schema", () => {
  assert.deepEqual(messagesSchemaErrors("Message", message()), []);
  const broken: [string, (m: any) => void][] = [
    ["no usage", (m) => { delete m.usage; }],
    ["id without msg_", (m) => { m.id = "chatcmpl-1"; }],
    ["OpenAI finish_reason as stop_reason", (m) => { m.stop_reason = "stop"; }],
    ["stop_sequence set without stop_reason stop_sequence", (m) => { m.stop_sequence = "END"; }],
    ["stop_reason stop_sequence without the sequence", (m) => { m.stop_reason = "stop_sequence"; }],
    ["tool input as a JSON string", (m) => { m.content[1].input = "{\"a\":1}"; }],
    ["unknown block member", (m) => { m.content[0].extra = 1; }],
    ["unknown block type", (m) => { m.content[0].type = "output_text"; }],
    ["negative token count", (m) => { m.usage.output_tokens = -1; }],
    ["usage in OpenAI's names", (m) => { m.usage = { prompt_tokens: 1, completion_tokens: 2 }; }],
    ["role user", (m) => { m.role = "user"; }],
  ];
  for (const [what, mutate] of broken) {
    const m = message();
    mutate(m);
    assert.notDeepEqual(messagesSchemaErrors("Message", m), [], `${what} must be rejected`);
  }
});

test("error envelopes: Anthropic's passes, OpenAI's and unknown types fail", () => {
  assert.deepEqual(messagesSchemaErrors("ErrorResponse", { type: "error", error: { type: "not_found_error", message: "x" }, request_id: "req_1" }), []);
  assert.notDeepEqual(messagesSchemaErrors("ErrorResponse", { error: { message: "x", type: "invalid_request_error", param: null, code: null } }), []);
  assert.notDeepEqual(messagesSchemaErrors("ErrorResponse", { type: "error", error: { type: "rate_limit_exceeded", message: "x" } }), []);
  assert.notDeepEqual(messagesSchemaErrors("ErrorResponse", { type: "error", error: { type: "api_error", message: "" } }), []);
});

test("the SSE reader refuses framing a Messages client would misread", () => {
  assert.throws(() => parseMessagesSse('data: {"type":"message_stop"}\n\n'), /event: <name>/); // no event line: the SDK skips it
  assert.throws(() => parseMessagesSse('event: message_stop\ndata: {"type":"ping"}\n\n'), /event name/);
  assert.throws(() => parseMessagesSse('event: ping\r\ndata: {"type":"ping"}\r\n\r\n'), /CR/);
  assert.throws(() => parseMessagesSse('event: ping\ndata: {"type":"ping"}\n'), /blank line/);
  assert.throws(() => parseMessagesSse('event: ping\ndata: {"type":\ndata: "ping"}\n\n'), /one 'data/);
});

test("each broken variant of a valid stream fails the stream contract", () => {
  const good = parseMessagesSse(sdkFixture).events;
  const broken: [string, (e: any[]) => any[]][] = [
    ["no message_start", (e) => e.slice(1)],
    ["no message_stop", (e) => e.slice(0, -1)],
    ["no message_delta", (e) => e.filter((x) => x.type !== "message_delta")],
    ["a block never closed", (e) => e.filter((x, i) => !(x.type === "content_block_stop" && i < 8))],
    ["block indexes not dense", (e) => e.map((x) => x.type === "content_block_start" && x.index === 1 ? { ...x, index: 2 } : x)],
    ["delta for another block", (e) => e.map((x) => x.type === "content_block_delta" && x.index === 1 ? { ...x, index: 0 } : x)],
    ["text delta in a tool block", (e) => e.map((x) => x.type === "content_block_delta" && x.index === 1 ? { ...x, delta: { type: "text_delta", text: "x" } } : x)],
    ["tool input that is not JSON (last fragment lost)", (e) => e.filter((x) => !(x.type === "content_block_delta" && x.delta?.partial_json?.endsWith("}")))],
    ["events after an error", (e) => [...e.slice(0, 3), { type: "error", error: { type: "api_error", message: "m" } }, ...e.slice(3)]],
    ["OpenAI stop reason in message_delta", (e) => e.map((x) => x.type === "message_delta" ? { ...x, delta: { ...x.delta, stop_reason: "tool_calls" } } : x)],
    ["message_delta without output_tokens", (e) => e.map((x) => x.type === "message_delta" ? { ...x, usage: {} } : x)],
  ];
  for (const [what, mutate] of broken) {
    assert.notDeepEqual(messagesStreamProblems(mutate(structuredClone(good))), [], `${what} must be reported`);
  }
  // An error event may end a stream early.
  assert.deepEqual(messagesStreamProblems([...good.slice(0, 4), { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }]), []);
});
