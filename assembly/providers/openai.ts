// OpenAI (and, later, every OpenAI-compatible backend): the client's format is the provider's,
// so requests pass through with byte-level edits only (model rename, usage in streams) and
// responses pass through untouched unless we changed what the provider sends.

import { Edits, JNode, JsonDoc, Kind, parseJson } from "../json/json";
import { ApiError, badRequest, badUpstream } from "../errors";
import { isUnreserved } from "../util/chars";
import { Usage } from "../usage";
import { ByteBuilder, bytesOf, indexOfBytes } from "../util/bytes";
import { SseReader, writeSse } from "../streams/sse";
import { ClientRequest, Endpoint, Provider, ResponseHandler, UpstreamRequest } from "./provider";
import { StreamUsage } from "../config/config";
import { ChunkMeter, ChunkWriter } from "./openai_out";

const TRUE_BYTES = bytesOf("true");

/**
 * OpenAI, the OpenAI-compatible family (base_path per vendor), and Azure OpenAI, whose only
 * differences on the wire are the deployment-scoped URL and the api-version query (sources: Azure OpenAI REST reference).
 */
export class OpenAIProvider extends Provider {
  constructor(private azure: bool = false) { super(); }

  prepare(req: ClientRequest, out: UpstreamRequest): ApiError | null {
    const backend = req.backend;
    const doc = req.doc, root = req.root;
    const edits = new Edits(doc);
    const op = req.endpoint == Endpoint.Embeddings ? "/embeddings" : "/chat/completions";
    if (req.endpoint == Endpoint.Responses) {
      // Azure serves the Responses API on its v1 surface (no deployment in the path, no
      // api-version): the body's model names the deployment.
      out.path = backend.basePath + (this.azure ? "/v1/responses" : "/responses");
    } else if (this.azure) {
      const deployment = backend.deployment.length ? backend.deployment : req.upstreamModel;
      if (deployment.length == 0 || !isUnreserved(deployment)) return badRequest("invalid_value", "The model name cannot be used as an Azure deployment name.", "model");
      out.path = backend.basePath + "/deployments/" + deployment + op + "?api-version=" + backend.apiVersion;
    } else out.path = backend.basePath + op;

    // Vendor differences first (sources: OpenAI-compatible vendors): fields this provider rejects or names otherwise.
    const dropped = new Set<string>();
    if (backend.streamUsage == StreamUsage.Never) {
      // A provider that rejects stream_options (Mistral: 422 extra_forbidden) must not get the
      // client's either; it reports usage on its own.
      const so = doc.indexOf(root, "stream_options");
      if (so >= 0) { edits.removeMember(root, so); dropped.add("stream_options"); }
    }
    for (let i = 0; i < backend.dropFields.length; i++) {
      const f = backend.dropFields[i];
      const idx = doc.indexOf(root, f);
      if (idx >= 0) { edits.removeMember(root, idx); dropped.add(f); }
    }
    for (let i = 0; i + 1 < backend.renameFields.length; i += 2) {
      const from = backend.renameFields[i];
      const idx = doc.indexOf(root, from);
      if (idx < 0 || dropped.has(from)) continue;
      const b = new ByteBuilder(backend.renameFields[i + 1].length + 2);
      b.jsonString(backend.renameFields[i + 1]);
      edits.replaceNode(root.keys![idx], b.toBytes());
    }

    const up = this.azure && req.endpoint == Endpoint.Responses && backend.deployment.length ? backend.deployment : req.rule.upstreamModel;
    if (up.length > 0 && up != req.model) {
      const b = new ByteBuilder(up.length + 2);
      b.jsonString(up);
      edits.replaceNode(doc.get(root, "model")!, b.toBytes());
    }

    // Usage in streams: OpenAI reports it only when asked (stream_options.include_usage). Token
    // limits need it, so ask, and remember to hide it again from a client that did not ask.
    if (req.endpoint == Endpoint.ChatCompletions && req.stream && backend.streamUsage == StreamUsage.Request && !dropped.has("stream_options")) {
      const so = doc.get(root, "stream_options");
      if (so === null || so.kind == Kind.Null) {
        if (so === null) edits.addMember(root, "stream_options", "{\"include_usage\":true}");
        else edits.replaceNode(so, bytesOf("{\"include_usage\":true}"));
        req.usageInjected = true;
      } else if (so.kind == Kind.Obj) {
        const iu = doc.get(so, "include_usage");
        if (iu === null) { edits.addMember(so, "include_usage", "true"); req.usageInjected = true; }
        else if (!(iu.kind == Kind.Bool && iu.flag)) { edits.replaceNode(iu, TRUE_BYTES); req.usageInjected = true; }
      }
    }

    if (backend.toolChoiceAny) {
      const tc = doc.get(root, "tool_choice");
      if (tc !== null && doc.strIs(tc, "required") && !dropped.has("tool_choice")) edits.replaceNode(tc, bytesOf("\"any\""));
    }
    if (backend.toolCallId9) rewriteToolCallIds(doc, root, edits);

    if (edits.count > 0) {
      const b = new ByteBuilder(doc.src.length + 64);
      edits.apply(b);
      out.body = b;
    }
    return null;
  }

  /** OpenAI itself and Azure speak the Responses API; the compatible vendors get it translated. */
  nativeResponses(req: ClientRequest): bool {
    const p = req.backend.preset;
    return this.azure || p.length == 0 || p == "openai";
  }

  response(req: ClientRequest, status: i32, contentType: string): ResponseHandler {
    const normalize = req.backend.normalize;
    if (status >= 200 && status < 300 && contentType.startsWith("text/event-stream")) {
      return new OpenAIStream(req.usageInjected || normalize || req.reframe, !req.clientWantsUsage(), normalize, req.nowSeconds);
    }
    if (status >= 200 && status < 300) return new OpenAIJson(normalize, !contentType.startsWith("application/json"));
    // Error bodies always reach the client as the OpenAI envelope: Azure's lack `type`/`param`
    // (e.g. {"error":{"code":"429","message":…}}), vendors have their own shapes, and a proxy in
    // front of any provider may answer with HTML. Envelopes that are already right pass unchanged.
    return new OpenAIError(status, true);
  }
}

/** Mistral accepts only 9-character alphanumeric tool call ids: map every id the same way. */
function rewriteToolCallIds(doc: JsonDoc, root: JNode, edits: Edits): void {
  const msgs = doc.get(root, "messages");
  if (msgs === null || msgs.kind != Kind.Arr) return;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs.items![i];
    const id = doc.get(m, "tool_call_id");
    if (id !== null && id.kind == Kind.Str) edits.replaceNode(id, shortId(doc, id));
    const calls = doc.get(m, "tool_calls");
    if (calls === null || calls.kind != Kind.Arr) continue;
    for (let j = 0; j < calls.length; j++) {
      const cid = doc.get(calls.items![j], "id");
      if (cid !== null && cid.kind == Kind.Str) edits.replaceNode(cid, shortId(doc, cid));
    }
  }
}

const ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** A 9-char alphanumeric id derived from the original (ids already in that form are kept). */
function shortId(doc: JsonDoc, n: JNode): Uint8Array {
  const span = doc.strSpan(n);
  let ok = span.length == 9;
  for (let i = span.start; ok && i < span.end; i++) {
    const c = span.buf[i];
    ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  }
  const out = new Uint8Array(11);
  out[0] = 0x22; out[10] = 0x22;
  if (ok) { for (let i = 0; i < 9; i++) out[1 + i] = span.buf[span.start + i]; return out; }
  // FNV-1a 64 over the id bytes: deterministic, so a call and its result map to the same id.
  let h: u64 = 0xcbf29ce484222325;
  for (let i = span.start; i < span.end; i++) { h ^= <u64>span.buf[i]; h *= 0x100000001b3; }
  for (let i = 0; i < 9; i++) { out[1 + i] = <u8>ALNUM.charCodeAt(<i32>(h % 62)); h /= 62; if (h == 0) h = 0x9e3779b97f4a7c15; }
  return out;
}

const USAGE_KEY = bytesOf("\"usage\"");
const USAGE_NULL = bytesOf("\"usage\":null");
const FINISH_KEY = bytesOf("\"finish_reason\"");
const OBJECT_ERROR = bytesOf("\"error\"");

/**
 * Whether `d` has a `key` member (its quoted name, e.g. `"finish_reason"`) whose value is not
 * null. An unescaped quoted name followed by `:` can only be an object key (quotes inside JSON
 * strings are escaped); whitespace around the colon is allowed as JSON allows it.
 */
function hasNonNullMember(d: Uint8Array, key: Uint8Array): bool {
  let at = indexOfBytes(d, key, 0);
  while (at >= 0) {
    let i = at + key.length;
    while (i < d.length && isJsonSpace(unchecked(d[i]))) i++;
    if (i < d.length && unchecked(d[i]) == 0x3a) {
      i++;
      while (i < d.length && isJsonSpace(unchecked(d[i]))) i++;
      if (i < d.length && unchecked(d[i]) != 0x6e) return true; // anything but `null`
    }
    at = indexOfBytes(d, key, at + key.length);
  }
  return false;
}

function isJsonSpace(c: u8): bool { return c == 0x20 || c == 0x0a || c == 0x09 || c == 0x0d; }

/** Bytes of a JSON string node's text as written (escapes included, quotes not); 0 if not a string. */
function strBytes(n: JNode | null): i64 { return n !== null && n.kind == Kind.Str ? <i64>(n.end - n.start - 2) : 0; }

/**
 * What one chat.completion.chunk carries for the output accounting: the bytes of delta text in
 * its choices (content, reasoning_content, tool-call arguments), and whether a choice finished.
 */
function chunkFacts(doc: JsonDoc, choices: JNode | null): i64 {
  if (choices === null || choices.kind != Kind.Arr) return 0;
  let n: i64 = 0;
  for (let i = 0; i < choices.length; i++) {
    const d = doc.get(choices.items![i], "delta");
    if (d === null) continue;
    n += strBytes(doc.get(d, "content")) + strBytes(doc.get(d, "reasoning_content")) + strBytes(doc.get(d, "reasoning"));
    const calls = doc.get(d, "tool_calls");
    if (calls !== null && calls.kind == Kind.Arr) {
      for (let j = 0; j < calls.length; j++) n += strBytes(doc.get(doc.get(calls.items![j], "function"), "arguments"));
    }
  }
  return n;
}

/** Whether a choice of the chunk has a finish_reason (a string: the answer is whole). */
function anyFinished(doc: JsonDoc, choices: JNode | null): bool {
  if (choices === null || choices.kind != Kind.Arr) return false;
  for (let i = 0; i < choices.length; i++) {
    const f = doc.get(choices.items![i], "finish_reason");
    if (f !== null && f.kind == Kind.Str) return true;
  }
  return false;
}

function startsWithAt(d: Uint8Array, at: i32, lit: Uint8Array): bool {
  const n = lit.length;
  if (at < 0 || at + n > d.length) return false;
  for (let i = 0; i < n; i++) if (unchecked(d[at + i]) != unchecked(lit[i])) return false;
  return true;
}


const FINISH_OK: string[] = ["stop", "length", "tool_calls", "content_filter", "function_call"];

/** Vendor finish_reason values → the five OpenAI accepts (sources: OpenAI-compatible vendors; docs/design.md); unknown → "stop". */
function normalFinish(v: string): string {
  if (FINISH_OK.includes(v)) return v;
  if (v == "model_length" || v == "max_tokens") return "length";
  if (v == "tool_use") return "tool_calls";
  return "stop";
}

/** Adds edits that make every choices[].finish_reason a valid OpenAI value. */
function fixFinishReasons(doc: JsonDoc, root: JNode, edits: Edits): void {
  const choices = doc.get(root, "choices");
  if (choices === null || choices.kind != Kind.Arr) return;
  for (let i = 0; i < choices.length; i++) {
    const fr = doc.get(choices.items![i], "finish_reason");
    if (fr === null || fr.kind != Kind.Str) continue;
    const v = doc.str(fr);
    const nv = normalFinish(v);
    if (nv != v) { const b = new ByteBuilder(16); b.jsonString(nv); edits.replaceNode(fr, b.toBytes()); }
  }
}

/**
 * Fields OpenAI always sends and strict clients (and the OpenAI schema) require, which vendors
 * omit: choices[].logprobs and message.refusal (both nullable); `tool_calls: null` is removed
 * (the schema allows the field only as an array).
 */
function fixChoiceShape(doc: JsonDoc, root: JNode, edits: Edits): void {
  const choices = doc.get(root, "choices");
  if (choices === null || choices.kind != Kind.Arr) return;
  for (let i = 0; i < choices.length; i++) {
    const ch = choices.items![i];
    if (ch.kind != Kind.Obj) continue;
    if (doc.indexOf(ch, "logprobs") < 0) edits.addMember(ch, "logprobs", "null");
    const msg = doc.get(ch, "message");
    if (msg === null || msg.kind != Kind.Obj) continue;
    if (doc.indexOf(msg, "refusal") < 0) edits.addMember(msg, "refusal", "null");
    const tc = doc.indexOf(msg, "tool_calls");
    if (tc >= 0 && msg.items![tc].kind == Kind.Null) edits.removeMember(msg, tc);
  }
}

/** Usage wherever a vendor puts it: `usage`, or Groq's `x_groq.usage`. */
function usageNode(doc: JsonDoc, root: JNode): JNode | null {
  const u = doc.get(root, "usage");
  if (u !== null && u.kind == Kind.Obj) return u;
  const xg = doc.get(doc.get(root, "x_groq"), "usage");
  if (xg !== null && xg.kind == Kind.Obj) return xg;
  return null;
}


/** Reads an OpenAI `usage` object (chat and embeddings shapes). */
export function readOpenAIUsage(doc: JsonDoc, u: JNode, usage: Usage): void {
  usage.reported = true;
  usage.final = true; // OpenAI-format usage objects are complete counts
  usage.input = doc.int(doc.get(u, "prompt_tokens"));
  usage.output = doc.int(doc.get(u, "completion_tokens"));
  usage.total = doc.int(doc.get(u, "total_tokens"), usage.input + usage.output);
  const ptd = doc.get(u, "prompt_tokens_details");
  // DeepSeek reports cache hits as prompt_cache_hit_tokens instead of prompt_tokens_details.
  usage.cachedInput = ptd !== null ? doc.int(doc.get(ptd, "cached_tokens")) : doc.int(doc.get(u, "prompt_cache_hit_tokens"));
  usage.reasoning = doc.int(doc.get(doc.get(u, "completion_tokens_details"), "reasoning_tokens"));
}

/** Non-streaming JSON success: passed through (normalized when configured); usage read at the end. */
class OpenAIJson extends ResponseHandler {
  constructor(private normalize: bool, private fixContentType: bool = false) {
    super();
    this.wholeBody = true;
    this.rewrites = normalize;
  }
  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (!eos) return false;
    const doc = parseJson(chunk);
    const root = doc.root;
    if (root === null || root.kind != Kind.Obj) {
      // A success the client could not parse either (truncated, not JSON): say so with 502
      // instead of forwarding it with the provider's 200.
      return this.answerError(out, badUpstream("The backend returned a response that is not a JSON object."));
    }
    const u = usageNode(doc, root);
    if (u !== null) readOpenAIUsage(doc, u, this.usage);
    // A JSON object labelled otherwise (text/html, none): clients decide how to parse by the label.
    if (this.fixContentType) this.contentType = "application/json";
    if (!this.normalize) return false;
    const edits = new Edits(doc);
    fixFinishReasons(doc, root, edits);
    fixChoiceShape(doc, root, edits);
    if (edits.count == 0) return false;
    edits.apply(out);
    return true;
  }
}

function stringOrNull(n: JNode | null): bool { return n !== null && (n.kind == Kind.Str || n.kind == Kind.Null); }

/** `error` holds exactly what the OpenAI ErrorResponse schema requires. */
function isEnvelope(doc: JsonDoc, err: JNode): bool {
  const t = doc.get(err, "type"), m = doc.get(err, "message");
  return t !== null && t.kind == Kind.Str && m !== null && m.kind == Kind.Str && stringOrNull(doc.get(err, "param")) && stringOrNull(doc.get(err, "code"));
}

/**
 * Error answers. OpenAI's are already in the client's shape; with normalize, vendor shapes
 * (`{"object":"error","message":…}` from vLLM, `{"error":"text"}`, `{"message":…}`) are rewrapped.
 */
class OpenAIError extends ResponseHandler {
  constructor(private upstreamStatus: i32, private normalize: bool) {
    super();
    this.wholeBody = normalize;
    this.rewrites = normalize;
  }
  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (!this.normalize || !eos) return false;
    const doc = parseJson(chunk);
    const err = doc.get(doc.root, "error");
    let message = "The backend answered with HTTP " + this.upstreamStatus.toString() + ".";
    let code = "";
    let errType = "";
    if (err !== null && err.kind == Kind.Obj) {
      // Already the OpenAI envelope (message and type strings, param and code string or null): keep the provider's bytes.
      if (isEnvelope(doc, err)) return false;
      const m = doc.get(err, "message");
      if (m !== null && m.kind == Kind.Str) message = doc.str(m);
      const c = doc.get(err, "code");
      if (c !== null && c.kind == Kind.Str) code = doc.str(c);
      const t = doc.get(err, "type");
      if (t !== null && t.kind == Kind.Str) errType = doc.str(t);
    } else if (err !== null && err.kind == Kind.Str) message = doc.str(err);
    else {
      const m = doc.get(doc.root, "message");
      if (m !== null && m.kind == Kind.Str) message = doc.str(m);
      else if (doc.root === null && chunk.length > 0 && chunk.length < 1024) message = String.UTF8.decodeUnsafe(chunk.dataStart, chunk.length);
    }
    const type = errType.length ? errType : this.upstreamStatus == 429 ? "rate_limit_exceeded" : this.upstreamStatus >= 500 ? "server_error" : "invalid_request_error";
    out.all(Uint8Array.wrap(new ApiError(this.upstreamStatus, type, code, message).body()));
    this.contentType = "application/json";
    return true;
  }
}

/**
 * Chat completion stream. Pass-through mode (rewrite=false) forwards bytes untouched and only
 * reads usage. Rewrite mode re-frames every event: it hides usage from a client that did not ask
 * for it (the `choices: []` usage chunk is dropped and `"usage": null` members removed, so the
 * client gets exactly the stream it asked for) and, with normalize, fixes vendor deviations.
 * The mode is fixed for the whole stream: mixing raw chunks with re-framed events would
 * duplicate a partial event carried across a chunk boundary.
 */
class OpenAIStream extends ResponseHandler {
  private reader: SseReader = new SseReader();
  private scratch: ByteBuilder = new ByteBuilder(512);
  /** [DONE] or an error event went by: the client's stream is properly ended. */
  private ended: bool = false;
  /** Rewrite mode wrote its own error event: later events are dropped ([DONE] still passes). */
  private failed: bool = false;
  /** Rewrite mode wrote [DONE]: nothing follows it. */
  private done: bool = false;
  /** [DONE] went by (either mode): later events are not read. */
  private sawDone: bool = false;
  /** A choice finished (non-null finish_reason): the answer is whole even if [DONE] never comes. */
  private complete: bool = false;
  /** An event outgrew the reader's bound: the client got an error event, the rest is dropped. */
  private dropping: bool = false;

  /** Ends the client's stream with an error event when the provider sends an event too large to hold. */
  private oversize(chunk: Uint8Array, out: ByteBuilder): bool {
    this.dropping = true;
    if (!this.rewrite) { out.all(chunk); out.str("\n\n"); }
    if (!this.ended) {
      writeSse(out, "", Uint8Array.wrap(new ApiError(502, "upstream_error", "upstream_event_too_large",
        "An event of the provider's stream exceeds " + this.reader.maxEventBytes.toString() + " bytes.").body()));
    }
    this.ended = true;
    return true;
  }

  /** Metered (the filter's budget or usage comment): the chunk writer that reports to the meter. */
  private chunks: ChunkWriter | null = null;

  constructor(private rewrite: bool, private hideUsage: bool, private normalize: bool, private now: i64) {
    super();
    // Passing through, the end of the body may still get bytes (a cut event closed, an error
    // event, [DONE]): the provider's content-length, if it sent one, never holds.
    this.rewrites = true;
  }

  /**
   * Most events need no JSON tree: without a `"usage"` key (or with `"usage":null`) and without a
   * finish_reason to normalize, the event is forwarded as is, or with the `"usage":null` member
   * cut out. An unescaped `"usage"` followed by `:` can only be an object key, since quotes inside
   * JSON strings are escaped. Returns false when the event needs the full parse.
   */
  private fastPath(name: string, d: Uint8Array, out: ByteBuilder): bool {
    // A finished choice is read from the parsed chunk (and, with normalize, its value fixed).
    if (hasNonNullMember(d, FINISH_KEY)) return false;
    if (this.normalize && indexOfBytes(d, OBJECT_ERROR, 0) >= 0) return false;
    const ui = indexOfBytes(d, USAGE_KEY, 0);
    if (ui < 0) { if (this.rewrite) writeSse(out, name, d); return true; }
    if (!startsWithAt(d, ui, USAGE_NULL)) return false; // a usage object: read it
    if (indexOfBytes(d, USAGE_KEY, ui + USAGE_NULL.length) >= 0) return false; // more than one: be careful
    if (!this.rewrite) return true;
    if (!this.hideUsage) { writeSse(out, name, d); return true; }
    const end = ui + USAGE_NULL.length;
    let a = ui, b = end;
    if (a > 0 && unchecked(d[a - 1]) == 0x2c) a--;
    else if (b < d.length && unchecked(d[b]) == 0x2c) b++;
    else return false;
    const s = this.scratch;
    s.reset();
    s.bytes(d, 0, a);
    s.bytes(d, b, d.length);
    writeSse(out, name, s.buf, 0, s.len);
    return true;
  }

  /** Metered streams are re-framed (rewrite mode): every chunk is parsed and reported. */
  meterWith(m: ChunkMeter): bool {
    if (!this.rewrite) return false;
    const c = new ChunkWriter();
    this.chunks = c;
    return this.meterChunks(m, c);
  }

  /**
   * The head the meter's own chunks share with the stream (id, created, model), from the first
   * chunk that has choices; the gateway's clock and the requested model when the chunk lacks one.
   */
  private headFrom(doc: JsonDoc, root: JNode, chunks: ChunkWriter): void {
    const p = chunks.prefix;
    if (p.len > 0) return;
    const id = doc.get(root, "id"), created = doc.get(root, "created"), model = doc.get(root, "model");
    p.str("{\"id\":");
    if (id !== null && id.kind == Kind.Str) doc.copyTo(id, p); else p.str("\"chatcmpl-gateway\"");
    p.str(",\"object\":\"chat.completion.chunk\",\"created\":");
    if (created !== null && created.kind == Kind.Num) doc.copyTo(created, p); else p.int(this.now);
    p.str(",\"model\":");
    if (model !== null && model.kind == Kind.Str) doc.copyTo(model, p); else p.str("\"\"");
    p.byte(0x2c);
  }

  /** The stream's [DONE] (the meter, if any, puts its usage comment first). */
  private writeDone(out: ByteBuilder): void {
    const c = this.chunks;
    if (c !== null) c.done(out); else out.str("data: [DONE]\n\n");
  }

  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    const reader = this.reader;
    // After an oversize event the client's stream is over: the rest of the body is dropped.
    if (this.dropping) return true;
    reader.feed(chunk);
    // The body ends inside an event (no blank line after it): a pass-through client has a partial event.
    const cutShort = eos && reader.pendingBytes > 0;
    if (eos) reader.finish();
    const events = reader.events;
    for (let i = 0; i < events.length; i++) {
      const ev = unchecked(events[i]);
      // Re-framed streams end at [DONE]: whatever a provider sends after it is dropped (passed
      // through, it goes out but is not read: usage after the end must not count, or what a
      // wrapping handler reports at [DONE] would depend on where the body was split).
      if (this.done || this.sawDone) continue;
      if (ev.dataIs("[DONE]")) { this.ended = true; this.sawDone = true; if (this.rewrite) { this.writeDone(out); this.done = true; } continue; }
      if (this.failed) continue;
      // An error event ends the stream; a re-framed stream drops whatever follows it.
      if (isErrorEvent(ev.data)) { this.ended = true; this.failed = this.rewrite; }
      const chunks = this.chunks;
      if (chunks === null && this.fastPath(ev.name, ev.data, out)) continue;
      const doc = parseJson(ev.data);
      const root = doc.root;
      if (root === null || root.kind != Kind.Obj) { if (this.rewrite) writeSse(out, ev.name, ev.data); continue; }
      const choices = doc.get(root, "choices");
      if (!this.complete && anyFinished(doc, choices)) this.complete = true;
      // What the meter hears of this chunk, once it is written (below).
      const text = chunks !== null ? chunkFacts(doc, choices) : 0;
      if (chunks !== null && choices !== null && choices.kind == Kind.Arr) this.headFrom(doc, root, chunks);
      const u = usageNode(doc, root);
      if (u !== null) readOpenAIUsage(doc, u, this.usage);
      if (!this.rewrite) continue;
      // A vendor error object without the `error` envelope (vLLM) becomes an OpenAI error event.
      if (doc.strIs(doc.get(root, "object"), "error") && doc.get(root, "error") === null) {
        const m = doc.get(root, "message");
        writeSse(out, "", Uint8Array.wrap(new ApiError(500, "server_error", "", m !== null && m.kind == Kind.Str ? doc.str(m) : "upstream error").body()));
        this.ended = true;
        this.failed = true;
        continue;
      }
      // A provider's own error event ends the stream: later events are dropped.
      if (doc.get(root, "error") !== null && doc.get(root, "choices") === null) { this.ended = true; this.failed = true; }
      const edits = new Edits(doc);
      if (this.hideUsage) {
        if (u !== null && choices !== null && choices.kind == Kind.Arr && choices.length == 0) continue; // the usage chunk
        const ui = doc.indexOf(root, "usage");
        if (ui >= 0) edits.removeMember(root, ui);
        const xi = doc.indexOf(root, "x_groq");
        if (xi >= 0 && u !== null && doc.get(root, "usage") === null) edits.removeMember(root, xi);
      }
      fixFinishReasons(doc, root, edits);
      if (edits.count == 0) writeSse(out, ev.name, ev.data);
      else {
        this.scratch.reset();
        edits.apply(this.scratch);
        writeSse(out, ev.name, this.scratch.buf, 0, this.scratch.len);
      }
      if (chunks !== null && choices !== null && choices.kind == Kind.Arr) chunks.passed(out, text);
    }
    events.length = 0;
    // The events before an oversize one went out above; the client's stream ends here.
    if (reader.overflow) return this.oversize(chunk, out);
    if (!eos || (this.ended && !(cutShort && !this.rewrite))) return this.rewrite;
    // End of the body: a pass-through client gets the last chunk as it is, with the partial event
    // it may end in closed. A stream without [DONE] gets one when the answer finished (some
    // OpenAI-compatible servers never send it), else an error event: the provider stopped midway
    // and the client must not take the partial answer for a finished one.
    if (!this.rewrite) {
      out.all(chunk);
      if (cutShort) out.str("\n\n");
    }
    if (!this.ended) {
      if (this.complete) this.writeDone(out);
      else writeSse(out, "", Uint8Array.wrap(new ApiError(502, "upstream_error", "upstream_stream_truncated", "The provider's stream ended before the answer was complete.").body()));
      this.ended = true;
    }
    return true;
  }
}

/** An event whose JSON object starts with an `error` member (OpenAI's mid-stream error shape). */
function isErrorEvent(d: Uint8Array): bool {
  let i = 0;
  const n = d.length;
  while (i < n && (unchecked(d[i]) == 0x20 || unchecked(d[i]) == 0x0a || unchecked(d[i]) == 0x09 || unchecked(d[i]) == 0x0d)) i++;
  if (i >= n || unchecked(d[i]) != 0x7b) return false;
  i++;
  while (i < n && (unchecked(d[i]) == 0x20 || unchecked(d[i]) == 0x0a || unchecked(d[i]) == 0x09 || unchecked(d[i]) == 0x0d)) i++;
  return startsWithAt(d, i, OBJECT_ERROR);
}
