// OpenAI (and, later, every OpenAI-compatible backend): the client's format is the provider's,
// so requests pass through with byte-level edits only (model rename, usage in streams) and
// responses pass through untouched unless we changed what the provider sends.

import { Edits, JNode, JsonDoc, Kind, parseJson } from "../json/json";
import { ApiError, badRequest } from "../errors";
import { Usage } from "../usage";
import { ByteBuilder, bytesOf } from "../util/bytes";
import { SseReader, writeSse } from "../streams/sse";
import { ClientRequest, Endpoint, Provider, ResponseHandler, UpstreamRequest } from "./provider";

const TRUE_BYTES = bytesOf("true");

/**
 * OpenAI, the OpenAI-compatible family (base_path per vendor), and Azure OpenAI, whose only
 * differences on the wire are the deployment-scoped URL and the api-version query (§3).
 */
export class OpenAIProvider extends Provider {
  constructor(private azure: bool = false) { super(); }

  prepare(req: ClientRequest, out: UpstreamRequest): ApiError | null {
    const backend = req.backend;
    const doc = req.doc, root = req.root;
    const edits = new Edits(doc);
    const op = req.endpoint == Endpoint.Embeddings ? "/embeddings" : "/chat/completions";
    if (this.azure) {
      const deployment = backend.deployment.length ? backend.deployment : req.upstreamModel;
      if (!urlSegmentSafe(deployment)) return badRequest("invalid_value", "The model name cannot be used as an Azure deployment name.", "model");
      out.path = backend.basePath + "/deployments/" + deployment + op + "?api-version=" + backend.apiVersion;
    } else out.path = backend.basePath + op;

    const up = req.rule.upstreamModel;
    if (up.length > 0 && up != req.model) {
      const b = new ByteBuilder(up.length + 2);
      b.jsonString(up);
      edits.replaceNode(doc.get(root, "model")!, b.toBytes());
    }

    // Usage in streams: OpenAI reports it only when asked (stream_options.include_usage). Token
    // limits need it, so ask, and remember to hide it again from a client that did not ask.
    if (req.endpoint == Endpoint.ChatCompletions && req.stream) {
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

    if (edits.count > 0) {
      const b = new ByteBuilder(doc.src.length + 64);
      edits.apply(b);
      out.body = b;
    }
    return null;
  }

  response(req: ClientRequest, status: i32, contentType: string): ResponseHandler {
    if (status >= 200 && status < 300 && contentType.startsWith("text/event-stream")) return new OpenAIStream(req.usageInjected);
    return new OpenAIJson(status >= 200 && status < 300);
  }
}

function urlSegmentSafe(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x2e || c == 0x5f)) return false;
  }
  return true;
}

/** Reads an OpenAI `usage` object (chat and embeddings shapes). */
export function readOpenAIUsage(doc: JsonDoc, u: JNode, usage: Usage): void {
  usage.reported = true;
  usage.input = doc.int(doc.get(u, "prompt_tokens"));
  usage.output = doc.int(doc.get(u, "completion_tokens"));
  usage.total = doc.int(doc.get(u, "total_tokens"), usage.input + usage.output);
  usage.cachedInput = doc.int(doc.get(doc.get(u, "prompt_tokens_details"), "cached_tokens"));
  usage.reasoning = doc.int(doc.get(doc.get(u, "completion_tokens_details"), "reasoning_tokens"));
}

/** Non-streaming JSON (success or error): passed through unchanged; usage read at the end. */
class OpenAIJson extends ResponseHandler {
  constructor(private success: bool) {
    super();
    this.wholeBody = success;
  }
  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (this.success && eos) {
      const doc = parseJson(chunk);
      if (doc.ok) {
        const u = doc.get(doc.root, "usage");
        if (u !== null && u.kind == Kind.Obj) readOpenAIUsage(doc, u, this.usage);
      }
    }
    return false;
  }
}

/**
 * Chat completion stream. Usage comes in a final chunk with `choices: []`. When we injected
 * include_usage, that chunk is dropped and the `"usage": null` member OpenAI then adds to every
 * other chunk is removed, so the client gets exactly the stream it asked for.
 */
class OpenAIStream extends ResponseHandler {
  private reader: SseReader = new SseReader();
  private scratch: ByteBuilder = new ByteBuilder(512);

  constructor(private strip: bool) {
    super();
    this.rewrites = strip;
  }

  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    const reader = this.reader;
    reader.feed(chunk);
    if (eos) reader.finish();
    const events = reader.events;
    for (let i = 0; i < events.length; i++) {
      const ev = unchecked(events[i]);
      if (ev.dataIs("[DONE]")) { if (this.strip) writeSse(out, ev.name, ev.data); continue; }
      const doc = parseJson(ev.data);
      const root = doc.root;
      if (root === null || root.kind != Kind.Obj) { if (this.strip) writeSse(out, ev.name, ev.data); continue; }
      const ui = doc.indexOf(root, "usage");
      const u = ui >= 0 ? root.items![ui] : null;
      if (u !== null && u.kind == Kind.Obj) readOpenAIUsage(doc, u, this.usage);
      if (!this.strip) continue;
      if (u === null) { writeSse(out, ev.name, ev.data); continue; }
      const choices = doc.get(root, "choices");
      if (u.kind == Kind.Obj && choices !== null && choices.kind == Kind.Arr && choices.length == 0) continue; // the usage chunk
      const edits = new Edits(doc);
      edits.removeMember(root, ui);
      this.scratch.reset();
      edits.apply(this.scratch);
      writeSse(out, ev.name, this.scratch.buf, 0, this.scratch.len);
    }
    events.length = 0;
    return this.strip;
  }
}
