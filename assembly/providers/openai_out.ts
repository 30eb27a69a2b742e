// Writers for the OpenAI response pieces that every translating provider emits.

import { JsonWriter } from "../json/writer";
import { JNode, JsonDoc, Kind } from "../json/json";
import { ByteBuilder } from "../util/bytes";
import { Usage } from "../usage";
import { writeSse } from "../streams/sse";

/** CompletionUsage: prompt includes cached, completion includes reasoning (sources: OpenAI Chat Completions: response). */
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
 * What a stream handler reports about the chat.completion.chunk events it writes, as it writes
 * them: the filter's output accounting (token budget cut, usage comment) listens here instead of
 * reading the gateway's own bytes back. The filter implements it (assembly/filter/budget.ts).
 */
export abstract class ChunkMeter {
  /** The meter ended the client's stream: whatever the handler writes after it is dropped. */
  ended: bool = false;
  /** End of the meter's own tail in the `out` of the current onBody call (-1: none this call). */
  endAt: i32 = -1;
  /**
   * One chunk event was just written to `out` (ending at out.len) with `textBytes` bytes of delta
   * text (content, reasoning and tool-call arguments, as written in the JSON strings). `chunks`
   * writes the meter's own chunks with the same id, created and model.
   */
  abstract chunk(out: ByteBuilder, chunks: ChunkWriter, textBytes: i64): void;
  /** The handler is about to write the stream's final `data: [DONE]` to `out`. */
  abstract beforeDone(out: ByteBuilder): void;
}

/**
 * chat.completion.chunk SSE events of one translated stream. Every chunk starts with the same
 * `{"id":…,"object":"chat.completion.chunk","created":…,"model":…,` prefix, which the provider
 * writes into `prefix` once it knows the values; the chunk buffer is reused for every event.
 * Every chunk and the final [DONE] are reported to the meter, when the filter attached one.
 */
export class ChunkWriter {
  prefix: ByteBuilder = new ByteBuilder(128);
  private chunk: ByteBuilder = new ByteBuilder(512);
  meter: ChunkMeter | null = null;

  /**
   * One chunk: choice `index`, `delta` (raw JSON) holding `textBytes` bytes of delta text (for
   * the meter), finish_reason `finish` ("" = null), and the choice's `logprobs` object (raw JSON)
   * when the provider gave some.
   */
  choice(out: ByteBuilder, index: i32, delta: ByteBuilder, finish: string, wantUsage: bool, textBytes: i64 = 0, logprobs: ByteBuilder | null = null): void {
    const c = this.chunk;
    c.reset();
    c.bytes(this.prefix.buf, 0, this.prefix.len);
    c.str("\"choices\":[{\"index\":"); c.int(index); c.str(",\"delta\":");
    c.bytes(delta.buf, 0, delta.len);
    c.str(",\"logprobs\":");
    if (logprobs !== null && logprobs.len > 0) c.bytes(logprobs.buf, 0, logprobs.len); else c.str("null");
    c.str(",\"finish_reason\":");
    if (finish.length) c.jsonString(finish); else c.str("null");
    // With include_usage, OpenAI sends "usage": null on every chunk before the usage chunk (sources: OpenAI Chat Completions: streaming).
    c.str(wantUsage ? "}],\"usage\":null}" : "}]}");
    writeSse(out, "", c.buf, 0, c.len);
    const m = this.meter;
    if (m !== null && !m.ended) m.chunk(out, this, textBytes);
  }

  /** A chunk the handler wrote itself (a re-framed upstream chunk) with `textBytes` of delta text. */
  passed(out: ByteBuilder, textBytes: i64): void {
    const m = this.meter;
    if (m !== null && !m.ended) m.chunk(out, this, textBytes);
  }

  /** The chunk that ends a stream cut short: an empty delta with finish_reason "length". */
  lengthFinish(out: ByteBuilder, wantUsage: bool): void {
    const c = this.chunk;
    c.reset();
    c.bytes(this.prefix.buf, 0, this.prefix.len);
    c.str(wantUsage ? "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}],\"usage\":null}"
      : "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]}");
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

  /** The stream's final `data: [DONE]` (the meter may put its usage comment before it). */
  done(out: ByteBuilder): void {
    const m = this.meter;
    if (m !== null && !m.ended) m.beforeDone(out);
    out.str("data: [DONE]\n\n");
  }
}

/**
 * The `chat.completion` of a provider answer with one choice (Anthropic Messages, Bedrock
 * Converse). The caller opens the object and writes id, object, created and model; then, in
 * order: begin(), text() for each text block, endContent(), the provider's own message members
 * (reasoning), toolCall() for each tool call, and end(). Text blocks are JSON string literals of the provider's answer: their escaped contents
 * concatenate safely into one content string.
 */
export class CompletionWriter {
  private content: ByteBuilder;
  private texts: i32 = 0;
  private tools: i32 = 0;
  private refused: bool = false;
  constructor(private w: JsonWriter) { this.content = w.out; }

  begin(): void {
    this.w.key("choices").arr().obj().kInt("index", 0).key("message").obj().kStr("role", "assistant").key("content");
    this.content = this.w.value();
  }

  /** Appends the contents of a JSON string node to the message content. */
  text(doc: JsonDoc, s: JNode): void {
    if (this.texts++ == 0) this.content.byte(0x22);
    this.content.bytes(doc.src, s.start + 1, s.end - 1);
  }

  /**
   * Closes content (null when no text). Message members the provider adds (reasoning_content,
   * thinking_blocks) go right after it; refusal follows with the first tool call or at end().
   */
  endContent(): void {
    if (this.texts > 0) this.content.byte(0x22); else this.content.str("null");
  }

  private refusal(): void {
    if (this.refused) return;
    this.refused = true;
    this.w.key("refusal").nul();
  }

  /** One function tool call: its id (or `fallbackId`), name and arguments (the input object as a JSON string). */
  toolCall(doc: JsonDoc, id: JNode | null, fallbackId: string, name: JNode | null, input: JNode | null): void {
    const w = this.w;
    this.refusal();
    if (this.tools++ == 0) w.key("tool_calls").arr();
    w.obj().key("id");
    if (id !== null && id.kind == Kind.Str) w.raw(doc, id); else w.str(fallbackId);
    w.kStr("type", "function").key("function").obj().key("name");
    if (name !== null && name.kind == Kind.Str) w.raw(doc, name); else w.str("");
    w.key("arguments");
    if (input !== null) w.strBytes(doc.src, input.start, input.end); else w.str("{}");
    w.end().end();
  }

  /** Closes the message, the choice (finish_reason) and the object (usage). */
  end(finishReason: string, usage: Usage): void {
    const w = this.w;
    this.refusal();
    if (this.tools > 0) w.end();
    w.end(); // message
    w.key("logprobs").nul().kStr("finish_reason", finishReason).end().end();
    w.key("usage");
    writeUsage(w, usage);
    w.end();
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
