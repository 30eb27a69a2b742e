// Responses for Anthropic Messages API clients. Native backends answer through their provider's
// messagesResponse(); for every other backend the provider's own handler turns the provider's
// bytes into OpenAI chat bytes (as for any chat client) and MessagesFromChat turns those into
// the Messages API: a `message` object, the Messages SSE events (sources: Anthropic Messages API; Anthropic errors), or an
// error envelope. A chain of handlers: usage for limits is the inner handler's.

import { JNode, JsonDoc, Kind, MAX_DEPTH, parseJson } from "../json/json";
import { JsonWriter } from "../json/writer";
import { ApiError, badUpstream } from "../errors";
import { Usage } from "../usage";
import { ByteBuilder, bytesOf } from "../util/bytes";
import { SseReader, writeSse } from "../streams/sse";
import { ClientRequest, Provider, ResponseHandler } from "./provider";
import { ChunkMeter } from "./openai_out";
import { errorMessage } from "./anthropic_native";

/** The response handler for a Messages API client. */
export function messagesResponseHandler(provider: Provider, req: ClientRequest, status: i32, contentType: string): ResponseHandler {
  const chat = req.chat;
  if (chat === null) {
    const native = provider.messagesResponse(req, status, contentType);
    if (native !== null) return native;
    return provider.response(req, status, contentType);
  }
  return new MessagesFromChat(req, provider.response(chat, status, contentType), status, contentType);
}

const MODE_MESSAGE: i32 = 0;
const MODE_STREAM: i32 = 1;
const MODE_ERROR: i32 = 2;

/** OpenAI finish_reason → Anthropic stop_reason (sources: Anthropic Messages API in reverse). */
function stopReason(finish: string, sawTools: bool): string {
  if (finish == "length") return "max_tokens";
  if (finish == "content_filter") return "refusal";
  if (finish == "tool_calls" || finish == "function_call" || sawTools) return "tool_use";
  return "end_turn";
}

/**
 * The stop sequence that ended the answer, when the backend says which (vLLM's
 * `choices[].stop_reason` holds the matched stop string) and it is one the client gave.
 * OpenAI reports only `stop`, which cannot be told apart from a natural end (→ end_turn).
 */
function matchedStop(req: ClientRequest, doc: JsonDoc, choice: JNode | null): JNode | null {
  const sr = doc.get(choice, "stop_reason");
  if (sr === null || sr.kind != Kind.Str) return null;
  const seqs = req.doc.get(req.root, "stop_sequences");
  if (seqs === null || seqs.kind != Kind.Arr) return null;
  const v = doc.str(sr);
  for (let i = 0; i < seqs.length; i++) if (req.doc.str(seqs.items![i]) == v) return sr;
  return null;
}

/**
 * Anthropic usage members from the gateway's Usage (OpenAI semantics: input includes cache).
 * Counts are never negative for the client, whatever a backend reported.
 */
function writeMessagesUsage(b: ByteBuilder, u: Usage): void {
  let uncached = u.input - u.cachedInput - u.cacheWrite;
  if (uncached < 0) uncached = 0;
  b.str("{\"input_tokens\":"); b.int(uncached);
  b.str(",\"cache_creation_input_tokens\":"); b.int(nonNegative(u.cacheWrite));
  b.str(",\"cache_read_input_tokens\":"); b.int(nonNegative(u.cachedInput));
  b.str(",\"output_tokens\":"); b.int(nonNegative(u.output));
  b.byte(0x7d);
}

function nonNegative(n: i64): i64 { return n < 0 ? 0 : n; }

/** `msg_<completion id>` (an id that already is a msg_ id is kept). */
function writeMessageId(b: ByteBuilder, doc: JsonDoc, id: JNode | null): void {
  if (id === null || id.kind != Kind.Str || id.end - id.start <= 2) { b.str("\"msg_gateway\""); return; }
  b.byte(0x22);
  if (!doc.strSpan(id).startsWith("msg_")) b.str("msg_");
  b.bytes(doc.src, id.start + 1, id.end - 1);
  b.byte(0x22);
}

/** Anthropic error type for an OpenAI error object met mid-stream (no status there). */
function streamErrorType(doc: JsonDoc, err: JNode | null): string {
  const t = doc.str(doc.get(err, "type")), c = doc.str(doc.get(err, "code"));
  if (t.includes("rate_limit") || c.includes("rate_limit")) return "rate_limit_error";
  if (t.includes("overloaded") || c.includes("overloaded")) return "overloaded_error";
  if (t == "invalid_request_error") return "invalid_request_error";
  return "api_error";
}

const DONE = bytesOf("[DONE]");

export class MessagesFromChat extends ResponseHandler {
  private mode: i32;
  private innerOut: ByteBuilder = new ByteBuilder(1024);
  // Stream state (sources: Anthropic streaming events out of sources: OpenAI Chat Completions: streaming chunks).
  private reader: SseReader | null = null;
  private scratch: ByteBuilder = new ByteBuilder(256);
  private started: bool = false;
  private finished: bool = false;
  private block: i32 = -1;      // index of the open content block, -1 none
  private blockKind: i32 = 0;   // 1 text, 2 thinking, 3 tool_use
  private blocks: i32 = 0;      // content blocks opened so far
  private toolBlock: i32[] = []; // OpenAI tool call index → content block index (-1 none)
  private sawTools: bool = false;
  private finish: string = "";
  private stopSeq: ByteBuilder = new ByteBuilder(32);

  constructor(private req: ClientRequest, private inner: ResponseHandler, private upstreamStatus: i32, contentType: string) {
    super();
    this.usage = inner.usage;
    this.rewrites = true;
    const ct = inner.contentType.length ? inner.contentType : contentType;
    if (upstreamStatus < 200 || upstreamStatus >= 300) { this.mode = MODE_ERROR; this.wholeBody = true; this.contentType = "application/json"; }
    else if (ct.startsWith("text/event-stream")) { this.mode = MODE_STREAM; this.wholeBody = inner.wholeBody; this.contentType = "text/event-stream"; this.reader = new SseReader(); }
    else { this.mode = MODE_MESSAGE; this.wholeBody = true; this.contentType = "application/json"; }
    if (inner.status != 0) this.status = inner.status;
  }

  /**
   * The chat handler inside is metered: a stream it ends at the budget (finish_reason "length",
   * [DONE]) reaches the Messages client as stop_reason "max_tokens" and message_stop.
   */
  meterWith(m: ChunkMeter): bool { return this.inner.meterWith(m); }

  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    const tmp = this.innerOut;
    tmp.reset();
    const replaced = this.inner.body(chunk, eos, tmp);
    this.usage = this.inner.usage;
    if (this.inner.status != 0) this.status = this.inner.status;
    const src = replaced ? tmp.buf : chunk;
    const len = replaced ? tmp.len : chunk.length;
    if (this.mode == MODE_STREAM) { this.stream(src, len, eos, out); return true; }
    if (!eos) return true; // whole-body modes are called once, at the end
    const status = this.status != 0 ? this.status : this.upstreamStatus;
    if (this.mode == MODE_ERROR || status >= 300) { this.error(src, len, out); return true; }
    this.message(src, len, out);
    return true;
  }

  /** Any error body (OpenAI envelope or a vendor shape) → Anthropic's, type from the status. */
  private error(src: Uint8Array, len: i32, out: ByteBuilder): void {
    const doc = parseJson(src, MAX_DEPTH, len);
    const raw = len == src.length ? src : src.subarray(0, len);
    const status = this.status != 0 ? this.status : this.upstreamStatus;
    out.all(Uint8Array.wrap(new ApiError(status, "", "", errorMessage(doc, doc.root, raw, status)).anthropicBody()));
  }

  /** chat.completion → Messages `message` (sources: Anthropic Messages API). */
  private message(src: Uint8Array, len: i32, out: ByteBuilder): void {
    const doc = parseJson(src, MAX_DEPTH, len);
    const root = doc.root;
    const choice = root !== null ? firstChoice(doc, root) : null;
    if (root === null || root.kind != Kind.Obj || choice === null) {
      this.answerError(out, badUpstream("The backend returned a response that is not a chat completion."), true);
      return;
    }
    const msg = doc.get(choice, "message");
    out.str("{\"id\":");
    writeMessageId(out, doc, doc.get(root, "id"));
    out.str(",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    const model = doc.get(root, "model");
    if (model !== null && model.kind == Kind.Str) doc.copyTo(model, out); else out.jsonString(this.req.upstreamModel);
    out.str(",\"content\":[");
    let n = 0;
    const reasoning = reasoningNode(doc, msg);
    if (reasoning !== null) {
      out.str("{\"type\":\"thinking\",\"thinking\":"); doc.copyTo(reasoning, out); out.str(",\"signature\":\"\"}");
      n++;
    }
    const content = doc.get(msg, "content");
    if (content !== null && content.kind == Kind.Str && content.end - content.start > 2) {
      if (n++ > 0) out.byte(0x2c);
      out.str("{\"type\":\"text\",\"text\":"); doc.copyTo(content, out); out.byte(0x7d);
    } else if (content !== null && content.kind == Kind.Arr) {
      for (let i = 0; i < content.length; i++) {
        const t = doc.get(content.items![i], "text");
        if (t === null || t.kind != Kind.Str) continue;
        if (n++ > 0) out.byte(0x2c);
        out.str("{\"type\":\"text\",\"text\":"); doc.copyTo(t, out); out.byte(0x7d);
      }
    }
    const refusal = doc.get(msg, "refusal");
    if (refusal !== null && refusal.kind == Kind.Str && refusal.end - refusal.start > 2) {
      if (n++ > 0) out.byte(0x2c);
      out.str("{\"type\":\"text\",\"text\":"); doc.copyTo(refusal, out); out.byte(0x7d);
    }
    const calls = doc.get(msg, "tool_calls");
    let tools = 0;
    if (calls !== null && calls.kind == Kind.Arr) {
      for (let i = 0; i < calls.length; i++) {
        const c = calls.items![i];
        const fn = doc.get(c, "function");
        if (fn === null || fn.kind != Kind.Obj) continue;
        // A tool_use block needs a name (the client's tool runner dispatches on it): a call
        // without one is not something the client could run.
        const name = doc.get(fn, "name");
        if (!hasText(name)) continue;
        if (n++ > 0) out.byte(0x2c);
        tools++;
        out.str("{\"type\":\"tool_use\",\"id\":");
        writeToolId(out, doc, doc.get(c, "id"), i);
        out.str(",\"name\":");
        doc.copyTo(name!, out);
        out.str(",\"input\":");
        writeToolInput(out, doc, doc.get(fn, "arguments"));
        out.byte(0x7d);
      }
    }
    out.str("],\"stop_reason\":");
    const finish = doc.str(doc.get(choice, "finish_reason"));
    const seq = finish == "stop" && tools == 0 ? matchedStop(this.req, doc, choice) : null;
    if (seq !== null) { out.str("\"stop_sequence\",\"stop_sequence\":"); doc.copyTo(seq, out); }
    else { out.jsonString(stopReason(finish, tools > 0)); out.str(",\"stop_sequence\":null"); }
    out.str(",\"usage\":");
    writeMessagesUsage(out, this.usage);
    out.byte(0x7d);
  }

  // --- streams -------------------------------------------------------------------------------

  private event(out: ByteBuilder, type: string, s: ByteBuilder): void { writeSse(out, type, s.buf, 0, s.len); }

  /** message_start, from the first chunk's id and model. */
  private start(out: ByteBuilder, doc: JsonDoc, root: JNode): void {
    const s = this.scratch;
    s.reset();
    s.str("{\"type\":\"message_start\",\"message\":{\"id\":");
    writeMessageId(s, doc, doc.get(root, "id"));
    s.str(",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    const model = doc.get(root, "model");
    if (model !== null && model.kind == Kind.Str && model.end - model.start > 2) doc.copyTo(model, s); else s.jsonString(this.req.upstreamModel);
    // Chat streams report usage only at the end (message_delta carries it): zeros here, whatever
    // the inner handler may already have read further on in the same body chunk.
    s.str(",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
    writeMessagesUsage(s, new Usage());
    s.str("}}");
    this.event(out, "message_start", s);
    this.started = true;
  }

  private closeBlock(out: ByteBuilder): void {
    if (this.block < 0) return;
    const s = this.scratch;
    s.reset();
    s.str("{\"type\":\"content_block_stop\",\"index\":"); s.int(this.block); s.byte(0x7d);
    this.event(out, "content_block_stop", s);
    this.block = -1;
    this.blockKind = 0;
  }

  /** Opens a text (1) or thinking (2) block unless one of that kind is open. */
  private openBlock(out: ByteBuilder, kind: i32): void {
    if (this.block >= 0 && this.blockKind == kind) return;
    this.closeBlock(out);
    const s = this.scratch;
    s.reset();
    s.str("{\"type\":\"content_block_start\",\"index\":"); s.int(this.blocks);
    s.str(kind == 1 ? ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}" : ",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}");
    this.event(out, "content_block_start", s);
    this.block = this.blocks++;
    this.blockKind = kind;
  }

  private delta(out: ByteBuilder, index: i32, deltaType: string, field: string, doc: JsonDoc, v: JNode): void {
    const s = this.scratch;
    s.reset();
    s.str("{\"type\":\"content_block_delta\",\"index\":"); s.int(index);
    s.str(",\"delta\":{\"type\":\""); s.str(deltaType); s.str("\",\""); s.str(field); s.str("\":");
    doc.copyTo(v, s);
    s.str("}}");
    this.event(out, "content_block_delta", s);
  }

  private toolCall(out: ByteBuilder, doc: JsonDoc, tc: JNode): void {
    const k = <i32>doc.int(doc.get(tc, "index"), -1);
    if (k < 0 || k > 1023) return;
    while (this.toolBlock.length <= k) this.toolBlock.push(-1);
    const fn = doc.get(tc, "function");
    let bi = this.toolBlock[k];
    if (bi >= 0 && bi != this.block) return; // its block was closed (other content came between): a Messages block cannot reopen
    if (bi < 0) {
      // First fragment of call k: a new tool_use block, once a fragment names the tool (a
      // tool_use block needs a name; fragments before it have nowhere to go).
      const name = doc.get(fn, "name");
      if (!hasText(name)) return;
      this.closeBlock(out);
      const s = this.scratch;
      s.reset();
      s.str("{\"type\":\"content_block_start\",\"index\":"); s.int(this.blocks);
      s.str(",\"content_block\":{\"type\":\"tool_use\",\"id\":");
      writeToolId(s, doc, doc.get(tc, "id"), k);
      s.str(",\"name\":");
      doc.copyTo(name!, s);
      s.str(",\"input\":{}}}");
      this.event(out, "content_block_start", s);
      bi = this.blocks++;
      this.toolBlock[k] = bi;
      this.block = bi;
      this.blockKind = 3;
      this.sawTools = true;
    }
    const args = doc.get(fn, "arguments");
    if (args !== null && args.kind == Kind.Str && args.end - args.start > 2) this.delta(out, bi, "input_json_delta", "partial_json", doc, args);
  }

  /** message_delta (stop reason, cumulative usage) and message_stop. */
  private end(out: ByteBuilder): void {
    this.closeBlock(out);
    const s = this.scratch;
    s.reset();
    s.str("{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":");
    if (this.stopSeq.len > 0 && !this.sawTools) { s.str("\"stop_sequence\",\"stop_sequence\":"); s.bytes(this.stopSeq.buf, 0, this.stopSeq.len); }
    else { s.jsonString(stopReason(this.finish, this.sawTools)); s.str(",\"stop_sequence\":null"); }
    s.str("},\"usage\":");
    writeMessagesUsage(s, this.usage);
    s.byte(0x7d);
    this.event(out, "message_delta", s);
    out.str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    this.finished = true;
  }

  private streamError(out: ByteBuilder, type: string, message: string): void {
    const s = this.scratch;
    s.reset();
    s.str("{\"type\":\"error\",\"error\":{\"type\":"); s.jsonString(type); s.str(",\"message\":"); s.jsonString(message); s.str("}}");
    this.event(out, "error", s);
    this.finished = true;
  }

  private stream(src: Uint8Array, len: i32, eos: bool, out: ByteBuilder): void {
    const reader = this.reader!;
    reader.feed(src, len);
    if (eos) reader.finish();
    const events = reader.events;
    for (let i = 0; i < events.length && !this.finished; i++) {
      const ev = unchecked(events[i]);
      if (ev.dataIs("[DONE]")) {
        if (!this.started) this.streamError(out, "api_error", "The backend's stream ended without an answer.");
        else this.end(out);
        continue;
      }
      const doc = parseJson(ev.data);
      const root = doc.root;
      if (root === null || root.kind != Kind.Obj) continue; // not a chunk: nothing to say about it
      const err = doc.get(root, "error");
      if (err !== null && err.kind != Kind.Null) {
        // Anthropic's envelope needs a message: an empty one is no message.
        const m = doc.get(err, "message");
        this.streamError(out, streamErrorType(doc, err), hasText(m) ? doc.str(m) : hasText(err) ? doc.str(err) : "The backend reported an error.");
        continue;
      }
      if (!this.started) this.start(out, doc, root);
      const choice = firstChoice(doc, root);
      if (choice === null) continue; // the usage chunk (usage reaches us through the inner handler)
      const delta = doc.get(choice, "delta");
      const reasoning = reasoningNode(doc, delta);
      if (reasoning !== null) { this.openBlock(out, 2); this.delta(out, this.block, "thinking_delta", "thinking", doc, reasoning); }
      const content = doc.get(delta, "content");
      if (content !== null && content.kind == Kind.Str && content.end - content.start > 2) { this.openBlock(out, 1); this.delta(out, this.block, "text_delta", "text", doc, content); }
      const refusal = doc.get(delta, "refusal");
      if (refusal !== null && refusal.kind == Kind.Str && refusal.end - refusal.start > 2) { this.openBlock(out, 1); this.delta(out, this.block, "text_delta", "text", doc, refusal); }
      const calls = doc.get(delta, "tool_calls");
      if (calls !== null && calls.kind == Kind.Arr) for (let j = 0; j < calls.length; j++) this.toolCall(out, doc, calls.items![j]);
      const fr = doc.get(choice, "finish_reason");
      if (fr !== null && fr.kind == Kind.Str) {
        this.finish = doc.str(fr);
        const seq = this.finish == "stop" ? matchedStop(this.req, doc, choice) : null;
        if (seq !== null) { this.stopSeq.reset(); doc.copyTo(seq, this.stopSeq); }
        this.closeBlock(out);
      }
    }
    events.length = 0;
    if (eos && !this.finished) {
      // No [DONE]: a finished answer still ends cleanly; a cut one is an error, not a short answer.
      if (this.started && this.finish.length > 0) this.end(out);
      else this.streamError(out, "api_error", "The backend's stream ended before the answer was complete.");
    }
  }
}

/** A string node with at least one character (`""` spans 2 bytes with its quotes). */
function hasText(n: JNode | null): bool { return n !== null && n.kind == Kind.Str && n.end - n.start > 2; }

function firstChoice(doc: JsonDoc, root: JNode): JNode | null {
  const choices = doc.get(root, "choices");
  if (choices === null || choices.kind != Kind.Arr || choices.length == 0) return null;
  const c = choices.items![0];
  return c.kind == Kind.Obj ? c : null;
}

/** Reasoning text as vendors put it (`reasoning_content`: DeepSeek, vLLM; `reasoning`: Groq, OpenRouter). */
function reasoningNode(doc: JsonDoc, msg: JNode | null): JNode | null {
  const r = doc.get(msg, "reasoning_content");
  if (r !== null && r.kind == Kind.Str && r.end - r.start > 2) return r;
  const r2 = doc.get(msg, "reasoning");
  if (r2 !== null && r2.kind == Kind.Str && r2.end - r2.start > 2) return r2;
  return null;
}

function writeToolId(b: ByteBuilder, doc: JsonDoc, id: JNode | null, k: i32): void {
  if (id !== null && id.kind == Kind.Str && id.end - id.start > 2) doc.copyTo(id, b);
  else { b.str("\"toolu_gateway_"); b.int(k); b.byte(0x22); }
}

/**
 * Tool call arguments (a JSON string) → the tool_use `input` object. Arguments that are not a
 * JSON object (a model that produced broken JSON) are wrapped as {"_raw_arguments": "<text>"}, so
 * the client's tool runner reports a bad input to the model instead of the request failing.
 */
function writeToolInput(b: ByteBuilder, doc: JsonDoc, args: JNode | null): void {
  if (args === null || args.kind != Kind.Str) {
    if (args !== null && args.kind == Kind.Obj) { doc.copyTo(args, b); return; } // a vendor that sends an object
    b.str("{}");
    return;
  }
  const span = doc.strSpan(args);
  let blank = true;
  for (let i = span.start; i < span.end && blank; i++) { const c = span.buf[i]; blank = c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09; }
  if (blank) { b.str("{}"); return; }
  const parsed = parseJson(span.buf, MAX_DEPTH, span.end, span.start);
  const r = parsed.root;
  if (r !== null && r.kind == Kind.Obj) { b.bytes(parsed.src, r.start, r.end); return; }
  b.str("{\"_raw_arguments\":"); doc.copyTo(args, b); b.byte(0x7d);
}
