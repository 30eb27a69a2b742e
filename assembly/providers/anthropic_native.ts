// Anthropic Messages API clients to Anthropic-speaking backends (Anthropic, Claude on Bedrock and
// Vertex): the client's Messages body goes upstream with only the edits the dialect needs, and
// the response comes back as the provider sent it while usage is read for limits (
// sources: Anthropic Messages API; Claude on Bedrock and Vertex AI). Nothing is re-encoded on the direct path: JSON and SSE bodies pass through untouched.

import { Edits, JNode, JsonDoc, Kind, parseJson } from "../json/json";
import { ApiError, badRequest, badUpstream } from "../errors";
import { ByteBuilder, bytesOf, indexOfBytes } from "../util/bytes";
import { SseReader, writeSse } from "../streams/sse";
import { ClientRequest, ResponseHandler, UpstreamRequest } from "./provider";
import { AnthropicDialect, AnthropicEventSink, AnthropicProvider, bodyVersion, readUsage } from "./anthropic";

/** A beta name as Anthropic spells them (`interleaved-thinking-2025-05-14`): anything else is dropped. */
function isBetaName(s: string): bool {
  if (s.length == 0 || s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2e || c == 0x5f;
    if (!ok) return false;
  }
  return true;
}

/**
 * The client's `anthropic-beta` list, filtered: well-formed names only, and no `oauth-*` betas,
 * which describe the client's own credential (a claude.ai login) and never apply to the
 * gateway's key. Betas only switch Messages API features of the same account the gateway already
 * calls, and the native response is passed through whatever shape they give it.
 */
export function allowedBetas(header: string): string[] {
  const out: string[] = [];
  const parts = header.split(",");
  for (let i = 0; i < parts.length && out.length < 32; i++) {
    const b = parts[i].trim();
    if (!isBetaName(b) || b.startsWith("oauth-") || out.includes(b)) continue;
    out.push(b);
  }
  return out;
}

/**
 * Native request: `model` renamed by the route (direct API), or removed with `anthropic_version`
 * added (Bedrock, Vertex; Bedrock also drops `stream`, its path says it); betas as the
 * `anthropic-beta` header (direct, Vertex) or the body's `anthropic_beta` (Bedrock, sources: Claude on Bedrock and Vertex AI).
 * Without a rename or betas on the direct API the client's bytes go upstream untouched.
 */
export function prepareNativeMessages(p: AnthropicProvider, req: ClientRequest, out: UpstreamRequest): ApiError | null {
  const doc = req.doc, root = req.root;
  const edits = new Edits(doc);
  const betas = allowedBetas(req.anthropicBeta);
  // Betas come from the header only, filtered: a body `anthropic_beta` (Bedrock's spelling) from
  // the client would bypass the filter.
  removeAll(doc, root, "anthropic_beta", edits);
  if (p.dialect == AnthropicDialect.Direct) {
    const up = req.rule.upstreamModel;
    const model = doc.get(root, "model");
    if (up.length > 0 && up != req.model && model !== null) {
      const b = new ByteBuilder(up.length + 2);
      b.jsonString(up);
      edits.replaceNode(model, b.toBytes());
    }
  } else {
    removeAll(doc, root, "model", edits);
    removeAll(doc, root, "anthropic_version", edits);
    const v = new ByteBuilder(32);
    v.jsonString(bodyVersion(p.dialect, req.backend.apiVersion));
    edits.addMember(root, "anthropic_version", v.toString());
    if (p.dialect == AnthropicDialect.Bedrock) {
      removeAll(doc, root, "stream", edits);
      if (betas.length > 0) {
        const b = new ByteBuilder(64);
        b.byte(0x5b);
        for (let i = 0; i < betas.length; i++) { if (i > 0) b.byte(0x2c); b.jsonString(betas[i]); }
        b.byte(0x5d);
        edits.addMember(root, "anthropic_beta", b.toString());
      }
    }
  }
  p.target(req, out);
  // Vertex puts the model in the URL: a name that is not one path segment has no URL (as for chat clients).
  if (out.path.length == 0) return badRequest("invalid_value", "The model name cannot be used in this backend's URL.", "model");
  if (betas.length > 0 && p.dialect != AnthropicDialect.Bedrock) {
    out.headers.push("anthropic-beta");
    out.headers.push(betas.join(","));
  }
  if (edits.count > 0) {
    const b = new ByteBuilder(doc.src.length + 64);
    edits.apply(b);
    out.body = b;
  }
  return null;
}

/** Removes every member named `key` (JSON allows duplicates; a stale copy must not survive). */
function removeAll(doc: JsonDoc, obj: JNode, key: string, edits: Edits): void {
  const keys = obj.keys!;
  for (let i = 0; i < keys.length; i++) if (doc.keyIs(keys[i], key)) edits.removeMember(obj, i);
}

/** Native response handler: errors in Anthropic's envelope, JSON and SSE passed through. */
export function nativeMessagesResponse(req: ClientRequest, status: i32, contentType: string): ResponseHandler {
  if (status < 200 || status >= 300) return new NativeMessagesError(status);
  // Bedrock's eventstream framing feeds a MessagesEvents(true) sink (helper bedrock's handler).
  if (contentType.startsWith("text/event-stream")) return new MessagesEvents(false);
  return new NativeMessagesJson();
}

/**
 * A Messages JSON body: passed through as is (labelled application/json, whatever the provider
 * said: clients decide how to parse by the label); usage read at the end. A success the client
 * could not parse either (truncated, not JSON, not an object) is a 502 in Anthropic's envelope
 * instead of the provider's 200.
 */
class NativeMessagesJson extends ResponseHandler {
  constructor() { super(); this.wholeBody = true; this.contentType = "application/json"; }
  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (!eos) return false;
    const doc = parseJson(chunk);
    const root = doc.root;
    if (root === null || root.kind != Kind.Obj) {
      return this.answerError(out, badUpstream("The backend returned a response that is not a JSON object."), true);
    }
    readUsage(doc, doc.get(root, "usage"), this.usage, true);
    return false;
  }
}

/**
 * An error from an Anthropic-speaking backend. Anthropic's own envelope passes through; the cloud
 * platforms' shapes (Bedrock `{"message"}`, Google `{"error":{"code","message","status"}}`) are
 * rewrapped so a Messages client always gets `{"type":"error","error":{type,message}}`.
 */
class NativeMessagesError extends ResponseHandler {
  constructor(private upstreamStatus: i32) { super(); this.wholeBody = true; this.rewrites = true; this.contentType = "application/json"; }
  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (!eos) return false;
    const doc = parseJson(chunk);
    const root = doc.root;
    const err = doc.get(root, "error");
    if (doc.strIs(doc.get(root, "type"), "error") && err !== null && err.kind == Kind.Obj) {
      const t = doc.get(err, "type"), m = doc.get(err, "message");
      if (t !== null && t.kind == Kind.Str && m !== null && m.kind == Kind.Str) return false;
    }
    out.all(Uint8Array.wrap(new ApiError(this.upstreamStatus, "", "", errorMessage(doc, root, chunk, this.upstreamStatus)).anthropicBody()));
    return true;
  }
}

/** The human-readable message of an error body in any of the shapes providers use. */
export function errorMessage(doc: JsonDoc, root: JNode | null, raw: Uint8Array, status: i32): string {
  // An empty text is no message (Anthropic's envelope wants one): the next candidate is tried.
  const err = doc.get(root, "error");
  const em = doc.get(err, "message");
  if (textOf(doc, em)) return doc.str(em);
  if (textOf(doc, err)) return doc.str(err);
  const m = doc.get(root, "message");
  if (textOf(doc, m)) return doc.str(m);
  const m2 = doc.get(root, "Message");
  if (textOf(doc, m2)) return doc.str(m2);
  if (root === null && raw.length > 0 && raw.length < 1024) {
    // Plain text (a proxy's error page): kept only if it is printable ASCII.
    let ok = true;
    for (let i = 0; i < raw.length && ok; i++) { const c = raw[i]; ok = (c >= 0x20 && c < 0x7f) || c == 0x0a || c == 0x09; }
    if (ok) {
      const text = String.UTF8.decodeUnsafe(raw.dataStart, raw.length).trim();
      if (text.length > 0) return text;
    }
  }
  return "The backend answered with HTTP " + status.toString() + ".";
}

/** A string node with at least one character that is not JSON whitespace. */
function textOf(doc: JsonDoc, n: JNode | null): bool {
  if (n === null || n.kind != Kind.Str) return false;
  return doc.str(n).trim().length > 0;
}

const USAGE_KEY = bytesOf("\"usage\"");
const MESSAGE_STOP = bytesOf("message_stop");

/** Event names worth a parse on the pass-through path: usage and the end of the message. */
function wantsParse(name: string, data: Uint8Array): bool {
  if (name == "message_start" || name == "message_delta" || name == "message_stop" || name == "error") return true;
  if (name.length > 0) return false;
  // An unnamed event (not Anthropic's framing, but tolerated): look inside.
  return indexOfBytes(data, USAGE_KEY, 0) >= 0 || indexOfBytes(data, MESSAGE_STOP, 0) >= 0;
}

/**
 * Messages stream events for a Messages client. Fed by SSE (Anthropic, Vertex) it passes the
 * provider's bytes through untouched and only reads usage (message_start: input side; the last
 * message_delta: cumulative totals, sources: Anthropic streaming). Fed event by event by another framing (Bedrock's
 * eventstream `chunk` payloads, reemit = true) it writes each event as `event: <type>` +
 * `data: <json>` SSE, the framing the Anthropic SDK reads.
 */
export class MessagesEvents extends AnthropicEventSink {
  private reader: SseReader = new SseReader();
  private finished: bool = false;
  /** Passing through, an event outgrew the reader's bound: the client's stream ended there. */
  private dropping: bool = false;

  constructor(private reemit: bool) {
    super();
    // Passing through, the end of the body may still get bytes (a cut event closed, an error
    // event): the provider's content-length, if it sent one, never holds.
    this.rewrites = true;
    if (reemit) this.contentType = "text/event-stream";
  }

  get done(): bool { return this.finished; }

  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (this.dropping) return true;
    const reader = this.reader;
    reader.feed(chunk);
    // The body ends inside an event (no blank line after it): a pass-through client has a partial event.
    const cutShort = eos && reader.pendingBytes > 0;
    if (eos) reader.finish();
    const events = reader.events;
    for (let i = 0; i < events.length; i++) {
      const ev = unchecked(events[i]);
      if (!this.reemit && !wantsParse(ev.name, ev.data)) continue;
      const doc = parseJson(ev.data);
      const root = doc.root;
      if (root !== null && root.kind == Kind.Obj) this.onEvent(doc, root, out);
      else if (this.reemit) writeSse(out, ev.name, ev.data);
    }
    events.length = 0;
    if (this.reemit) {
      if (eos) this.onEnd(out);
      return true;
    }
    // Passing through: the provider's bytes go out untouched, except at the end of the client's
    // stream. An event too large to hold, or a body that stops before message_stop (inside an
    // event or not), must not look like a finished message to the client: the partial event is
    // closed and an error event follows, as for OpenAI-format streams.
    if (reader.overflow) {
      this.dropping = true;
      out.all(chunk);
      out.str("\n\n");
      if (!this.finished) out.all(MESSAGES_EVENT_TOO_LARGE);
      this.finished = true;
      return true;
    }
    if (!eos || (this.finished && !cutShort)) return false;
    out.all(chunk);
    if (cutShort) out.str("\n\n");
    if (!this.finished) out.all(MESSAGES_STREAM_CUT);
    this.finished = true;
    return true;
  }

  onEvent(doc: JsonDoc, root: JNode, out: ByteBuilder): void {
    const type = doc.get(root, "type");
    if (doc.strIs(type, "message_start")) {
      readUsage(doc, doc.get(doc.get(root, "message"), "usage"), this.usage, true);
      this.usage.final = false; // the input side; output grows until message_delta
    } else if (doc.strIs(type, "message_delta")) {
      readUsage(doc, doc.get(root, "usage"), this.usage, false);
    } else if (doc.strIs(type, "message_stop") || doc.strIs(type, "error")) {
      this.finished = true;
    }
    if (!this.reemit) return;
    const name = type !== null && type.kind == Kind.Str && !type.flag && type.end - type.start <= 66 ? doc.str(type) : "";
    writeSse(out, isEventName(name) ? name : "", doc.src, root.start, root.end);
  }

  /**
   * End of the upstream body, re-emitting: a stream cut before message_stop gets an `error` event
   * so the client does not take a truncated message for a whole one (onBody does the same when
   * passing through).
   */
  onEnd(out: ByteBuilder): void {
    if (this.finished || !this.reemit) return;
    out.all(MESSAGES_STREAM_CUT);
    this.finished = true;
  }
}

const MESSAGES_EVENT_TOO_LARGE = bytesOf("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"An event of the backend's stream is too large.\"}}\n\n");
const MESSAGES_STREAM_CUT = bytesOf("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"The backend's stream ended before message_stop.\"}}\n\n");

function isEventName(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || c == 0x5f)) return false;
  }
  return true;
}

