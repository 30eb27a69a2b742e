// The one interface every provider module implements. The filter core talks only to this: it
// never names a provider. A provider turns the client's OpenAI-format request into the upstream
// request, and gives a response handler that turns upstream bytes into client bytes (JSON or
// streams, incrementally) while reading token usage.

import { Backend, ModelRule } from "../config/config";
import { JNode, JsonDoc, Kind, MAX_DEPTH, parseJson } from "../json/json";
import { ApiError } from "../errors";
import { Usage } from "../usage";
import { ByteBuilder } from "../util/bytes";
import { ChunkMeter, ChunkWriter } from "./openai_out";

export const enum Endpoint { Unknown = 0, ChatCompletions = 1, Embeddings = 2, Models = 3, Messages = 4, Responses = 5 }

/** The client's request, parsed once and shared by routing, limits and translation. */
export class ClientRequest {
  endpoint: Endpoint = Endpoint.Unknown;
  doc: JsonDoc;
  root: JNode;
  model: string = "";
  stream: bool = false;
  rule: ModelRule;
  /** Set by the provider when it asked upstream for usage the client did not ask for. */
  usageInjected: bool = false;
  /** The filter needs whole events in the client stream (budget cut, usage event): re-frame. */
  reframe: bool = false;
  /** Gateway clock (unix seconds) for `created` in translated responses. */
  nowSeconds: i64 = 0;
  /**
   * Upstream response headers the provider asked for (Provider.responseHeaderNames), as
   * name, value, … with lower-case names; filled before Provider.response() is called.
   */
  responseHeaders: string[] = [];
  /**
   * Messages API clients (Endpoint.Messages) to a backend that does not speak it: the chat request
   * translated from the client's body, which the provider then handles like any chat request.
   */
  chat: ClientRequest | null = null;
  // (Responses API clients, Endpoint.Responses, to a backend that does not speak it: the same.)
  /** Messages API clients: their `anthropic-beta` header (only Messages-speaking backends may get it). */
  anthropicBeta: string = "";
  constructor(doc: JsonDoc, root: JNode, rule: ModelRule) { this.doc = doc; this.root = root; this.rule = rule; }
  get backend(): Backend { return this.rule.backend; }
  /** Model name sent upstream. */
  get upstreamModel(): string { return this.rule.upstreamModel.length ? this.rule.upstreamModel : this.model; }
  /** Whether the client asked for the usage chunk (stream_options.include_usage: true). */
  clientWantsUsage(): bool {
    const iu = this.doc.get(this.doc.get(this.root, "stream_options"), "include_usage");
    return iu !== null && iu.kind == Kind.Bool && iu.flag;
  }
  /** Value of an upstream response header from responseHeaders ("" when absent). */
  responseHeader(name: string): string {
    const h = this.responseHeaders;
    for (let i = 0; i + 1 < h.length; i += 2) if (unchecked(h[i]) == name) return unchecked(h[i + 1]);
    return "";
  }
}

/** What goes upstream. body null = the client's bytes unchanged. */
export class UpstreamRequest {
  path: string = "";
  body: ByteBuilder | null = null;
  /** Extra upstream headers as name, value, name, value… (e.g. anthropic-version). */
  headers: string[] = [];
}

export abstract class ResponseHandler {
  usage: Usage = new Usage();
  /** true: give onBody the whole body once (the filter buffers to end of stream). */
  wholeBody: bool = false;
  /** true: the client-facing body may differ from upstream's (drop content-length). */
  rewrites: bool = false;
  /** Status to send the client instead of upstream's (0 = unchanged). */
  status: i32 = 0;
  /** Content type to send the client instead of upstream's ("" = unchanged). */
  contentType: string = "";
  /**
   * One body chunk (or the whole body when wholeBody). Returns true when `out` holds the bytes to
   * send instead of the chunk; false to pass the chunk through unchanged.
   */
  abstract onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool;

  /**
   * Answers the client with `e` instead of upstream's body: its status, JSON, the body in OpenAI's
   * envelope (or Anthropic's for Messages API clients). Returns true (onBody's "out replaces").
   */
  answerError(out: ByteBuilder, e: ApiError, anthropic: bool = false): bool {
    this.status = e.status;
    this.contentType = "application/json";
    out.all(Uint8Array.wrap(anthropic ? e.anthropicBody() : e.body()));
    return true;
  }

  /** The filter's meter on the chat chunks this handler writes (null: not metered). */
  meter: ChunkMeter | null = null;

  /**
   * Reports every chat.completion.chunk this handler writes to `m` (openai_out ChunkMeter).
   * False when the handler writes no chat chunks of its own (JSON answers, errors, pass-through).
   */
  meterWith(m: ChunkMeter): bool { return false; }

  /** meterWith for a handler whose chunks all go through `chunks`. */
  protected meterChunks(m: ChunkMeter, chunks: ChunkWriter): bool {
    this.meter = m;
    chunks.meter = m;
    return true;
  }

  /**
   * onBody, with the meter's word last: once the meter ended the client's stream (its tail is in
   * `out`), nothing the handler writes after that tail goes out, in this call or any later one;
   * the handler still reads the rest of the upstream body (its usage is what gets committed).
   */
  body(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    const m = this.meter;
    if (m === null) return this.onBody(chunk, eos, out);
    const start = out.len;
    m.endAt = -1;
    const replaced = this.onBody(chunk, eos, out);
    if (!m.ended) return replaced;
    out.len = m.endAt >= start ? m.endAt : start;
    m.endAt = -1;
    return true;
  }
}

export abstract class Provider {
  /** Builds the upstream request, or returns the error to answer the client with. */
  abstract prepare(req: ClientRequest, out: UpstreamRequest): ApiError | null;
  /** The handler for the upstream response. */
  abstract response(req: ClientRequest, status: i32, contentType: string): ResponseHandler;
  /** Upstream response headers (lower case) response() needs, e.g. a request id; none by default. */
  responseHeaderNames(): string[] { return []; }

  // The Anthropic Messages API as the client's format (Endpoint.Messages). A provider that speaks
  // it natively overrides all three; for every other provider the gateway translates the client's
  // Messages body into a chat request (assembly/providers/messages_in.ts) and the chat response
  // back (messages_out.ts) around prepare() and response().

  /** Whether the backend takes the client's Messages body with only the necessary edits. */
  nativeMessages(req: ClientRequest): bool { return false; }
  /** Native Messages request (only called when nativeMessages): the error to answer, or null. */
  prepareMessages(req: ClientRequest, out: UpstreamRequest): ApiError | null {
    return new ApiError(500, "server_error", "not_native", "This backend does not speak the Messages API natively.");
  }
  /** Native Messages response handler (only called when nativeMessages); null = use response(). */
  messagesResponse(req: ClientRequest, status: i32, contentType: string): ResponseHandler | null { return null; }

  // The OpenAI Responses API as the client's format (Endpoint.Responses). A provider that speaks
  // it (OpenAI, Azure) builds the request in prepare() (req.endpoint says which API); the answer
  // passes through responses_out.ts. Every other provider gets a chat request translated from the
  // client's body (responses_in.ts) and its chat answer translated back (responses_out.ts).

  /** Whether the backend takes the client's Responses body with only the necessary edits. */
  nativeResponses(req: ClientRequest): bool { return false; }
}

/**
 * The second half of every client format the gateway translates to chat (Messages, Responses):
 * the chat body written into `b` is parsed into the chat ClientRequest (kept in req.chat for the
 * response side) and handed to the provider like any chat request.
 */
export function prepareAsChat(provider: Provider, req: ClientRequest, b: ByteBuilder, out: UpstreamRequest): ApiError | null {
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
  // Messages: the budget meters the chat chunks before they become Messages events. Responses
  // streams are metered on their own events (responses_out ResponsesEvents).
  chat.reframe = req.reframe && req.endpoint == Endpoint.Messages;
  req.chat = chat;
  const perr = provider.prepare(chat, out);
  if (perr !== null) return perr;
  if (out.body === null) out.body = b; // the provider sends the chat body unchanged
  return null;
}
