// Google Gemini behind the OpenAI Chat Completions API: the Developer API (schema `gemini`,
// generativelanguage.googleapis.com, API key) and Gemini on Vertex AI (schema `vertex-gemini`,
// OAuth bearer), which share one body format (reference providers.md §6, §7, §10–12).
//
// Requests become GenerateContentRequest bodies (proto3 JSON, lowerCamelCase) written straight
// from the client's parsed body, copying its string literals verbatim. Responses and
// `:streamGenerateContent?alt=sse` streams become chat.completion(.chunk) objects incrementally.
// Parameters Gemini cannot honour are refused with a 400 rather than dropped.
//
// Tool call ids: Gemini usually returns none, so the gateway makes them up per response as
// `call_<8 hex of responseId>_<n>` (deterministic: the same bytes give the same ids). Ids of that
// shape are not sent back; any other id (Gemini's own `functionCall.id`, or another provider's)
// goes back as `functionCall.id` / `functionResponse.id`. Gemini 3 thought signatures ride on the
// tool call as `extra_content.google.thought_signature` (the convention of Google's own
// OpenAI-compatible endpoint) and return as `thoughtSignature`; a replayed call without one gets
// the documented placeholder `skip_thought_signature_validator` (§6.2).

import { JNode, JsonDoc, Kind, MAX_DEPTH, parseJson, Span } from "../json/json";
import { JsonWriter } from "../json/writer";
import { ApiError, badRequest } from "../errors";
import { Refuse, refuseUnsupported } from "./unsupported";
import { Usage } from "../usage";
import { ByteBuilder } from "../util/bytes";
import { SseReader, writeSse } from "../streams/sse";
import { ClientRequest, Endpoint, Provider, ResponseHandler, UpstreamRequest } from "./provider";
import { ChunkWriter, writeUsage } from "./openai_out";
import { GoogleErrorResponse, googleError, googleModelPath, hash8, modelSegmentOk } from "./google";
import { GeminiEmbedJson, prepareGeminiEmbeddings } from "./gemini_embed";
import { readThinking } from "./extensions";

/** Thought signature for replayed calls that never had one (Gemini docs, "thought signatures"). */
const SKIP_SIGNATURE = "skip_thought_signature_validator";

export class GeminiProvider extends Provider {
  constructor(public vertex: bool) { super(); }

  get name(): string { return this.vertex ? "Vertex AI" : "Gemini"; }

  prepare(req: ClientRequest, out: UpstreamRequest): ApiError | null {
    const model = req.upstreamModel;
    if (!modelSegmentOk(model)) return badRequest("invalid_value", "The model name cannot be used in a Gemini URL.", "model");
    if (req.endpoint == Endpoint.Embeddings) return prepareGeminiEmbeddings(req, out, this.vertex);
    if (req.endpoint != Endpoint.ChatCompletions) {
      return new ApiError(400, "invalid_request_error", "unsupported_endpoint", "Gemini backends do not serve this endpoint.");
    }
    const doc = req.doc, root = req.root;
    const err = refuseUnsupported(doc, root, UNSUPPORTED, "Gemini models");
    if (err !== null) return err;

    const b = new ByteBuilder(doc.src.length + 256);
    const w = new JsonWriter(b);
    w.obj();
    const merr = writeContents(doc, root, w);
    if (merr !== null) return merr;
    const terr = writeTools(doc, root, w);
    if (terr !== null) return terr;
    const gerr = writeGenerationConfig(doc, root, w);
    if (gerr !== null) return gerr;
    w.end();

    out.body = b;
    out.path = googleModelPath(req.backend, this.vertex, "google", model) + (req.stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
    return null;
  }

  response(req: ClientRequest, status: i32, contentType: string): ResponseHandler {
    if (status < 200 || status >= 300) return new GoogleErrorResponse(status, this.name);
    if (req.endpoint == Endpoint.Embeddings) return new GeminiEmbedJson(req, this.vertex);
    if (contentType.startsWith("text/event-stream")) return new GeminiStream(req, this.name);
    return new GeminiJson(req, this.name);
  }
}

// ---------------------------------------------------------------------------------------------
// Request

/** What the OpenAI request may ask for that Gemini models cannot do (a 400 instead of silence). */
const UNSUPPORTED: u32 = Refuse.SERVICE_TIER | Refuse.LOGIT_BIAS | Refuse.AUDIO | Refuse.PREDICTION | Refuse.WEB_SEARCH | Refuse.FUNCTIONS | Refuse.SERIAL_TOOLS;

/**
 * Consecutive messages of one Gemini role share one Content (Gemini wants user and model turns;
 * tool results are user parts, merged with the user text that follows them, §10.1). A Content
 * is opened on its first part, so messages without parts leave no empty turn behind.
 */
class Turns {
  role: string = "";
  written: i32 = 0;
  /** A functionCall of the open model turn already carries a thought signature. */
  signed: bool = false;
  constructor(private w: JsonWriter) {}
  /** Opens a Content of `role` unless one is open; the caller then writes one part object. */
  part(role: string): JsonWriter {
    if (this.role != role) {
      this.close();
      this.w.obj().kStr("role", role).key("parts").arr();
      this.role = role;
      this.signed = false;
      this.written++;
    }
    return this.w;
  }
  close(): void {
    if (this.role.length) { this.w.end().end(); this.role = ""; }
  }
}

function msgPath(i: i32): string { return "messages[" + i.toString() + "]"; }

/** Writes "systemInstruction" (system and developer messages, hoisted in order) and "contents". */
function writeContents(doc: JsonDoc, root: JNode, w: JsonWriter): ApiError | null {
  const msgs = doc.get(root, "messages");
  if (msgs === null || msgs.kind != Kind.Arr || msgs.length == 0) return badRequest("invalid_value", "messages must be a non-empty array.", "messages");
  const items = msgs.items!;

  let sysOpen = false;
  for (let i = 0; i < items.length; i++) {
    const m = unchecked(items[i]);
    if (m.kind != Kind.Obj) return badRequest("invalid_value", msgPath(i) + " must be an object.", "messages");
    const role = doc.get(m, "role");
    if (!(doc.strIs(role, "system") || doc.strIs(role, "developer"))) continue;
    const c = doc.get(m, "content");
    if (c !== null && c.kind == Kind.Str) {
      if (c.end - c.start <= 2) continue;
      if (!sysOpen) { w.key("systemInstruction").obj().key("parts").arr(); sysOpen = true; }
      w.obj().kRaw("text", doc, c).end();
    } else if (c !== null && c.kind == Kind.Arr) {
      for (let j = 0; j < c.length; j++) {
        const p = c.items![j];
        const text = doc.get(p, "text");
        if (!doc.strIs(doc.get(p, "type"), "text") || text === null || text.kind != Kind.Str) {
          return badRequest("invalid_value", msgPath(i) + ".content[" + j.toString() + "] must be a text part in a " + doc.str(role) + " message.", "messages");
        }
        if (text.end - text.start <= 2) continue;
        if (!sysOpen) { w.key("systemInstruction").obj().key("parts").arr(); sysOpen = true; }
        w.obj().kRaw("text", doc, text).end();
      }
    } else if (c === null || c.kind != Kind.Null) {
      return badRequest("invalid_value", msgPath(i) + ".content must be a string or an array of text parts.", "messages");
    }
  }
  if (sysOpen) w.end().end();

  w.key("contents").arr();
  const turns = new Turns(w);
  for (let i = 0; i < items.length; i++) {
    const m = unchecked(items[i]);
    const role = doc.get(m, "role");
    const path = msgPath(i);
    if (doc.strIs(role, "system") || doc.strIs(role, "developer")) continue;
    if (doc.strIs(role, "user")) {
      const c = doc.get(m, "content");
      if (c !== null && c.kind == Kind.Str) {
        if (c.end - c.start > 2) turns.part("user").obj().kRaw("text", doc, c).end();
      } else if (c !== null && c.kind == Kind.Arr) {
        const e = writeUserParts(doc, c, turns, path + ".content");
        if (e !== null) return e;
      } else return badRequest("invalid_value", path + ".content must be a string or an array of content parts.", "messages");
    } else if (doc.strIs(role, "assistant")) {
      const e = writeAssistant(doc, m, turns, path);
      if (e !== null) return e;
    } else if (doc.strIs(role, "tool")) {
      const e = writeToolResult(doc, items, i, turns);
      if (e !== null) return e;
    } else {
      return badRequest("invalid_value", path + ".role must be one of system, developer, user, assistant, tool.", "messages");
    }
  }
  turns.close();
  w.end();
  // System/developer messages only: sent with no contents, and the model answers the instruction.
  if (turns.written == 0 && !sysOpen) return badRequest("invalid_value", "messages must contain at least one non-empty message.", "messages");
  return null;
}

/** Base64 payloads (standard or URL-safe alphabet, as proto3 JSON accepts for bytes). */
function isBase64(buf: Uint8Array, start: i32, end: i32): bool {
  if (end <= start) return false;
  for (let i = start; i < end; i++) {
    const c = load<u8>(buf.dataStart + <usize>i); // start..end lie inside buf (a decoded span)
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) ||
      c == 0x2b || c == 0x2f || c == 0x3d || c == 0x2d || c == 0x5f;
    if (!ok) return false;
  }
  return true;
}

/** type/subtype with the characters IANA media types use. */
function mimeOk(s: string): bool {
  const slash = s.indexOf("/");
  if (slash <= 0 || slash == s.length - 1 || s.indexOf("/", slash + 1) >= 0 || s.length > 100) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x2f || c == 0x2e || c == 0x2b || c == 0x2d || c == 0x5f)) return false;
  }
  return true;
}

/** MIME type from a file name or URL path extension ("" when unknown). */
function mimeFromName(s: string): string {
  let end = s.length;
  const q = s.indexOf("?"), h = s.indexOf("#");
  if (q >= 0 && q < end) end = q;
  if (h >= 0 && h < end) end = h;
  const dot = s.lastIndexOf(".", end - 1);
  const slash = s.lastIndexOf("/", end - 1);
  if (dot < 0 || dot < slash) return "";
  const ext = s.substring(dot + 1, end).toLowerCase();
  if (ext == "png") return "image/png";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "gif") return "image/gif";
  if (ext == "webp") return "image/webp";
  if (ext == "heic") return "image/heic";
  if (ext == "heif") return "image/heif";
  if (ext == "pdf") return "application/pdf";
  if (ext == "wav") return "audio/wav";
  if (ext == "mp3") return "audio/mp3";
  if (ext == "mp4") return "video/mp4";
  if (ext == "txt") return "text/plain";
  return "";
}

/** Writes `{"inlineData":{"mimeType":mime,"data":<base64>}}` after checking the payload. */
function writeInline(t: Turns, role: string, mime: string, buf: Uint8Array, start: i32, end: i32, path: string): ApiError | null {
  if (!isBase64(buf, start, end)) return badRequest("invalid_value", path + " must carry base64 data.", "messages");
  t.part(role).obj().key("inlineData").obj().kStr("mimeType", mime).key("data").strBytes(buf, start, end).end().end();
  return null;
}

/** A `data:<mime>;base64,<payload>` URL → inlineData. Returns an error for anything else. */
function writeDataUrl(t: Turns, role: string, s: Span, path: string): ApiError | null {
  const marker = s.indexOf(";base64,");
  if (!s.startsWith("data:") || marker < 5) return badRequest("invalid_value", path + " must be an http(s) URL or a base64 data URL.", "messages");
  const mime = String.UTF8.decodeUnsafe(s.buf.dataStart + <usize>(s.start + 5), <usize>(marker - 5));
  if (!mimeOk(mime)) return badRequest("invalid_value", path + " has an invalid media type.", "messages");
  return writeInline(t, role, mime, s.buf, s.start + marker + 8, s.end, path);
}

/** User content parts → Gemini parts (§10.2). */
function writeUserParts(doc: JsonDoc, c: JNode, t: Turns, path: string): ApiError | null {
  for (let i = 0; i < c.length; i++) {
    const p = c.items![i];
    const pp = path + "[" + i.toString() + "]";
    const type = doc.get(p, "type");
    if (doc.strIs(type, "text")) {
      const text = doc.get(p, "text");
      if (text === null || text.kind != Kind.Str) return badRequest("invalid_value", pp + ".text must be a string.", "messages");
      if (text.end - text.start > 2) t.part("user").obj().kRaw("text", doc, text).end();
    } else if (doc.strIs(type, "image_url")) {
      const url = doc.get(doc.get(p, "image_url"), "url");
      if (url === null || url.kind != Kind.Str) return badRequest("invalid_value", pp + ".image_url.url must be a string.", "messages");
      const s = doc.strSpan(url);
      if (s.startsWith("https://") || s.startsWith("http://") || s.startsWith("gs://")) {
        // fileData needs a MIME type: from the extension, else image/jpeg (an image_url is an image).
        let mime = mimeFromName(s.toString());
        if (mime.length == 0) mime = "image/jpeg";
        t.part("user").obj().key("fileData").obj().kStr("mimeType", mime).kRaw("fileUri", doc, url).end().end();
      } else {
        const e = writeDataUrl(t, "user", s, pp + ".image_url.url");
        if (e !== null) return e;
      }
    } else if (doc.strIs(type, "input_audio")) {
      const a = doc.get(p, "input_audio");
      const data = doc.get(a, "data"), fmt = doc.get(a, "format");
      if (data === null || data.kind != Kind.Str) return badRequest("invalid_value", pp + ".input_audio.data must be a base64 string.", "messages");
      let mime = "";
      if (doc.strIs(fmt, "wav")) mime = "audio/wav";
      else if (doc.strIs(fmt, "mp3")) mime = "audio/mp3";
      else return badRequest("invalid_value", pp + ".input_audio.format must be wav or mp3.", "messages");
      const s = doc.strSpan(data);
      const e = writeInline(t, "user", mime, s.buf, s.start, s.end, pp + ".input_audio.data");
      if (e !== null) return e;
    } else if (doc.strIs(type, "file")) {
      const f = doc.get(p, "file");
      const fid = doc.get(f, "file_id");
      if (fid !== null && fid.kind != Kind.Null) return badRequest("unsupported_parameter", pp + ".file.file_id is not supported for Gemini models (send file_data).", "messages");
      const data = doc.get(f, "file_data");
      if (data === null || data.kind != Kind.Str) return badRequest("invalid_value", pp + ".file.file_data is required.", "messages");
      const s = doc.strSpan(data);
      if (s.startsWith("data:")) {
        const e = writeDataUrl(t, "user", s, pp + ".file.file_data");
        if (e !== null) return e;
      } else {
        const fname = doc.get(f, "filename");
        const mime = fname !== null && fname.kind == Kind.Str ? mimeFromName(doc.str(fname)) : "";
        if (mime.length == 0) return badRequest("invalid_value", pp + ".file needs a data URL or a filename with a known extension (the media type).", "messages");
        const e = writeInline(t, "user", mime, s.buf, s.start, s.end, pp + ".file.file_data");
        if (e !== null) return e;
      }
    } else {
      return badRequest("invalid_value", pp + ".type must be text, image_url, input_audio or file.", "messages");
    }
  }
  return null;
}

/** Ids the gateway made up (`call_<8 hex>_<n>`): Gemini never saw them, so they are not sent back. */
function isInventedId(s: Span): bool {
  if (s.length < 15 || !s.startsWith("call_")) return false;
  const b = s.buf;
  for (let i = 5; i < 13; i++) {
    const c = load<u8>(b.dataStart + <usize>(s.start + i));
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  if (load<u8>(b.dataStart + <usize>(s.start + 13)) != 0x5f) return false;
  for (let i = 14; i < s.length; i++) {
    const c = load<u8>(b.dataStart + <usize>(s.start + i));
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** An assistant message → a model turn: text parts, then functionCall parts (§10.3). */
function writeAssistant(doc: JsonDoc, m: JNode, t: Turns, path: string): ApiError | null {
  const c = doc.get(m, "content");
  if (c !== null && c.kind == Kind.Str) {
    if (c.end - c.start > 2) t.part("model").obj().kRaw("text", doc, c).end();
  } else if (c !== null && c.kind == Kind.Arr) {
    for (let i = 0; i < c.length; i++) {
      const p = c.items![i];
      const type = doc.get(p, "type");
      if (doc.strIs(type, "refusal")) continue;
      const text = doc.get(p, "text");
      if (!doc.strIs(type, "text") || text === null || text.kind != Kind.Str) return badRequest("invalid_value", path + ".content[" + i.toString() + "] must be a text or refusal part.", "messages");
      if (text.end - text.start > 2) t.part("model").obj().kRaw("text", doc, text).end();
    }
  } else if (c !== null && c.kind != Kind.Null) {
    return badRequest("invalid_value", path + ".content must be a string, an array of text parts or null.", "messages");
  }
  const calls = doc.get(m, "tool_calls");
  if (calls === null || calls.kind == Kind.Null) return null;
  if (calls.kind != Kind.Arr) return badRequest("invalid_value", path + ".tool_calls must be an array.", "messages");
  for (let i = 0; i < calls.length; i++) {
    const call = calls.items![i];
    const cp = path + ".tool_calls[" + i.toString() + "]";
    const type = doc.get(call, "type");
    if (type !== null && !doc.strIs(type, "function")) return badRequest("invalid_value", cp + ".type must be function.", "messages");
    const fn = doc.get(call, "function");
    const name = doc.get(fn, "name");
    if (name === null || name.kind != Kind.Str || name.end - name.start <= 2) return badRequest("invalid_value", cp + ".function.name is required.", "messages");
    const args = doc.get(fn, "arguments");
    let argBuf: Uint8Array | null = null;
    let argStart = 0, argEnd = 0;
    if (args !== null && args.kind == Kind.Str) {
      const s = doc.strSpan(args);
      const ad = parseJson(s.buf, MAX_DEPTH, s.end, s.start);
      const ar = ad.root;
      if (ar !== null && ar.kind == Kind.Obj) { argBuf = s.buf; argStart = ar.start; argEnd = ar.end; }
      else if (ar !== null || !blank(s)) return badRequest("invalid_value", cp + ".function.arguments must be a JSON object.", "messages");
    } else if (args !== null && args.kind != Kind.Null) return badRequest("invalid_value", cp + ".function.arguments must be a string of JSON.", "messages");
    const w = t.part("model");
    w.obj().key("functionCall").obj();
    const id = doc.get(call, "id");
    if (id !== null && id.kind == Kind.Str && id.end - id.start > 2 && !isInventedId(doc.strSpan(id))) w.kRaw("id", doc, id);
    w.kRaw("name", doc, name).key("args");
    if (argBuf !== null) w.rawBytes(argBuf, argStart, argEnd); else w.json("{}");
    w.end();
    const sig = doc.get(doc.get(doc.get(call, "extra_content"), "google"), "thought_signature");
    if (sig !== null && sig.kind == Kind.Str && sig.end - sig.start > 2) { w.kRaw("thoughtSignature", doc, sig); t.signed = true; }
    else if (!t.signed) { w.kStr("thoughtSignature", SKIP_SIGNATURE); t.signed = true; }
    w.end();
  }
  return null;
}

function blank(s: Span): bool {
  for (let i = s.start; i < s.end; i++) {
    const c = load<u8>(s.buf.dataStart + <usize>i);
    if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) return false;
  }
  return true;
}

/** The function name of the assistant tool call `id` answered by messages[i] (nearest earlier one). */
function toolCallName(doc: JsonDoc, items: JNode[], i: i32, id: string): JNode | null {
  for (let j = i - 1; j >= 0; j--) {
    const m = items[j];
    if (!doc.strIs(doc.get(m, "role"), "assistant")) continue;
    const calls = doc.get(m, "tool_calls");
    if (calls === null || calls.kind != Kind.Arr) continue;
    for (let k = 0; k < calls.length; k++) {
      const call = calls.items![k];
      if (doc.str(doc.get(call, "id")) == id) {
        const name = doc.get(doc.get(call, "function"), "name");
        return name !== null && name.kind == Kind.Str ? name : null;
      }
    }
  }
  return null;
}

/**
 * A tool message → a functionResponse part in a user turn. `response` must be a JSON object:
 * content that is one is sent as is, anything else as {"content": "<the text>"} (§10.3).
 */
function writeToolResult(doc: JsonDoc, items: JNode[], i: i32, t: Turns): ApiError | null {
  const m = items[i];
  const path = msgPath(i);
  const idNode = doc.get(m, "tool_call_id");
  if (idNode === null || idNode.kind != Kind.Str) return badRequest("invalid_value", path + ".tool_call_id is required.", "messages");
  const name = toolCallName(doc, items, i, doc.str(idNode));
  if (name === null) return badRequest("invalid_value", path + ".tool_call_id does not match a tool call of an earlier assistant message (Gemini needs the function name).", "messages");
  // The result text, decoded (string content, or text parts concatenated).
  const c = doc.get(m, "content");
  const text = new ByteBuilder(c !== null ? c.end - c.start + 16 : 16);
  if (c !== null && c.kind == Kind.Str) doc.unescapeTo(c, text);
  else if (c !== null && c.kind == Kind.Arr) {
    for (let j = 0; j < c.length; j++) {
      const tx = doc.get(c.items![j], "text");
      if (!doc.strIs(doc.get(c.items![j], "type"), "text") || tx === null || tx.kind != Kind.Str) return badRequest("invalid_value", path + ".content[" + j.toString() + "] must be a text part.", "messages");
      doc.unescapeTo(tx, text);
    }
  } else if (c !== null && c.kind != Kind.Null) return badRequest("invalid_value", path + ".content must be a string or an array of text parts.", "messages");
  const w = t.part("user");
  w.obj().key("functionResponse").obj();
  if (idNode.end - idNode.start > 2 && !isInventedId(doc.strSpan(idNode))) w.kRaw("id", doc, idNode);
  w.kRaw("name", doc, name).key("response");
  const rd = parseJson(text.buf, MAX_DEPTH, text.len);
  const rr = rd.root;
  if (rr !== null && rr.kind == Kind.Obj) w.rawBytes(text.buf, rr.start, rr.end);
  else { w.obj().key("content").strBytes(text.buf, 0, text.len).end(); }
  w.end().end();
  return null;
}

/** Writes "tools" and "toolConfig" (§10.5). */
function writeTools(doc: JsonDoc, root: JNode, w: JsonWriter): ApiError | null {
  const tools = doc.get(root, "tools");
  const choice = doc.get(root, "tool_choice");
  if (tools !== null && tools.kind != Kind.Null && tools.kind != Kind.Arr) return badRequest("invalid_value", "tools must be an array.", "tools");
  const hasTools = tools !== null && tools.kind == Kind.Arr && tools.length > 0;

  // tool_choice → functionCallingConfig.mode (+ allowedFunctionNames); allowed_tools also
  // narrows the declarations, since Gemini takes allowedFunctionNames only with ANY.
  let mode = "";
  const names = new Array<JNode>();
  let filter = false;
  if (choice !== null && choice.kind != Kind.Null) {
    if (doc.strIs(choice, "auto")) mode = "AUTO";
    else if (doc.strIs(choice, "required")) mode = "ANY";
    else if (doc.strIs(choice, "none")) mode = "NONE";
    else if (choice.kind == Kind.Obj && doc.strIs(doc.get(choice, "type"), "function")) {
      const name = doc.get(doc.get(choice, "function"), "name");
      if (name === null || name.kind != Kind.Str) return badRequest("invalid_value", "tool_choice.function.name is required.", "tool_choice");
      mode = "ANY";
      names.push(name);
    } else if (choice.kind == Kind.Obj && doc.strIs(doc.get(choice, "type"), "allowed_tools")) {
      const at = doc.get(choice, "allowed_tools");
      const am = doc.get(at, "mode");
      if (doc.strIs(am, "auto")) mode = "AUTO";
      else if (doc.strIs(am, "required")) mode = "ANY";
      else return badRequest("invalid_value", "tool_choice.allowed_tools.mode must be auto or required.", "tool_choice");
      const list = doc.get(at, "tools");
      if (list === null || list.kind != Kind.Arr || list.length == 0) return badRequest("invalid_value", "tool_choice.allowed_tools.tools must be a non-empty array.", "tool_choice");
      for (let i = 0; i < list.length; i++) {
        const name = doc.get(doc.get(list.items![i], "function"), "name");
        if (name === null || name.kind != Kind.Str) return badRequest("unsupported_parameter", "tool_choice.allowed_tools.tools[" + i.toString() + "] must be a function tool with a name.", "tool_choice");
        names.push(name);
      }
      filter = true;
    } else return badRequest("unsupported_parameter", "tool_choice must be auto, required, none, a function choice or allowed_tools for Gemini models.", "tool_choice");
  }
  if (!hasTools) {
    if (mode == "ANY") return badRequest("invalid_value", "tool_choice requires tools.", "tool_choice");
    return null; // auto / none without tools: nothing to configure
  }

  w.key("tools").arr().obj().key("functionDeclarations").arr();
  let declared = 0;
  for (let i = 0; i < tools!.length; i++) {
    const tool = tools!.items![i];
    const tp = "tools[" + i.toString() + "]";
    if (!doc.strIs(doc.get(tool, "type"), "function")) return badRequest("unsupported_parameter", tp + ": only function tools are supported for Gemini models.", "tools");
    const fn = doc.get(tool, "function");
    const name = doc.get(fn, "name");
    if (name === null || name.kind != Kind.Str || name.end - name.start <= 2) return badRequest("invalid_value", tp + ".function.name is required.", "tools");
    if (filter && !containsName(doc, names, name)) continue;
    w.obj().kRaw("name", doc, name);
    const desc = doc.get(fn, "description");
    if (desc !== null && desc.kind == Kind.Str) w.kRaw("description", doc, desc);
    const params = doc.get(fn, "parameters");
    // Full JSON Schema as parametersJsonSchema (no lossy OpenAPI-subset conversion); `strict` has
    // no Gemini equivalent and is dropped.
    if (params !== null && params.kind == Kind.Obj) w.kRaw("parametersJsonSchema", doc, params);
    else if (params !== null && params.kind != Kind.Null) return badRequest("invalid_value", tp + ".function.parameters must be a JSON Schema object.", "tools");
    w.end();
    declared++;
  }
  w.end().end().end();
  if (declared == 0) return badRequest("invalid_value", "tool_choice.allowed_tools names none of the declared tools.", "tool_choice");
  if (mode.length) {
    w.key("toolConfig").obj().key("functionCallingConfig").obj().kStr("mode", mode);
    if (mode == "ANY" && names.length > 0) {
      w.key("allowedFunctionNames").arr();
      for (let i = 0; i < names.length; i++) w.raw(doc, names[i]);
      w.end();
    }
    w.end().end();
  }
  return null;
}

function containsName(doc: JsonDoc, names: JNode[], name: JNode): bool {
  const s = doc.str(name);
  for (let i = 0; i < names.length; i++) if (doc.str(names[i]) == s) return true;
  return false;
}

/** reasoning_effort → thinkingConfig.thinkingBudget (Google's OpenAI-compatibility mapping; -1 = unknown). */
function thinkingBudget(effort: string): i32 {
  if (effort == "none") return 0;
  if (effort == "minimal") return 128;
  if (effort == "low") return 1024;
  if (effort == "medium") return 8192;
  if (effort == "high") return 24576;
  if (effort == "xhigh" || effort == "max") return 32768;
  return -1;
}

function isInt(n: JNode, min: f64, max: f64): bool {
  return n.kind == Kind.Num && n.num == Math.floor(n.num) && n.num >= min && n.num <= max;
}

/** Writes "generationConfig" when the request sets any of its parameters (§10.4). */
function writeGenerationConfig(doc: JsonDoc, root: JNode, w: JsonWriter): ApiError | null {
  const gb = new ByteBuilder(256);
  const g = new JsonWriter(gb);
  g.obj();
  let members = 0;

  const temp = doc.get(root, "temperature");
  if (temp !== null && temp.kind != Kind.Null) {
    if (temp.kind != Kind.Num || temp.num < 0 || temp.num > 2) return badRequest("invalid_value", "temperature must be between 0 and 2.", "temperature");
    g.kRaw("temperature", doc, temp); members++;
  }
  const topP = doc.get(root, "top_p");
  if (topP !== null && topP.kind != Kind.Null) {
    if (topP.kind != Kind.Num || topP.num < 0 || topP.num > 1) return badRequest("invalid_value", "top_p must be between 0 and 1.", "top_p");
    g.kRaw("topP", doc, topP); members++;
  }
  const mct = doc.get(root, "max_completion_tokens"), mt = doc.get(root, "max_tokens");
  const mtNode = mct !== null && mct.kind != Kind.Null ? mct : mt;
  if (mtNode !== null && mtNode.kind != Kind.Null) {
    if (!isInt(mtNode, 1, 2147483647)) return badRequest("invalid_value", "max_tokens must be a positive integer.", mtNode === mct ? "max_completion_tokens" : "max_tokens");
    g.kRaw("maxOutputTokens", doc, mtNode); members++;
  }
  const stop = doc.get(root, "stop");
  if (stop !== null && stop.kind != Kind.Null) {
    if (stop.kind == Kind.Str) { g.key("stopSequences").arr().raw(doc, stop).end(); members++; }
    else if (stop.kind == Kind.Arr) {
      for (let i = 0; i < stop.length; i++) if (stop.items![i].kind != Kind.Str) return badRequest("invalid_value", "stop must be a string or an array of strings.", "stop");
      if (stop.length > 0) { g.kRaw("stopSequences", doc, stop); members++; }
    } else return badRequest("invalid_value", "stop must be a string or an array of strings.", "stop");
  }
  const n = doc.get(root, "n");
  if (n !== null && n.kind != Kind.Null) {
    if (!isInt(n, 1, 8)) return badRequest("invalid_value", "n must be an integer between 1 and 8 for Gemini models (candidateCount).", "n");
    g.kRaw("candidateCount", doc, n); members++;
  }
  const seed = doc.get(root, "seed");
  if (seed !== null && seed.kind != Kind.Null) {
    if (!isInt(seed, -2147483648, 2147483647)) return badRequest("invalid_value", "seed must be a 32-bit integer for Gemini models.", "seed");
    g.kRaw("seed", doc, seed); members++;
  }
  const pp = doc.get(root, "presence_penalty");
  if (pp !== null && pp.kind != Kind.Null) {
    if (pp.kind != Kind.Num || pp.num < -2 || pp.num > 2) return badRequest("invalid_value", "presence_penalty must be between -2 and 2.", "presence_penalty");
    g.kRaw("presencePenalty", doc, pp); members++;
  }
  const fp = doc.get(root, "frequency_penalty");
  if (fp !== null && fp.kind != Kind.Null) {
    if (fp.kind != Kind.Num || fp.num < -2 || fp.num > 2) return badRequest("invalid_value", "frequency_penalty must be between -2 and 2.", "frequency_penalty");
    g.kRaw("frequencyPenalty", doc, fp); members++;
  }
  const rf = doc.get(root, "response_format");
  if (rf !== null && rf.kind != Kind.Null) {
    const t = doc.get(rf, "type");
    if (doc.strIs(t, "json_object")) { g.kStr("responseMimeType", "application/json"); members++; }
    else if (doc.strIs(t, "json_schema")) {
      const schema = doc.get(doc.get(rf, "json_schema"), "schema");
      if (schema === null || schema.kind != Kind.Obj) return badRequest("invalid_value", "response_format.json_schema.schema must be an object.", "response_format");
      // Full JSON Schema (responseJsonSchema), not the OpenAPI subset of responseSchema.
      g.kStr("responseMimeType", "application/json").kRaw("responseJsonSchema", doc, schema); members++;
    } else if (!doc.strIs(t, "text")) return badRequest("invalid_value", "response_format.type must be text, json_object or json_schema.", "response_format");
  }
  // logprobs / top_logprobs → responseLogprobs / logprobs (top candidates per step, 0–20).
  const lp = doc.get(root, "logprobs"), tlp = doc.get(root, "top_logprobs");
  const wantLp = lp !== null && lp.kind == Kind.Bool && lp.flag;
  if (lp !== null && lp.kind != Kind.Null && lp.kind != Kind.Bool) return badRequest("invalid_value", "logprobs must be a boolean.", "logprobs");
  if (tlp !== null && tlp.kind != Kind.Null) {
    if (!isInt(tlp, 0, 20)) return badRequest("invalid_value", "top_logprobs must be an integer between 0 and 20.", "top_logprobs");
    if (!wantLp) return badRequest("invalid_value", "top_logprobs needs logprobs: true.", "top_logprobs");
  }
  if (wantLp) {
    g.key("responseLogprobs").bool(true); members++;
    if (tlp !== null && tlp.kind == Kind.Num) g.kRaw("logprobs", doc, tlp);
  }
  // reasoning_effort, or the `thinking` extension → thinkingConfig; thoughts are asked for
  // whenever thinking is on, so they reach the client as reasoning_content.
  const thinking = readThinking(doc, root);
  if (thinking.error !== null) return thinking.error!;
  const effort = doc.get(root, "reasoning_effort");
  if (effort !== null && effort.kind != Kind.Null) {
    const budget = effort.kind == Kind.Str ? thinkingBudget(doc.str(effort)) : -1;
    if (budget < 0) return badRequest("invalid_value", "reasoning_effort must be one of none, minimal, low, medium, high, xhigh, max.", "reasoning_effort");
    g.key("thinkingConfig").obj();
    if (budget > 0) g.key("includeThoughts").bool(true);
    g.kInt("thinkingBudget", budget).end(); members++;
  } else if (thinking.mode != 0) {
    g.key("thinkingConfig").obj();
    if (thinking.enabled) g.key("includeThoughts").bool(true);
    // enabled: the client's budget; adaptive: -1, the model decides (Gemini's dynamic thinking).
    g.kInt("thinkingBudget", thinking.mode == 1 ? thinking.budget : thinking.mode == 3 ? -1 : 0).end(); members++;
  }
  g.end();
  if (members > 0) w.key("generationConfig").rawBytes(gb.buf, 0, gb.len);
  return null;
}

// ---------------------------------------------------------------------------------------------
// Responses

/** Gemini finishReason → OpenAI finish_reason (§11.1). Unclear values (OTHER, MALFORMED_FUNCTION_CALL, …) → stop. */
export function geminiFinish(doc: JsonDoc, fr: JNode | null, calls: bool): string {
  if (doc.strIs(fr, "MAX_TOKENS")) return "length";
  if (doc.strIs(fr, "SAFETY") || doc.strIs(fr, "RECITATION") || doc.strIs(fr, "BLOCKLIST") || doc.strIs(fr, "PROHIBITED_CONTENT") ||
      doc.strIs(fr, "SPII") || doc.strIs(fr, "IMAGE_SAFETY") || doc.strIs(fr, "IMAGE_PROHIBITED_CONTENT") ||
      doc.strIs(fr, "IMAGE_RECITATION") || doc.strIs(fr, "LANGUAGE") || doc.strIs(fr, "MODEL_ARMOR")) return "content_filter";
  // A tool call still ends with STOP (§6.3); any call in the candidate makes it tool_calls.
  return calls ? "tool_calls" : "stop";
}

/** usageMetadata → Usage with OpenAI semantics (§6.4, §11.2): completion includes thoughts. */
export function readGeminiUsage(doc: JsonDoc, u: JNode | null, usage: Usage): void {
  if (u === null || u.kind != Kind.Obj) return;
  usage.reported = true;
  const thoughts = doc.int(doc.get(u, "thoughtsTokenCount"));
  usage.input = doc.int(doc.get(u, "promptTokenCount"));
  usage.cachedInput = doc.int(doc.get(u, "cachedContentTokenCount"));
  usage.output = doc.int(doc.get(u, "candidatesTokenCount")) + thoughts;
  usage.reasoning = thoughts;
  usage.total = usage.input + usage.output;
}

/** A blocked prompt (no candidates, promptFeedback.blockReason): an error, not an empty answer. */
function blockedError(doc: JsonDoc, root: JNode, provider: string): ApiError | null {
  const br = doc.get(doc.get(root, "promptFeedback"), "blockReason");
  if (br === null || br.kind != Kind.Str) return null;
  return new ApiError(400, "invalid_request_error", "content_filter", "The prompt was blocked by " + provider + " (blockReason " + doc.str(br) + ").");
}

/** `{"id":…,"type":"function","function":{"name":…,"arguments":"<args JSON>"}[,"extra_content":…]}` fields of one call. */
function writeCallFields(doc: JsonDoc, part: JNode, fc: JNode, idHash: string, k: i32, b: ByteBuilder): void {
  b.str("\"id\":");
  const id = doc.get(fc, "id");
  if (id !== null && id.kind == Kind.Str && id.end - id.start > 2) doc.copyTo(id, b);
  else { b.str("\"call_"); b.str(idHash); b.byte(0x5f); b.int(k); b.byte(0x22); }
  b.str(",\"type\":\"function\",\"function\":{\"name\":");
  const name = doc.get(fc, "name");
  if (name !== null && name.kind == Kind.Str) doc.copyTo(name, b); else b.str("\"\"");
  b.str(",\"arguments\":");
  const args = doc.get(fc, "args");
  if (args !== null && args.kind == Kind.Obj) b.jsonStringBytes(doc.src, args.start, args.end); else b.str("\"{}\"");
  b.byte(0x7d);
  const sig = doc.get(part, "thoughtSignature");
  if (sig !== null && sig.kind == Kind.Str && sig.end - sig.start > 2) {
    b.str(",\"extra_content\":{\"google\":{\"thought_signature\":"); doc.copyTo(sig, b); b.str("}}");
  }
}

/**
 * Candidate.logprobsResult → OpenAI `{"content":[{token, logprob, bytes, top_logprobs}]}`: one
 * entry per chosen token, with the step's top candidates. Returns false (nothing written) when
 * the candidate carries none.
 */
function writeLogprobs(doc: JsonDoc, cand: JNode, b: ByteBuilder): bool {
  const lr = doc.get(cand, "logprobsResult");
  const chosen = doc.get(lr, "chosenCandidates");
  if (chosen === null || chosen.kind != Kind.Arr) return false;
  const tops = doc.get(lr, "topCandidates");
  b.str("{\"content\":[");
  for (let i = 0; i < chosen.length; i++) {
    if (i > 0) b.byte(0x2c);
    writeTokenLogprob(doc, chosen.items![i], b);
    b.str(",\"top_logprobs\":[");
    const top = tops !== null && tops.kind == Kind.Arr && i < tops.length ? doc.get(tops.items![i], "candidates") : null;
    if (top !== null && top.kind == Kind.Arr) {
      for (let k = 0; k < top.length; k++) {
        if (k > 0) b.byte(0x2c);
        writeTokenLogprob(doc, top.items![k], b);
        b.byte(0x7d);
      }
    }
    b.str("]}");
  }
  b.str("],\"refusal\":null}");
  return true;
}

/** `{"token":…,"logprob":…,"bytes":null` of one LogprobsResult.Candidate (the caller closes it). */
function writeTokenLogprob(doc: JsonDoc, c: JNode, b: ByteBuilder): void {
  b.str("{\"token\":");
  const t = doc.get(c, "token"), lp = doc.get(c, "logProbability");
  if (t !== null && t.kind == Kind.Str) doc.copyTo(t, b); else b.str("\"\"");
  b.str(",\"logprob\":");
  if (lp !== null && lp.kind == Kind.Num) doc.copyTo(lp, b); else b.byte(0x30);
  b.str(",\"bytes\":null");
}

function isThought(doc: JsonDoc, part: JNode): bool {
  const t = doc.get(part, "thought");
  return t !== null && t.kind == Kind.Bool && t.flag;
}

class GeminiJson extends ResponseHandler {
  // Always JSON for the client, whatever label the provider put on its answer.
  constructor(private req: ClientRequest, private provider: string) { super(); this.wholeBody = true; this.rewrites = true; this.contentType = "application/json"; }

  private fail(out: ByteBuilder, e: ApiError): bool {
    this.status = e.status;
    this.contentType = "application/json";
    out.all(Uint8Array.wrap(e.body()));
    return true;
  }

  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (!eos) return false;
    const doc = parseJson(chunk);
    const root = doc.root;
    if (root === null || root.kind != Kind.Obj) {
      return this.fail(out, new ApiError(502, "upstream_error", "bad_upstream_response", "The " + this.provider + " backend returned a response that is not valid JSON."));
    }
    // An error inside a 2xx answer: its own `code` gives the status (500 without one).
    const ge = googleError(doc, root, 200, this.provider);
    if (ge !== null) return this.fail(out, ge);
    readGeminiUsage(doc, doc.get(root, "usageMetadata"), this.usage);
    this.usage.final = this.usage.reported;
    const cands = doc.get(root, "candidates");
    if (cands === null || cands.kind != Kind.Arr || cands.length == 0) {
      const be = blockedError(doc, root, this.provider);
      if (be !== null) return this.fail(out, be);
      return this.fail(out, new ApiError(502, "upstream_error", "bad_upstream_response", "The " + this.provider + " backend returned no candidates."));
    }
    const rid = doc.get(root, "responseId");
    const hasRid = rid !== null && rid.kind == Kind.Str && rid.end - rid.start > 2;
    // Made-up ids derive from the response: its id, else its bytes.
    const idHash = hasRid ? hash8(doc.src, rid!.start, rid!.end) : hash8(chunk, 0, chunk.length);
    const w = new JsonWriter(out);
    w.obj().key("id");
    if (hasRid) w.raw(doc, rid!); else w.str("chatcmpl-" + idHash);
    w.kStr("object", "chat.completion").kInt("created", this.req.nowSeconds);
    const mv = doc.get(root, "modelVersion");
    if (mv !== null && mv.kind == Kind.Str && mv.end - mv.start > 2) w.kRaw("model", doc, mv); else w.kStr("model", this.req.upstreamModel);
    w.key("choices").arr();
    for (let ci = 0; ci < cands.length; ci++) {
      const cand = cands.items![ci];
      const ix = doc.get(cand, "index");
      const parts = doc.get(doc.get(cand, "content"), "parts");
      w.obj().kInt("index", ix !== null && ix.kind == Kind.Num ? doc.int(ix) : <i64>ci);
      w.key("message").obj().kStr("role", "assistant").key("content");
      const cv = w.value();
      let texts = 0, calls = 0, thoughts = 0;
      if (parts !== null && parts.kind == Kind.Arr) {
        for (let i = 0; i < parts.length; i++) {
          const p = parts.items![i];
          const text = doc.get(p, "text");
          if (text !== null && text.kind == Kind.Str && !isThought(doc, p)) {
            // Escaped contents of JSON strings concatenate into one valid string.
            if (texts++ == 0) cv.byte(0x22);
            cv.bytes(doc.src, text.start + 1, text.end - 1);
          } else if (text !== null && text.kind == Kind.Str) thoughts++;
          else if (doc.get(p, "functionCall") !== null) calls++;
        }
      }
      if (texts > 0) cv.byte(0x22); else cv.str("null");
      if (thoughts > 0) {
        // Thought summaries (thought: true parts) → reasoning_content, joined.
        const rv = w.key("reasoning_content").value();
        rv.byte(0x22);
        for (let i = 0; i < parts!.length; i++) {
          const p = parts!.items![i];
          const text = doc.get(p, "text");
          if (text !== null && text.kind == Kind.Str && isThought(doc, p)) rv.bytes(doc.src, text.start + 1, text.end - 1);
        }
        rv.byte(0x22);
      }
      w.key("refusal").nul();
      if (calls > 0) {
        w.key("tool_calls").arr();
        let k = 0;
        for (let i = 0; i < parts!.length; i++) {
          const p = parts!.items![i];
          const fc = doc.get(p, "functionCall");
          if (fc === null || fc.kind != Kind.Obj) continue;
          const tb = w.value();
          tb.byte(0x7b);
          writeCallFields(doc, p, fc, idHash, k++, tb);
          tb.byte(0x7d);
        }
        w.end();
      }
      w.end(); // message
      w.key("logprobs");
      if (!writeLogprobs(doc, cand, w.value())) w.out.str("null");
      w.kStr("finish_reason", geminiFinish(doc, doc.get(cand, "finishReason"), calls > 0)).end();
    }
    w.end();
    w.key("usage");
    writeUsage(w, this.usage);
    w.end();
    return true;
  }
}

/** Per-candidate stream state (one OpenAI choice each). */
class Candidate {
  started: bool = false;
  finished: bool = false;
  tools: i32 = 0;
}

/** Gemini answers n ≤ 8 candidates; indexes beyond this are ignored rather than allocated. */
const MAX_CANDIDATES: i32 = 16;

/**
 * `:streamGenerateContent?alt=sse` → chat.completion.chunk SSE (§6.5, §12 Gemini state machine).
 * Every event is a whole GenerateContentResponse carrying only new parts; functionCall parts
 * arrive complete. There is no terminator: the end of the body ends the stream.
 */
export class GeminiStream extends ResponseHandler {
  private reader: SseReader = new SseReader();
  private chunks: ChunkWriter = new ChunkWriter();
  private delta: ByteBuilder = new ByteBuilder(256);
  private logprobs: ByteBuilder = new ByteBuilder(256);
  private started: bool = false;
  private finished: bool = false;
  private idHash: string = "";
  private cands: Candidate[] = [];
  private wantUsage: bool;

  constructor(private req: ClientRequest, private provider: string) {
    super();
    this.rewrites = true;
    this.contentType = "text/event-stream";
    this.wantUsage = req.clientWantsUsage();
  }

  /** `{"id":..,"object":"chat.completion.chunk","created":..,"model":..,` for every chunk, from the first event. */
  private start(doc: JsonDoc, root: JNode): void {
    const p = this.chunks.prefix;
    p.reset();
    const rid = doc.get(root, "responseId");
    const hasRid = rid !== null && rid.kind == Kind.Str && rid.end - rid.start > 2;
    this.idHash = hasRid ? hash8(doc.src, rid!.start, rid!.end) : hash8(doc.src, 0, doc.src.length);
    p.str("{\"id\":");
    if (hasRid) doc.copyTo(rid!, p); else { p.str("\"chatcmpl-"); p.str(this.idHash); p.byte(0x22); }
    p.str(",\"object\":\"chat.completion.chunk\",\"created\":");
    p.int(this.req.nowSeconds);
    p.str(",\"model\":");
    const mv = doc.get(root, "modelVersion");
    if (mv !== null && mv.kind == Kind.Str && mv.end - mv.start > 2) doc.copyTo(mv, p); else p.jsonString(this.req.upstreamModel);
    p.byte(0x2c);
    this.started = true;
  }

  private emit(out: ByteBuilder, index: i32, delta: ByteBuilder, finish: string): void {
    this.chunks.choice(out, index, delta, finish, this.wantUsage);
  }

  private emitError(out: ByteBuilder, e: ApiError): void {
    writeSse(out, "", Uint8Array.wrap(e.body()));
    this.finished = true;
  }

  get done(): bool { return this.finished; }

  onBody(data: Uint8Array, eos: bool, out: ByteBuilder): bool {
    const reader = this.reader;
    reader.feed(data);
    if (eos) reader.finish();
    const events = reader.events;
    for (let i = 0; i < events.length && !this.finished; i++) this.onEvent(unchecked(events[i]).data, out);
    events.length = 0;
    if (eos) this.onEnd(out);
    return true;
  }

  /** One `data:` payload: a GenerateContentResponse, or a google.rpc.Status error. */
  onEvent(data: Uint8Array, out: ByteBuilder): void {
    if (this.finished || data.length == 0) return;
    const doc = parseJson(data);
    const root = doc.root;
    if (root === null || root.kind != Kind.Obj) {
      this.emitError(out, new ApiError(502, "upstream_error", "bad_upstream_response", "The " + this.provider + " stream carried an event that is not a JSON object."));
      return;
    }
    const ge = googleError(doc, root, 500, this.provider);
    if (ge !== null) { this.emitError(out, ge); return; }
    if (!this.started) this.start(doc, root);
    const um = doc.get(root, "usageMetadata");
    // Cumulative: the last one wins (§6.4); it is final once the stream ends normally.
    if (um !== null) readGeminiUsage(doc, um, this.usage);
    const cands = doc.get(root, "candidates");
    if (cands === null || cands.kind != Kind.Arr || cands.length == 0) {
      const be = blockedError(doc, root, this.provider);
      if (be !== null) this.emitError(out, be);
      return;
    }
    const delta = this.delta;
    for (let ci = 0; ci < cands.length; ci++) {
      const cand = cands.items![ci];
      const ix = doc.get(cand, "index");
      const idx = ix !== null && ix.kind == Kind.Num ? <i32>doc.int(ix, -1) : ci;
      if (idx < 0 || idx >= MAX_CANDIDATES) continue;
      while (this.cands.length <= idx) this.cands.push(new Candidate());
      const st = this.cands[idx];
      if (st.finished) continue;
      if (!st.started) {
        delta.reset(); delta.str("{\"role\":\"assistant\",\"content\":\"\"}");
        this.emit(out, idx, delta, "");
        st.started = true;
      }
      const parts = doc.get(doc.get(cand, "content"), "parts");
      let logprobsSent = false;
      if (parts !== null && parts.kind == Kind.Arr) {
        for (let i = 0; i < parts.length; i++) {
          const p = parts.items![i];
          const fc = doc.get(p, "functionCall");
          if (fc !== null && fc.kind == Kind.Obj) {
            delta.reset();
            delta.str("{\"tool_calls\":[{\"index\":"); delta.int(st.tools); delta.byte(0x2c);
            writeCallFields(doc, p, fc, this.idHash, st.tools, delta);
            delta.str("}]}");
            st.tools++;
            this.emit(out, idx, delta, "");
            continue;
          }
          const text = doc.get(p, "text");
          if (text === null || text.kind != Kind.Str || text.end - text.start <= 2) continue;
          delta.reset(); delta.str(isThought(doc, p) ? "{\"reasoning_content\":" : "{\"content\":"); doc.copyTo(text, delta); delta.byte(0x7d);
          // The event's logprobs ride on its first text chunk.
          const lp = this.logprobs;
          lp.reset();
          if (!logprobsSent && !isThought(doc, p) && writeLogprobs(doc, cand, lp)) { logprobsSent = true; this.chunks.choice(out, idx, delta, "", this.wantUsage, lp); }
          else this.emit(out, idx, delta, "");
        }
      }
      const fr = doc.get(cand, "finishReason");
      // Newer models may send STOP in a chunk of its own after the calls: the candidate's calls
      // so far decide between stop and tool_calls (§6.5).
      if (fr !== null && fr.kind == Kind.Str && !doc.strIs(fr, "FINISH_REASON_UNSPECIFIED")) {
        delta.reset(); delta.str("{}");
        this.emit(out, idx, delta, geminiFinish(doc, fr, st.tools > 0));
        st.finished = true;
      }
    }
  }

  /** End of the upstream body: usage chunk (if asked) and [DONE], or an error for a cut stream. */
  onEnd(out: ByteBuilder): void {
    if (this.finished) return;
    let any = false, all = true;
    for (let i = 0; i < this.cands.length; i++) {
      const st = this.cands[i];
      if (!st.started) continue;
      any = true;
      if (!st.finished) all = false;
    }
    if (!any || !all) {
      this.emitError(out, new ApiError(502, "upstream_error", "stream_truncated", "The " + this.provider + " stream ended before a finishReason."));
      return;
    }
    this.usage.final = this.usage.reported;
    if (this.wantUsage) {
      this.chunks.usage(out, this.usage);
    }
    out.str("data: [DONE]\n\n");
    this.finished = true;
  }
}
