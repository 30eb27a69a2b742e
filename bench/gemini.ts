// Benchmark traffic and sanity check for the Gemini scenarios of bench/run.ts:
//   geminiChatRequest(~2 KB)  the OpenAI request of the Anthropic scenarios (system prompt, a
//                             conversation with a tool call and its result, one tool) for a
//                             Gemini model: system → systemInstruction, tool_calls → functionCall,
//                             the tool message → functionResponse, tools → functionDeclarations
//   geminiSseStream(n)        n events as :streamGenerateContent?alt=sse sends them: CRLF-framed
//                             GenerateContentResponse JSON, one text part each, cumulative
//                             usageMetadata on every event, finishReason STOP on the last
// checkGeminiTranslation proves, before anything is timed, that the filter did the real work on
// this traffic (Gemini URL and key, a proto-valid body of the expected shape, every text part
// delivered as a chat.completion.chunk, usage logged), so no number is that of an error path.

import { isDeepStrictEqual } from "node:util";
import type { PluginHost } from "../tests/host/plugin-host.ts";
import type { StreamDriver } from "../tests/host/plugin-host.ts";
import { assertChatCompletionChunk } from "../tests/support/openai-schema.ts";
import { parseOpenAISse } from "../tests/support/sse.ts";
import { geminiErrors } from "../tests/support/gemini-schema.ts";
import { anthropicConversation, ANTHROPIC_TOOL, type SseStream } from "./bodies.ts";

const enc = new TextEncoder();
export const GEMINI_KEY = "AIzaSy-bench-secret";
export const GEMINI_MODEL = "gemini-2.5-flash";
export const GEMINI_CONFIG = JSON.stringify({
  backends: [{ name: "gemini", schema: "gemini", cluster: "gemini", auth: { type: "x-goog-api-key", key: GEMINI_KEY } }],
  models: [{ match: "gemini-*", backend: "gemini" }],
  max_request_bytes: 1048576,
});

function prose(len: number, seed: string): string {
  let s = "";
  while (s.length < len) s += seed;
  return s.slice(0, len);
}

/** An OpenAI chat request routed to a Gemini backend, exactly `bytes` bytes (ASCII). */
export function geminiChatRequest(bytes: number, stream: boolean): Uint8Array {
  const build = (fill: number) => JSON.stringify({
    model: GEMINI_MODEL,
    messages: anthropicConversation("You are a concise assistant for a cycling commuter. " + prose(fill, "the gateway routes each request by model and reads token usage from the response ")),
    tools: [ANTHROPIC_TOOL],
    tool_choice: "auto",
    temperature: 0.2,
    max_completion_tokens: 512,
    ...(stream ? { stream: true } : {}),
  });
  const fill = bytes - build(0).length;
  if (fill < 0) throw new Error(`geminiChatRequest: ${bytes} bytes is below the minimum ${build(0).length}`);
  const out = enc.encode(build(fill));
  if (out.length !== bytes) throw new Error(`geminiChatRequest: built ${out.length} bytes, wanted ${bytes}`);
  return out;
}

export const GEMINI_PROMPT_TOKENS = 430;

export interface GeminiSse extends SseStream {
  /** The text part of every event, in order (what the client's content must add up to). */
  texts: string[];
}

/** `events` Gemini SSE events (≥ 1), one per write, CRLF-framed as Gemini sends them. */
export function geminiSseStream(events: number): GeminiSse {
  const words = prose(4000, "wear a light waterproof jacket and gloves because the evening will be cooler and windy ").split(" ");
  const texts: string[] = [];
  const payloads: string[] = [];
  for (let i = 0; i < events; i++) {
    const text = (i === 0 ? "" : " ") + words[i % words.length];
    texts.push(text);
    const last = i === events - 1;
    const candidate: Record<string, unknown> = { content: { parts: [{ text }], role: "model" }, index: 0 };
    if (last) candidate.finishReason = "STOP";
    const usage = { promptTokenCount: GEMINI_PROMPT_TOKENS, candidatesTokenCount: i + 1, totalTokenCount: GEMINI_PROMPT_TOKENS + i + 1,
      promptTokensDetails: [{ modality: "TEXT", tokenCount: GEMINI_PROMPT_TOKENS }] };
    // Gemini's own spacing: ": " after keys, "," without a space.
    payloads.push(JSON.stringify({ candidates: [candidate], usageMetadata: usage, modelVersion: GEMINI_MODEL, responseId: "Y52yaPKZEqHLz7IPq6a08QQ" }).replace(/":/g, "\": "));
  }
  return { events: payloads.map((p) => enc.encode(`data: ${p}\r\n\r\n`)), payloads, texts };
}

/** See the file comment. `driver` ran `request` with `sse` as the upstream answer (recorded). */
export function checkGeminiTranslation(host: PluginHost, logsBefore: number, driver: StreamDriver, request: Uint8Array, sse: GeminiSse): void {
  const fail = (why: string): never => { throw new Error(`benchmark sanity check failed (gemini): ${why}\nlogs: ${host.logs.slice(logsBefore).map((l) => l.message).join("\n")}`); };
  const same = (what: string, got: unknown, want: unknown) => { if (!isDeepStrictEqual(got, want)) fail(`${what}:\n  got  ${JSON.stringify(got)}\n  want ${JSON.stringify(want)}`); };

  const up = driver.upstream.headers ?? fail("no request reached the upstream (local reply?)");
  same("upstream :path", up.get(":path"), `/v1beta/models/${GEMINI_MODEL}:streamGenerateContent?alt=sse`);
  same("upstream :authority", up.get(":authority"), "generativelanguage.googleapis.com");
  same("cluster header", up.get("x-ai-gateway-cluster"), "gemini");
  same("x-goog-api-key", up.get("x-goog-api-key"), GEMINI_KEY);
  same("upstream authorization", up.get("authorization"), undefined);
  const upBody = JSON.parse(driver.upstreamBody());
  same("GenerateContentRequest proto errors", geminiErrors("GenerateContentRequest", upBody), []);
  const sent = JSON.parse(new TextDecoder().decode(request));
  const [system, user1, call, result, answer, user2] = sent.messages;
  const tc = call.tool_calls[0];
  const fn = sent.tools[0].function;
  same("upstream GenerateContentRequest", upBody, {
    systemInstruction: { parts: [{ text: system.content }] },
    contents: [
      { role: "user", parts: [{ text: user1.content }] },
      { role: "model", parts: [{ functionCall: { id: tc.id, name: tc.function.name, args: JSON.parse(tc.function.arguments) }, thoughtSignature: "skip_thought_signature_validator" }] },
      { role: "user", parts: [{ functionResponse: { id: result.tool_call_id, name: tc.function.name, response: JSON.parse(result.content) } }] },
      { role: "model", parts: [{ text: answer.content }] },
      { role: "user", parts: [{ text: user2.content }] },
    ],
    tools: [{ functionDeclarations: [{ name: fn.name, description: fn.description, parametersJsonSchema: fn.parameters }] }],
    toolConfig: { functionCallingConfig: { mode: "AUTO" } },
    generationConfig: { temperature: sent.temperature, maxOutputTokens: sent.max_completion_tokens },
  });

  if (!driver.downstream.endStream) fail("the response did not complete");
  same("client content-type", driver.downstream.headers!.get("content-type")?.split(";")[0], "text/event-stream");
  const down = driver.downstreamBody();
  const got = parseOpenAISse(down); // strict: only `data: ` events, LF, ends with [DONE]
  if (!got.done) fail("the client's stream does not end with [DONE]");
  got.chunks.forEach((c, i) => assertChatCompletionChunk(c, `client chunk ${i}`));
  same("chunks", got.chunks.length, sse.texts.length + 2);
  same("ids", [...new Set(got.chunks.map((c) => `${c.id} ${c.object} ${c.model} ${c.created}`))].length, 1);
  same("first chunk", got.chunks[0].choices[0].delta, { role: "assistant", content: "" });
  same("content deltas", got.chunks.slice(1, -1).map((c) => c.choices[0].delta.content), sse.texts);
  same("finish chunk", got.chunks[got.chunks.length - 1].choices, [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }]);
  if (down.includes('"usage"')) fail("usage reached a client that did not ask for it");
  const line = host.logs.slice(logsBefore).find((l) => / input_tokens=\d+/.test(l.message))?.message ?? fail("no usage log line");
  same("usage log line", /backend=(\S+) status=(\d+) input_tokens=(\d+) output_tokens=(\d+)/.exec(line)?.slice(1),
    ["gemini", "200", String(GEMINI_PROMPT_TOKENS), String(sse.texts.length)]);
}
