// Bedrock ConverseStream traffic for bench/run.ts (scenarios h, i): the frames Bedrock writes
// (AWS eventstream, encoded by tests/support/eventstream.ts, one frame per upstream write), the
// sanity check that the filter really translated them, and the native baseline: the same frames
// decoded by plain JavaScript (prelude, both CRC-32s, headers) and each payload JSON.parse'd and
// JSON.stringify'd.

import { isDeepStrictEqual } from "node:util";
import { encodeFrame, eventHeaders, crc32 } from "../tests/support/eventstream.ts";
import { assertChatCompletionChunk } from "../tests/support/openai-schema.ts";
import { parseOpenAISse } from "../tests/support/sse.ts";
import type { PluginHost } from "../tests/host/plugin-host.ts";
import type { SseStream } from "./bodies.ts";

export const BEDROCK_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0";
export const BEDROCK_REQUEST_ID = "bench-0b6f2c7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f";

export const BEDROCK_CONFIG = JSON.stringify({
  backends: [{ name: "bedrock", schema: "bedrock-converse", cluster: "bedrock", region: "us-east-1",
    auth: { type: "aws-sigv4", region: "us-east-1", access_key: "AKIDEXAMPLE", secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" } }],
  models: [{ match: "claude-*", backend: "bedrock", upstream_model: BEDROCK_MODEL }],
  max_request_bytes: 1048576,
});

export const BEDROCK_STREAM_HEADERS: [string, string][] = [
  [":status", "200"], ["content-type", "application/vnd.amazon.eventstream"], ["x-amzn-requestid", BEDROCK_REQUEST_ID],
];

export interface BedrockStream extends SseStream {
  /** The text of every contentBlockDelta, in order. */
  texts: string[];
}

const WORDS = "the proxy forwards each frame as it arrives and keeps a running count of the tokens it has seen so far".split(" ");

/** `frames` ConverseStream frames (≥ 5): messageStart, text deltas, contentBlockStop, messageStop, metadata. */
export function bedrockConverseStream(frames: number): BedrockStream {
  if (frames < 5) throw new Error("bedrockConverseStream: at least 5 frames");
  const out: [string, object][] = [["messageStart", { role: "assistant" }]];
  const texts: string[] = [];
  for (let i = 0; i < frames - 4; i++) {
    const text = (i === 0 ? "" : " ") + WORDS[i % WORDS.length];
    texts.push(text);
    // Bedrock pads events with a `p` member of varying length (sources: AWS event stream encoding).
    out.push(["contentBlockDelta", { contentBlockIndex: 0, delta: { text }, p: "abcdefghijklmnopqrstuvwxyz".slice(0, 1 + (i % 26)) }]);
  }
  out.push(["contentBlockStop", { contentBlockIndex: 0 }]);
  out.push(["messageStop", { stopReason: "end_turn" }]);
  out.push(["metadata", { usage: { inputTokens: 612, outputTokens: frames - 4, totalTokens: 612 + frames - 4 }, metrics: { latencyMs: 1234 } }]);
  const payloads = out.map(([, p]) => JSON.stringify(p));
  return { events: out.map(([t], i) => new Uint8Array(encodeFrame(eventHeaders(t), payloads[i]))), payloads, texts };
}

const td = new TextDecoder();

/** The native baseline for one frame: decode the eventstream frame and round-trip its JSON. */
export function nativeFrame(frame: Uint8Array): number {
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const total = b.readUInt32BE(0), hlen = b.readUInt32BE(4);
  if (crc32(b.subarray(0, 8)) !== b.readUInt32BE(8) || crc32(b.subarray(0, total - 4)) !== b.readUInt32BE(total - 4)) throw new Error("CRC");
  let i = 12, eventType = "";
  while (i < 12 + hlen) {
    const nl = b[i++];
    const name = td.decode(b.subarray(i, i + nl)); i += nl;
    i++; // type 7 (string)
    const vl = b.readUInt16BE(i); i += 2;
    const value = td.decode(b.subarray(i, i + vl)); i += vl;
    if (name === ":event-type") eventType = value;
  }
  return JSON.stringify(JSON.parse(td.decode(b.subarray(12 + hlen, total - 4)))).length + eventType.length;
}

/**
 * The request reached /model/<id>/converse-stream signed, the client got a valid
 * chat.completion.chunk stream with every text delta, the finish chunk and [DONE], and the
 * metadata event's usage was logged.
 */
export function checkBedrockStream(host: PluginHost, logsBefore: number, driver: any, sse: BedrockStream): void {
  const fail = (why: string): never => { throw new Error(`benchmark sanity check failed (bedrock): ${why}\nlogs: ${host.logs.slice(logsBefore).map((l) => l.message).join("\n")}`); };
  const same = (what: string, got: unknown, want: unknown) => { if (!isDeepStrictEqual(got, want)) fail(`${what}:\n  got  ${JSON.stringify(got)}\n  want ${JSON.stringify(want)}`); };
  const up = driver.upstream.headers ?? fail("no request reached the upstream (local reply?)");
  same("upstream :path", up.get(":path"), "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream");
  same("upstream :authority", up.get(":authority"), "bedrock-runtime.us-east-1.amazonaws.com");
  if (!/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\//.test(up.get("authorization") ?? "")) fail("the request is not SigV4-signed");
  const body = JSON.parse(driver.upstreamBody());
  if (!Array.isArray(body.messages) || body.model !== undefined || body.stream !== undefined) fail("the upstream body is not a Converse body");
  if (!driver.downstream.endStream) fail("the response did not complete");
  same("client content-type", driver.downstream.headers.get("content-type"), "text/event-stream");
  const got = parseOpenAISse(driver.downstreamBody());
  if (!got.done) fail("the client's stream does not end with [DONE]");
  got.chunks.forEach((c, i) => assertChatCompletionChunk(c, `client chunk ${i}`));
  same("chunks", got.chunks.length, sse.texts.length + 2);
  same("first chunk", [got.chunks[0].id, got.chunks[0].model, got.chunks[0].choices[0].delta], [BEDROCK_REQUEST_ID, BEDROCK_MODEL, { role: "assistant", content: "" }]);
  same("content deltas", got.chunks.slice(1, -1).map((c: any) => c.choices[0].delta.content), sse.texts);
  same("finish chunk", got.chunks[got.chunks.length - 1].choices, [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }]);
  const line = host.logs.slice(logsBefore).find((l) => / input_tokens=\d+/.test(l.message))?.message ?? fail("no usage log line");
  same("usage log line", /backend=(\S+) status=(\d+) input_tokens=(\d+) output_tokens=(\d+)/.exec(line)?.slice(1), ["bedrock", "200", "612", String(sse.texts.length)]);
}
