// AWS Bedrock Converse / ConverseStream behind the OpenAI Chat Completions API (reference
// providers.md §5, §10, §11, §12). Requests are rebuilt as Converse bodies (camelCase, content
// blocks, strict user/assistant alternation), copying the client's string literals verbatim.
// Responses are rebuilt as chat.completion; ConverseStream's binary eventstream is decoded as it
// flows (streams/eventstream.ts: both CRCs, frames split anywhere) into chat.completion.chunk SSE.
// Embeddings go through InvokeModel (bedrock_embed.ts). Parameters Converse cannot honour are
// refused with a 400 rather than dropped.
//
// Choices documented here because the reference leaves them open:
//  - tool_choice "none": Converse has no "none"; the tools are left out of the request entirely
//    (a conversation that already holds toolUse/toolResult blocks may then be refused by some
//    models — providers.md §10.5 marks that UNCONFIRMED).
//  - response_format json_schema → outputConfig.textFormat (native structured output in the
//    service model, §5.2; the schema travels as a JSON string). json_object has no native mode:
//    an instruction is added to the system blocks (§10.5).
//  - reasoning_effort → outputConfig.effort (low…max; "minimal" → "low", "none" → omitted).
//  - Prompt caching: a content part, message or tool carrying `cache_control: {"type":
//    "ephemeral"}` (Anthropic's marker as LiteLLM and Envoy AI Gateway accept it) or the older
//    `prompt_cache_breakpoint` is followed by a Converse `cachePoint` block (with its ttl).
//  - The `thinking` extension → additionalModelRequestFields.thinking for Claude models (the
//    Anthropic request field Bedrock passes to the model); other models have no such control and
//    the request is refused (reasoning_effort is their control). Signed `thinking_blocks` of an
//    assistant message go back as reasoningContent blocks.
//  - metadata → requestMetadata (kept in Bedrock's invocation logs); user / safety_identifier
//    have no Converse field and only serve OpenAI's abuse monitoring: not sent.
//  - A conversation of system/developer messages only is sent with an empty message list: the
//    model decides (as LiteLLM does).
//  - stopReason without an OpenAI equivalent (malformed_model_output, malformed_tool_use, and
//    unknown values) → "stop" (§11.1 policy).
//  - Bedrock requires conversations to start with a user turn; a conversation that starts with an
//    assistant message is sent as is and Bedrock's ValidationException reaches the client.

import { JNode, JsonDoc, Kind, parseJson, Span } from "../json/json";
import { JsonWriter } from "../json/writer";
import { ApiError, badRequest } from "../errors";
import { Refuse, refuseUnsupported } from "./unsupported";
import { Usage } from "../usage";
import { ByteBuilder } from "../util/bytes";
import { writeSse } from "../streams/sse";
import { EventStreamMessage, EventStreamReader } from "../streams/eventstream";
import { ClientRequest, Endpoint, Provider, ResponseHandler, UpstreamRequest } from "./provider";
import { ChunkWriter, writeReasoningContent, writeRedactedThinking, writeThinkingBlock, writeUsage } from "./openai_out";
import { BEDROCK_RESPONSE_HEADERS, BedrockError, StreamException, bedrockModelPath, bedrockResponseId } from "./bedrock_common";
import { embeddingsResponse, prepareEmbeddings } from "./bedrock_embed";
import { badCacheControl, cacheMark, cacheTtl, readThinking, thinkingBlocks, thinkingText } from "./extensions";

const JSON_OBJECT_INSTRUCTION = "Respond only with a single valid JSON object, with no text before or after it.";

export class BedrockConverseProvider extends Provider {
  prepare(req: ClientRequest, out: UpstreamRequest): ApiError | null {
    if (req.endpoint == Endpoint.Embeddings) return prepareEmbeddings(req, out);
    if (req.endpoint != Endpoint.ChatCompletions) {
      return new ApiError(400, "invalid_request_error", "unsupported_endpoint", "Bedrock Converse backends do not serve this endpoint.");
    }
    const doc = req.doc, root = req.root;
    const err = refuseUnsupported(doc, root, UNSUPPORTED, "Bedrock Converse");
    if (err !== null) return err;

    const b = new ByteBuilder(doc.src.length + 256);
    const w = new JsonWriter(b);
    w.obj();
    const sys = new SystemOut();
    const serr = writeSystem(doc, root, w, sys);
    if (serr !== null) return serr;
    const merr = writeMessages(doc, root, w, sys.written);
    if (merr !== null) return merr;
    const ierr = writeInferenceConfig(doc, root, w);
    if (ierr !== null) return ierr;
    const terr = writeToolConfig(doc, root, w);
    if (terr !== null) return terr;
    const oerr = writeOutputConfig(doc, root, w);
    if (oerr !== null) return oerr;
    const thinking = readThinking(doc, root);
    if (thinking.error !== null) return thinking.error;
    if (thinking.node !== null) {
      if (otherVendor(req.upstreamModel)) {
        return badRequest("unsupported_parameter", "The thinking extension is Anthropic's; this Bedrock model takes reasoning_effort instead.", "thinking");
      }
      w.key("additionalModelRequestFields").obj().kRaw("thinking", doc, thinking.node!).end();
    }
    // metadata (string → string) → requestMetadata, which Bedrock keeps in its invocation logs.
    const md = doc.get(root, "metadata");
    if (md !== null && md.kind == Kind.Obj && md.length > 0) {
      for (let i = 0; i < md.length; i++) {
        if (md.items![i].kind != Kind.Str) return badRequest("invalid_value", "metadata values must be strings.", "metadata");
      }
      w.kRaw("requestMetadata", doc, md);
    } else if (md !== null && md.kind != Kind.Null && md.kind != Kind.Obj) return badRequest("invalid_value", "metadata must be an object of strings.", "metadata");
    const st = doc.get(root, "service_tier");
    if (st !== null && st.kind != Kind.Null) {
      // OpenAI tiers with a Bedrock counterpart (serviceTier.type); "auto" is Bedrock's default.
      if (doc.strIs(st, "default") || doc.strIs(st, "flex") || doc.strIs(st, "priority")) w.key("serviceTier").obj().kRaw("type", doc, st).end();
      else if (!doc.strIs(st, "auto")) return badRequest("unsupported_parameter", "service_tier must be auto, default, flex or priority for Bedrock models.", "service_tier");
    }
    w.end();

    out.body = b;
    out.path = bedrockModelPath(req, req.stream ? "converse-stream" : "converse");
    return null;
  }

  response(req: ClientRequest, status: i32, contentType: string): ResponseHandler {
    if (req.endpoint == Endpoint.Embeddings) return embeddingsResponse(req, status);
    if (status < 200 || status >= 300) return new BedrockError(req, status);
    if (contentType.startsWith("application/vnd.amazon.eventstream")) return new ConverseStream(req);
    return new ConverseJson(req);
  }

  responseHeaderNames(): string[] { return BEDROCK_RESPONSE_HEADERS; }
}

// ---------------------------------------------------------------------------------------------
// Request

/** What the OpenAI request may ask for that Bedrock Converse cannot do (a 400 instead of silence). */
const UNSUPPORTED: u32 = Refuse.N | Refuse.LOGPROBS | Refuse.LOGIT_BIAS | Refuse.PENALTIES | Refuse.SEED | Refuse.AUDIO |
  Refuse.PREDICTION | Refuse.WEB_SEARCH | Refuse.FUNCTIONS | Refuse.SERIAL_TOOLS;

/**
 * A model id or inference profile id that names a vendor other than Anthropic (amazon.nova…,
 * us.meta.llama…). An ARN says nothing about the model behind it: Bedrock decides.
 */
function otherVendor(model: string): bool {
  const m = model.toLowerCase();
  return !m.startsWith("arn:") && !m.includes("anthropic") && !m.includes("claude");
}

/** `{"cachePoint":{"type":"default"[,"ttl":…]}}` for a cache marker (nothing for null). */
function writeCachePoint(doc: JsonDoc, mark: JNode | null, w: JsonWriter): void {
  if (mark === null) return;
  w.obj().key("cachePoint").obj().kStr("type", "default");
  const ttl = cacheTtl(doc, mark);
  if (ttl.length) w.kStr("ttl", ttl);
  w.end().end();
}

class SystemOut { written: bool = false; }

/** system / developer messages, in order, → `system` text blocks (plus the json_object instruction). */
function writeSystem(doc: JsonDoc, root: JNode, w: JsonWriter, sys: SystemOut): ApiError | null {
  const msgs = doc.get(root, "messages");
  if (msgs === null || msgs.kind != Kind.Arr || msgs.length == 0) return badRequest("invalid_value", "messages must be a non-empty array.", "messages");
  const items = msgs.items!;
  let open = false;
  for (let i = 0; i < items.length; i++) {
    const m = unchecked(items[i]);
    if (m.kind != Kind.Obj) return badRequest("invalid_value", "messages[" + i.toString() + "] must be an object.", "messages");
    const role = doc.get(m, "role");
    if (!(doc.strIs(role, "system") || doc.strIs(role, "developer"))) continue;
    const c = doc.get(m, "content");
    const path = "messages[" + i.toString() + "].content";
    const cerr = badCacheControl(doc, m, "messages[" + i.toString() + "]");
    if (cerr !== null) return cerr;
    if (c === null || c.kind == Kind.Null) continue;
    if (c.kind == Kind.Str) {
      if (c.end - c.start <= 2) continue; // SystemContentBlock.text is a NonEmptyString
      if (!open) { w.key("system").arr(); open = true; }
      w.obj().kRaw("text", doc, c).end();
      writeCachePoint(doc, cacheMark(doc, m), w);
      continue;
    }
    if (c.kind != Kind.Arr) return badRequest("invalid_value", path + " must be a string or an array of text parts.", "messages");
    for (let j = 0; j < c.length; j++) {
      const p = c.items![j];
      if (!doc.strIs(doc.get(p, "type"), "text")) return badRequest("invalid_value", path + "[" + j.toString() + "] must be a text part.", "messages");
      const text = doc.get(p, "text");
      if (text === null || text.kind != Kind.Str) return badRequest("invalid_value", path + "[" + j.toString() + "].text must be a string.", "messages");
      const perr = badCacheControl(doc, p, path + "[" + j.toString() + "]");
      if (perr !== null) return perr;
      if (!open) { w.key("system").arr(); open = true; }
      if (text.end - text.start > 2) w.obj().kRaw("text", doc, text).end();
      writeCachePoint(doc, cacheMark(doc, p), w);
    }
    writeCachePoint(doc, cacheMark(doc, m), w);
  }
  const rf = doc.get(root, "response_format");
  if (rf !== null && doc.strIs(doc.get(rf, "type"), "json_object")) {
    if (!open) { w.key("system").arr(); open = true; }
    w.obj().kStr("text", JSON_OBJECT_INSTRUCTION).end();
  }
  if (open) w.end();
  sys.written = open;
  return null;
}

/**
 * Open message of the role being written. Consecutive OpenAI messages that map to the same
 * Converse role become one message (Bedrock requires strict user/assistant alternation, §5.2):
 * a message is opened lazily before its first block, so messages that produce no block vanish.
 */
class Turns {
  role: string = "";
  count: i32 = 0;
  constructor(public w: JsonWriter) {}
  open(role: string): JsonWriter {
    if (this.role != role) {
      this.close();
      this.w.obj().kStr("role", role).key("content").arr();
      this.role = role;
      this.count++;
    }
    return this.w;
  }
  close(): void {
    if (this.role.length) { this.w.end().end(); this.role = ""; }
  }
}

function writeMessages(doc: JsonDoc, root: JNode, w: JsonWriter, hasSystem: bool): ApiError | null {
  const items = doc.get(root, "messages")!.items!;
  w.key("messages").arr();
  const t = new Turns(w);
  for (let i = 0; i < items.length; i++) {
    const m = unchecked(items[i]);
    const role = doc.get(m, "role");
    const path = "messages[" + i.toString() + "]";
    if (doc.strIs(role, "system") || doc.strIs(role, "developer")) continue;
    const c = doc.get(m, "content");
    const cerr = badCacheControl(doc, m, path);
    if (cerr !== null) return cerr;
    // A message-level marker caches everything up to the end of this message.
    const mark = cacheMark(doc, m);
    if (doc.strIs(role, "user")) {
      if (c !== null && c.kind == Kind.Str) {
        if (c.end - c.start > 2) t.open("user").obj().kRaw("text", doc, c).end();
      } else if (c !== null && c.kind == Kind.Arr) {
        const e = writeUserParts(doc, c, t, path + ".content");
        if (e !== null) return e;
      } else return badRequest("invalid_value", path + ".content must be a string or an array of content parts.", "messages");
      if (mark !== null && t.role == "user") writeCachePoint(doc, mark, t.w);
    } else if (doc.strIs(role, "assistant")) {
      const terrs: ApiError[] = [];
      const thinking = thinkingBlocks(doc, m, path, terrs);
      if (terrs.length) return terrs[0];
      if (thinking !== null) writeReasoningBlocks(doc, m, thinking, t);
      if (c !== null && c.kind == Kind.Str) {
        if (c.end - c.start > 2) t.open("assistant").obj().kRaw("text", doc, c).end();
      } else if (c !== null && c.kind == Kind.Arr) {
        for (let j = 0; j < c.length; j++) {
          const p = c.items![j];
          const pt = doc.get(p, "type");
          const pp = path + ".content[" + j.toString() + "]";
          let text: JNode | null = null;
          if (doc.strIs(pt, "text")) text = doc.get(p, "text");
          else if (doc.strIs(pt, "refusal")) text = doc.get(p, "refusal");
          else return badRequest("invalid_value", pp + " must be a text or refusal part.", "messages");
          if (text === null || text.kind != Kind.Str) return badRequest("invalid_value", pp + " needs its text as a string.", "messages");
          const perr = badCacheControl(doc, p, pp);
          if (perr !== null) return perr;
          if (text.end - text.start > 2) t.open("assistant").obj().kRaw("text", doc, text).end();
          const pm = cacheMark(doc, p);
          if (pm !== null) writeCachePoint(doc, pm, t.open("assistant"));
        }
      } else if (c !== null && c.kind != Kind.Null) return badRequest("invalid_value", path + ".content must be a string, an array of text parts or null.", "messages");
      const calls = doc.get(m, "tool_calls");
      if (calls !== null && calls.kind == Kind.Arr) {
        const e = writeToolUses(doc, calls, t, path + ".tool_calls");
        if (e !== null) return e;
      } else if (calls !== null && calls.kind != Kind.Null) return badRequest("invalid_value", path + ".tool_calls must be an array.", "messages");
      if (mark !== null && t.role == "assistant") writeCachePoint(doc, mark, t.w);
    } else if (doc.strIs(role, "tool")) {
      const id = doc.get(m, "tool_call_id");
      if (id === null || id.kind != Kind.Str || id.end - id.start <= 2) return badRequest("invalid_value", path + ".tool_call_id is required.", "messages");
      const tw = t.open("user");
      tw.obj().key("toolResult").obj().kRaw("toolUseId", doc, id).key("content").arr();
      let breakpoint: JNode | null = mark;
      if (c !== null && c.kind == Kind.Str) tw.obj().kRaw("text", doc, c).end();
      else if (c !== null && c.kind == Kind.Arr) {
        for (let j = 0; j < c.length; j++) {
          const p = c.items![j];
          const text = doc.get(p, "text");
          if (!doc.strIs(doc.get(p, "type"), "text") || text === null || text.kind != Kind.Str) {
            return badRequest("invalid_value", path + ".content[" + j.toString() + "] must be a text part.", "messages");
          }
          const perr = badCacheControl(doc, p, path + ".content[" + j.toString() + "]");
          if (perr !== null) return perr;
          tw.obj().kRaw("text", doc, text).end();
          const pm = cacheMark(doc, p);
          if (pm !== null) breakpoint = pm;
        }
      } else return badRequest("invalid_value", path + ".content must be a string or an array of text parts.", "messages");
      tw.end().end().end();
      // ToolResultContentBlock has no cachePoint member: the cache point follows the result block.
      writeCachePoint(doc, breakpoint, tw);
    } else {
      return badRequest("invalid_value", path + ".role must be one of system, developer, user, assistant, tool.", "messages");
    }
  }
  t.close();
  w.end();
  // System/developer messages only: sent with no messages, and the model answers the system prompt.
  if (t.count == 0 && !hasSystem) return badRequest("invalid_value", "messages must contain at least one message with content.", "messages");
  return null;
}

/** An assistant message's thinking_blocks → reasoningContent blocks, text and signature unmodified. */
function writeReasoningBlocks(doc: JsonDoc, m: JNode, blocks: JNode, t: Turns): void {
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks.items![i];
    const w = t.open("assistant");
    w.obj().key("reasoningContent").obj();
    if (doc.strIs(doc.get(b, "type"), "redacted_thinking")) w.kRaw("redactedContent", doc, doc.get(b, "data")!);
    else {
      const text = thinkingText(doc, m, blocks, b);
      w.key("reasoningText").obj().kRaw("text", doc, text!);
      const sig = doc.get(b, "signature")!;
      if (sig.end - sig.start > 2) w.kRaw("signature", doc, sig);
      w.end();
    }
    w.end().end();
  }
}

function writeUserParts(doc: JsonDoc, c: JNode, t: Turns, path: string): ApiError | null {
  for (let i = 0; i < c.length; i++) {
    const p = c.items![i];
    const pp = path + "[" + i.toString() + "]";
    const type = doc.get(p, "type");
    if (doc.strIs(type, "text")) {
      const text = doc.get(p, "text");
      if (text === null || text.kind != Kind.Str) return badRequest("invalid_value", pp + ".text must be a string.", "messages");
      if (text.end - text.start > 2) t.open("user").obj().kRaw("text", doc, text).end();
    } else if (doc.strIs(type, "image_url")) {
      const urlNode = doc.get(doc.get(p, "image_url"), "url");
      if (urlNode === null || urlNode.kind != Kind.Str) return badRequest("invalid_value", pp + ".image_url.url must be a string.", "messages");
      const e = writeMedia(doc, urlNode, t, pp + ".image_url.url", i);
      if (e !== null) return e;
    } else if (doc.strIs(type, "file")) {
      const data = doc.get(doc.get(p, "file"), "file_data");
      if (data === null || data.kind != Kind.Str) return badRequest("unsupported_parameter", pp + ": only inline file_data is supported for Bedrock models (file_id refers to another provider's file store).", "messages");
      const e = writeMedia(doc, data, t, pp + ".file.file_data", i);
      if (e !== null) return e;
    } else if (doc.strIs(type, "input_audio")) {
      const ia = doc.get(p, "input_audio");
      const data = doc.get(ia, "data"), fmt = doc.get(ia, "format");
      if (data === null || data.kind != Kind.Str || data.end - data.start <= 2) return badRequest("invalid_value", pp + ".input_audio.data must be base64 audio.", "messages");
      if (!doc.strIs(fmt, "wav") && !doc.strIs(fmt, "mp3")) return badRequest("invalid_value", pp + ".input_audio.format must be wav or mp3.", "messages");
      t.open("user").obj().key("audio").obj().kRaw("format", doc, fmt!).key("source").obj().kRaw("bytes", doc, data).end().end().end();
    } else {
      return badRequest("invalid_value", pp + ".type must be text, image_url, file or input_audio.", "messages");
    }
    const perr = badCacheControl(doc, p, pp);
    if (perr !== null) return perr;
    const pm = cacheMark(doc, p);
    if (pm !== null) writeCachePoint(doc, pm, t.open("user"));
  }
  return null;
}

/** Image formats Converse takes (ImageFormat enum) by media type. */
function imageFormat(mime: string): string {
  if (mime == "image/png") return "png";
  if (mime == "image/jpeg" || mime == "image/jpg") return "jpeg";
  if (mime == "image/gif") return "gif";
  if (mime == "image/webp") return "webp";
  return "";
}

/** Document formats Converse takes (DocumentFormat enum) by media type. */
function documentFormat(mime: string): string {
  if (mime == "application/pdf") return "pdf";
  if (mime == "text/csv") return "csv";
  if (mime == "text/html") return "html";
  if (mime == "text/plain") return "txt";
  if (mime == "text/markdown") return "md";
  if (mime == "application/msword") return "doc";
  if (mime == "application/vnd.openxmlformats-officedocument.wordprocessingml.document") return "docx";
  if (mime == "application/vnd.ms-excel") return "xls";
  if (mime == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet") return "xlsx";
  return "";
}

/**
 * A data URL → image block (png/jpeg/gif/webp) or document block (pdf, csv, …) with base64 bytes.
 * http(s) URLs are refused: Converse takes only bytes or s3:// sources, and fetching the URL would
 * need an asynchronous call from the filter (§10.2).
 */
function writeMedia(doc: JsonDoc, urlNode: JNode, t: Turns, path: string, index: i32): ApiError | null {
  const url = doc.strSpan(urlNode);
  if (url.startsWith("https://") || url.startsWith("http://")) {
    return badRequest("unsupported_parameter", path + ": Bedrock cannot fetch image URLs; send the image inline as a data URL (data:image/png;base64,...).", "messages");
  }
  if (!url.startsWith("data:")) return badRequest("invalid_value", path + " must be a data URL (data:<type>;base64,...).", "messages");
  const semi = url.indexOf(";base64,");
  if (semi < 0) return badRequest("invalid_value", path + ": data URLs must be base64-encoded (data:<type>;base64,...).", "messages");
  const mime = new Span(url.buf, url.start + 5, url.start + semi).toString().toLowerCase();
  const dataStart = url.start + semi + 8;
  if (dataStart >= url.end) return badRequest("invalid_value", path + ": the data URL carries no data.", "messages");
  const img = imageFormat(mime);
  const w = t.open("user");
  if (img.length) {
    w.obj().key("image").obj().kStr("format", img).key("source").obj().key("bytes").strBytes(url.buf, dataStart, url.end).end().end().end();
    return null;
  }
  const docFmt = documentFormat(mime);
  if (docFmt.length) {
    // DocumentBlock.name is required; the part's position keeps names distinct within a message.
    w.obj().key("document").obj().kStr("format", docFmt).kStr("name", "document-" + (index + 1).toString())
      .key("source").obj().key("bytes").strBytes(url.buf, dataStart, url.end).end().end().end();
    return null;
  }
  return badRequest("invalid_value", path + ": media type " + mime + " is not supported by Bedrock Converse (png, jpeg, gif, webp images; pdf, csv, doc, docx, xls, xlsx, html, txt, md documents).", "messages");
}

/** Assistant tool_calls → toolUse blocks; arguments must be a JSON object encoded as a string. */
function writeToolUses(doc: JsonDoc, calls: JNode, t: Turns, path: string): ApiError | null {
  for (let i = 0; i < calls.length; i++) {
    const c = calls.items![i];
    const pp = path + "[" + i.toString() + "]";
    const id = doc.get(c, "id"), fn = doc.get(c, "function");
    const name = doc.get(fn, "name"), args = doc.get(fn, "arguments");
    if (id === null || id.kind != Kind.Str || name === null || name.kind != Kind.Str) return badRequest("invalid_value", pp + " needs id and function.name.", "messages");
    const w = t.open("assistant");
    w.obj().key("toolUse").obj().kRaw("toolUseId", doc, id).kRaw("name", doc, name).key("input");
    if (args === null || args.kind == Kind.Null || (args.kind == Kind.Str && args.end - args.start == 2)) w.json("{}");
    else {
      if (args.kind != Kind.Str) return badRequest("invalid_value", pp + ".function.arguments must be a JSON string.", "messages");
      const text = doc.strSpan(args);
      const parsed = parseJson(text.buf, 128, text.end, text.start);
      if (!parsed.ok || parsed.root!.kind != Kind.Obj) return badRequest("invalid_value", pp + ".function.arguments must be a JSON object encoded as a string.", "messages");
      const r = parsed.root!;
      w.rawBytes(parsed.src, r.start, r.end);
    }
    w.end().end();
  }
  return null;
}

function writeInferenceConfig(doc: JsonDoc, root: JNode, w: JsonWriter): ApiError | null {
  let open = false;
  const mct = doc.get(root, "max_completion_tokens"), mt = doc.get(root, "max_tokens");
  const mtNode = mct !== null && mct.kind != Kind.Null ? mct : mt;
  if (mtNode !== null && mtNode.kind != Kind.Null) {
    if (mtNode.kind != Kind.Num || mtNode.num < 1 || mtNode.num != Math.floor(mtNode.num) || mtNode.num > 2147483647) {
      return badRequest("invalid_value", "max_tokens must be a positive integer.", mct !== null && mct.kind != Kind.Null ? "max_completion_tokens" : "max_tokens");
    }
    w.key("inferenceConfig").obj(); open = true;
    w.kInt("maxTokens", doc.int(mtNode));
  }
  const temp = doc.get(root, "temperature");
  if (temp !== null && temp.kind != Kind.Null) {
    if (temp.kind != Kind.Num || temp.num < 0 || temp.num > 1) return badRequest("invalid_value", "temperature must be between 0 and 1 for Bedrock models.", "temperature");
    if (!open) { w.key("inferenceConfig").obj(); open = true; }
    w.kRaw("temperature", doc, temp);
  }
  const topP = doc.get(root, "top_p");
  if (topP !== null && topP.kind != Kind.Null) {
    if (topP.kind != Kind.Num || topP.num < 0 || topP.num > 1) return badRequest("invalid_value", "top_p must be between 0 and 1.", "top_p");
    if (!open) { w.key("inferenceConfig").obj(); open = true; }
    w.kRaw("topP", doc, topP);
  }
  const stop = doc.get(root, "stop");
  if (stop !== null && stop.kind != Kind.Null) {
    if (stop.kind == Kind.Str) {
      if (stop.end - stop.start <= 2) return badRequest("invalid_value", "stop sequences must be non-empty strings.", "stop");
      if (!open) { w.key("inferenceConfig").obj(); open = true; }
      w.key("stopSequences").arr().raw(doc, stop).end();
    } else if (stop.kind == Kind.Arr) {
      for (let i = 0; i < stop.length; i++) {
        const s = stop.items![i];
        if (s.kind != Kind.Str || s.end - s.start <= 2) return badRequest("invalid_value", "stop sequences must be non-empty strings.", "stop");
      }
      if (stop.length > 0) {
        if (!open) { w.key("inferenceConfig").obj(); open = true; }
        w.kRaw("stopSequences", doc, stop);
      }
    } else return badRequest("invalid_value", "stop must be a string or an array of strings.", "stop");
  }
  if (open) w.end();
  return null;
}

function writeToolConfig(doc: JsonDoc, root: JNode, w: JsonWriter): ApiError | null {
  const tools = doc.get(root, "tools");
  const choice = doc.get(root, "tool_choice");
  const hasTools = tools !== null && tools.kind == Kind.Arr && tools.length > 0;
  if (tools !== null && tools.kind != Kind.Null && tools.kind != Kind.Arr) return badRequest("invalid_value", "tools must be an array.", "tools");
  // Converse has no "none": the tools are left out (see the header comment).
  if (doc.strIs(choice, "none")) return null;
  if (!hasTools) {
    if (choice !== null && choice.kind != Kind.Null) return badRequest("invalid_value", "tool_choice needs tools.", "tool_choice");
    return null;
  }
  w.key("toolConfig").obj().key("tools").arr();
  for (let i = 0; i < tools!.length; i++) {
    const t = tools!.items![i];
    const tp = "tools[" + i.toString() + "]";
    if (!doc.strIs(doc.get(t, "type"), "function")) return badRequest("unsupported_parameter", tp + ": only function tools are supported for Bedrock models.", "tools");
    const fn = doc.get(t, "function");
    const name = doc.get(fn, "name");
    if (name === null || name.kind != Kind.Str || name.end - name.start <= 2) return badRequest("invalid_value", tp + ".function.name is required.", "tools");
    w.obj().key("toolSpec").obj().kRaw("name", doc, name);
    const desc = doc.get(fn, "description");
    if (desc !== null && desc.kind == Kind.Str && desc.end - desc.start > 2) w.kRaw("description", doc, desc);
    const params = doc.get(fn, "parameters");
    w.key("inputSchema").obj().key("json");
    if (params !== null && params.kind == Kind.Obj) w.raw(doc, params);
    else if (params === null || params.kind == Kind.Null) w.json("{\"type\":\"object\",\"properties\":{}}");
    else return badRequest("invalid_value", tp + ".function.parameters must be a JSON Schema object.", "tools");
    w.end();
    const strict = doc.get(fn, "strict");
    if (strict !== null && strict.kind == Kind.Bool) w.kRaw("strict", doc, strict);
    w.end().end();
    const cerr = badCacheControl(doc, t, tp);
    if (cerr !== null) return cerr;
    // Tool is a union: the cache point is a Tool of its own after the one it closes.
    writeCachePoint(doc, cacheMark(doc, t), w);
  }
  w.end();
  if (choice !== null && choice.kind != Kind.Null) {
    if (doc.strIs(choice, "auto")) w.key("toolChoice").obj().key("auto").obj().end().end();
    else if (doc.strIs(choice, "required")) w.key("toolChoice").obj().key("any").obj().end().end();
    else if (choice.kind == Kind.Obj && doc.strIs(doc.get(choice, "type"), "function")) {
      const name = doc.get(doc.get(choice, "function"), "name");
      if (name === null || name.kind != Kind.Str) return badRequest("invalid_value", "tool_choice.function.name is required.", "tool_choice");
      w.key("toolChoice").obj().key("tool").obj().kRaw("name", doc, name).end().end();
    } else return badRequest("unsupported_parameter", "tool_choice must be auto, required, none or a function choice for Bedrock models.", "tool_choice");
  }
  w.end();
  return null;
}

/** response_format json_schema → outputConfig.textFormat; reasoning_effort → outputConfig.effort. */
function writeOutputConfig(doc: JsonDoc, root: JNode, w: JsonWriter): ApiError | null {
  let open = false;
  const rf = doc.get(root, "response_format");
  if (rf !== null && rf.kind != Kind.Null) {
    const t = doc.get(rf, "type");
    if (doc.strIs(t, "json_schema")) {
      const js = doc.get(rf, "json_schema");
      const schema = doc.get(js, "schema");
      if (schema === null || schema.kind != Kind.Obj) return badRequest("invalid_value", "response_format.json_schema.schema must be an object.", "response_format");
      w.key("outputConfig").obj(); open = true;
      w.key("textFormat").obj().kStr("type", "json_schema").key("structure").obj().key("jsonSchema").obj();
      // JsonSchemaDefinition.schema is a string holding the JSON Schema (§5.2), sent compact.
      const min = new ByteBuilder(schema.end - schema.start);
      appendMinified(min, doc.src, schema.start, schema.end);
      w.key("schema").strBytes(min.buf, 0, min.len);
      const name = doc.get(js, "name"), desc = doc.get(js, "description");
      if (name !== null && name.kind == Kind.Str) w.kRaw("name", doc, name);
      if (desc !== null && desc.kind == Kind.Str) w.kRaw("description", doc, desc);
      w.end().end().end();
    } else if (!doc.strIs(t, "json_object") && !doc.strIs(t, "text")) {
      return badRequest("invalid_value", "response_format.type must be text, json_object or json_schema.", "response_format");
    }
  }
  const effort = doc.get(root, "reasoning_effort");
  if (effort !== null && effort.kind != Kind.Null) {
    let e = "";
    if (doc.strIs(effort, "minimal")) e = "low";
    else if (doc.strIs(effort, "low") || doc.strIs(effort, "medium") || doc.strIs(effort, "high") || doc.strIs(effort, "xhigh") || doc.strIs(effort, "max")) e = doc.str(effort);
    else if (!doc.strIs(effort, "none")) return badRequest("invalid_value", "reasoning_effort must be none, minimal, low, medium, high, xhigh or max.", "reasoning_effort");
    if (e.length) {
      if (!open) { w.key("outputConfig").obj(); open = true; }
      w.kStr("effort", e);
    }
  }
  if (open) w.end();
  return null;
}

/** Appends validated JSON src[start, end) without the whitespace between tokens. */
function appendMinified(out: ByteBuilder, src: Uint8Array, start: i32, end: i32): void {
  if (start < 0 || end > src.length) return;
  let inString = false;
  let run = start;
  for (let i = start; i < end; i++) {
    const c = load<u8>(src.dataStart + <usize>i);
    if (inString) {
      if (c == 0x5c) i++; // the escaped character cannot end the string
      else if (c == 0x22) inString = false;
    } else if (c == 0x22) inString = true;
    else if (c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09) {
      out.bytes(src, run, i);
      run = i + 1;
    }
  }
  out.bytes(src, run, end);
}

// ---------------------------------------------------------------------------------------------
// Responses

/** Bedrock stopReason → OpenAI finish_reason (§11.1). */
export function converseFinishReason(doc: JsonDoc, n: JNode | null): string {
  if (doc.strIs(n, "tool_use")) return "tool_calls";
  if (doc.strIs(n, "max_tokens") || doc.strIs(n, "model_context_window_exceeded")) return "length";
  if (doc.strIs(n, "guardrail_intervened") || doc.strIs(n, "content_filtered")) return "content_filter";
  return "stop";
}

/** Converse TokenUsage → Usage with OpenAI semantics (§11.2): prompt includes cache reads and writes. */
export function readConverseUsage(doc: JsonDoc, u: JNode | null, usage: Usage): void {
  if (u === null || u.kind != Kind.Obj) return;
  const cr = doc.int(doc.get(u, "cacheReadInputTokens"));
  const cw = doc.int(doc.get(u, "cacheWriteInputTokens"));
  usage.input = doc.int(doc.get(u, "inputTokens")) + cr + cw;
  usage.cachedInput = cr;
  usage.cacheWrite = cw;
  usage.output = doc.int(doc.get(u, "outputTokens"));
  usage.total = usage.input + usage.output;
  usage.reported = true;
  usage.final = true;
}

/**
 * reasoningContent blocks → `reasoning_content` (the reasoning texts joined) and `thinking_blocks`
 * (text with signature, or redacted data), the shapes the Anthropic translation gives too, so a
 * client sends them back the same way whichever backend answered.
 */
function writeReasoningOut(doc: JsonDoc, content: JNode, w: JsonWriter): void {
  const texts: JNode[] = [];
  for (let i = 0; i < content.length; i++) {
    const text = doc.get(doc.get(doc.get(content.items![i], "reasoningContent"), "reasoningText"), "text");
    if (text !== null && text.kind == Kind.Str) texts.push(text);
  }
  writeReasoningContent(w, doc, texts);
  w.key("thinking_blocks").arr();
  for (let i = 0; i < content.length; i++) {
    const rc = doc.get(content.items![i], "reasoningContent");
    if (rc === null || rc.kind != Kind.Obj) continue;
    const rt = doc.get(rc, "reasoningText"), red = doc.get(rc, "redactedContent");
    if (rt !== null && rt.kind == Kind.Obj) writeThinkingBlock(w, doc, doc.get(rt, "text"), doc.get(rt, "signature"));
    else if (red !== null && red.kind == Kind.Str) writeRedactedThinking(w, doc, red);
  }
  w.end();
}

/** Converse JSON → chat.completion. */
class ConverseJson extends ResponseHandler {
  constructor(private req: ClientRequest) { super(); this.wholeBody = true; this.rewrites = true; }

  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (!eos) return false;
    const doc = parseJson(chunk);
    const root = doc.root;
    if (root === null || root.kind != Kind.Obj) {
      this.status = 502;
      this.contentType = "application/json";
      out.all(Uint8Array.wrap(new ApiError(502, "upstream_error", "bad_upstream_response", "The Bedrock backend returned a response that is not valid JSON.").body()));
      return true;
    }
    readConverseUsage(doc, doc.get(root, "usage"), this.usage);
    const content = doc.get(doc.get(doc.get(root, "output"), "message"), "content");
    const w = new JsonWriter(out);
    w.obj().kStr("id", bedrockResponseId(this.req)).kStr("object", "chat.completion").kInt("created", this.req.nowSeconds)
      .kStr("model", this.req.upstreamModel);
    w.key("choices").arr().obj().kInt("index", 0).key("message").obj().kStr("role", "assistant").key("content");
    // All text blocks concatenated (the escaped contents of JSON strings concatenate safely).
    const cv = w.value();
    let texts = 0, tools = 0, reasoning = 0;
    if (content !== null && content.kind == Kind.Arr) {
      for (let i = 0; i < content.length; i++) {
        const blk = content.items![i];
        const text = doc.get(blk, "text");
        if (text !== null && text.kind == Kind.Str) {
          if (texts++ == 0) cv.byte(0x22);
          cv.bytes(doc.src, text.start + 1, text.end - 1);
        } else if (doc.get(blk, "toolUse") !== null) tools++;
        else if (doc.get(blk, "reasoningContent") !== null) reasoning++;
        // citationsContent…: no Chat Completions equivalent (§11.4).
      }
    }
    if (texts > 0) cv.byte(0x22); else cv.str("null");
    if (reasoning > 0) writeReasoningOut(doc, content!, w);
    w.key("refusal").nul();
    if (tools > 0) {
      w.key("tool_calls").arr();
      for (let i = 0; i < content!.length; i++) {
        const tu = doc.get(content!.items![i], "toolUse");
        if (tu === null || tu.kind != Kind.Obj) continue;
        const id = doc.get(tu, "toolUseId"), name = doc.get(tu, "name"), input = doc.get(tu, "input");
        w.obj().key("id");
        if (id !== null && id.kind == Kind.Str) w.raw(doc, id); else w.str("tooluse_missing_" + i.toString());
        w.kStr("type", "function").key("function").obj().key("name");
        if (name !== null && name.kind == Kind.Str) w.raw(doc, name); else w.str("");
        w.key("arguments");
        if (input !== null) w.strBytes(doc.src, input.start, input.end); else w.str("{}");
        w.end().end();
      }
      w.end();
    }
    w.end(); // message
    w.key("logprobs").nul().kStr("finish_reason", converseFinishReason(doc, doc.get(root, "stopReason"))).end().end();
    w.key("usage");
    writeUsage(w, this.usage);
    w.end();
    this.contentType = "application/json";
    return true;
  }
}

/**
 * ConverseStream eventstream → chat.completion.chunk SSE, frame by frame (§12):
 * messageStart → role chunk; contentBlockStart.toolUse → tool-call header (gateway index k per
 * contentBlockIndex); contentBlockDelta text / toolUse.input → content / arguments fragments;
 * messageStop → finish chunk; metadata (after messageStop) → usage, usage chunk if asked, [DONE].
 * Exception frames become an OpenAI error event; a corrupt or truncated stream too.
 */
class ConverseStream extends ResponseHandler {
  private reader: EventStreamReader = new EventStreamReader();
  private chunks: ChunkWriter = new ChunkWriter();
  private delta: ByteBuilder = new ByteBuilder(256);
  private wantUsage: bool;
  private roleSent: bool = false;
  private stopped: bool = false;
  private metadataSeen: bool = false;
  private finished: bool = false;
  private toolIndex: i32[] = [];
  private tools: i32 = 0;

  constructor(private req: ClientRequest) {
    super();
    this.rewrites = true;
    this.contentType = "text/event-stream";
    this.wantUsage = req.clientWantsUsage();
    const p = this.chunks.prefix;
    p.str("{\"id\":"); p.jsonString(bedrockResponseId(req));
    p.str(",\"object\":\"chat.completion.chunk\",\"created\":"); p.int(req.nowSeconds);
    p.str(",\"model\":"); p.jsonString(req.upstreamModel);
    p.byte(0x2c);
  }

  /** One chunk whose delta is `delta` (raw JSON) and finish_reason `finish` ("" = null). */
  private emit(out: ByteBuilder, delta: ByteBuilder, finish: string): void {
    this.chunks.choice(out, 0, delta, finish, this.wantUsage);
  }

  private role(out: ByteBuilder): void {
    if (this.roleSent) return;
    this.roleSent = true;
    const d = this.delta;
    d.reset(); d.str("{\"role\":\"assistant\",\"content\":\"\"}");
    this.emit(out, d, "");
  }

  private fail(out: ByteBuilder, e: ApiError): void {
    writeSse(out, "", Uint8Array.wrap(e.body()));
    this.finished = true;
  }

  /** Usage chunk (if asked and known) and [DONE]. */
  private done(out: ByteBuilder): void {
    if (this.wantUsage && this.usage.reported) {
      this.chunks.usage(out, this.usage);
    }
    out.str("data: [DONE]\n\n");
    this.finished = true;
  }

  onBody(data: Uint8Array, eos: bool, out: ByteBuilder): bool {
    const reader = this.reader;
    reader.feed(data);
    if (eos) reader.finish();
    const msgs = reader.messages;
    for (let i = 0; i < msgs.length && !this.finished; i++) this.onMessage(unchecked(msgs[i]), out);
    msgs.length = 0;
    if (!this.finished && reader.failed) {
      this.fail(out, new ApiError(502, "server_error", "bad_upstream_stream", "The Bedrock stream could not be decoded: " + reader.error + "."));
    }
    if (eos && !this.finished) {
      // Content is complete after messageStop; only the metadata (usage) frame is missing.
      if (this.stopped) this.done(out);
      else this.fail(out, new ApiError(502, "server_error", "incomplete_upstream_stream", "The Bedrock stream ended before messageStop."));
    }
    return true;
  }

  private onMessage(msg: EventStreamMessage, out: ByteBuilder): void {
    if (msg.messageType == "exception" || msg.messageType == "error") {
      this.fail(out, StreamException.of(msg).toApiError());
      return;
    }
    if (msg.messageType != "event") return;
    const et = msg.eventType;
    const doc = parseJson(msg.payload);
    const root = doc.root;
    if (root === null || root.kind != Kind.Obj) {
      this.fail(out, new ApiError(502, "server_error", "bad_upstream_stream", "The Bedrock stream carried a " + et + " event that is not a JSON object."));
      return;
    }
    const delta = this.delta;
    if (et == "messageStart") { this.role(out); return; }
    if (et == "contentBlockStart") {
      const tu = doc.get(doc.get(root, "start"), "toolUse");
      if (tu === null || tu.kind != Kind.Obj) return;
      const bi = <i32>doc.int(doc.get(root, "contentBlockIndex"), -1);
      if (bi < 0 || bi > 4096) return;
      this.role(out);
      while (this.toolIndex.length <= bi) this.toolIndex.push(-1);
      const k = this.tools++;
      unchecked((this.toolIndex[bi] = k));
      const id = doc.get(tu, "toolUseId"), name = doc.get(tu, "name");
      delta.reset();
      delta.str("{\"tool_calls\":[{\"index\":"); delta.int(k); delta.str(",\"id\":");
      if (id !== null && id.kind == Kind.Str) doc.copyTo(id, delta); else delta.str("\"\"");
      delta.str(",\"type\":\"function\",\"function\":{\"name\":");
      if (name !== null && name.kind == Kind.Str) doc.copyTo(name, delta); else delta.str("\"\"");
      delta.str(",\"arguments\":\"\"}}]}");
      this.emit(out, delta, "");
      return;
    }
    if (et == "contentBlockDelta") {
      const d = doc.get(root, "delta");
      const text = doc.get(d, "text");
      if (text !== null && text.kind == Kind.Str) {
        // A text delta may come without contentBlockStart (§5.5): blocks open lazily.
        if (text.end - text.start <= 2) return;
        this.role(out);
        delta.reset(); delta.str("{\"content\":"); doc.copyTo(text, delta); delta.byte(0x7d);
        this.emit(out, delta, "");
        return;
      }
      const input = doc.get(doc.get(d, "toolUse"), "input");
      if (input !== null && input.kind == Kind.Str) {
        const bi = <i32>doc.int(doc.get(root, "contentBlockIndex"), -1);
        if (input.end - input.start <= 2) return;
        // Without its contentBlockStart there is no id or name to give the client: skipped.
        if (bi < 0 || bi >= this.toolIndex.length || unchecked(this.toolIndex[bi]) < 0) return;
        delta.reset();
        delta.str("{\"tool_calls\":[{\"index\":"); delta.int(unchecked(this.toolIndex[bi]));
        delta.str(",\"function\":{\"arguments\":"); doc.copyTo(input, delta); delta.str("}}]}");
        this.emit(out, delta, "");
        return;
      }
      const rc = doc.get(d, "reasoningContent");
      if (rc !== null && rc.kind == Kind.Obj) {
        // Reasoning text → reasoning_content; its signature (and redacted reasoning) as a
        // thinking_blocks fragment, as the Anthropic translation streams them.
        const rt = doc.get(rc, "text"), sig = doc.get(rc, "signature"), red = doc.get(rc, "redactedContent");
        if (rt !== null && rt.kind == Kind.Str && rt.end - rt.start > 2) {
          this.role(out);
          delta.reset(); delta.str("{\"reasoning_content\":"); doc.copyTo(rt, delta); delta.byte(0x7d);
          this.emit(out, delta, "");
        } else if (sig !== null && sig.kind == Kind.Str) {
          this.role(out);
          delta.reset(); delta.str("{\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":"); doc.copyTo(sig, delta); delta.str("}]}");
          this.emit(out, delta, "");
        } else if (red !== null && red.kind == Kind.Str) {
          this.role(out);
          delta.reset(); delta.str("{\"thinking_blocks\":[{\"type\":\"redacted_thinking\",\"data\":"); doc.copyTo(red, delta); delta.str("}]}");
          this.emit(out, delta, "");
        }
      }
      // citation, …: no Chat Completions equivalent.
      return;
    }
    if (et == "messageStop") {
      if (this.stopped) return;
      this.role(out);
      this.stopped = true;
      delta.reset(); delta.str("{}");
      this.emit(out, delta, converseFinishReason(doc, doc.get(root, "stopReason")));
      if (this.metadataSeen) this.done(out);
      return;
    }
    if (et == "metadata") {
      readConverseUsage(doc, doc.get(root, "usage"), this.usage);
      this.metadataSeen = true;
      if (this.stopped) this.done(out);
    }
    // contentBlockStop and unknown events carry nothing for the client.
  }
}
