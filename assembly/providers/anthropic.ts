// Anthropic Messages API behind the OpenAI Chat Completions API (reference providers.md §4,
// §10, §11, §12). Requests are rebuilt as Messages bodies, copying the client's string
// literals verbatim; responses and SSE streams are rebuilt as chat.completion(.chunk) objects
// incrementally. Parameters Anthropic cannot honour are refused with a 400 rather than dropped.

import { JNode, JsonDoc, Kind, parseJson, Span } from "../json/json";
import { JsonWriter } from "../json/writer";
import { ApiError, badRequest, plainErrorText } from "../errors";
import { Refuse, refuseUnsupported } from "./unsupported";
import { Usage } from "../usage";
import { ByteBuilder } from "../util/bytes";
import { SseReader, writeSse } from "../streams/sse";
import { ClientRequest, Endpoint, Provider, ResponseHandler, UpstreamRequest } from "./provider";
import { ChunkWriter, writeReasoningContent, writeRedactedThinking, writeThinkingBlock, writeUsage } from "./openai_out";
import { bedrockModelPath } from "./bedrock_common";
import { badCacheControl, cacheMark, cacheTtl, readThinking, thinkingBlocks, thinkingText } from "./extensions";
import { prepareNativeMessages, nativeMessagesResponse } from "./anthropic_native";
import { googleError, googleModelPath, modelSegmentOk } from "./google";

const IMAGE_TYPES: string[] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/** reasoning_effort → thinking budget_tokens (none/minimal: thinking off). */
function thinkingBudget(effort: string): i64 {
  if (effort == "low") return 1024;
  if (effort == "medium") return 4096;
  if (effort == "high") return 16384;
  if (effort == "xhigh" || effort == "max") return 32768;
  return 0;
}

/**
 * Where the Messages API is served. The body is the same Messages body everywhere; the cloud
 * platforms move the model into the URL and `anthropic_version` into the body (providers.md §4.8).
 */
export const enum AnthropicDialect { Direct = 0, Bedrock = 1, Vertex = 2 }

export class AnthropicProvider extends Provider {
  constructor(public dialect: AnthropicDialect = AnthropicDialect.Direct) { super(); }

  prepare(req: ClientRequest, out: UpstreamRequest): ApiError | null {
    if (req.endpoint != Endpoint.ChatCompletions) {
      return new ApiError(400, "invalid_request_error", "unsupported_endpoint", "Anthropic backends do not serve " + (req.endpoint == Endpoint.Embeddings ? "embeddings" : "this endpoint") + ".");
    }
    const doc = req.doc, root = req.root;
    const err = refuseUnsupported(doc, root, UNSUPPORTED, "Anthropic models");
    if (err !== null) return err;

    const b = new ByteBuilder(doc.src.length + 256);
    const w = new JsonWriter(b);
    w.obj();
    if (this.dialect == AnthropicDialect.Direct) w.kStr("model", req.upstreamModel);
    else w.kStr("anthropic_version", bodyVersion(this.dialect, req.backend.apiVersion));

    // max_tokens is required by Anthropic: the client's, else the backend's default.
    let maxTokens: i64 = -1;
    const mct = doc.get(root, "max_completion_tokens"), mt = doc.get(root, "max_tokens");
    const mtNode = mct !== null && mct.kind != Kind.Null ? mct : mt;
    if (mtNode !== null && mtNode.kind != Kind.Null) {
      if (mtNode.kind != Kind.Num || mtNode.num < 1 || mtNode.num != Math.floor(mtNode.num)) return badRequest("invalid_value", "max_tokens must be a positive integer.", "max_tokens");
      maxTokens = doc.int(mtNode);
    }
    const effortNode = doc.get(root, "reasoning_effort");
    const thinking = readThinking(doc, root);
    if (thinking.error !== null) return thinking.error;
    const budget = thinking.mode == 1 ? thinking.budget : effortNode !== null && effortNode.kind == Kind.Str ? thinkingBudget(doc.str(effortNode)) : 0;
    if (maxTokens < 0) maxTokens = req.backend.defaultMaxTokens + budget;
    else if (budget > 0 && maxTokens <= budget) {
      return badRequest("invalid_value", "max_tokens must exceed the thinking budget (" + budget.toString() + " tokens" + (thinking.mode == 1 ? "" : " implied by reasoning_effort") + ").", "max_tokens");
    }
    w.kInt("max_tokens", maxTokens);

    const merr = writeMessages(doc, root, w);
    if (merr !== null) return merr;

    const temp = doc.get(root, "temperature");
    if (temp !== null && temp.kind != Kind.Null) {
      if (temp.kind != Kind.Num || temp.num < 0 || temp.num > 1) return badRequest("invalid_value", "temperature must be between 0 and 1 for Anthropic models.", "temperature");
      w.kRaw("temperature", doc, temp);
    }
    const topP = doc.get(root, "top_p");
    if (topP !== null && topP.kind == Kind.Num) w.kRaw("top_p", doc, topP);
    const stop = doc.get(root, "stop");
    if (stop !== null) {
      if (stop.kind == Kind.Str) { w.key("stop_sequences").arr().raw(doc, stop).end(); }
      else if (stop.kind == Kind.Arr) w.kRaw("stop_sequences", doc, stop);
      else if (stop.kind != Kind.Null) return badRequest("invalid_value", "stop must be a string or an array of strings.", "stop");
    }
    if (req.stream && this.dialect != AnthropicDialect.Bedrock) w.key("stream").bool(true);

    const terr = writeTools(doc, root, w);
    if (terr !== null) return terr;

    const user = doc.get(root, "safety_identifier") !== null ? doc.get(root, "safety_identifier") : doc.get(root, "user");
    if (user !== null && user.kind == Kind.Str) { w.key("metadata").obj().kRaw("user_id", doc, user).end(); }

    // The `thinking` extension is Anthropic's own control: sent as the client wrote it.
    if (thinking.node !== null) w.kRaw("thinking", doc, thinking.node!);
    else if (budget > 0) { w.key("thinking").obj().kStr("type", "enabled").kInt("budget_tokens", budget).end(); }

    // service_tier: OpenAI's auto → Anthropic's auto; default (never the priority tier) →
    // standard_only. Anthropic has no flex or scale tier, and priority is a contract, not a switch.
    const st = doc.get(root, "service_tier");
    if (st !== null && st.kind != Kind.Null) {
      if (doc.strIs(st, "auto")) w.kStr("service_tier", "auto");
      else if (doc.strIs(st, "default")) w.kStr("service_tier", "standard_only");
      else return badRequest("unsupported_parameter", "service_tier must be auto or default for Anthropic models.", "service_tier");
    }

    const rf = doc.get(root, "response_format");
    if (rf !== null && rf.kind == Kind.Obj) {
      const t = doc.get(rf, "type");
      if (doc.strIs(t, "json_schema")) {
        const schema = doc.get(doc.get(rf, "json_schema"), "schema");
        if (schema === null || schema.kind != Kind.Obj) return badRequest("invalid_value", "response_format.json_schema.schema must be an object.", "response_format");
        w.key("output_config").obj().key("format").obj().kStr("type", "json_schema").kRaw("schema", doc, schema).end().end();
      }
    }
    w.end();

    out.body = b;
    this.target(req, out);
    if (out.path.length == 0) return badRequest("invalid_value", "The model name cannot be used in this backend's URL.", "model");
    return null;
  }

  /** Path and version header for this dialect (the body is already built). */
  target(req: ClientRequest, out: UpstreamRequest): void {
    if (this.dialect == AnthropicDialect.Direct) {
      out.path = req.backend.basePath + "/messages";
      out.headers.push("anthropic-version");
      out.headers.push(req.backend.apiVersion);
      return;
    }
    // Bedrock: /model/{id}/invoke[-with-response-stream]; Vertex: ...:rawPredict / :streamRawPredict.
    out.path = anthropicCloudPath(this.dialect, req);
  }

  /** Every dialect serves the Messages API: a Messages client's body goes upstream nearly as is. */
  nativeMessages(req: ClientRequest): bool { return true; }
  prepareMessages(req: ClientRequest, out: UpstreamRequest): ApiError | null { return prepareNativeMessages(this, req, out); }
  messagesResponse(req: ClientRequest, status: i32, contentType: string): ResponseHandler | null { return nativeMessagesResponse(req, status, contentType); }

  response(req: ClientRequest, status: i32, contentType: string): ResponseHandler {
    if (status < 200 || status >= 300) return new AnthropicError(status);
    if (contentType.startsWith("text/event-stream")) return new AnthropicStream(req);
    return new AnthropicJson(req);
  }
}

/** `anthropic_version` in the body on Bedrock and Vertex; the backend's api_version overrides. */
export function bodyVersion(d: AnthropicDialect, configured: string): string {
  if (configured.length) return configured;
  return d == AnthropicDialect.Bedrock ? "bedrock-2023-05-31" : "vertex-2023-10-16";
}

/** The upstream path on the cloud platforms; filled in with the Bedrock and Vertex providers. */
function anthropicCloudPath(d: AnthropicDialect, req: ClientRequest): string {
  if (d == AnthropicDialect.Bedrock) return bedrockModelPath(req, req.stream ? "invoke-with-response-stream" : "invoke");
  if (d == AnthropicDialect.Vertex) {
    // .../publishers/anthropic/models/{model}:rawPredict, :streamRawPredict for SSE (§4.8); "" = unusable model name.
    const model = req.upstreamModel;
    if (!modelSegmentOk(model)) return "";
    return googleModelPath(req.backend, true, "anthropic", model) + (req.stream ? ":streamRawPredict" : ":rawPredict");
  }
  return req.backend.basePath + "/messages";
}

/** What the OpenAI request may ask for that Anthropic models cannot do (a 400 instead of silence). */
const UNSUPPORTED: u32 = Refuse.N | Refuse.LOGPROBS | Refuse.LOGIT_BIAS | Refuse.PENALTIES | Refuse.SEED | Refuse.AUDIO | Refuse.PREDICTION |
  Refuse.WEB_SEARCH | Refuse.FUNCTIONS;

/** Writes "system" and "messages". */
function writeMessages(doc: JsonDoc, root: JNode, w: JsonWriter): ApiError | null {
  const msgs = doc.get(root, "messages");
  if (msgs === null || msgs.kind != Kind.Arr || msgs.length == 0) return badRequest("invalid_value", "messages must be a non-empty array.", "messages");
  const items = msgs.items!;
  const rf = doc.get(root, "response_format");
  const jsonObject = rf !== null && doc.strIs(doc.get(rf, "type"), "json_object");

  // system / developer messages are hoisted, in order, into the top-level system blocks.
  let systemOpen = false;
  for (let i = 0; i < items.length; i++) {
    const m = unchecked(items[i]);
    if (m.kind != Kind.Obj) return badRequest("invalid_value", "messages[" + i.toString() + "] must be an object.", "messages");
    const role = doc.get(m, "role");
    if (!(doc.strIs(role, "system") || doc.strIs(role, "developer"))) continue;
    if (!systemOpen) { w.key("system").arr(); systemOpen = true; }
    const e = writeTextBlocks(doc, doc.get(m, "content"), w, "messages[" + i.toString() + "].content", cacheMark(doc, m));
    if (e !== null) return e;
  }
  if (jsonObject) {
    // No native JSON mode: the instruction is the documented way (providers.md §10.5).
    if (!systemOpen) { w.key("system").arr(); systemOpen = true; }
    w.obj().kStr("type", "text").kStr("text", "Respond only with a single valid JSON object, with no text before or after it.").end();
  }
  if (systemOpen) w.end();

  w.key("messages").arr();
  let toolOpen = false; // an open user message collecting consecutive tool results
  let wrote = 0;
  for (let i = 0; i < items.length; i++) {
    const m = unchecked(items[i]);
    const role = doc.get(m, "role");
    const path = "messages[" + i.toString() + "]";
    const cerr = badCacheControl(doc, m, path);
    if (cerr !== null) return cerr;
    const mark = cacheMark(doc, m);
    if (doc.strIs(role, "system") || doc.strIs(role, "developer")) continue;
    if (doc.strIs(role, "tool")) {
      if (!toolOpen) { w.obj().kStr("role", "user").key("content").arr(); toolOpen = true; }
      const id = doc.get(m, "tool_call_id");
      if (id === null || id.kind != Kind.Str) return badRequest("invalid_value", path + ".tool_call_id is required.", "messages");
      w.obj().kStr("type", "tool_result").kRaw("tool_use_id", doc, id);
      const c = doc.get(m, "content");
      if (c !== null && c.kind == Kind.Str) w.kRaw("content", doc, c);
      else if (c !== null && c.kind == Kind.Arr) {
        w.key("content").arr();
        const e = writeTextBlocksOf(doc, c, w, path + ".content", null);
        if (e !== null) return e;
        w.end();
      }
      writeCacheControl(doc, mark, w);
      w.end();
      continue;
    }
    if (toolOpen && doc.strIs(role, "user")) {
      // Tool results and the user text that follows them form one user turn (§10.1).
      const c = doc.get(m, "content");
      if (c !== null && c.kind == Kind.Str) { if (c.end - c.start > 2) { w.obj().kStr("type", "text").kRaw("text", doc, c); writeCacheControl(doc, mark, w); w.end(); } }
      else if (c !== null && c.kind == Kind.Arr) {
        const e = writeUserParts(doc, c, w, path + ".content", mark);
        if (e !== null) return e;
      } else return badRequest("invalid_value", path + ".content must be a string or an array of content parts.", "messages");
      w.end().end(); toolOpen = false; wrote++;
      continue;
    }
    if (toolOpen) { w.end().end(); toolOpen = false; wrote++; }
    if (doc.strIs(role, "user")) {
      w.obj().kStr("role", "user").key("content");
      const c = doc.get(m, "content");
      if (c !== null && c.kind == Kind.Str && mark === null) w.raw(doc, c);
      else if (c !== null && c.kind == Kind.Str) { w.arr().obj().kStr("type", "text").kRaw("text", doc, c); writeCacheControl(doc, mark, w); w.end().end(); }
      else if (c !== null && c.kind == Kind.Arr) {
        w.arr();
        const e = writeUserParts(doc, c, w, path + ".content", mark);
        if (e !== null) return e;
        w.end();
      } else return badRequest("invalid_value", path + ".content must be a string or an array of content parts.", "messages");
      w.end();
      wrote++;
    } else if (doc.strIs(role, "assistant")) {
      const c = doc.get(m, "content");
      const calls = doc.get(m, "tool_calls");
      const hasText = c !== null && ((c.kind == Kind.Str && c.end - c.start > 2) || (c.kind == Kind.Arr && c.length > 0));
      const hasCalls = calls !== null && calls.kind == Kind.Arr && calls.length > 0;
      const terrs: ApiError[] = [];
      const thinking = thinkingBlocks(doc, m, path, terrs);
      if (terrs.length) return terrs[0];
      if (!hasText && !hasCalls) continue; // Anthropic rejects empty assistant turns
      w.obj().kStr("role", "assistant").key("content").arr();
      // Signed thinking blocks go back first, unmodified: Anthropic checks them when the turn
      // holds tool use (extended thinking with tools).
      if (thinking !== null) writeThinkingBlocks(doc, m, thinking, w);
      if (hasText) {
        const e = writeTextBlocks(doc, c, w, path + ".content", hasCalls ? null : mark);
        if (e !== null) return e;
      }
      if (hasCalls) {
        const e = writeToolUses(doc, calls!, w, path + ".tool_calls", mark);
        if (e !== null) return e;
      }
      w.end().end();
      wrote++;
    } else {
      return badRequest("invalid_value", path + ".role must be one of system, developer, user, assistant, tool.", "messages");
    }
  }
  if (toolOpen) { w.end().end(); wrote++; }
  w.end();
  if (wrote == 0) return badRequest("invalid_value", "messages must contain at least one user or assistant message.", "messages");
  return null;
}

/** content (string or text parts) → text blocks in an open array. */
function writeTextBlocks(doc: JsonDoc, c: JNode | null, w: JsonWriter, path: string, mark: JNode | null): ApiError | null {
  if (c === null || c.kind == Kind.Null) return null;
  if (c.kind == Kind.Str) {
    if (c.end - c.start > 2) { w.obj().kStr("type", "text").kRaw("text", doc, c); writeCacheControl(doc, mark, w); w.end(); }
    return null;
  }
  if (c.kind != Kind.Arr) return badRequest("invalid_value", path + " must be a string or an array of text parts.", "messages");
  return writeTextBlocksOf(doc, c, w, path, mark);
}

/** Text parts → text blocks; a part's cache marker, or the message's on its last part, → cache_control. */
function writeTextBlocksOf(doc: JsonDoc, c: JNode, w: JsonWriter, path: string, mark: JNode | null): ApiError | null {
  for (let i = 0; i < c.length; i++) {
    const p = c.items![i];
    const t = doc.get(p, "type");
    const cerr = badCacheControl(doc, p, path + "[" + i.toString() + "]");
    if (cerr !== null) return cerr;
    const pm = partMark(doc, p, i == c.length - 1 ? mark : null);
    if (doc.strIs(t, "text")) {
      const text = doc.get(p, "text");
      if (text === null || text.kind != Kind.Str) return badRequest("invalid_value", path + "[" + i.toString() + "].text must be a string.", "messages");
      w.obj().kStr("type", "text").kRaw("text", doc, text); writeCacheControl(doc, pm, w); w.end();
    } else if (doc.strIs(t, "refusal")) {
      const text = doc.get(p, "refusal");
      if (text !== null && text.kind == Kind.Str) { w.obj().kStr("type", "text").kRaw("text", doc, text); writeCacheControl(doc, pm, w); w.end(); }
    } else return badRequest("invalid_value", path + "[" + i.toString() + "] must be a text part here.", "messages");
  }
  return null;
}

/** A part's own cache marker, else the message's (given only for the message's last part). */
function partMark(doc: JsonDoc, p: JNode, messageMark: JNode | null): JNode | null {
  const own = cacheMark(doc, p);
  return own !== null ? own : messageMark;
}

/** `"cache_control":{"type":"ephemeral"[,"ttl":…]}` in the open block, for a cache marker. */
function writeCacheControl(doc: JsonDoc, mark: JNode | null, w: JsonWriter): void {
  if (mark === null) return;
  w.key("cache_control").obj().kStr("type", "ephemeral");
  const ttl = cacheTtl(doc, mark);
  if (ttl.length) w.kStr("ttl", ttl);
  w.end();
}

/** An assistant message's thinking_blocks → thinking / redacted_thinking blocks, as Anthropic sent them. */
function writeThinkingBlocks(doc: JsonDoc, m: JNode, blocks: JNode, w: JsonWriter): void {
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks.items![i];
    if (doc.strIs(doc.get(b, "type"), "redacted_thinking")) {
      w.obj().kStr("type", "redacted_thinking").kRaw("data", doc, doc.get(b, "data")!).end();
      continue;
    }
    const text = thinkingText(doc, m, blocks, b);
    w.obj().kStr("type", "thinking").kRaw("thinking", doc, text!).kRaw("signature", doc, doc.get(b, "signature")!).end();
  }
}

function writeUserParts(doc: JsonDoc, c: JNode, w: JsonWriter, path: string, mark: JNode | null): ApiError | null {
  for (let i = 0; i < c.length; i++) {
    const p = c.items![i];
    const pp = path + "[" + i.toString() + "]";
    const t = doc.get(p, "type");
    const cerr = badCacheControl(doc, p, pp);
    if (cerr !== null) return cerr;
    const pm = partMark(doc, p, i == c.length - 1 ? mark : null);
    if (doc.strIs(t, "text")) {
      const text = doc.get(p, "text");
      if (text === null || text.kind != Kind.Str) return badRequest("invalid_value", pp + ".text must be a string.", "messages");
      w.obj().kStr("type", "text").kRaw("text", doc, text); writeCacheControl(doc, pm, w); w.end();
    } else if (doc.strIs(t, "image_url")) {
      const urlNode = doc.get(doc.get(p, "image_url"), "url");
      if (urlNode === null || urlNode.kind != Kind.Str) return badRequest("invalid_value", pp + ".image_url.url must be a string.", "messages");
      const e = writeMediaBlock(doc, urlNode, w, pp + ".image_url.url", true, pm);
      if (e !== null) return e;
    } else if (doc.strIs(t, "file")) {
      const file = doc.get(p, "file");
      const data = doc.get(file, "file_data");
      if (data === null || data.kind != Kind.Str) return badRequest("unsupported_parameter", pp + ": only inline file_data is supported for Anthropic models (file_id refers to another provider's file store).", "messages");
      const e = writeMediaBlock(doc, data, w, pp + ".file.file_data", false, pm);
      if (e !== null) return e;
    } else if (doc.strIs(t, "input_audio")) {
      return badRequest("unsupported_parameter", pp + ": audio input is not supported by Anthropic models.", "messages");
    } else {
      return badRequest("invalid_value", pp + ".type must be text, image_url or file.", "messages");
    }
  }
  return null;
}

/** A data URL becomes an image/document block with base64 source; an http(s) URL a url source. */
function writeMediaBlock(doc: JsonDoc, urlNode: JNode, w: JsonWriter, path: string, allowUrl: bool, mark: JNode | null): ApiError | null {
  const url = doc.strSpan(urlNode);
  if (url.startsWith("data:")) {
    const semi = url.indexOf(";base64,");
    if (semi < 0) return badRequest("invalid_value", path + ": data URLs must be base64-encoded (data:<type>;base64,...).", "messages");
    const mime = new Span(url.buf, url.start + 5, url.start + semi).toString().toLowerCase();
    const dataStart = url.start + semi + 8;
    let type = "";
    if (IMAGE_TYPES.includes(mime)) type = "image";
    else if (mime == "application/pdf") type = "document";
    else return badRequest("invalid_value", path + ": media type " + mime + " is not supported by Anthropic models (jpeg, png, gif, webp, pdf).", "messages");
    w.obj().kStr("type", type).key("source").obj().kStr("type", "base64").kStr("media_type", mime)
      .key("data").strBytes(url.buf, dataStart, url.end).end();
    writeCacheControl(doc, mark, w);
    w.end();
    return null;
  }
  if (allowUrl && (url.startsWith("https://") || url.startsWith("http://"))) {
    const isPdf = url.length > 4 && new Span(url.buf, url.end - 4, url.end).toString().toLowerCase() == ".pdf";
    w.obj().kStr("type", isPdf ? "document" : "image").key("source").obj().kStr("type", "url").kRaw("url", doc, urlNode).end();
    writeCacheControl(doc, mark, w);
    w.end();
    return null;
  }
  return badRequest("invalid_value", path + " must be a data URL or an http(s) URL.", "messages");
}

/** OpenAI tool_calls → tool_use blocks; arguments must be a JSON object. */
function writeToolUses(doc: JsonDoc, calls: JNode, w: JsonWriter, path: string, mark: JNode | null): ApiError | null {
  for (let i = 0; i < calls.length; i++) {
    const c = calls.items![i];
    const pp = path + "[" + i.toString() + "]";
    const id = doc.get(c, "id"), fn = doc.get(c, "function");
    const name = doc.get(fn, "name"), args = doc.get(fn, "arguments");
    if (id === null || id.kind != Kind.Str || name === null || name.kind != Kind.Str) return badRequest("invalid_value", pp + " needs id and function.name.", "messages");
    w.obj().kStr("type", "tool_use").kRaw("id", doc, id).kRaw("name", doc, name).key("input");
    if (args === null || args.kind == Kind.Null || (args.kind == Kind.Str && args.end - args.start == 2)) w.json("{}");
    else {
      if (args.kind != Kind.Str) return badRequest("invalid_value", pp + ".function.arguments must be a JSON string.", "messages");
      const text = doc.strSpan(args);
      const parsed = parseJson(text.buf, 128, text.end, text.start);
      if (!parsed.ok || parsed.root!.kind != Kind.Obj) return badRequest("invalid_value", pp + ".function.arguments must be a JSON object encoded as a string.", "messages");
      const r = parsed.root!;
      w.rawBytes(parsed.src, r.start, r.end);
    }
    if (i == calls.length - 1) writeCacheControl(doc, mark, w);
    w.end();
  }
  return null;
}

function writeTools(doc: JsonDoc, root: JNode, w: JsonWriter): ApiError | null {
  const tools = doc.get(root, "tools");
  const choice = doc.get(root, "tool_choice");
  const ptc = doc.get(root, "parallel_tool_calls");
  const noParallel = ptc !== null && ptc.kind == Kind.Bool && !ptc.flag;
  if (tools !== null && tools.kind == Kind.Arr && tools.length > 0) {
    w.key("tools").arr();
    for (let i = 0; i < tools.length; i++) {
      const t = tools.items![i];
      if (!doc.strIs(doc.get(t, "type"), "function")) return badRequest("unsupported_parameter", "tools[" + i.toString() + "]: only function tools are supported for Anthropic models.", "tools");
      const fn = doc.get(t, "function");
      const name = doc.get(fn, "name");
      if (name === null || name.kind != Kind.Str) return badRequest("invalid_value", "tools[" + i.toString() + "].function.name is required.", "tools");
      w.obj().kRaw("name", doc, name);
      const desc = doc.get(fn, "description");
      if (desc !== null && desc.kind == Kind.Str) w.kRaw("description", doc, desc);
      const params = doc.get(fn, "parameters");
      if (params !== null && params.kind == Kind.Obj) w.kRaw("input_schema", doc, params);
      else w.key("input_schema").json("{\"type\":\"object\",\"properties\":{}}");
      const strict = doc.get(fn, "strict");
      if (strict !== null && strict.kind == Kind.Bool) w.kRaw("strict", doc, strict);
      const cerr = badCacheControl(doc, t, "tools[" + i.toString() + "]");
      if (cerr !== null) return cerr;
      writeCacheControl(doc, cacheMark(doc, t), w);
      w.end();
    }
    w.end();
  }
  if (choice !== null && choice.kind != Kind.Null) {
    w.key("tool_choice").obj();
    if (doc.strIs(choice, "auto")) w.kStr("type", "auto");
    else if (doc.strIs(choice, "required")) w.kStr("type", "any");
    else if (doc.strIs(choice, "none")) w.kStr("type", "none");
    else if (choice.kind == Kind.Obj && doc.strIs(doc.get(choice, "type"), "function")) {
      const name = doc.get(doc.get(choice, "function"), "name");
      if (name === null || name.kind != Kind.Str) return badRequest("invalid_value", "tool_choice.function.name is required.", "tool_choice");
      w.kStr("type", "tool").kRaw("name", doc, name);
    } else return badRequest("unsupported_parameter", "tool_choice must be auto, required, none or a function choice for Anthropic models.", "tool_choice");
    if (noParallel && !doc.strIs(choice, "none")) w.key("disable_parallel_tool_use").bool(true);
    w.end();
  } else if (noParallel && tools !== null && tools.kind == Kind.Arr && tools.length > 0) {
    w.key("tool_choice").obj().kStr("type", "auto").key("disable_parallel_tool_use").bool(true).end();
  }
  return null;
}

/** Anthropic stop_reason → OpenAI finish_reason (§11.1; unknown values → stop). */
export function finishReason(doc: JsonDoc, n: JNode | null): string {
  if (doc.strIs(n, "max_tokens") || doc.strIs(n, "model_context_window_exceeded")) return "length";
  if (doc.strIs(n, "tool_use")) return "tool_calls";
  if (doc.strIs(n, "refusal")) return "content_filter";
  return "stop";
}

/**
 * Anthropic usage → Usage, OpenAI semantics (§4.5, §11.2): prompt includes cache reads and writes.
 * `fresh` (a whole answer, message_start) starts from zero; otherwise (message_delta) every
 * counter present overrides the earlier value field by field — a message_delta may carry the
 * cache counters without input_tokens, and those must still count.
 */
export function readUsage(doc: JsonDoc, u: JNode | null, usage: Usage, fresh: bool): void {
  if (u === null || u.kind != Kind.Obj) return;
  usage.reported = true;
  usage.final = true;
  let base = fresh ? 0 : usage.input - usage.cachedInput - usage.cacheWrite;
  let cc = fresh ? 0 : usage.cacheWrite, cr = fresh ? 0 : usage.cachedInput;
  const it = doc.get(u, "input_tokens"), ccn = doc.get(u, "cache_creation_input_tokens"), crn = doc.get(u, "cache_read_input_tokens");
  if (it !== null && it.kind == Kind.Num) base = doc.int(it);
  if (ccn !== null && ccn.kind == Kind.Num) cc = doc.int(ccn);
  if (crn !== null && crn.kind == Kind.Num) cr = doc.int(crn);
  usage.input = base + cc + cr;
  usage.cachedInput = cr;
  usage.cacheWrite = cc;
  const ot = doc.get(u, "output_tokens");
  if (ot !== null && ot.kind == Kind.Num) usage.output = doc.int(ot);
  else if (fresh) usage.output = 0;
  const th = doc.get(doc.get(u, "output_tokens_details"), "thinking_tokens");
  if (th !== null && th.kind == Kind.Num) usage.reasoning = doc.int(th);
  usage.total = usage.input + usage.output;
}

export class AnthropicJson extends ResponseHandler {
  constructor(private req: ClientRequest) { super(); this.wholeBody = true; this.rewrites = true; this.contentType = "application/json"; }

  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (!eos) return false;
    const doc = parseJson(chunk);
    const root = doc.root;
    if (root === null || root.kind != Kind.Obj) {
      this.status = 502;
      out.all(Uint8Array.wrap(new ApiError(502, "upstream_error", "bad_upstream_response", "The Anthropic backend returned a response that is not valid JSON.").body()));
      return true;
    }
    readUsage(doc, doc.get(root, "usage"), this.usage, true);
    const w = new JsonWriter(out);
    w.obj();
    const id = doc.get(root, "id"), model = doc.get(root, "model");
    if (id !== null && id.kind == Kind.Str) w.kRaw("id", doc, id); else w.kStr("id", "chatcmpl-gateway");
    w.kStr("object", "chat.completion").kInt("created", this.req.nowSeconds);
    if (model !== null && model.kind == Kind.Str) w.kRaw("model", doc, model); else w.kStr("model", this.req.upstreamModel);
    w.key("choices").arr().obj().kInt("index", 0).key("message").obj().kStr("role", "assistant").key("content");
    const cv = w.value();
    const content = doc.get(root, "content");
    // All text blocks concatenated (escaped contents of JSON strings concatenate safely).
    let textBlocks = 0, toolBlocks = 0, thinkingBlocks = 0;
    if (content !== null && content.kind == Kind.Arr) {
      for (let i = 0; i < content.length; i++) {
        const blk = content.items![i];
        const t = doc.get(blk, "type");
        if (doc.strIs(t, "text")) {
          const text = doc.get(blk, "text");
          if (text === null || text.kind != Kind.Str) continue;
          if (textBlocks++ == 0) cv.byte(0x22);
          cv.bytes(doc.src, text.start + 1, text.end - 1);
        } else if (doc.strIs(t, "tool_use")) toolBlocks++;
        else if (doc.strIs(t, "thinking") || doc.strIs(t, "redacted_thinking")) thinkingBlocks++;
      }
    }
    if (textBlocks > 0) cv.byte(0x22); else cv.str("null");
    if (thinkingBlocks > 0) writeThinkingOut(doc, content!, w);
    w.key("refusal").nul();
    if (toolBlocks > 0) {
      w.key("tool_calls").arr();
      for (let i = 0; i < content!.length; i++) {
        const blk = content!.items![i];
        if (!doc.strIs(doc.get(blk, "type"), "tool_use")) continue;
        const input = doc.get(blk, "input"), id = doc.get(blk, "id"), name = doc.get(blk, "name");
        w.obj().key("id");
        if (id !== null && id.kind == Kind.Str) w.raw(doc, id); else w.str("toolu_missing_" + i.toString());
        w.kStr("type", "function").key("function").obj().key("name");
        if (name !== null && name.kind == Kind.Str) w.raw(doc, name); else w.str("");
        w.key("arguments");
        if (input !== null) w.strBytes(doc.src, input.start, input.end); else w.str("{}");
        w.end().end();
      }
      w.end();
    }
    w.end(); // message
    w.key("logprobs").nul().kStr("finish_reason", finishReason(doc, doc.get(root, "stop_reason"))).end().end();
    w.key("usage");
    writeUsage(w, this.usage);
    w.end();
    return true;
  }
}

/**
 * Thinking blocks of an answer → `reasoning_content` (the thinking texts joined) and
 * `thinking_blocks` (each block with its signature, or redacted data, as LiteLLM returns them),
 * which the client sends back on the next turn.
 */
function writeThinkingOut(doc: JsonDoc, content: JNode, w: JsonWriter): void {
  const texts: JNode[] = [];
  for (let i = 0; i < content.length; i++) {
    const blk = content.items![i];
    const text = doc.get(blk, "thinking");
    if (doc.strIs(doc.get(blk, "type"), "thinking") && text !== null && text.kind == Kind.Str) texts.push(text);
  }
  writeReasoningContent(w, doc, texts);
  w.key("thinking_blocks").arr();
  for (let i = 0; i < content.length; i++) {
    const blk = content.items![i];
    const t = doc.get(blk, "type");
    if (doc.strIs(t, "thinking")) writeThinkingBlock(w, doc, doc.get(blk, "thinking"), doc.get(blk, "signature"));
    else if (doc.strIs(t, "redacted_thinking")) {
      const data = doc.get(blk, "data");
      if (data !== null && data.kind == Kind.Str) writeRedactedThinking(w, doc, data);
    }
  }
  w.end();
}

/** Anthropic error envelope → OpenAI error envelope (529 overloaded → 503). */
class AnthropicError extends ResponseHandler {
  constructor(private upstreamStatus: i32) {
    super();
    this.wholeBody = true;
    this.rewrites = true;
    this.status = upstreamStatus == 529 ? 503 : 0;
  }
  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (!eos) return false;
    const doc = parseJson(chunk);
    const err = doc.get(doc.root, "error");
    if (err !== null && doc.get(err, "type") === null && doc.get(err, "status") !== null) {
      // Vertex AI's own front end (quota, permissions, unknown model) answers with google.rpc.Status.
      const g = googleError(doc, doc.root, this.upstreamStatus, "Vertex AI");
      if (g !== null) {
        if (g.status != this.upstreamStatus) this.status = g.status;
        out.all(Uint8Array.wrap(g.body()));
        this.contentType = "application/json";
        return true;
      }
    }
    let type = "upstream_error", message = "The Anthropic backend answered with HTTP " + this.upstreamStatus.toString() + ".";
    if (err !== null && err.kind == Kind.Obj) {
      const t = doc.get(err, "type"), m = doc.get(err, "message");
      if (t !== null && t.kind == Kind.Str) type = doc.str(t);
      if (m !== null && m.kind == Kind.Str) message = doc.str(m);
    }
    else if (doc.root === null) {
      // Vertex AI's and Bedrock's front ends may answer in plain text: keep the provider's words.
      const text = plainErrorText(chunk);
      if (text.length) message = text;
    }
    const code = type == "rate_limit_error" ? "rate_limit_exceeded" : type;
    out.all(Uint8Array.wrap(new ApiError(this.upstreamStatus, type, code, message).body()));
    this.contentType = "application/json";
    return true;
  }
}

/**
 * Consumes Messages stream events one at a time, whatever framed them (SSE from Anthropic and
 * Vertex, AWS eventstream `chunk` payloads from Bedrock). Translating to chat.completion.chunk is
 * one sink; re-emitting the events for a client that speaks the Messages API is another.
 */
export abstract class AnthropicEventSink extends ResponseHandler {
  /** True once the client stream is closed: later events are ignored. */
  abstract get done(): bool;
  /** One event object (its `type` names it). */
  abstract onEvent(doc: JsonDoc, root: JNode, out: ByteBuilder): void;
  /** The upstream body ended. */
  abstract onEnd(out: ByteBuilder): void;
}

/** Anthropic SSE → chat.completion.chunk SSE, event by event (§12 state machine). */
export class AnthropicStream extends AnthropicEventSink {
  private reader: SseReader = new SseReader();
  private chunks: ChunkWriter = new ChunkWriter();
  /** Delta JSON of the chunk being built; reused across body chunks. */
  private delta: ByteBuilder = new ByteBuilder(256);
  private started: bool = false;
  private finished: bool = false;
  private toolIndex: i32[] = [];
  private tools: i32 = 0;
  private wantUsage: bool;

  constructor(private req: ClientRequest) {
    super();
    this.rewrites = true;
    this.wantUsage = req.clientWantsUsage();
  }

  /** `{"id":..,"object":"chat.completion.chunk","created":..,"model":..,` shared by every chunk. */
  private start(doc: JsonDoc, msg: JNode | null): void {
    const p = this.chunks.prefix;
    p.reset();
    p.str("{\"id\":");
    const id = doc.get(msg, "id"), model = doc.get(msg, "model");
    if (id !== null && id.kind == Kind.Str) doc.copyTo(id, p); else p.str("\"chatcmpl-gateway\"");
    p.str(",\"object\":\"chat.completion.chunk\",\"created\":");
    p.int(this.req.nowSeconds);
    p.str(",\"model\":");
    if (model !== null && model.kind == Kind.Str) doc.copyTo(model, p); else p.jsonString(this.req.upstreamModel);
    p.byte(0x2c);
    this.started = true;
  }

  /** Emits one chunk whose delta is `delta` (raw JSON) and finish_reason `finish` ("" = null). */
  private emit(out: ByteBuilder, delta: ByteBuilder, finish: string): void {
    this.chunks.choice(out, 0, delta, finish, this.wantUsage);
  }

  private emitError(out: ByteBuilder, type: string, message: string): void {
    const e = new ApiError(500, type, type == "overloaded_error" ? "overloaded" : type, message);
    writeSse(out, "", Uint8Array.wrap(e.body()));
    this.finished = true;
  }

  onBody(data: Uint8Array, eos: bool, out: ByteBuilder): bool {
    const reader = this.reader;
    if (this.finished) return true;
    reader.feed(data);
    if (eos) reader.finish();
    const events = reader.events;
    for (let i = 0; i < events.length && !this.finished; i++) {
      const doc = parseJson(unchecked(events[i]).data);
      if (doc.root !== null && doc.root!.kind == Kind.Obj) this.onEvent(doc, doc.root!, out);
    }
    events.length = 0;
    // The events before an oversize one went out above; the client's stream ends here.
    if (reader.overflow && !this.finished) {
      this.emitError(out, "upstream_error", "An event of the Anthropic stream exceeds " + reader.maxEventBytes.toString() + " bytes.");
      return true;
    }
    if (eos) this.onEnd(out);
    return true;
  }

  /** True once the stream has been closed ([DONE] or an error event): later events are ignored. */
  get done(): bool { return this.finished; }

  /** The upstream body ended: a stream without message_stop becomes an error event. */
  onEnd(out: ByteBuilder): void {
    if (!this.finished) this.emitError(out, "upstream_error", "The Anthropic stream ended before message_stop.");
  }

  /**
   * One Messages stream event (its JSON object, whose `type` names it), however it was framed:
   * SSE here, AWS eventstream `chunk` payloads on Bedrock.
   */
  onEvent(doc: JsonDoc, root: JNode, out: ByteBuilder): void {
    if (this.finished) return;
    const delta = this.delta;
    const type = doc.get(root, "type");
    if (doc.strIs(type, "ping")) { out.str(": ping\n\n"); return; }
    if (doc.strIs(type, "error")) {
      const err = doc.get(root, "error");
      this.emitError(out, doc.str(doc.get(err, "type")), doc.str(doc.get(err, "message")));
      return;
    }
    if (doc.strIs(type, "message_start")) {
      // One message per stream: a repeated message_start must not change the chunks' id mid-stream.
      if (this.started) return;
      const msg = doc.get(root, "message");
      this.start(doc, msg);
      readUsage(doc, doc.get(msg, "usage"), this.usage, true);
      this.usage.final = false; // message_start carries the input side; output is counted later
      delta.reset(); delta.str("{\"role\":\"assistant\",\"content\":\"\"}");
      this.emit(out, delta, "");
      return;
    }
    if (!this.started) this.start(doc, null);
    if (doc.strIs(type, "content_block_start")) {
      const blk = doc.get(root, "content_block");
      if (doc.strIs(doc.get(blk, "type"), "tool_use")) {
        const bi = <i32>doc.int(doc.get(root, "index"), -1);
        if (bi < 0 || bi > 4096) return;
        while (this.toolIndex.length <= bi) this.toolIndex.push(-1);
        const k = this.tools++;
        this.toolIndex[bi] = k;
        delta.reset();
        delta.str("{\"tool_calls\":[{\"index\":"); delta.int(k); delta.str(",\"id\":");
        const id = doc.get(blk, "id"), name = doc.get(blk, "name");
        // Only strings are copied: the client's schema wants strings here, whatever upstream sent.
        if (id !== null && id.kind == Kind.Str) doc.copyTo(id, delta); else delta.str("\"\"");
        delta.str(",\"type\":\"function\",\"function\":{\"name\":");
        if (name !== null && name.kind == Kind.Str) doc.copyTo(name, delta); else delta.str("\"\"");
        delta.str(",\"arguments\":\"\"}}]}");
        this.emit(out, delta, "");
      } else if (doc.strIs(doc.get(blk, "type"), "text")) {
        const text = doc.get(blk, "text");
        if (text !== null && text.kind == Kind.Str && text.end - text.start > 2) {
          delta.reset(); delta.str("{\"content\":"); doc.copyTo(text, delta); delta.byte(0x7d);
          this.emit(out, delta, "");
        }
      } else if (doc.strIs(doc.get(blk, "type"), "thinking")) {
        const text = doc.get(blk, "thinking");
        if (text !== null && text.kind == Kind.Str && text.end - text.start > 2) {
          delta.reset(); delta.str("{\"reasoning_content\":"); doc.copyTo(text, delta); delta.byte(0x7d);
          this.emit(out, delta, "");
        }
      } else if (doc.strIs(doc.get(blk, "type"), "redacted_thinking")) {
        const data = doc.get(blk, "data");
        if (data !== null && data.kind == Kind.Str) {
          delta.reset(); delta.str("{\"thinking_blocks\":[{\"type\":\"redacted_thinking\",\"data\":"); doc.copyTo(data, delta); delta.str("}]}");
          this.emit(out, delta, "");
        }
      }
      return;
    }
    if (doc.strIs(type, "content_block_delta")) {
      const d = doc.get(root, "delta");
      const dt = doc.get(d, "type");
      if (doc.strIs(dt, "text_delta")) {
        const text = doc.get(d, "text");
        if (text === null || text.kind != Kind.Str) return;
        delta.reset(); delta.str("{\"content\":"); doc.copyTo(text, delta); delta.byte(0x7d);
        this.emit(out, delta, "");
      } else if (doc.strIs(dt, "input_json_delta")) {
        const pj = doc.get(d, "partial_json");
        const bi = <i32>doc.int(doc.get(root, "index"), -1);
        if (pj === null || pj.kind != Kind.Str || pj.end - pj.start == 2) return;
        if (bi < 0 || bi >= this.toolIndex.length || this.toolIndex[bi] < 0) return;
        delta.reset();
        delta.str("{\"tool_calls\":[{\"index\":"); delta.int(this.toolIndex[bi]);
        delta.str(",\"function\":{\"arguments\":"); doc.copyTo(pj, delta); delta.str("}}]}");
        this.emit(out, delta, "");
      } else if (doc.strIs(dt, "thinking_delta")) {
        const text = doc.get(d, "thinking");
        if (text === null || text.kind != Kind.Str || text.end - text.start == 2) return;
        delta.reset(); delta.str("{\"reasoning_content\":"); doc.copyTo(text, delta); delta.byte(0x7d);
        this.emit(out, delta, "");
      } else if (doc.strIs(dt, "signature_delta")) {
        // The block's signature, as LiteLLM streams it: a thinking_blocks fragment whose text
        // travelled as reasoning_content. Sent back on the next turn, it keeps tool use working.
        const sig = doc.get(d, "signature");
        if (sig === null || sig.kind != Kind.Str) return;
        delta.reset(); delta.str("{\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":"); doc.copyTo(sig, delta); delta.str("}]}");
        this.emit(out, delta, "");
      }
      // citations deltas have no Chat Completions equivalent.
      return;
    }
    if (doc.strIs(type, "message_delta")) {
      readUsage(doc, doc.get(root, "usage"), this.usage, false);
      const sr = doc.get(doc.get(root, "delta"), "stop_reason");
      if (sr !== null && sr.kind == Kind.Str) {
        delta.reset(); delta.str("{}");
        this.emit(out, delta, finishReason(doc, sr));
      }
      return;
    }
    if (doc.strIs(type, "message_stop")) {
      if (this.wantUsage) {
        this.chunks.usage(out, this.usage);
      }
      out.str("data: [DONE]\n\n");
      this.finished = true;
    }
  }
}
