// Anthropic Messages API requests (POST /v1/messages) from clients such as @anthropic-ai/sdk and
// Claude Code. A backend that speaks the Messages API gets the client's body nearly as is
// (Provider.nativeMessages); for every other backend the body is rebuilt as an OpenAI chat
// request (the mappings of providers.md §10, run from Anthropic to OpenAI), parsed into a
// ClientRequest, and handed to the backend's provider like any chat request, so each provider
// (OpenAI and compatibles, Azure, and the translating ones) needs nothing Messages-specific.

import { JNode, JsonDoc, Kind, MAX_DEPTH, parseJson } from "../json/json";
import { JsonWriter } from "../json/writer";
import { ApiError, badRequest } from "../errors";
import { ByteBuilder } from "../util/bytes";
import { Backend } from "../config/config";
import { ClientRequest, Endpoint, Provider, UpstreamRequest } from "./provider";

/** The checks the Messages API makes before anything else (max_tokens is required, §4.2). */
export function checkMessagesRequest(doc: JsonDoc, root: JNode): ApiError | null {
  const mt = doc.get(root, "max_tokens");
  if (mt === null) return badRequest("missing_required_parameter", "max_tokens: Field required", "max_tokens");
  if (mt.kind != Kind.Num || mt.num < 1 || mt.num != Math.floor(mt.num) || mt.num > 1.0e9) {
    return badRequest("invalid_value", "max_tokens: must be a positive integer", "max_tokens");
  }
  const msgs = doc.get(root, "messages");
  if (msgs === null) return badRequest("missing_required_parameter", "messages: Field required", "messages");
  if (msgs.kind != Kind.Arr) return badRequest("invalid_value", "messages: must be an array", "messages");
  const st = doc.get(root, "stream");
  if (st !== null && st.kind != Kind.Bool && st.kind != Kind.Null) return badRequest("invalid_value", "stream: must be a boolean", "stream");
  return null;
}

/**
 * Builds the upstream request for a Messages API client: natively when the provider speaks the
 * Messages API, else through a translated chat request (kept in req.chat for the response side).
 */
export function prepareMessagesRequest(provider: Provider, req: ClientRequest, out: UpstreamRequest): ApiError | null {
  const err = checkMessagesRequest(req.doc, req.root);
  if (err !== null) return err;
  if (provider.nativeMessages(req)) return provider.prepareMessages(req, out);

  const b = new ByteBuilder(req.doc.src.length + 256);
  const terr = messagesToChat(req, b);
  if (terr !== null) return terr;
  // Copied values keep their nesting; a few levels are added around them.
  // Over exactly the written bytes: the provider may copy the source to its end (Edits.apply).
  const doc = parseJson(b.buf.subarray(0, b.len), MAX_DEPTH + 8);
  const root = doc.root;
  if (root === null) return new ApiError(500, "server_error", "translation_failed", "The gateway could not translate the request: " + doc.error + ".");
  const chat = new ClientRequest(doc, root, req.rule);
  chat.endpoint = Endpoint.ChatCompletions;
  chat.model = req.model;
  chat.stream = req.stream;
  chat.nowSeconds = req.nowSeconds;
  chat.reframe = req.reframe; // the budget meters the chat chunks before they become Messages events
  req.chat = chat;
  const perr = provider.prepare(chat, out);
  if (perr !== null) return perr;
  if (out.body === null) out.body = b; // the provider sends the chat body unchanged
  return null;
}

/**
 * OpenAI itself (and Azure): `max_completion_tokens` (reasoning models refuse `max_tokens`) and
 * `user`. The OpenAI-compatible vendors get the widely accepted `max_tokens` and no `user`
 * (some refuse unknown fields: Mistral answers 422). Translating providers read either.
 */
function isVendor(b: Backend): bool {
  return b.schema == "openai" && b.preset.length > 0 && b.preset != "openai";
}

/** thinking.budget_tokens → reasoning_effort (the inverse of the Anthropic provider's budgets). */
function effortFor(budget: i64): string {
  if (budget <= 2048) return "low";
  if (budget <= 8192) return "medium";
  return "high";
}

/** Writes the OpenAI chat request for the client's Messages body into `b`. */
export function messagesToChat(req: ClientRequest, b: ByteBuilder): ApiError | null {
  const doc = req.doc, root = req.root;
  const vendor = isVendor(req.backend);
  // Checked by the filter and checkMessagesRequest; checked again here so no caller can trap.
  const model = doc.get(root, "model"), maxTokens = doc.get(root, "max_tokens"), msgs = doc.get(root, "messages");
  if (model === null || model.kind != Kind.Str) return badRequest("missing_required_parameter", "model: Field required", "model");
  if (maxTokens === null || maxTokens.kind != Kind.Num) return badRequest("missing_required_parameter", "max_tokens: Field required", "max_tokens");
  if (msgs === null || msgs.kind != Kind.Arr) return badRequest("missing_required_parameter", "messages: Field required", "messages");
  const w = new JsonWriter(b);
  w.obj();
  w.kRaw("model", doc, model);

  const topK = doc.get(root, "top_k");
  if (topK !== null && topK.kind != Kind.Null) return badRequest("unsupported_parameter", "top_k: not supported by this model's backend (OpenAI-format APIs have no top_k).", "top_k");
  const mcp = doc.get(root, "mcp_servers");
  if (mcp !== null && mcp.kind == Kind.Arr && mcp.length > 0) return badRequest("unsupported_parameter", "mcp_servers: not supported by this model's backend.", "mcp_servers");

  w.key("messages").arr();
  const serr = writeSystem(doc, doc.get(root, "system"), w);
  if (serr !== null) return serr;
  for (let i = 0; i < msgs.length; i++) {
    const e = writeMessage(doc, unchecked(msgs.items![i]), i, w);
    if (e !== null) return e;
  }
  w.end();

  w.kRaw(vendor ? "max_tokens" : "max_completion_tokens", doc, maxTokens);
  const temp = doc.get(root, "temperature");
  if (temp !== null && temp.kind == Kind.Num) w.kRaw("temperature", doc, temp);
  const topP = doc.get(root, "top_p");
  if (topP !== null && topP.kind == Kind.Num) w.kRaw("top_p", doc, topP);
  const stop = doc.get(root, "stop_sequences");
  if (stop !== null && stop.kind == Kind.Arr && stop.length > 0) {
    for (let i = 0; i < stop.length; i++) if (stop.items![i].kind != Kind.Str) return badRequest("invalid_value", "stop_sequences: must be an array of strings", "stop_sequences");
    w.kRaw("stop", doc, stop);
  }
  if (req.stream) w.key("stream").bool(true).key("stream_options").obj().key("include_usage").bool(true).end();

  const terr = writeTools(doc, root, w);
  if (terr !== null) return terr;

  const user = doc.get(doc.get(root, "metadata"), "user_id");
  if (!vendor && user !== null && user.kind == Kind.Str) w.kRaw("user", doc, user);

  let effort = "";
  const thinking = doc.get(root, "thinking");
  if (thinking !== null && doc.strIs(doc.get(thinking, "type"), "enabled")) {
    const bt = doc.get(thinking, "budget_tokens");
    if (bt === null || bt.kind != Kind.Num || bt.num < 1) return badRequest("invalid_value", "thinking.budget_tokens: must be a positive integer", "thinking");
    effort = effortFor(doc.int(bt));
  }
  const oc = doc.get(root, "output_config");
  const ocEffort = doc.get(oc, "effort");
  if (effort.length == 0 && ocEffort !== null && ocEffort.kind == Kind.Str) {
    const e = doc.str(ocEffort);
    effort = e == "low" || e == "medium" || e == "high" ? e : e == "xhigh" || e == "max" ? "high" : "";
  }
  if (effort.length) w.kStr("reasoning_effort", effort);
  const fmt = doc.get(oc, "format");
  if (fmt !== null && fmt.kind == Kind.Obj) {
    if (!doc.strIs(doc.get(fmt, "type"), "json_schema")) return badRequest("invalid_value", "output_config.format.type: only json_schema is supported", "output_config");
    const schema = doc.get(fmt, "schema");
    if (schema === null || schema.kind != Kind.Obj) return badRequest("invalid_value", "output_config.format.schema: must be an object", "output_config");
    w.key("response_format").obj().kStr("type", "json_schema").key("json_schema").obj()
      .kStr("name", "output").kRaw("schema", doc, schema).key("strict").bool(true).end().end();
  }
  w.end();
  return null;
}

/** Top-level `system` (string or text blocks) → one system message; blocks joined by a blank line. */
function writeSystem(doc: JsonDoc, sys: JNode | null, w: JsonWriter): ApiError | null {
  if (sys === null || sys.kind == Kind.Null) return null;
  if (sys.kind == Kind.Str) {
    if (sys.end - sys.start > 2) w.obj().kStr("role", "system").kRaw("content", doc, sys).end();
    return null;
  }
  if (sys.kind != Kind.Arr) return badRequest("invalid_value", "system: must be a string or an array of text blocks", "system");
  for (let i = 0; i < sys.length; i++) {
    const blk = sys.items![i];
    const t = doc.get(blk, "text");
    if (!doc.strIs(doc.get(blk, "type"), "text") || t === null || t.kind != Kind.Str) {
      return badRequest("invalid_value", "system." + i.toString() + ": must be a text block", "system");
    }
  }
  if (sys.length == 0) return null;
  w.obj().kStr("role", "system").key("content");
  joinTexts(doc, sys, w.value(), "\\n\\n", "");
  w.end();
  return null;
}

/**
 * A JSON string made of the text blocks of `arr` (escaped contents of JSON string literals
 * concatenate safely), `sep` (already escaped) between them, `prefix` (escaped) first.
 */
function joinTexts(doc: JsonDoc, arr: JNode, out: ByteBuilder, sep: string, prefix: string): i32 {
  out.byte(0x22);
  out.str(prefix);
  let n = 0;
  for (let i = 0; i < arr.length; i++) {
    const blk = arr.items![i];
    if (!doc.strIs(doc.get(blk, "type"), "text")) continue;
    const t = doc.get(blk, "text");
    if (t === null || t.kind != Kind.Str) continue;
    if (n++ > 0) out.str(sep);
    out.bytes(doc.src, t.start + 1, t.end - 1);
  }
  out.byte(0x22);
  return n;
}

function countType(doc: JsonDoc, arr: JNode, type: string): i32 {
  let n = 0;
  for (let i = 0; i < arr.length; i++) if (doc.strIs(doc.get(arr.items![i], "type"), type)) n++;
  return n;
}

function writeMessage(doc: JsonDoc, m: JNode, i: i32, w: JsonWriter): ApiError | null {
  const path = "messages." + i.toString();
  if (m.kind != Kind.Obj) return badRequest("invalid_value", path + ": must be an object", "messages");
  const role = doc.get(m, "role");
  const content = doc.get(m, "content");
  if (content === null || (content.kind != Kind.Str && content.kind != Kind.Arr)) {
    return badRequest("invalid_value", path + ".content: must be a string or an array of content blocks", "messages");
  }
  if (doc.strIs(role, "user")) return writeUser(doc, content, path, w);
  if (doc.strIs(role, "assistant")) return writeAssistant(doc, content, path, w);
  return badRequest("invalid_value", path + ".role: must be user or assistant", "messages");
}

/**
 * A user turn: its tool_result blocks become `tool` messages (Anthropic puts them first in the
 * turn, so order is kept), then the rest of the turn (and any images the tool results carried,
 * which a tool message cannot hold) becomes one user message.
 */
function writeUser(doc: JsonDoc, content: JNode, path: string, w: JsonWriter): ApiError | null {
  if (content.kind == Kind.Str) {
    w.obj().kStr("role", "user").kRaw("content", doc, content).end();
    return null;
  }
  const items = content.items!;
  let media = 0, texts = 0;
  for (let k = 0; k < items.length; k++) {
    const blk = items[k];
    const bp = path + ".content." + k.toString();
    const t = doc.get(blk, "type");
    if (doc.strIs(t, "tool_result")) {
      const e = writeToolResult(doc, blk, bp, w);
      if (e !== null) return e;
      const c = doc.get(blk, "content");
      if (c !== null && c.kind == Kind.Arr) media += countType(doc, c, "image") + countType(doc, c, "document");
    } else if (doc.strIs(t, "text")) {
      const tx = doc.get(blk, "text");
      if (tx === null || tx.kind != Kind.Str) return badRequest("invalid_value", bp + ".text: must be a string", "messages");
      texts++;
    } else if (doc.strIs(t, "image") || doc.strIs(t, "document")) media++;
    else if (doc.strIs(t, "thinking") || doc.strIs(t, "redacted_thinking")) continue;
    else return badRequest("invalid_value", bp + ".type: " + (t !== null && t.kind == Kind.Str ? doc.str(t) + " blocks are" : "this block is") + " not supported for this model's backend (text, image, document, tool_result)", "messages");
  }
  if (media == 0 && texts == 0) return null;
  w.obj().kStr("role", "user").key("content");
  if (media == 0) {
    joinTexts(doc, content, w.value(), "\\n\\n", "");
    w.end();
    return null;
  }
  w.arr();
  // The tool results' media first (they answer the calls that came before this turn's text).
  for (let k = 0; k < items.length; k++) {
    const blk = items[k];
    if (!doc.strIs(doc.get(blk, "type"), "tool_result")) continue;
    const c = doc.get(blk, "content");
    if (c === null || c.kind != Kind.Arr) continue;
    for (let j = 0; j < c.length; j++) {
      const inner = c.items![j];
      const it = doc.get(inner, "type");
      if (!doc.strIs(it, "image") && !doc.strIs(it, "document")) continue;
      const e = writeMediaPart(doc, inner, path + ".content." + k.toString() + ".content." + j.toString(), w);
      if (e !== null) return e;
    }
  }
  for (let k = 0; k < items.length; k++) {
    const blk = items[k];
    const t = doc.get(blk, "type");
    if (doc.strIs(t, "text")) w.obj().kStr("type", "text").kRaw("text", doc, doc.get(blk, "text")!).end();
    else if (doc.strIs(t, "image") || doc.strIs(t, "document")) {
      const e = writeMediaPart(doc, blk, path + ".content." + k.toString(), w);
      if (e !== null) return e;
    }
  }
  w.end().end();
  return null;
}

/** tool_result → a `tool` message: text content (blocks joined), `Error: ` first when is_error. */
function writeToolResult(doc: JsonDoc, blk: JNode, path: string, w: JsonWriter): ApiError | null {
  const id = doc.get(blk, "tool_use_id");
  if (id === null || id.kind != Kind.Str) return badRequest("invalid_value", path + ".tool_use_id: Field required", "messages");
  const ie = doc.get(blk, "is_error");
  const isError = ie !== null && ie.kind == Kind.Bool && ie.flag;
  const prefix = isError ? "Error: " : "";
  w.obj().kStr("role", "tool").kRaw("tool_call_id", doc, id).key("content");
  const c = doc.get(blk, "content");
  if (c === null || c.kind == Kind.Null) w.str(isError ? "Error" : "");
  else if (c.kind == Kind.Str) {
    const v = w.value();
    v.byte(0x22); v.str(prefix); v.bytes(doc.src, c.start + 1, c.end - 1); v.byte(0x22);
  } else if (c.kind == Kind.Arr) {
    for (let j = 0; j < c.length; j++) {
      const t = doc.get(c.items![j], "type");
      if (doc.strIs(t, "text") || doc.strIs(t, "image") || doc.strIs(t, "document")) continue;
      return badRequest("invalid_value", path + ".content." + j.toString() + ".type: only text, image and document blocks are supported in tool results for this model's backend", "messages");
    }
    joinTexts(doc, c, w.value(), "\\n\\n", prefix);
  } else return badRequest("invalid_value", path + ".content: must be a string or an array of content blocks", "messages");
  w.end();
  return null;
}

/** image / document block → an OpenAI image_url or file part (§10.2 in reverse). */
function writeMediaPart(doc: JsonDoc, blk: JNode, path: string, w: JsonWriter): ApiError | null {
  const isImage = doc.strIs(doc.get(blk, "type"), "image");
  const src = doc.get(blk, "source");
  const st = doc.get(src, "type");
  if (doc.strIs(st, "base64")) {
    const mt = doc.get(src, "media_type"), data = doc.get(src, "data");
    if (mt === null || mt.kind != Kind.Str || data === null || data.kind != Kind.Str) {
      return badRequest("invalid_value", path + ".source: base64 sources need media_type and data", "messages");
    }
    if (!isImage && !doc.strIs(mt, "application/pdf")) {
      return badRequest("invalid_value", path + ".source.media_type: only application/pdf documents can be sent to this model's backend", "messages");
    }
    if (isImage) w.obj().kStr("type", "image_url").key("image_url").obj().key("url");
    else w.obj().kStr("type", "file").key("file").obj().kStr("filename", "document.pdf").key("file_data");
    // data:<media_type>;base64,<data>, from the escaped contents of both literals.
    const v = w.value();
    v.str("\"data:"); v.bytes(doc.src, mt.start + 1, mt.end - 1); v.str(";base64,"); v.bytes(doc.src, data.start + 1, data.end - 1); v.byte(0x22);
    w.end().end();
    return null;
  }
  if (doc.strIs(st, "url") && isImage) {
    const url = doc.get(src, "url");
    if (url === null || url.kind != Kind.Str) return badRequest("invalid_value", path + ".source.url: must be a string", "messages");
    w.obj().kStr("type", "image_url").key("image_url").obj().kRaw("url", doc, url).end().end();
    return null;
  }
  if (doc.strIs(st, "text") && !isImage) {
    const data = doc.get(src, "data");
    if (data === null || data.kind != Kind.Str) return badRequest("invalid_value", path + ".source.data: must be a string", "messages");
    w.obj().kStr("type", "text").kRaw("text", doc, data).end();
    return null;
  }
  return badRequest("invalid_value", path + ".source.type: " + (isImage ? "only base64 and url images" : "only base64 PDF and text documents") +
    " can be sent to this model's backend (file ids belong to Anthropic's file store)", "messages");
}

/** An assistant turn: text blocks joined into `content`, tool_use blocks → tool_calls; thinking dropped. */
function writeAssistant(doc: JsonDoc, content: JNode, path: string, w: JsonWriter): ApiError | null {
  if (content.kind == Kind.Str) {
    w.obj().kStr("role", "assistant").kRaw("content", doc, content).end();
    return null;
  }
  let texts = 0, calls = 0;
  for (let k = 0; k < content.length; k++) {
    const blk = content.items![k];
    const t = doc.get(blk, "type");
    if (doc.strIs(t, "text")) {
      const tx = doc.get(blk, "text");
      if (tx === null || tx.kind != Kind.Str) return badRequest("invalid_value", path + ".content." + k.toString() + ".text: must be a string", "messages");
      texts++;
    } else if (doc.strIs(t, "tool_use")) {
      const id = doc.get(blk, "id"), name = doc.get(blk, "name");
      if (id === null || id.kind != Kind.Str || name === null || name.kind != Kind.Str) {
        return badRequest("invalid_value", path + ".content." + k.toString() + ": tool_use blocks need id and name", "messages");
      }
      calls++;
    } else if (doc.strIs(t, "thinking") || doc.strIs(t, "redacted_thinking")) continue; // no OpenAI input for them
    else return badRequest("invalid_value", path + ".content." + k.toString() + ".type: " + (t !== null && t.kind == Kind.Str ? doc.str(t) + " blocks are" : "this block is") + " not supported for this model's backend (text, tool_use, thinking)", "messages");
  }
  if (texts == 0 && calls == 0) return null; // e.g. thinking only: nothing an OpenAI backend can take
  w.obj().kStr("role", "assistant").key("content");
  if (texts > 0) joinTexts(doc, content, w.value(), "", ""); // pieces of one answer: no separator
  else w.nul();
  if (calls > 0) {
    w.key("tool_calls").arr();
    for (let k = 0; k < content.length; k++) {
      const blk = content.items![k];
      if (!doc.strIs(doc.get(blk, "type"), "tool_use")) continue;
      const input = doc.get(blk, "input");
      w.obj().kRaw("id", doc, doc.get(blk, "id")!).kStr("type", "function").key("function").obj()
        .kRaw("name", doc, doc.get(blk, "name")!).key("arguments");
      if (input !== null && input.kind == Kind.Obj) w.strBytes(doc.src, input.start, input.end); else w.str("{}");
      w.end().end();
    }
    w.end();
  }
  w.end();
  return null;
}

/** tools[] → function tools; tool_choice and disable_parallel_tool_use (§10.5 in reverse). */
function writeTools(doc: JsonDoc, root: JNode, w: JsonWriter): ApiError | null {
  const tools = doc.get(root, "tools");
  if (tools === null || tools.kind == Kind.Null) return null;
  if (tools.kind != Kind.Arr) return badRequest("invalid_value", "tools: must be an array", "tools");
  if (tools.length == 0) return null;
  w.key("tools").arr();
  for (let i = 0; i < tools.length; i++) {
    const t = tools.items![i];
    const type = doc.get(t, "type");
    if (type !== null && type.kind != Kind.Null && !doc.strIs(type, "custom")) {
      return badRequest("unsupported_parameter", "tools." + i.toString() + ": " + doc.str(type) + " is an Anthropic server tool; this model's backend can only take custom tools", "tools");
    }
    const name = doc.get(t, "name");
    if (name === null || name.kind != Kind.Str) return badRequest("invalid_value", "tools." + i.toString() + ".name: Field required", "tools");
    w.obj().kStr("type", "function").key("function").obj().kRaw("name", doc, name);
    const desc = doc.get(t, "description");
    if (desc !== null && desc.kind == Kind.Str) w.kRaw("description", doc, desc);
    const schema = doc.get(t, "input_schema");
    if (schema !== null && schema.kind == Kind.Obj) w.kRaw("parameters", doc, schema);
    else w.key("parameters").json("{\"type\":\"object\",\"properties\":{}}");
    const strict = doc.get(t, "strict");
    if (strict !== null && strict.kind == Kind.Bool) w.kRaw("strict", doc, strict);
    w.end().end();
  }
  w.end();
  const tc = doc.get(root, "tool_choice");
  if (tc === null || tc.kind == Kind.Null) return null;
  const ct = doc.get(tc, "type");
  if (doc.strIs(ct, "auto")) w.kStr("tool_choice", "auto");
  else if (doc.strIs(ct, "any")) w.kStr("tool_choice", "required");
  else if (doc.strIs(ct, "none")) { w.kStr("tool_choice", "none"); return null; }
  else if (doc.strIs(ct, "tool")) {
    const name = doc.get(tc, "name");
    if (name === null || name.kind != Kind.Str) return badRequest("invalid_value", "tool_choice.name: Field required", "tool_choice");
    w.key("tool_choice").obj().kStr("type", "function").key("function").obj().kRaw("name", doc, name).end().end();
  } else return badRequest("invalid_value", "tool_choice.type: must be auto, any, tool or none", "tool_choice");
  const dp = doc.get(tc, "disable_parallel_tool_use");
  if (dp !== null && dp.kind == Kind.Bool && dp.flag) w.key("parallel_tool_calls").bool(false);
  return null;
}
