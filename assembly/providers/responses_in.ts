// OpenAI Responses API requests (POST /v1/responses) from clients such as the openai SDK's
// `responses.create` / `responses.stream`, the Agents SDK and coding agents. OpenAI and Azure
// take the client's body as is (Provider.nativeResponses: only the model renamed); for every
// other backend the body is rebuilt as an OpenAI chat request, parsed into a ClientRequest and
// handed to the backend's provider like any chat request (as messages_in.ts does for the
// Messages API), so no provider needs anything Responses-specific.
//
// The gateway keeps no state: what needs a stored response or conversation (previous_response_id,
// conversation, store: true, item references, background mode, prompt templates) is refused for
// translated backends with a 400 that says so; OpenAI itself keeps that state and gets it as sent.

import { JNode, JsonDoc, Kind } from "../json/json";
import { JsonWriter } from "../json/writer";
import { ApiError, badRequest } from "../errors";
import { ByteBuilder } from "../util/bytes";
import { ClientRequest, Provider, UpstreamRequest, prepareAsChat } from "./provider";

/** The checks the Responses API makes before anything else (input's shape, stream a boolean). */
export function checkResponsesRequest(doc: JsonDoc, root: JNode): ApiError | null {
  const input = doc.get(root, "input");
  if (input !== null && input.kind != Kind.Str && input.kind != Kind.Arr && input.kind != Kind.Null) {
    return badRequest("invalid_type", "input: must be a string or an array of input items", "input");
  }
  const st = doc.get(root, "stream");
  if (st !== null && st.kind != Kind.Bool && st.kind != Kind.Null) return badRequest("invalid_type", "stream: must be a boolean", "stream");
  const mot = doc.get(root, "max_output_tokens");
  if (mot !== null && mot.kind != Kind.Null && (mot.kind != Kind.Num || mot.num < 16 || mot.num != Math.floor(mot.num) || mot.num > 1.0e9)) {
    return badRequest("invalid_value", "max_output_tokens: must be an integer of at least 16", "max_output_tokens");
  }
  // Echoed in the Response: out-of-range values are the client's error (OpenAI's ranges).
  const temp = doc.get(root, "temperature");
  if (temp !== null && temp.kind != Kind.Null && (temp.kind != Kind.Num || !(temp.num >= 0 && temp.num <= 2))) return badRequest("invalid_value", "temperature: must be a number between 0 and 2", "temperature");
  const topP = doc.get(root, "top_p");
  if (topP !== null && topP.kind != Kind.Null && (topP.kind != Kind.Num || !(topP.num >= 0 && topP.num <= 1))) return badRequest("invalid_value", "top_p: must be a number between 0 and 1", "top_p");
  return null;
}

/**
 * Builds the upstream request for a Responses API client: natively for OpenAI and Azure, else
 * through a translated chat request (kept in req.chat for the response side).
 */
export function prepareResponsesRequest(provider: Provider, req: ClientRequest, out: UpstreamRequest): ApiError | null {
  const err = checkResponsesRequest(req.doc, req.root);
  if (err !== null) return err;
  if (provider.nativeResponses(req)) return provider.prepare(req, out);

  const b = new ByteBuilder(req.doc.src.length + 256);
  const terr = responsesToChat(req, b);
  if (terr !== null) return terr;
  return prepareAsChat(provider, req, b, out);
}

function unsupported(param: string, message: string): ApiError { return badRequest("unsupported_parameter", message, param); }

/** A present, non-null member. */
function given(n: JNode | null): bool { return n !== null && n.kind != Kind.Null; }

const STATELESS = " The gateway keeps no response state for this model's backend: send the whole conversation in `input` instead.";

/** Parameters that need state or features the gateway cannot provide on a translated backend. */
function refuseStateful(doc: JsonDoc, root: JNode): ApiError | null {
  if (given(doc.get(root, "previous_response_id"))) return unsupported("previous_response_id", "previous_response_id is not supported for this model's backend." + STATELESS);
  if (given(doc.get(root, "conversation"))) return unsupported("conversation", "conversation is not supported for this model's backend." + STATELESS);
  const store = doc.get(root, "store");
  if (store !== null && store.kind == Kind.Bool && store.flag) return unsupported("store", "store: true is not supported for this model's backend: the gateway does not store responses (set store to false).");
  const bg = doc.get(root, "background");
  if (bg !== null && bg.kind == Kind.Bool && bg.flag) return unsupported("background", "background mode is not supported for this model's backend: the gateway does not store responses.");
  if (given(doc.get(root, "prompt"))) return unsupported("prompt", "Prompt templates are stored by OpenAI and are not supported for this model's backend.");
  const tr = doc.get(root, "truncation");
  if (given(tr) && !doc.strIs(tr, "disabled")) return unsupported("truncation", "truncation: only \"disabled\" is supported for this model's backend.");
  if (given(doc.get(root, "max_tool_calls"))) return unsupported("max_tool_calls", "max_tool_calls cannot be enforced for this model's backend.");
  const tlp = doc.get(root, "top_logprobs");
  if (tlp !== null && tlp.kind == Kind.Num && tlp.num > 0) return unsupported("top_logprobs", "top_logprobs is not supported for this model's backend.");
  const inc = doc.get(root, "include");
  if (inc !== null && inc.kind == Kind.Arr) {
    for (let i = 0; i < inc.length; i++) {
      // Log probabilities cannot be produced; the other includes add data of tools this backend
      // cannot run (refused with the tools) or encrypted reasoning, which it has none of.
      if (doc.strIs(inc.items![i], "message.output_text.logprobs")) return unsupported("include", "include: message.output_text.logprobs is not supported for this model's backend.");
    }
  }
  const verb = doc.get(doc.get(root, "text"), "verbosity");
  if (given(verb) && !doc.strIs(verb, "medium")) return unsupported("text.verbosity", "text.verbosity is not supported for this model's backend.");
  return null;
}

/** Writes the OpenAI chat request for the client's Responses body into `b`. */
export function responsesToChat(req: ClientRequest, b: ByteBuilder): ApiError | null {
  const doc = req.doc, root = req.root;
  const model = doc.get(root, "model");
  if (model === null || model.kind != Kind.Str) return badRequest("missing_required_parameter", "model: Field required", "model");
  const serr = refuseStateful(doc, root);
  if (serr !== null) return serr;
  const w = new JsonWriter(b);
  w.obj();
  w.kRaw("model", doc, model);

  w.key("messages").arr();
  const instr = doc.get(root, "instructions");
  if (instr !== null && instr.kind == Kind.Str) {
    if (instr.end - instr.start > 2) w.obj().kStr("role", "system").kRaw("content", doc, instr).end();
  } else if (given(instr)) return badRequest("invalid_type", "instructions: must be a string", "instructions");
  const input = doc.get(root, "input");
  if (input !== null && input.kind == Kind.Str) w.obj().kStr("role", "user").kRaw("content", doc, input).end();
  else if (input !== null && input.kind == Kind.Arr) {
    const ierr = writeItems(doc, input, w);
    if (ierr !== null) return ierr;
  } else return badRequest("missing_required_parameter", "input: Field required for this model's backend", "input");
  w.end();

  const mot = doc.get(root, "max_output_tokens");
  if (mot !== null && mot.kind == Kind.Num) w.kRaw("max_completion_tokens", doc, mot);
  const temp = doc.get(root, "temperature");
  if (temp !== null && temp.kind == Kind.Num) w.kRaw("temperature", doc, temp);
  const topP = doc.get(root, "top_p");
  if (topP !== null && topP.kind == Kind.Num) w.kRaw("top_p", doc, topP);
  if (req.stream) w.key("stream").bool(true).key("stream_options").obj().key("include_usage").bool(true).end();

  const terr = writeTools(doc, root, w);
  if (terr !== null) return terr;
  const ptc = doc.get(root, "parallel_tool_calls");
  if (ptc !== null && ptc.kind == Kind.Bool) w.kRaw("parallel_tool_calls", doc, ptc);

  // Passed on under their chat names; each provider accepts or refuses them as for chat clients.
  const user = doc.get(root, "user");
  if (user !== null && user.kind == Kind.Str) w.kRaw("user", doc, user);
  const sid = doc.get(root, "safety_identifier");
  if (sid !== null && sid.kind == Kind.Str) w.kRaw("safety_identifier", doc, sid);
  const tier = doc.get(root, "service_tier");
  if (tier !== null && tier.kind == Kind.Str) w.kRaw("service_tier", doc, tier);
  const pck = doc.get(root, "prompt_cache_key");
  if (pck !== null && pck.kind == Kind.Str) w.kRaw("prompt_cache_key", doc, pck);

  const effort = doc.get(doc.get(root, "reasoning"), "effort");
  if (effort !== null && effort.kind == Kind.Str) w.kRaw("reasoning_effort", doc, effort);
  else if (given(effort)) return badRequest("invalid_type", "reasoning.effort: must be a string", "reasoning.effort");

  const ferr = writeFormat(doc, doc.get(doc.get(root, "text"), "format"), w);
  if (ferr !== null) return ferr;
  w.end();
  return null;
}

/** text.format → response_format (json_schema, json_object; text is the default). */
function writeFormat(doc: JsonDoc, fmt: JNode | null, w: JsonWriter): ApiError | null {
  if (!given(fmt)) return null;
  if (fmt!.kind != Kind.Obj) return badRequest("invalid_type", "text.format: must be an object", "text.format");
  const t = doc.get(fmt, "type");
  if (doc.strIs(t, "text")) return null;
  if (doc.strIs(t, "json_object")) { w.key("response_format").obj().kStr("type", "json_object").end(); return null; }
  if (!doc.strIs(t, "json_schema")) return badRequest("invalid_value", "text.format.type: must be text, json_schema or json_object", "text.format");
  const name = doc.get(fmt, "name"), schema = doc.get(fmt, "schema");
  if (name === null || name.kind != Kind.Str) return badRequest("missing_required_parameter", "text.format.name: Field required", "text.format.name");
  if (schema === null || schema.kind != Kind.Obj) return badRequest("missing_required_parameter", "text.format.schema: must be an object", "text.format.schema");
  w.key("response_format").obj().kStr("type", "json_schema").key("json_schema").obj().kRaw("name", doc, name).kRaw("schema", doc, schema);
  const desc = doc.get(fmt, "description");
  if (desc !== null && desc.kind == Kind.Str) w.kRaw("description", doc, desc);
  const strict = doc.get(fmt, "strict");
  if (strict !== null && strict.kind == Kind.Bool) w.kRaw("strict", doc, strict);
  w.end().end();
  return null;
}

/** Function tools → chat function tools; tool_choice. Hosted tools run at OpenAI only. */
function writeTools(doc: JsonDoc, root: JNode, w: JsonWriter): ApiError | null {
  const tools = doc.get(root, "tools");
  if (given(tools)) {
    if (tools!.kind != Kind.Arr) return badRequest("invalid_type", "tools: must be an array", "tools");
    if (tools!.length > 0) {
      w.key("tools").arr();
      for (let i = 0; i < tools!.length; i++) {
        const t = tools!.items![i];
        const type = doc.get(t, "type");
        const path = "tools." + i.toString();
        if (!doc.strIs(type, "function")) {
          return unsupported("tools", path + ": " + (type !== null && type.kind == Kind.Str ? doc.str(type) : "this") +
            " tools are not supported for this model's backend (function tools only; hosted tools run at OpenAI).");
        }
        const name = doc.get(t, "name");
        if (name === null || name.kind != Kind.Str) return badRequest("missing_required_parameter", path + ".name: Field required", "tools");
        w.obj().kStr("type", "function").key("function").obj().kRaw("name", doc, name);
        const desc = doc.get(t, "description");
        if (desc !== null && desc.kind == Kind.Str) w.kRaw("description", doc, desc);
        const params = doc.get(t, "parameters");
        if (params !== null && params.kind == Kind.Obj) w.kRaw("parameters", doc, params); // none: a function without parameters
        const strict = doc.get(t, "strict");
        if (strict !== null && strict.kind == Kind.Bool) w.kRaw("strict", doc, strict);
        w.end().end();
      }
      w.end();
    }
  }
  const tc = doc.get(root, "tool_choice");
  if (!given(tc)) return null;
  if (tc!.kind == Kind.Str) {
    if (doc.strIs(tc, "auto") || doc.strIs(tc, "none") || doc.strIs(tc, "required")) { w.kRaw("tool_choice", doc, tc!); return null; }
    return badRequest("invalid_value", "tool_choice: must be none, auto, required or a function", "tool_choice");
  }
  const ct = doc.get(tc, "type");
  const name = doc.get(tc, "name");
  if (doc.strIs(ct, "function") && name !== null && name.kind == Kind.Str) {
    w.key("tool_choice").obj().kStr("type", "function").key("function").obj().kRaw("name", doc, name).end().end();
    return null;
  }
  return unsupported("tool_choice", "tool_choice: only none, auto, required and {type: function, name} are supported for this model's backend.");
}

// --- input items ------------------------------------------------------------------------------

/**
 * Input items → chat messages, in order. Assistant output (message items of role assistant and
 * function_call items) that follow one another become one assistant message with its text and
 * tool_calls, as a chat transcript has them.
 */
function writeItems(doc: JsonDoc, items: JNode, w: JsonWriter): ApiError | null {
  const pendText: JNode[] = [];  // assistant content nodes (string or parts arrays)
  const pendCalls: JNode[] = []; // function_call items
  for (let i = 0; i < items.length; i++) {
    const it = items.items![i];
    const path = "input." + i.toString();
    if (it.kind != Kind.Obj) return badRequest("invalid_type", path + ": must be an object", "input");
    const type = doc.get(it, "type");
    const role = doc.get(it, "role");
    const isMessage = doc.strIs(type, "message") || (!given(type) && role !== null);
    if (isMessage && doc.strIs(role, "assistant")) {
      const c = doc.get(it, "content");
      const e = checkAssistantContent(doc, c, path);
      if (e !== null) return e;
      pendText.push(c!);
      continue;
    }
    if (doc.strIs(type, "function_call")) {
      const callId = doc.get(it, "call_id"), name = doc.get(it, "name"), args = doc.get(it, "arguments");
      if (callId === null || callId.kind != Kind.Str || name === null || name.kind != Kind.Str || args === null || args.kind != Kind.Str) {
        return badRequest("missing_required_parameter", path + ": function_call items need call_id, name and arguments (strings)", "input");
      }
      pendCalls.push(it);
      continue;
    }
    // Prior reasoning has no chat input (as thinking blocks for Messages clients): it is left out.
    if (doc.strIs(type, "reasoning")) continue;
    flushAssistant(doc, pendText, pendCalls, w);
    if (isMessage) {
      const e = writeMessage(doc, it, role, path, w);
      if (e !== null) return e;
    } else if (doc.strIs(type, "function_call_output")) {
      const e = writeCallOutput(doc, it, path, w);
      if (e !== null) return e;
    } else if (doc.strIs(type, "item_reference")) {
      return unsupported("input", path + ": item references are not supported for this model's backend." + STATELESS);
    } else {
      return unsupported("input", path + ".type: " + (type !== null && type.kind == Kind.Str ? doc.str(type) + " items are" : "this item is") +
        " not supported for this model's backend (message, function_call, function_call_output, reasoning).");
    }
  }
  flushAssistant(doc, pendText, pendCalls, w);
  return null;
}

function checkAssistantContent(doc: JsonDoc, c: JNode | null, path: string): ApiError | null {
  if (c === null || (c.kind != Kind.Str && c.kind != Kind.Arr)) return badRequest("invalid_type", path + ".content: must be a string or an array of content parts", "input");
  if (c.kind == Kind.Str) return null;
  for (let k = 0; k < c.length; k++) {
    const p = c.items![k];
    const t = doc.get(p, "type");
    const field = doc.strIs(t, "refusal") ? "refusal" : "text";
    const v = doc.get(p, field);
    if (!(doc.strIs(t, "output_text") || doc.strIs(t, "input_text") || doc.strIs(t, "refusal")) || v === null || v.kind != Kind.Str) {
      return badRequest("invalid_value", path + ".content." + k.toString() + ": assistant content must be output_text or refusal parts", "input");
    }
  }
  return null;
}

/** The pending assistant output as one chat assistant message. */
function flushAssistant(doc: JsonDoc, texts: JNode[], calls: JNode[], w: JsonWriter): void {
  if (texts.length == 0 && calls.length == 0) return;
  w.obj().kStr("role", "assistant").key("content");
  if (texts.length == 0) w.nul();
  else {
    // Pieces of one answer: joined without a separator (escaped string contents concatenate).
    const v = w.value();
    v.byte(0x22);
    for (let i = 0; i < texts.length; i++) {
      const c = texts[i];
      if (c.kind == Kind.Str) { v.bytes(doc.src, c.start + 1, c.end - 1); continue; }
      for (let k = 0; k < c.length; k++) {
        const p = c.items![k];
        const t = doc.get(p, doc.strIs(doc.get(p, "type"), "refusal") ? "refusal" : "text")!;
        v.bytes(doc.src, t.start + 1, t.end - 1);
      }
    }
    v.byte(0x22);
  }
  if (calls.length > 0) {
    w.key("tool_calls").arr();
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i];
      w.obj().kRaw("id", doc, doc.get(c, "call_id")!).kStr("type", "function").key("function").obj()
        .kRaw("name", doc, doc.get(c, "name")!).kRaw("arguments", doc, doc.get(c, "arguments")!).end().end();
    }
    w.end();
  }
  w.end();
  texts.length = 0;
  calls.length = 0;
}

/** A user, system or developer message item. */
function writeMessage(doc: JsonDoc, it: JNode, role: JNode | null, path: string, w: JsonWriter): ApiError | null {
  const isUser = doc.strIs(role, "user");
  if (!isUser && !doc.strIs(role, "system") && !doc.strIs(role, "developer")) {
    return badRequest("invalid_value", path + ".role: must be user, assistant, system or developer", "input");
  }
  const c = doc.get(it, "content");
  if (c === null || (c.kind != Kind.Str && c.kind != Kind.Arr)) return badRequest("invalid_type", path + ".content: must be a string or an array of content parts", "input");
  w.obj().kStr("role", isUser ? "user" : "system").key("content");
  if (c.kind == Kind.Str) { w.raw(doc, c); w.end(); return null; }
  if (!isUser) {
    // System text: its text parts joined (chat system messages take text only).
    for (let k = 0; k < c.length; k++) {
      const p = c.items![k];
      const tx = doc.get(p, "text");
      if (!doc.strIs(doc.get(p, "type"), "input_text") || tx === null || tx.kind != Kind.Str) {
        return badRequest("invalid_value", path + ".content." + k.toString() + ": system and developer messages take input_text parts only", "input");
      }
    }
    const v = w.value();
    v.byte(0x22);
    for (let k = 0; k < c.length; k++) {
      if (k > 0) v.str("\\n\\n");
      const t = doc.get(c.items![k], "text")!;
      v.bytes(doc.src, t.start + 1, t.end - 1);
    }
    v.byte(0x22);
    w.end();
    return null;
  }
  w.arr();
  for (let k = 0; k < c.length; k++) {
    const e = writePart(doc, c.items![k], path + ".content." + k.toString(), w);
    if (e !== null) return e;
  }
  w.end().end();
  return null;
}

/** input_text / input_image / input_file → chat content parts. File ids live in OpenAI's store. */
function writePart(doc: JsonDoc, p: JNode, path: string, w: JsonWriter): ApiError | null {
  const t = doc.get(p, "type");
  if (doc.strIs(t, "input_text")) {
    const tx = doc.get(p, "text");
    if (tx === null || tx.kind != Kind.Str) return badRequest("invalid_type", path + ".text: must be a string", "input");
    w.obj().kStr("type", "text").kRaw("text", doc, tx).end();
    return null;
  }
  if (doc.strIs(t, "input_image")) {
    const url = doc.get(p, "image_url");
    if (url === null || url.kind != Kind.Str) {
      return unsupported("input", path + ": images must be given as image_url (a URL or data URL) for this model's backend; file ids belong to OpenAI's file store.");
    }
    w.obj().kStr("type", "image_url").key("image_url").obj().kRaw("url", doc, url);
    const detail = doc.get(p, "detail");
    if (detail !== null && detail.kind == Kind.Str) w.kRaw("detail", doc, detail);
    w.end().end();
    return null;
  }
  if (doc.strIs(t, "input_file")) {
    const data = doc.get(p, "file_data");
    if (data === null || data.kind != Kind.Str) {
      return unsupported("input", path + ": files must be given as file_data for this model's backend; file ids and URLs belong to OpenAI.");
    }
    w.obj().kStr("type", "file").key("file").obj().kRaw("file_data", doc, data);
    const fname = doc.get(p, "filename");
    if (fname !== null && fname.kind == Kind.Str) w.kRaw("filename", doc, fname);
    w.end().end();
    return null;
  }
  return unsupported("input", path + ".type: " + (t !== null && t.kind == Kind.Str ? doc.str(t) + " parts are" : "this part is") +
    " not supported for this model's backend (input_text, input_image, input_file).");
}

/** function_call_output → a `tool` message (text; a list of input_text parts joined). */
function writeCallOutput(doc: JsonDoc, it: JNode, path: string, w: JsonWriter): ApiError | null {
  const callId = doc.get(it, "call_id"), output = doc.get(it, "output");
  if (callId === null || callId.kind != Kind.Str) return badRequest("missing_required_parameter", path + ".call_id: Field required", "input");
  if (output === null || (output.kind != Kind.Str && output.kind != Kind.Arr)) return badRequest("invalid_type", path + ".output: must be a string or an array of content parts", "input");
  w.obj().kStr("role", "tool").kRaw("tool_call_id", doc, callId).key("content");
  if (output.kind == Kind.Str) { w.raw(doc, output); w.end(); return null; }
  for (let k = 0; k < output.length; k++) {
    const p = output.items![k];
    const tx = doc.get(p, "text");
    if (!doc.strIs(doc.get(p, "type"), "input_text") || tx === null || tx.kind != Kind.Str) {
      return unsupported("input", path + ".output." + k.toString() + ": only input_text parts can be sent as a function call's output to this model's backend.");
    }
  }
  const v = w.value();
  v.byte(0x22);
  for (let k = 0; k < output.length; k++) {
    const t = doc.get(output.items![k], "text")!;
    v.bytes(doc.src, t.start + 1, t.end - 1);
  }
  v.byte(0x22);
  w.end();
  return null;
}
