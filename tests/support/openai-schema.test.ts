// The validator must reject what strict OpenAI clients reject; otherwise every schema check in
// the e2e tests would pass vacuously.
import { test } from "node:test";
import assert from "node:assert/strict";
import { schemaErrors, type OpenAISchemaName } from "./openai-schema.ts";
import { parseOpenAISse } from "./sse.ts";

const chunk = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content: "x" }, logprobs: null, finish_reason: null }] };
const completion = { id: "chatcmpl-1", object: "chat.completion", created: 1, model: "m", choices: [{ index: 0, message: { role: "assistant", content: "x", refusal: null }, logprobs: null, finish_reason: "stop" }] };
const cases: { name: string; schema: OpenAISchemaName; value: unknown; valid: boolean }[] = [
  { name: "completion", schema: "CreateChatCompletionResponse", value: completion, valid: true },
  { name: "completion with a non-OpenAI finish_reason", schema: "CreateChatCompletionResponse", value: { ...completion, choices: [{ ...completion.choices[0], finish_reason: "end_turn" }] }, valid: false },
  { name: "completion without logprobs on a choice", schema: "CreateChatCompletionResponse", value: { ...completion, choices: [{ index: 0, message: completion.choices[0].message, finish_reason: "stop" }] }, valid: false },
  { name: "completion with a string created", schema: "CreateChatCompletionResponse", value: { ...completion, created: "1" }, valid: false },
  { name: "chunk", schema: "CreateChatCompletionStreamResponse", value: chunk, valid: true },
  { name: "usage-only chunk", schema: "CreateChatCompletionStreamResponse", value: { ...chunk, choices: [], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } }, valid: true },
  { name: "chunk with usage:null", schema: "CreateChatCompletionStreamResponse", value: { ...chunk, usage: null }, valid: true },
  { name: "chunk with the wrong object", schema: "CreateChatCompletionStreamResponse", value: { ...chunk, object: "chat.completion" }, valid: false },
  { name: "chunk with usage missing total_tokens", schema: "CreateChatCompletionStreamResponse", value: { ...chunk, usage: { prompt_tokens: 1, completion_tokens: 2 } }, valid: false },
  { name: "error", schema: "ErrorResponse", value: { error: { message: "m", type: "t", param: null, code: null } }, valid: true },
  { name: "error without param", schema: "ErrorResponse", value: { error: { message: "m", type: "t", code: "c" } }, valid: false },
  { name: "bare error string", schema: "ErrorResponse", value: { error: "bad" }, valid: false },
  { name: "request without messages", schema: "CreateChatCompletionRequest", value: { model: "m" }, valid: false },
  { name: "request", schema: "CreateChatCompletionRequest", value: { model: "m", messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true } }, valid: true },
];
for (const c of cases) test(`schema: ${c.name} is ${c.valid ? "valid" : "invalid"}`, () => {
  const errs = schemaErrors(c.schema, c.value);
  assert.equal(errs.length === 0, c.valid, errs.join("; "));
});

const sseCases: { name: string; text: string; error?: RegExp; chunks?: number; done?: boolean }[] = [
  { name: "two events and DONE", text: 'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n', chunks: 2, done: true },
  { name: "no DONE", text: 'data: {"a":1}\n\n', chunks: 1, done: false },
  { name: "CRLF", text: 'data: {"a":1}\r\n\r\n', error: /CR/ },
  { name: "missing final blank line", text: 'data: {"a":1}\n', error: /blank line/ },
  { name: "event after DONE", text: 'data: [DONE]\n\ndata: {"a":1}\n\n', error: /after \[DONE\]/ },
  { name: "comment line", text: ': ping\n\ndata: [DONE]\n\n', error: /not a single 'data: ' line/ },
  { name: "split JSON", text: 'data: {"a":\n\n', error: /not JSON/ },
];
for (const c of sseCases) test(`sse: ${c.name}`, () => {
  if (c.error) return assert.throws(() => parseOpenAISse(c.text), c.error);
  const s = parseOpenAISse(c.text);
  assert.equal(s.chunks.length, c.chunks);
  assert.equal(s.done, c.done);
});
