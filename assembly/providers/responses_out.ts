// Responses for OpenAI Responses API clients (POST /v1/responses).
//
// OpenAI and Azure answer in the client's format: their JSON and SSE pass through while usage is
// read (the `usage` of a Response; the response.completed / .incomplete / .failed event of a
// stream). For every other backend the provider's own handler turns the provider's bytes into
// OpenAI chat bytes (as for any chat client) and ResponsesFromChat turns those into a Response
// object or the Responses stream events, as they flow. A chain of handlers: usage for limits is
// the inner handler's.
//
// Streams the filter re-frames (token budget, usage comment) are ResponsesEvents: they count the
// output text they emit and can end the client's stream early with response.incomplete.

import { JNode, JsonDoc, Kind, MAX_DEPTH, parseJson } from "../json/json";
import { ApiError } from "../errors";
import { Usage } from "../usage";
import { ByteBuilder, bytesOf, indexOfBytes } from "../util/bytes";
import { SseReader, writeSse, SSE_MAX_EVENT_BYTES } from "../streams/sse";
import { ClientRequest, Provider, ResponseHandler } from "./provider";

/** The response handler for a Responses API client. */
export function responsesResponseHandler(provider: Provider, req: ClientRequest, status: i32, contentType: string): ResponseHandler {
  const chat = req.chat;
  if (chat === null) {
    if (status >= 200 && status < 300) {
      if (contentType.startsWith("text/event-stream")) return new ResponsesPassStream(req, req.reframe);
      return new ResponsesPassJson(!contentType.startsWith("application/json"));
    }
    return provider.response(req, status, contentType); // errors: the OpenAI envelope, as for chat
  }
  return new ResponsesFromChat(req, provider.response(chat, status, contentType), status, contentType);
}

/** Reads a Responses `usage` object (input includes cached, output includes reasoning). */
export function readResponsesUsage(doc: JsonDoc, u: JNode, usage: Usage): void {
  usage.reported = true;
  usage.final = true;
  usage.input = doc.int(doc.get(u, "input_tokens"));
  usage.output = doc.int(doc.get(u, "output_tokens"));
  usage.total = doc.int(doc.get(u, "total_tokens"), usage.input + usage.output);
  const itd = doc.get(u, "input_tokens_details");
  usage.cachedInput = doc.int(doc.get(itd, "cached_tokens"));
  usage.cacheWrite = doc.int(doc.get(itd, "cache_write_tokens"));
  usage.reasoning = doc.int(doc.get(doc.get(u, "output_tokens_details"), "reasoning_tokens"));
}

function nonNegative(n: i64): i64 { return n < 0 ? 0 : n; }

/** A ResponseUsage object from the gateway's Usage (never negative counts). */
export function writeResponsesUsage(b: ByteBuilder, u: Usage): void {
  const input = nonNegative(u.input), output = nonNegative(u.output);
  b.str("{\"input_tokens\":"); b.int(input);
  b.str(",\"input_tokens_details\":{\"cached_tokens\":"); b.int(nonNegative(u.cachedInput));
  b.str(",\"cache_write_tokens\":"); b.int(nonNegative(u.cacheWrite));
  b.str("},\"output_tokens\":"); b.int(output);
  b.str(",\"output_tokens_details\":{\"reasoning_tokens\":"); b.int(nonNegative(u.reasoning));
  b.str("},\"total_tokens\":"); b.int(input + output);
  b.byte(0x7d);
}

/**
 * Most bytes of output text a translated or budgeted stream accumulates (the `.done` events and
 * the final Response repeat it): the bound of one SSE event, which response.completed must fit.
 */
export const MAX_OUTPUT_TEXT_BYTES: i32 = SSE_MAX_EVENT_BYTES / 2;

// --- the output items of one response ---------------------------------------------------------

const ITEM_MESSAGE: i32 = 1;
const ITEM_CALL: i32 = 2;
const ITEM_REASONING: i32 = 3;
const ITEM_OTHER: i32 = 4;

/** One output item as it grows: text / arguments / summary kept as escaped JSON string contents. */
class OutItem {
  text: ByteBuilder = new ByteBuilder(64);
  /** JSON string literals (with quotes) of the call's call_id and name. */
  callId: Uint8Array = new Uint8Array(0);
  name: Uint8Array = new Uint8Array(0);
  /** A finished item as the provider wrote it (pass-through streams). */
  raw: Uint8Array | null = null;
  done: bool = false;
  /** Its output_item.done went out (streams). */
  closed: bool = false;
  /** A refusal part instead of output_text (message items). */
  refusal: bool = false;
  constructor(public kind: i32, public id: string) {}
}

/** Writes an item: `status` completed / in_progress / incomplete; `withText` false for `.added`. */
function writeItem(b: ByteBuilder, it: OutItem, status: string, withText: bool): void {
  const raw = it.raw;
  if (raw !== null && withText) { b.all(raw); return; }
  b.str("{\"id\":"); b.jsonString(it.id);
  if (it.kind == ITEM_MESSAGE) {
    b.str(",\"type\":\"message\",\"status\":\""); b.str(status); b.str("\",\"role\":\"assistant\",\"content\":[");
    if (withText) writePart(b, it);
    b.str("]}");
  } else if (it.kind == ITEM_CALL) {
    b.str(",\"type\":\"function_call\",\"status\":\""); b.str(status); b.str("\",\"call_id\":"); b.all(it.callId);
    b.str(",\"name\":"); b.all(it.name);
    b.str(",\"arguments\":\""); if (withText) b.bytes(it.text.buf, 0, it.text.len); b.str("\"}");
  } else {
    b.str(",\"type\":\"reasoning\",\"summary\":[");
    if (withText) { b.str("{\"type\":\"summary_text\",\"text\":\""); b.bytes(it.text.buf, 0, it.text.len); b.str("\"}"); }
    b.str("]}");
  }
}

function writePart(b: ByteBuilder, it: OutItem): void {
  if (it.refusal) { b.str("{\"type\":\"refusal\",\"refusal\":\""); b.bytes(it.text.buf, 0, it.text.len); b.str("\"}"); return; }
  b.str("{\"type\":\"output_text\",\"text\":\""); b.bytes(it.text.buf, 0, it.text.len); b.str("\",\"annotations\":[],\"logprobs\":[]}");
}

/**
 * Common ground of the Responses event streams the gateway writes or re-frames: sequence numbers,
 * the output items so far, the Response object, and the early end at a token budget.
 */
export abstract class ResponsesEvents extends ResponseHandler {
  /** Bytes of output text (escaped, as sent) in the events emitted so far, for token budgets. */
  deltaBytes: i64 = 0;
  /** A terminal event (response.completed / .incomplete / .failed, error) went to the client. */
  terminated: bool = false;
  protected seq: i64 = 0;
  protected items: OutItem[] = [];
  protected textBytes: i64 = 0;
  protected scratch: ByteBuilder = new ByteBuilder(512);
  /** The Response's id, created_at and model (JSON literals). */
  protected respId: string = "resp_gateway";
  protected createdAt: i64 = 0;
  protected model: ByteBuilder = new ByteBuilder(32);

  constructor(protected req: ClientRequest) { super(); }

  /** Starts an event's JSON in the scratch buffer: `{"type":"<type>",`. */
  protected begin(type: string): ByteBuilder {
    const s = this.scratch;
    s.reset();
    s.str("{\"type\":\""); s.str(type); s.str("\",");
    return s;
  }

  /** Ends the event in the scratch buffer with its sequence number and writes it as SSE. */
  protected emit(out: ByteBuilder, type: string): void {
    const s = this.scratch;
    s.str("\"sequence_number\":"); s.int(this.seq++); s.byte(0x7d);
    writeSse(out, type, s.buf, 0, s.len);
  }

  /**
   * The Response object. `status` completed / in_progress / incomplete / failed; `reason` the
   * incomplete_details reason ("" none); `errCode`/`errMessage` the error of a failed one.
   */
  protected writeResponse(b: ByteBuilder, status: string, reason: string, errCode: string, errMessage: string, withOutput: bool, usage: Usage | null): void {
    const doc = this.req.doc, root = this.req.root;
    b.str("{\"id\":"); b.jsonString(this.respId);
    b.str(",\"object\":\"response\",\"created_at\":"); b.int(this.createdAt);
    b.str(",\"status\":\""); b.str(status); b.byte(0x22);
    if (errCode.length) { b.str(",\"error\":{\"code\":"); b.jsonString(errCode); b.str(",\"message\":"); b.jsonString(errMessage); b.byte(0x7d); }
    else b.str(",\"error\":null");
    if (reason.length) { b.str(",\"incomplete_details\":{\"reason\":\""); b.str(reason); b.str("\"}"); }
    else b.str(",\"incomplete_details\":null");
    echo(b, doc, root, "instructions", Kind.Str, "null");
    echo(b, doc, root, "max_output_tokens", Kind.Num, "null");
    b.str(",\"model\":"); if (this.model.len > 0) b.bytes(this.model.buf, 0, this.model.len); else b.jsonString(this.req.model);
    b.str(",\"output\":[");
    if (withOutput) {
      const items = this.items;
      for (let i = 0; i < items.length; i++) {
        if (i > 0) b.byte(0x2c);
        const it = items[i];
        writeItem(b, it, it.done ? "completed" : "incomplete", true);
      }
    }
    b.byte(0x5d);
    echo(b, doc, root, "parallel_tool_calls", Kind.Bool, "true");
    b.str(",\"previous_response_id\":null");
    const reasoning = doc.get(root, "reasoning");
    b.str(",\"reasoning\":{\"effort\":");
    const effort = doc.get(reasoning, "effort");
    if (effort !== null && effort.kind == Kind.Str) doc.copyTo(effort, b); else b.str("null");
    b.str(",\"summary\":");
    const summary = doc.get(reasoning, "summary");
    if (summary !== null && summary.kind == Kind.Str) doc.copyTo(summary, b); else b.str("null");
    b.str("},\"store\":false");
    echo(b, doc, root, "temperature", Kind.Num, "null");
    b.str(",\"text\":{\"format\":");
    const fmt = doc.get(doc.get(root, "text"), "format");
    if (fmt !== null && fmt.kind == Kind.Obj) doc.copyTo(fmt, b); else b.str("{\"type\":\"text\"}");
    b.byte(0x7d);
    const tc = doc.get(root, "tool_choice");
    b.str(",\"tool_choice\":"); if (tc !== null && (tc.kind == Kind.Str || tc.kind == Kind.Obj)) doc.copyTo(tc, b); else b.str("\"auto\"");
    b.str(",\"tools\":[");
    writeTools(b, doc, doc.get(root, "tools"));
    b.byte(0x5d);
    echo(b, doc, root, "top_p", Kind.Num, "null");
    b.str(",\"truncation\":\"disabled\"");
    if (usage !== null) { b.str(",\"usage\":"); writeResponsesUsage(b, usage); }
    const user = doc.get(root, "user");
    if (user !== null && user.kind == Kind.Str) { b.str(",\"user\":"); doc.copyTo(user, b); }
    echo(b, doc, root, "metadata", Kind.Obj, "{}");
    b.byte(0x7d);
  }

  /** A lifecycle event (response.created, .in_progress, .completed, .incomplete, .failed). */
  protected lifecycle(out: ByteBuilder, type: string, status: string, reason: string, errCode: string, errMessage: string, usage: Usage | null): void {
    const s = this.begin(type);
    s.str("\"response\":");
    this.writeResponse(s, status, reason, errCode, errMessage, status != "in_progress", usage);
    s.byte(0x2c);
    this.emit(out, type);
  }

  /** The `error` event, then response.failed: the stream ends there. */
  protected fail(out: ByteBuilder, code: string, message: string): void {
    const s = this.begin("error");
    s.str("\"code\":"); s.jsonString(code); s.str(",\"message\":"); s.jsonString(message); s.str(",\"param\":null,");
    this.emit(out, "error");
    this.lifecycle(out, "response.failed", "failed", "", code == "rate_limit_exceeded" ? code : "server_error", message, null);
    this.terminated = true;
  }

  /** `"item_id":…,"output_index":…,` of an event about item idx. */
  protected about(s: ByteBuilder, idx: i32): void {
    s.str("\"item_id\":"); s.jsonString(this.items[idx].id); s.str(",\"output_index\":"); s.int(idx); s.byte(0x2c);
  }

  /**
   * The `.done` events of item idx, as OpenAI ends an item: its text / arguments / summary in
   * full, its part, then output_item.done with `status`.
   */
  protected closeItem(out: ByteBuilder, idx: i32, status: string): void {
    const it = this.items[idx];
    if (it.kind == ITEM_MESSAGE) {
      let s = this.begin(it.refusal ? "response.refusal.done" : "response.output_text.done");
      this.about(s, idx);
      s.str(it.refusal ? "\"content_index\":0,\"refusal\":\"" : "\"content_index\":0,\"text\":\""); s.bytes(it.text.buf, 0, it.text.len);
      s.str(it.refusal ? "\"," : "\",\"logprobs\":[],");
      this.emit(out, it.refusal ? "response.refusal.done" : "response.output_text.done");
      s = this.begin("response.content_part.done");
      this.about(s, idx);
      s.str("\"content_index\":0,\"part\":"); writePart(s, it); s.byte(0x2c);
      this.emit(out, "response.content_part.done");
    } else if (it.kind == ITEM_CALL) {
      const s = this.begin("response.function_call_arguments.done");
      this.about(s, idx);
      s.str("\"name\":"); s.all(it.name); s.str(",\"arguments\":\""); s.bytes(it.text.buf, 0, it.text.len); s.str("\",");
      this.emit(out, "response.function_call_arguments.done");
    } else if (it.kind == ITEM_REASONING) {
      let s = this.begin("response.reasoning_summary_text.done");
      this.about(s, idx);
      s.str("\"summary_index\":0,\"text\":\""); s.bytes(it.text.buf, 0, it.text.len); s.str("\",");
      this.emit(out, "response.reasoning_summary_text.done");
      s = this.begin("response.reasoning_summary_part.done");
      this.about(s, idx);
      s.str("\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":\""); s.bytes(it.text.buf, 0, it.text.len); s.str("\"},");
      this.emit(out, "response.reasoning_summary_part.done");
    } else return; // an item the gateway did not follow: it has no text to end it with
    it.done = status == "completed";
    const s = this.begin("response.output_item.done");
    s.str("\"output_index\":"); s.int(idx);
    s.str(",\"item\":"); writeItem(s, it, status, true); s.byte(0x2c);
    this.emit(out, "response.output_item.done");
    it.closed = true;
  }

  /** Room for `n` more bytes of output text (all items together), else false. */
  protected room(n: i32): bool { return this.textBytes + <i64>n <= <i64>MAX_OUTPUT_TEXT_BYTES; }

  /** Ends the client's stream at its token budget: response.incomplete (max_output_tokens). */
  abstract endAtBudget(out: ByteBuilder, usage: Usage): void;
}

/** A member echoed from the client's request when it has the expected kind, else `def`. */
function echo(b: ByteBuilder, doc: JsonDoc, root: JNode, key: string, kind: Kind, def: string): void {
  b.str(",\""); b.str(key); b.str("\":");
  const n = doc.get(root, key);
  if (n !== null && n.kind == kind) doc.copyTo(n, b); else b.str(def);
}

/** The client's function tools as Response tools (FunctionTool: every member present). */
function writeTools(b: ByteBuilder, doc: JsonDoc, tools: JNode | null): void {
  if (tools === null || tools.kind != Kind.Arr) return;
  let n = 0;
  for (let i = 0; i < tools.length; i++) {
    const t = tools.items![i];
    const name = doc.get(t, "name");
    if (!doc.strIs(doc.get(t, "type"), "function") || name === null || name.kind != Kind.Str) continue;
    if (n++ > 0) b.byte(0x2c);
    b.str("{\"type\":\"function\",\"name\":"); doc.copyTo(name, b);
    const d = doc.get(t, "description");
    b.str(",\"description\":"); if (d !== null && d.kind == Kind.Str) doc.copyTo(d, b); else b.str("null");
    const p = doc.get(t, "parameters");
    b.str(",\"parameters\":"); if (p !== null && p.kind == Kind.Obj) doc.copyTo(p, b); else b.str("null");
    const st = doc.get(t, "strict");
    b.str(",\"strict\":"); if (st !== null && st.kind == Kind.Bool) doc.copyTo(st, b); else b.str("null");
    b.byte(0x7d);
  }
}

/** An id made of the characters of `src` that are safe in ids (alphanumerics, - and _), bounded. */
function idPart(doc: JsonDoc, n: JNode | null): string {
  if (n === null || n.kind != Kind.Str) return "";
  const span = doc.strSpan(n);
  let out = "";
  for (let i = span.start; i < span.end && out.length < 64; i++) {
    const c = span.buf[i];
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x5f) out += String.fromCharCode(c);
  }
  return out;
}

// --- pass-through (OpenAI, Azure) --------------------------------------------------------------

/**
 * A Response JSON body from OpenAI or Azure: passed through (labelled application/json), usage
 * read at the end; a success that is not a JSON object is a 502 in the OpenAI envelope.
 */
class ResponsesPassJson extends ResponseHandler {
  constructor(private fixContentType: bool) { super(); this.wholeBody = true; }
  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (!eos) return false;
    const doc = parseJson(chunk);
    const root = doc.root;
    if (root === null || root.kind != Kind.Obj) {
      this.status = 502;
      this.contentType = "application/json";
      out.all(Uint8Array.wrap(new ApiError(502, "upstream_error", "bad_upstream_response", "The backend returned a response that is not a JSON object.").body()));
      return true;
    }
    const u = doc.get(root, "usage");
    if (u !== null && u.kind == Kind.Obj) readResponsesUsage(doc, u, this.usage);
    if (this.fixContentType) this.contentType = "application/json";
    return false;
  }
}

const USAGE_KEY = bytesOf("\"usage\"");
const DELTA_KEY = bytesOf("\"delta\":\"");

/** Terminal event types of a Responses stream. */
function isTerminal(t: string): bool {
  return t == "response.completed" || t == "response.incomplete" || t == "response.failed" || t == "error";
}

/** Length of the JSON string whose opening quote is at q (escapes counted as written). */
function stringLength(d: Uint8Array, q: i32): i32 {
  let j = q + 1;
  while (j < d.length) {
    const c = unchecked(d[j]);
    if (c == 0x5c) { j += 2; continue; }
    if (c == 0x22) break;
    j++;
  }
  return (j < d.length ? j : d.length) - q - 1;
}

/**
 * A Responses stream from OpenAI or Azure. Without re-framing the provider's bytes pass through
 * untouched and only the terminal event is parsed (its response.usage). Re-framed (token budget,
 * usage comment), every event is written anew, whole, its output text counted and its items
 * followed, so the stream can end at the budget with a response.incomplete that holds the output
 * so far. A body that stops before a terminal event (or an event too large to hold) ends with an
 * error event, so the client does not take a partial answer for a whole one.
 */
class ResponsesPassStream extends ResponsesEvents {
  private reader: SseReader = new SseReader();
  private dropping: bool = false;
  /** The client's stream ended (terminal event or a gateway error event): nothing more is read. */
  private over: bool = false;

  constructor(req: ClientRequest, private reframe: bool) {
    super(req);
    this.rewrites = true;
  }

  /** Whether the event needs its JSON (usage, or, re-framed, the items and sequence numbers). */
  private wants(name: string, data: Uint8Array): bool {
    if (this.reframe) return true;
    if (name.length > 0) return isTerminal(name) || name == "response.created";
    return indexOfBytes(data, USAGE_KEY, 0) >= 0;
  }

  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (this.dropping) return true;
    const reader = this.reader;
    reader.feed(chunk);
    const cutShort = eos && reader.pendingBytes > 0;
    if (eos) reader.finish();
    const events = reader.events;
    for (let i = 0; i < events.length; i++) {
      const ev = unchecked(events[i]);
      if (this.over) continue;
      if (!this.wants(ev.name, ev.data)) { if (this.reframe) writeSse(out, ev.name, ev.data); continue; }
      const doc = parseJson(ev.data);
      const root = doc.root;
      if (root === null || root.kind != Kind.Obj) { if (this.reframe) writeSse(out, ev.name, ev.data); continue; }
      this.onEvent(doc, root, ev.name, out);
      if (this.reframe) writeSse(out, ev.name, ev.data);
    }
    events.length = 0;
    if (reader.overflow) {
      this.dropping = true;
      if (!this.reframe) { out.all(chunk); out.str("\n\n"); }
      if (!this.over) this.streamError(out, "An event of the backend's stream is too large.");
      return true;
    }
    if (!eos || (this.over && !(cutShort && !this.reframe))) return this.reframe;
    if (!this.reframe) { out.all(chunk); if (cutShort) out.str("\n\n"); }
    if (!this.over) this.streamError(out, "The backend's stream ended before the response was complete.");
    return true;
  }

  /** An `error` event the gateway adds to a stream it does not write (sequence after the last seen). */
  private streamError(out: ByteBuilder, message: string): void {
    const s = this.begin("error");
    s.str("\"code\":\"server_error\",\"message\":"); s.jsonString(message); s.str(",\"param\":null,");
    this.emit(out, "error");
    this.over = true;
    this.terminated = true;
  }

  private onEvent(doc: JsonDoc, root: JNode, name: string, out: ByteBuilder): void {
    const typeNode = doc.get(root, "type");
    const type = name.length > 0 ? name : typeNode !== null && typeNode.kind == Kind.Str && typeNode.end - typeNode.start < 64 ? doc.str(typeNode) : "";
    const sn = doc.get(root, "sequence_number");
    if (sn !== null && sn.kind == Kind.Num && sn.num >= 0 && sn.num < 1.0e15) this.seq = doc.int(sn) + 1;
    const resp = doc.get(root, "response");
    if (type == "response.created" && resp !== null) {
      const id = doc.get(resp, "id");
      if (id !== null && id.kind == Kind.Str && id.end - id.start < 256) this.respId = doc.str(id);
      this.createdAt = doc.int(doc.get(resp, "created_at"), 0);
      const m = doc.get(resp, "model");
      this.model.reset();
      if (m !== null && m.kind == Kind.Str) doc.copyTo(m, this.model);
    }
    if (isTerminal(type)) {
      const u = doc.get(resp, "usage");
      if (u !== null && u.kind == Kind.Obj) readResponsesUsage(doc, u, this.usage);
      this.over = true;
      this.terminated = true;
    } else if (name.length == 0) {
      // Unnamed events (not OpenAI's framing, tolerated): a usage object wherever it is.
      const u = doc.get(resp, "usage");
      if (u !== null && u.kind == Kind.Obj) readResponsesUsage(doc, u, this.usage);
    }
    if (this.reframe) this.follow(doc, root, type);
  }

  /** Re-framed: the items and the output text, for the budget and an early end. */
  private follow(doc: JsonDoc, root: JNode, type: string): void {
    const oi = <i32>doc.int(doc.get(root, "output_index"), -1);
    if (type == "response.output_item.added") {
      const item = doc.get(root, "item");
      if (oi != this.items.length || item === null || item.kind != Kind.Obj || oi > 4096) return;
      const t = doc.get(item, "type");
      const kind = doc.strIs(t, "message") ? ITEM_MESSAGE : doc.strIs(t, "function_call") ? ITEM_CALL : ITEM_OTHER;
      const idn = doc.get(item, "id");
      const it = new OutItem(kind, idn !== null && idn.kind == Kind.Str && idn.end - idn.start < 256 ? doc.str(idn) : "item_" + oi.toString());
      if (kind == ITEM_CALL) {
        const cid = doc.get(item, "call_id"), nm = doc.get(item, "name");
        if (cid === null || cid.kind != Kind.Str || nm === null || nm.kind != Kind.Str) it.kind = ITEM_OTHER;
        else { it.callId = doc.src.slice(cid.start, cid.end); it.name = doc.src.slice(nm.start, nm.end); }
      }
      this.items.push(it);
      return;
    }
    if (oi < 0 || oi >= this.items.length) return;
    const it = this.items[oi];
    if (type == "response.output_item.done") {
      const item = doc.get(root, "item");
      if (item !== null && item.kind == Kind.Obj && this.room(item.end - item.start)) {
        this.textBytes += <i64>(item.end - item.start);
        it.raw = doc.src.slice(item.start, item.end);
      } else it.kind = ITEM_OTHER;
      it.done = true;
      return;
    }
    const d = doc.get(root, "delta");
    if (d === null || d.kind != Kind.Str) return;
    const n = d.end - d.start - 2;
    this.deltaBytes += <i64>n;
    const textual = (type == "response.output_text.delta" && it.kind == ITEM_MESSAGE) || (type == "response.function_call_arguments.delta" && it.kind == ITEM_CALL);
    if (!textual || it.done) return;
    if (!this.room(n)) { it.kind = ITEM_OTHER; return; }
    this.textBytes += <i64>n;
    it.text.bytes(doc.src, d.start + 1, d.end - 1);
  }

  endAtBudget(out: ByteBuilder, usage: Usage): void {
    if (this.terminated) return;
    // Items the gateway could not follow (hosted tools, reasoning) are left out unless finished.
    for (let i = 0; i < this.items.length; i++) if (!this.items[i].done) this.closeItem(out, i, "incomplete");
    const kept: OutItem[] = [];
    for (let i = 0; i < this.items.length; i++) { const it = this.items[i]; if (it.raw !== null || it.kind != ITEM_OTHER) kept.push(it); }
    this.items = kept;
    this.lifecycle(out, "response.incomplete", "incomplete", "max_output_tokens", "", "", usage);
    this.over = true;
    this.terminated = true;
  }
}

// --- translated (every other backend) ----------------------------------------------------------

const MODE_JSON: i32 = 0;
const MODE_STREAM: i32 = 1;
const MODE_ERROR: i32 = 2;

function firstChoice(doc: JsonDoc, root: JNode): JNode | null {
  const choices = doc.get(root, "choices");
  if (choices === null || choices.kind != Kind.Arr || choices.length == 0) return null;
  const c = choices.items![0];
  return c.kind == Kind.Obj ? c : null;
}

/** A string node with at least one character (`""` spans 2 bytes with its quotes). */
function hasText(n: JNode | null): bool { return n !== null && n.kind == Kind.Str && n.end - n.start > 2; }

/** Reasoning text as providers put it in chat (`reasoning_content`; `reasoning` for some vendors). */
function reasoningNode(doc: JsonDoc, msg: JNode | null): JNode | null {
  const r = doc.get(msg, "reasoning_content");
  if (hasText(r)) return r;
  const r2 = doc.get(msg, "reasoning");
  if (hasText(r2)) return r2;
  return null;
}

/** chat finish_reason → incomplete_details.reason ("" = the response completed). */
function incompleteReason(finish: string): string {
  if (finish == "length") return "max_output_tokens";
  if (finish == "content_filter") return "content_filter";
  return "";
}

/** Error code for an error object met mid-stream (ResponseErrorCode has few that fit). */
function streamErrorCode(doc: JsonDoc, err: JNode | null): string {
  const t = doc.str(doc.get(err, "type")), c = doc.str(doc.get(err, "code"));
  if (t.includes("rate_limit") || c.includes("rate_limit")) return "rate_limit_exceeded";
  return "server_error";
}

export class ResponsesFromChat extends ResponsesEvents {
  private mode: i32;
  private innerOut: ByteBuilder = new ByteBuilder(1024);
  private reader: SseReader | null = null;
  private started: bool = false;
  private idBase: string = "gateway";
  /** Index in items of the open message / reasoning item (-1 none). */
  private openText: i32 = -1;
  private openReasoning: i32 = -1;
  /** Chat tool call index → item index (-1 none). */
  private toolItem: i32[] = [];
  private finish: string = "";

  constructor(req: ClientRequest, private inner: ResponseHandler, private upstreamStatus: i32, contentType: string) {
    super(req);
    this.usage = inner.usage;
    this.rewrites = true;
    this.createdAt = req.nowSeconds;
    const ct = inner.contentType.length ? inner.contentType : contentType;
    if (upstreamStatus < 200 || upstreamStatus >= 300) { this.mode = MODE_ERROR; this.wholeBody = inner.wholeBody; this.contentType = "application/json"; }
    else if (ct.startsWith("text/event-stream")) { this.mode = MODE_STREAM; this.wholeBody = inner.wholeBody; this.contentType = "text/event-stream"; this.reader = new SseReader(); }
    else { this.mode = MODE_JSON; this.wholeBody = true; this.contentType = "application/json"; }
    if (inner.status != 0) this.status = inner.status;
  }

  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    const tmp = this.innerOut;
    tmp.reset();
    const replaced = this.inner.onBody(chunk, eos, tmp);
    this.usage = this.inner.usage;
    if (this.inner.status != 0) this.status = this.inner.status;
    // An answer the inner handler turned into an error before any event (a stream it could not
    // read, buffered whole): the client gets that error, not a stream.
    if (this.mode == MODE_STREAM && !this.started && this.inner.status >= 300) { this.mode = MODE_ERROR; this.contentType = "application/json"; }
    if (this.inner.contentType.length && this.mode == MODE_ERROR) this.contentType = this.inner.contentType;
    const src = replaced ? tmp.buf : chunk;
    const len = replaced ? tmp.len : chunk.length;
    if (this.mode == MODE_STREAM) { this.stream(src, len, eos, out); return true; }
    // Errors: the inner handler already speaks the OpenAI envelope, the client's.
    if (this.mode == MODE_ERROR) { out.bytes(src, 0, len); return true; }
    if (!eos) return true;
    const status = this.status != 0 ? this.status : this.upstreamStatus;
    if (status >= 300) { out.bytes(src, 0, len); return true; }
    this.json(src, len, out);
    return true;
  }

  /** Names the response and its items after the chat completion's id. */
  private identify(doc: JsonDoc, root: JNode): void {
    const id = idPart(doc, doc.get(root, "id"));
    if (id.length > 0) this.idBase = id;
    this.respId = "resp_" + this.idBase;
    const created = doc.get(root, "created");
    if (created !== null && created.kind == Kind.Num && created.num > 0 && created.num < 1.0e12) this.createdAt = doc.int(created);
    const m = doc.get(root, "model");
    this.model.reset();
    if (hasText(m)) doc.copyTo(m!, this.model); else this.model.jsonString(this.req.upstreamModel);
  }

  private newItem(kind: i32): OutItem {
    const prefix = kind == ITEM_MESSAGE ? "msg_" : kind == ITEM_CALL ? "fc_" : "rs_";
    const it = new OutItem(kind, prefix + this.idBase + "_" + this.items.length.toString());
    this.items.push(it);
    return it;
  }

  /** chat.completion → a Response object. */
  private json(src: Uint8Array, len: i32, out: ByteBuilder): void {
    const doc = parseJson(src, MAX_DEPTH, len);
    const root = doc.root;
    const choice = root !== null && root.kind == Kind.Obj ? firstChoice(doc, root) : null;
    if (root === null || choice === null) {
      this.status = 502;
      out.all(Uint8Array.wrap(new ApiError(502, "upstream_error", "bad_upstream_response", "The backend returned a response that is not a chat completion.").body()));
      return;
    }
    this.identify(doc, root);
    const msg = doc.get(choice, "message");
    const reasoning = reasoningNode(doc, msg);
    if (reasoning !== null) this.add(this.newItem(ITEM_REASONING), doc, reasoning);
    const content = doc.get(msg, "content");
    if (hasText(content)) this.add(this.newItem(ITEM_MESSAGE), doc, content!);
    else if (content !== null && content.kind == Kind.Arr) {
      let it: OutItem | null = null;
      for (let i = 0; i < content.length; i++) {
        const t = doc.get(content.items![i], "text");
        if (!hasText(t)) continue;
        if (it === null) it = this.newItem(ITEM_MESSAGE);
        this.add(it, doc, t!);
      }
    }
    const refusal = doc.get(msg, "refusal");
    if (hasText(refusal)) { const it = this.newItem(ITEM_MESSAGE); it.refusal = true; this.add(it, doc, refusal!); }
    const calls = doc.get(msg, "tool_calls");
    if (calls !== null && calls.kind == Kind.Arr) {
      for (let i = 0; i < calls.length; i++) {
        const c = calls.items![i];
        const fn = doc.get(c, "function");
        const name = doc.get(fn, "name");
        if (!hasText(name)) continue; // a call the client could not dispatch
        const it = this.newItem(ITEM_CALL);
        const cid = doc.get(c, "id");
        it.callId = hasText(cid) ? doc.src.slice(cid!.start, cid!.end) : bytesOf("\"call_" + this.idBase + "_" + i.toString() + "\"");
        it.name = doc.src.slice(name!.start, name!.end);
        const args = doc.get(fn, "arguments");
        if (args !== null && args.kind == Kind.Str) this.add(it, doc, args);
        else if (args !== null && args.kind == Kind.Obj && this.room(2 * (args.end - args.start))) {
          // A vendor that sends the arguments as an object: the string of its JSON text.
          const tmp = new ByteBuilder(args.end - args.start + 16);
          tmp.jsonStringBytes(doc.src, args.start, args.end);
          this.textBytes += <i64>tmp.len;
          it.text.bytes(tmp.buf, 1, tmp.len - 1);
        }
        it.done = true;
      }
    }
    const finish = doc.str(doc.get(choice, "finish_reason"));
    const reason = incompleteReason(finish);
    for (let i = 0; i < this.items.length; i++) this.items[i].done = reason.length == 0 || i + 1 < this.items.length;
    this.writeResponse(out, reason.length ? "incomplete" : "completed", reason, "", "", true, this.usage);
  }

  /** Appends a string node's escaped contents to an item's text (bounded). */
  private add(it: OutItem, doc: JsonDoc, n: JNode): bool {
    const len = n.end - n.start - 2;
    if (!this.room(len)) return false;
    this.textBytes += <i64>len;
    it.text.bytes(doc.src, n.start + 1, n.end - 1);
    it.done = true;
    return true;
  }

  // --- streams ---------------------------------------------------------------------------------

  private start(out: ByteBuilder, doc: JsonDoc, root: JNode): void {
    this.identify(doc, root);
    this.lifecycle(out, "response.created", "in_progress", "", "", "", null);
    this.lifecycle(out, "response.in_progress", "in_progress", "", "", "", null);
    this.started = true;
  }

  /** output_item.added for the newest item. */
  private added(out: ByteBuilder, it: OutItem): void {
    const s = this.begin("response.output_item.added");
    s.str("\"output_index\":"); s.int(this.items.length - 1);
    s.str(",\"item\":"); writeItem(s, it, "in_progress", false); s.byte(0x2c);
    this.emit(out, "response.output_item.added");
  }

  private openMessage(out: ByteBuilder): i32 {
    if (this.openText >= 0) return this.openText;
    this.closeReasoning(out, "completed");
    const it = this.newItem(ITEM_MESSAGE);
    const idx = this.items.length - 1;
    this.added(out, it);
    const s = this.begin("response.content_part.added");
    this.about(s, idx);
    s.str("\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[],\"logprobs\":[]},");
    this.emit(out, "response.content_part.added");
    this.openText = idx;
    return idx;
  }

  private closeMessage(out: ByteBuilder, status: string): void {
    const idx = this.openText;
    if (idx < 0) return;
    this.openText = -1;
    this.closeItem(out, idx, status);
  }

  private openReasoningItem(out: ByteBuilder): i32 {
    if (this.openReasoning >= 0) return this.openReasoning;
    this.closeMessage(out, "completed");
    const it = this.newItem(ITEM_REASONING);
    const idx = this.items.length - 1;
    this.added(out, it);
    const s = this.begin("response.reasoning_summary_part.added");
    this.about(s, idx);
    s.str("\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":\"\"},");
    this.emit(out, "response.reasoning_summary_part.added");
    this.openReasoning = idx;
    return idx;
  }

  private closeReasoning(out: ByteBuilder, status: string): void {
    const idx = this.openReasoning;
    if (idx < 0) return;
    this.openReasoning = -1;
    this.closeItem(out, idx, status);
  }

  /** A delta event for item idx: `type`, with `extra` members before the delta (e.g. content_index). */
  private delta(out: ByteBuilder, idx: i32, type: string, extra: string, doc: JsonDoc, v: JNode, tail: string): bool {
    const n = v.end - v.start - 2;
    if (!this.room(n)) { this.fail(out, "server_error", "The response is too large for the gateway to stream in the Responses format."); return false; }
    this.textBytes += <i64>n;
    this.deltaBytes += <i64>n;
    this.items[idx].text.bytes(doc.src, v.start + 1, v.end - 1);
    const s = this.begin(type);
    this.about(s, idx);
    s.str(extra); s.str("\"delta\":"); doc.copyTo(v, s); s.byte(0x2c); s.str(tail);
    this.emit(out, type);
    return true;
  }

  private toolCall(out: ByteBuilder, doc: JsonDoc, tc: JNode): void {
    const k = <i32>doc.int(doc.get(tc, "index"), -1);
    if (k < 0 || k > 1023) return;
    while (this.toolItem.length <= k) this.toolItem.push(-1);
    const fn = doc.get(tc, "function");
    let idx = this.toolItem[k];
    if (idx < 0) {
      // First fragment of call k: a function_call item, once a fragment names the function.
      const name = doc.get(fn, "name");
      if (!hasText(name)) return;
      this.closeMessage(out, "completed");
      this.closeReasoning(out, "completed");
      const it = this.newItem(ITEM_CALL);
      idx = this.items.length - 1;
      const cid = doc.get(tc, "id");
      it.callId = hasText(cid) ? doc.src.slice(cid!.start, cid!.end) : bytesOf("\"call_" + this.idBase + "_" + k.toString() + "\"");
      it.name = doc.src.slice(name!.start, name!.end);
      this.toolItem[k] = idx;
      this.added(out, it);
    }
    const args = doc.get(fn, "arguments");
    if (hasText(args)) this.delta(out, idx, "response.function_call_arguments.delta", "", doc, args!, "");
  }

  /** Closes every open item: the message and reasoning, then the function calls in output order. */
  private closeAll(out: ByteBuilder, status: string): void {
    this.closeMessage(out, status);
    this.closeReasoning(out, status);
    for (let k = 0; k < this.toolItem.length; k++) {
      const idx = this.toolItem[k];
      if (idx >= 0 && !this.items[idx].closed) this.closeItem(out, idx, status);
    }
  }

  /** The end of the answer: items closed, then response.completed or .incomplete with usage. */
  private end(out: ByteBuilder): void {
    const reason = incompleteReason(this.finish);
    this.closeAll(out, reason.length ? "incomplete" : "completed");
    if (reason.length) this.lifecycle(out, "response.incomplete", "incomplete", reason, "", "", this.usage);
    else this.lifecycle(out, "response.completed", "completed", "", "", "", this.usage);
    this.terminated = true;
  }

  endAtBudget(out: ByteBuilder, usage: Usage): void {
    if (this.terminated) return;
    if (!this.started) { this.lifecycle(out, "response.created", "in_progress", "", "", "", null); this.started = true; }
    this.closeAll(out, "incomplete");
    this.lifecycle(out, "response.incomplete", "incomplete", "max_output_tokens", "", "", usage);
    this.terminated = true;
  }

  private failStream(out: ByteBuilder, code: string, message: string): void {
    if (!this.started) { this.lifecycle(out, "response.created", "in_progress", "", "", "", null); this.started = true; }
    this.fail(out, code, message);
  }

  private stream(src: Uint8Array, len: i32, eos: bool, out: ByteBuilder): void {
    const reader = this.reader!;
    reader.feed(src, len);
    if (eos) reader.finish();
    const events = reader.events;
    for (let i = 0; i < events.length && !this.terminated; i++) {
      const ev = unchecked(events[i]);
      if (ev.dataIs("[DONE]")) {
        if (!this.started) this.failStream(out, "server_error", "The backend's stream ended without an answer.");
        else this.end(out);
        continue;
      }
      const doc = parseJson(ev.data);
      const root = doc.root;
      if (root === null || root.kind != Kind.Obj) continue; // not a chunk: nothing to say about it
      const err = doc.get(root, "error");
      if (err !== null && err.kind != Kind.Null) {
        const m = doc.get(err, "message");
        this.failStream(out, streamErrorCode(doc, err), hasText(m) ? doc.str(m) : hasText(err) ? doc.str(err) : "The backend reported an error.");
        continue;
      }
      if (!this.started) this.start(out, doc, root);
      const choice = firstChoice(doc, root);
      if (choice === null) continue; // the usage chunk (usage reaches us through the inner handler)
      const delta = doc.get(choice, "delta");
      const reasoning = reasoningNode(doc, delta);
      if (reasoning !== null) {
        const idx = this.openReasoningItem(out);
        if (!this.delta(out, idx, "response.reasoning_summary_text.delta", "\"summary_index\":0,", doc, reasoning, "")) continue;
      }
      const content = doc.get(delta, "content");
      if (hasText(content)) {
        const idx = this.openMessage(out);
        if (!this.delta(out, idx, "response.output_text.delta", "\"content_index\":0,", doc, content!, "\"logprobs\":[],")) continue;
      }
      const refusal = doc.get(delta, "refusal");
      if (hasText(refusal)) {
        const idx = this.openMessage(out);
        if (!this.delta(out, idx, "response.output_text.delta", "\"content_index\":0,", doc, refusal!, "\"logprobs\":[],")) continue;
      }
      const calls = doc.get(delta, "tool_calls");
      if (calls !== null && calls.kind == Kind.Arr) for (let j = 0; j < calls.length && !this.terminated; j++) this.toolCall(out, doc, calls.items![j]);
      const fr = doc.get(choice, "finish_reason");
      if (fr !== null && fr.kind == Kind.Str) this.finish = doc.str(fr);
    }
    events.length = 0;
    if (eos && !this.terminated) {
      // No [DONE]: a finished answer still ends cleanly; a cut one is a failure, not a short answer.
      if (this.started && this.finish.length > 0) this.end(out);
      else this.failStream(out, "server_error", "The backend's stream ended before the response was complete.");
    }
  }
}
