// Writers for the OpenAI response pieces that every translating provider emits.

import { JsonWriter } from "../json/writer";
import { JNode, JsonDoc, Kind } from "../json/json";
import { ByteBuilder } from "../util/bytes";
import { Usage } from "../usage";
import { writeSse } from "../streams/sse";

/** CompletionUsage: prompt includes cached, completion includes reasoning (providers.md §1.5). */
export function writeChunkUsage(b: ByteBuilder, u: Usage): void {
  b.str("{\"prompt_tokens\":"); b.int(u.input);
  b.str(",\"completion_tokens\":"); b.int(u.output);
  b.str(",\"total_tokens\":"); b.int(u.input + u.output);
  b.str(",\"prompt_tokens_details\":{\"cached_tokens\":"); b.int(u.cachedInput);
  if (u.cacheWrite > 0) { b.str(",\"cache_write_tokens\":"); b.int(u.cacheWrite); }
  b.str("},\"completion_tokens_details\":{\"reasoning_tokens\":"); b.int(u.reasoning);
  b.str("}}");
}

export function writeUsage(w: JsonWriter, u: Usage): void {
  const b = new ByteBuilder(160);
  writeChunkUsage(b, u);
  w.rawBytes(b.buf, 0, b.len);
}

/**
 * chat.completion.chunk SSE events of one translated stream. Every chunk starts with the same
 * `{"id":…,"object":"chat.completion.chunk","created":…,"model":…,` prefix, which the provider
 * writes into `prefix` once it knows the values; the chunk buffer is reused for every event.
 */
export class ChunkWriter {
  prefix: ByteBuilder = new ByteBuilder(128);
  private chunk: ByteBuilder = new ByteBuilder(512);

  /**
   * One chunk: choice `index`, `delta` (raw JSON), finish_reason `finish` ("" = null), and the
   * choice's `logprobs` object (raw JSON) when the provider gave some.
   */
  choice(out: ByteBuilder, index: i32, delta: ByteBuilder, finish: string, wantUsage: bool, logprobs: ByteBuilder | null = null): void {
    const c = this.chunk;
    c.reset();
    c.bytes(this.prefix.buf, 0, this.prefix.len);
    c.str("\"choices\":[{\"index\":"); c.int(index); c.str(",\"delta\":");
    c.bytes(delta.buf, 0, delta.len);
    c.str(",\"logprobs\":");
    if (logprobs !== null && logprobs.len > 0) c.bytes(logprobs.buf, 0, logprobs.len); else c.str("null");
    c.str(",\"finish_reason\":");
    if (finish.length) c.jsonString(finish); else c.str("null");
    // With include_usage, OpenAI sends "usage": null on every chunk before the usage chunk (§1.6).
    c.str(wantUsage ? "}],\"usage\":null}" : "}]}");
    writeSse(out, "", c.buf, 0, c.len);
  }

  /** The usage chunk (`choices: []`) that ends a stream whose client asked for include_usage. */
  usage(out: ByteBuilder, u: Usage): void {
    const c = this.chunk;
    c.reset();
    c.bytes(this.prefix.buf, 0, this.prefix.len);
    c.str("\"choices\":[],\"usage\":");
    writeChunkUsage(c, u);
    c.byte(0x7d);
    writeSse(out, "", c.buf, 0, c.len);
  }
}

/**
 * `"reasoning_content":"…"`: the provider's reasoning texts (JSON string nodes) joined — their
 * escaped contents concatenate safely. The field DeepSeek, vLLM, LiteLLM and Envoy AI Gateway use.
 */
export function writeReasoningContent(w: JsonWriter, doc: JsonDoc, texts: JNode[]): void {
  if (texts.length == 0) return;
  const b = w.key("reasoning_content").value();
  b.byte(0x22);
  for (let i = 0; i < texts.length; i++) { const t = unchecked(texts[i]); b.bytes(doc.src, t.start + 1, t.end - 1); }
  b.byte(0x22);
}

/** One `thinking_blocks` entry as LiteLLM returns it: `{type: thinking, thinking, signature}`. */
export function writeThinkingBlock(w: JsonWriter, doc: JsonDoc, text: JNode | null, sig: JNode | null): void {
  w.obj().kStr("type", "thinking").key("thinking");
  if (text !== null && text.kind == Kind.Str) w.raw(doc, text); else w.str("");
  w.key("signature");
  if (sig !== null && sig.kind == Kind.Str) w.raw(doc, sig); else w.str("");
  w.end();
}

/** A `thinking_blocks` entry for reasoning the provider returned encrypted. */
export function writeRedactedThinking(w: JsonWriter, doc: JsonDoc, data: JNode): void {
  w.obj().kStr("type", "redacted_thinking").kRaw("data", doc, data).end();
}
