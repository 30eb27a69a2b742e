// What every exchange through the filter must satisfy, whatever the input (docs/robustness.md):
//
//   1. no trap (the host fails the VM on a trap: that is checked after every exchange), no host
//      error, no stream context left after the exchange, no callout pending;
//   2. an answer the filter made itself (no upstream request) is a well-formed error: the client
//      format's error envelope (OpenAI's, or Anthropic's for Messages API clients) with a 4xx
//      status for a client fault;
//   3. what went upstream is valid JSON (UTF-8, an object, the routed model in the body or in the
//      URL path, as the backend puts it), with an absolute :path, a correct content-length, the
//      routed cluster and authority, and no client credential;
//   4. a JSON answer parses; an error status carries the client format's error envelope; the
//      status is the provider's, one of the backend's documented mappings, or 502 for an upstream
//      answer the filter cannot use (503 for Anthropic's 529); a success the filter wrote is
//      schema-valid for the endpoint;
//   5. a stream is well-formed SSE (no partial event at the end) ending in the client format's
//      terminator ([DONE], message_stop) or an error event; every event before the end is
//      schema-valid and named as the format wants, except events the provider sent in the
//      client's own format (pass-through), which the filter forwards as they are;
//   6. one request log line for the request, with the status the client got.
//
// Tables: ENDPOINTS / ClientFormat (what the client speaks, by endpoint) and BACKEND_TRAITS (which
// client formats a backend speaks natively, where its model goes, its framing, its status
// mappings). A new input API or provider is an entry in one of them; an unknown backend schema is
// treated as translating for every client format (strictest).

import { isUtf8 } from "node:buffer";
import { schemaErrors, responsesSchemaErrors } from "../support/openai-schema.ts";
import { responsesStreamProblems } from "../support/responses-sse.ts";
import { messagesSchemaErrors, messagesStreamProblems } from "../support/anthropic-messages.ts";
import { sseParse } from "./framings.ts";

// --------------------------------------------------------------------------------- client side

export interface ClientFormat {
  name: string;
  /** Problems of a 2xx JSON body the filter wrote (`request`: the client's body parsed, undefined when it is not JSON). */
  success(body: any, request?: any): string[];
  /** Problems of an error body (status >= 400). */
  error(body: any): string[];
  /** Problems of an error event in a stream, when its shape is not the error body's (Responses). */
  errorEvent?(ev: any): string[];
  /** Problems of one stream event payload that is not the terminator. */
  chunk(ev: any): string[];
  /** Whether a parsed stream payload is an error event. */
  isErrorEvent(ev: any): boolean;
  /** Whether an event (its data, and the data parsed when it is JSON) ends the stream normally. */
  isDone(data: string, ev: any): boolean;
  /** The terminator, for messages ("[DONE]", "message_stop"). */
  done: string;
  /** The `event:` line an event with this payload must carry ("" = none: OpenAI streams have none). */
  eventName(ev: any): string;
  /** The terminator may follow an error event (OpenAI: error event, then [DONE]). */
  doneAfterError: boolean;
  /** Problems of the whole event sequence of a stream the filter wrote (state machine), beyond each event's schema. */
  sequence?(events: any[]): string[];
  /**
   * Problems of an error body the provider sent in this format and the filter forwarded as it is:
   * the envelope's shape (a provider's own error type or message text is its business).
   */
  forwardedError?(body: any): string[];
}

const FINISH = ["stop", "length", "tool_calls", "content_filter", "function_call"];

const openaiError = (b: any) => schemaErrors("ErrorResponse", b);
const openaiIsError = (ev: any) => !!ev && typeof ev === "object" && !Array.isArray(ev) && "error" in ev && !("choices" in ev);

export const OPENAI_CHAT: ClientFormat = {
  name: "openai-chat",
  success: (b) => {
    const out = schemaErrors("CreateChatCompletionResponse", b);
    for (const [i, c] of (Array.isArray(b?.choices) ? b.choices : []).entries()) if (!FINISH.includes(c?.finish_reason)) out.push(`choices[${i}].finish_reason ${JSON.stringify(c?.finish_reason)}`);
    return out;
  },
  error: openaiError,
  chunk: (ev) => {
    const out = schemaErrors("CreateChatCompletionStreamResponse", ev);
    for (const c of Array.isArray(ev?.choices) ? ev.choices : []) if (c?.finish_reason != null && !FINISH.includes(c.finish_reason)) out.push(`finish_reason ${JSON.stringify(c.finish_reason)}`);
    return out;
  },
  isErrorEvent: openaiIsError,
  isDone: (data) => data === "[DONE]",
  done: "[DONE]",
  eventName: () => "",
  doneAfterError: true,
};

/**
 * With `encoding_format: "base64"` OpenAI sends each embedding as base64 of the little-endian
 * float32 array, which the schema (numbers only) does not describe: such an embedding must decode
 * exactly, and is checked as the array it decodes to (as tests/providers/fixture-case.ts does).
 */
function decodedEmbeddings(b: any, request: any, out: string[]): any {
  if (request?.encoding_format !== "base64" || !b || typeof b !== "object" || !Array.isArray(b.data)) return b;
  return { ...b, data: b.data.map((d: any, i: number) => {
    if (typeof d?.embedding !== "string") { out.push(`data[${i}].embedding is not a base64 string (encoding_format base64)`); return d; }
    const buf = Buffer.from(d.embedding, "base64");
    if (buf.length % 4 !== 0 || buf.toString("base64") !== d.embedding) { out.push(`data[${i}].embedding is not base64 of float32 values`); return d; }
    return { ...d, embedding: Array.from({ length: buf.length / 4 }, (_, k) => buf.readFloatLE(k * 4)) };
  }) };
}

export const OPENAI_EMBEDDINGS: ClientFormat = {
  ...OPENAI_CHAT,
  name: "openai-embeddings",
  success: (b, request) => { const out: string[] = []; return [...out, ...schemaErrors("CreateEmbeddingResponse", decodedEmbeddings(b, request, out))]; },
};

export const OPENAI_MODELS: ClientFormat = {
  ...OPENAI_CHAT,
  name: "openai-models",
  success: (b) => {
    const out: string[] = [];
    if (b?.object === "list") {
      if (!Array.isArray(b.data)) out.push("data is not an array");
      else for (const m of b.data) if (typeof m?.id !== "string" || m.object !== "model" || !Number.isInteger(m.created) || typeof m.owned_by !== "string") out.push(`bad model entry ${JSON.stringify(m)}`);
    } else if (typeof b?.id !== "string" || b.object !== "model") out.push(`not a model list or model: ${JSON.stringify(b).slice(0, 200)}`);
    return out;
  },
};

/**
 * Anthropic Messages API clients (POST /v1/messages): `message` objects, Anthropic's error envelope
 * `{"type":"error","error":{type,message}}`, and Messages SSE (`event: <type>` + `data:` whose
 * `type` is the event name, ending with message_stop or an error event). The filter's own streams
 * must also follow the sources: Anthropic streaming state machine (tests/support/anthropic-messages.ts).
 */
export const ANTHROPIC_MESSAGES: ClientFormat = {
  name: "anthropic-messages",
  success: (b) => messagesSchemaErrors("Message", b),
  error: (b) => messagesSchemaErrors("ErrorResponse", b),
  chunk: (ev) => messagesSchemaErrors("StreamEvent", ev),
  isErrorEvent: (ev) => !!ev && typeof ev === "object" && ev.type === "error",
  isDone: (_data, ev) => !!ev && typeof ev === "object" && ev.type === "message_stop",
  done: "message_stop",
  eventName: (ev) => (ev && typeof ev === "object" && typeof ev.type === "string" ? ev.type : "(a string type member)"),
  doneAfterError: false,
  // Tool input fragments are the model's text, streamed as they come (never buffered to be
  // checked): whether they join into a JSON object is the provider's matter, not the framing's.
  sequence: (events) => messagesStreamProblems(events).filter((p) => !/: tool input (JSON does not parse|is not an object)/.test(p)),
  forwardedError: (b) => {
    const out: string[] = [];
    if (!b || typeof b !== "object" || Array.isArray(b) || b.type !== "error") out.push("not {\"type\":\"error\",…}");
    else if (!b.error || typeof b.error !== "object" || typeof b.error.type !== "string" || typeof b.error.message !== "string") out.push("error.type / error.message are not strings");
    return out;
  },
};

const RESPONSES_TERMINAL = ["response.completed", "response.incomplete", "response.failed"];

/**
 * OpenAI Responses API clients (POST /v1/responses): Response objects, OpenAI's error envelope,
 * and Responses SSE (`event: <type>` + `data:` whose `type` is the event name, sequence numbers
 * from 0, ending with response.completed / .incomplete / .failed, or an error event that
 * response.failed may follow). The filter's own streams must also keep the event order
 * (tests/support/responses-sse.ts).
 */
export const OPENAI_RESPONSES: ClientFormat = {
  name: "openai-responses",
  success: (b) => responsesSchemaErrors("Response", b),
  error: openaiError,
  errorEvent: (ev) => responsesSchemaErrors("ResponseStreamEvent", ev),
  chunk: (ev) => responsesSchemaErrors("ResponseStreamEvent", ev),
  isErrorEvent: (ev) => !!ev && typeof ev === "object" && ev.type === "error",
  isDone: (_data, ev) => !!ev && typeof ev === "object" && RESPONSES_TERMINAL.includes(ev.type),
  done: "response.completed",
  eventName: (ev) => (ev && typeof ev === "object" && typeof ev.type === "string" ? ev.type : "(a string type member)"),
  doneAfterError: true,
  sequence: (events) => responsesStreamProblems(events),
};

/** The endpoints the filter serves: path, method, and the client format of the answers. */
export interface Endpoint { name: string; method: string; path: string; format: ClientFormat; body: boolean; /** The filter writes a request log line. */ logged: boolean }
export const ENDPOINTS: Endpoint[] = [
  { name: "chat", method: "POST", path: "/v1/chat/completions", format: OPENAI_CHAT, body: true, logged: true },
  { name: "chat-short", method: "POST", path: "/chat/completions", format: OPENAI_CHAT, body: true, logged: true },
  { name: "embeddings", method: "POST", path: "/v1/embeddings", format: OPENAI_EMBEDDINGS, body: true, logged: true },
  { name: "embeddings-short", method: "POST", path: "/embeddings", format: OPENAI_EMBEDDINGS, body: true, logged: true },
  { name: "models", method: "GET", path: "/v1/models", format: OPENAI_MODELS, body: false, logged: false },
  { name: "messages", method: "POST", path: "/v1/messages", format: ANTHROPIC_MESSAGES, body: true, logged: true },
  { name: "messages-short", method: "POST", path: "/messages", format: ANTHROPIC_MESSAGES, body: true, logged: true },
  { name: "responses", method: "POST", path: "/v1/responses", format: OPENAI_RESPONSES, body: true, logged: true },
  { name: "responses-short", method: "POST", path: "/responses", format: OPENAI_RESPONSES, body: true, logged: true },
];
/** Any other path: the filter answers 404 (OpenAI error envelope) and logs nothing. */
export const UNKNOWN_ENDPOINT: Endpoint = { name: "unknown", method: "POST", path: "", format: OPENAI_CHAT, body: true, logged: false };
/** Other paths of the Messages API (/v1/messages/count_tokens, /v1/messages/batches…): 404 in Anthropic's envelope. */
export const UNKNOWN_MESSAGES_ENDPOINT: Endpoint = { ...UNKNOWN_ENDPOINT, name: "unknown-messages", format: ANTHROPIC_MESSAGES };

export function endpointFor(path: string): Endpoint {
  const p = path.split("?")[0];
  return ENDPOINTS.find((e) => e.path === p)
    ?? (p.startsWith("/v1/models/") || p === "/models" ? ENDPOINTS.find((e) => e.name === "models")!
      : p.startsWith("/v1/messages/") ? UNKNOWN_MESSAGES_ENDPOINT : UNKNOWN_ENDPOINT);
}

// -------------------------------------------------------------------------------- backend side

export interface BackendTraits {
  /**
   * Client formats (ClientFormat.name) the backend already speaks: the filter forwards its events
   * and success bodies (with documented edits: usage hidden or injected, finish_reason and error
   * envelopes normalized). For any other client format the filter writes the client's bytes
   * itself (translation), so every event and body must be valid.
   */
  native: string[];
  /** Where the routed model goes: the request body's `model`, or a segment of the URL path. */
  model: "body" | "bedrock-path" | "google-path";
  /** The stream framing of its answers (a FRAMINGS name, chosen there by content type). */
  framing: "sse" | "aws-eventstream";
  /** Client statuses the filter documents for a provider answer (status and body), besides its status and 502. */
  statuses?(upstream: number, body: Buffer): number[];
  /**
   * The client-format payload a framing payload carries, for the pass-through comparison
   * (Bedrock InvokeModelWithResponseStream: a Messages event, base64 in `{"bytes": …}`).
   */
  unwrap?(payload: string): string | null;
  /** Credentials the host must hold before a request: a GCP OAuth token in the filter's token cache (harness.ts seeds it). */
  token?: "gcp";
}

const OPENAI_CLIENTS = [OPENAI_CHAT.name, OPENAI_EMBEDDINGS.name, OPENAI_RESPONSES.name];
const MESSAGES_CLIENTS = [ANTHROPIC_MESSAGES.name];
/** Anthropic's 529 overloaded_error is 503 for clients (sources: Anthropic errors). */
const overloaded = (u: number, _body: Buffer) => (u === 529 ? [503] : []);
/** Bedrock's 408 ModelTimeoutException is a gateway timeout for OpenAI clients (424 is 502, always allowed). */
const bedrockStatuses = (u: number, _body: Buffer) => (u === 408 ? [504] : []);

/** A Messages event inside an eventstream `chunk` frame: `{"bytes": base64(event JSON), "p": …}`. */
function bedrockChunk(payload: string): string | null {
  try {
    const v = JSON.parse(payload);
    return v && typeof v.bytes === "string" ? Buffer.from(v.bytes, "base64").toString("utf8") : null;
  } catch { return null; }
}

/**
 * Google backends (sources: Gemini API errors): an answer whose HTTP status is not an error (2xx, 3xx) but
 * which carries a google.rpc.Status error (bare or as the first element of an array) has that
 * error's `code` as its status, 500 without one (assembly/providers/google.ts googleError).
 */
function googleStatuses(u: number, body: Buffer): number[] {
  if (u >= 400) return [];
  let v: any;
  try { v = JSON.parse(body.toString("utf8")); } catch { return []; }
  const err = (Array.isArray(v) ? v[0] : v)?.error;
  if (!err || typeof err !== "object" || Array.isArray(err)) return [];
  return [typeof err.code === "number" && err.code >= 400 && err.code < 600 ? Math.floor(err.code) : 500];
}

/**
 * Gemini (sources: Gemini API errors; Gemini API): a reason API_KEY_INVALID is an authentication failure (401); a
 * 2xx whose prompt was blocked (`promptFeedback.blockReason`, no candidates) is the client's 400
 * content_filter; and the google.rpc.Status rule above.
 */
function geminiStatuses(u: number, body: Buffer): number[] {
  const out = googleStatuses(u, body);
  if (body.includes("API_KEY_INVALID")) out.push(401);
  if (u >= 200 && u < 300 && body.includes("blockReason")) out.push(400);
  return out;
}

export const BACKEND_TRAITS: Record<string, BackendTraits> = {
  openai: { native: OPENAI_CLIENTS, model: "body", framing: "sse" },
  "azure-openai": { native: OPENAI_CLIENTS, model: "body", framing: "sse" },
  anthropic: { native: MESSAGES_CLIENTS, model: "body", framing: "sse", statuses: overloaded },
  "vertex-anthropic": { native: MESSAGES_CLIENTS, model: "google-path", framing: "sse", statuses: (u, b) => [...overloaded(u, b), ...googleStatuses(u, b)], token: "gcp" },
  "bedrock-anthropic": { native: MESSAGES_CLIENTS, model: "bedrock-path", framing: "aws-eventstream", statuses: (u, b) => [...overloaded(u, b), ...bedrockStatuses(u, b)], unwrap: bedrockChunk },
  "bedrock-converse": { native: [], model: "bedrock-path", framing: "aws-eventstream", statuses: bedrockStatuses },
  gemini: { native: [], model: "google-path", framing: "sse", statuses: geminiStatuses },
  "vertex-gemini": { native: [], model: "google-path", framing: "sse", statuses: geminiStatuses, token: "gcp" },
};
const STRICTEST: BackendTraits = { native: [], model: "body", framing: "sse" };
export const traitsOf = (schema: string): BackendTraits => BACKEND_TRAITS[schema] ?? STRICTEST;

/**
 * The model a request names upstream, where the backend puts it: `model` in the body, or one URL
 * path segment — Bedrock `/model/<percent-encoded id>/<operation>`, Google `…/models/<id>:<method>`.
 * undefined when it is not there.
 */
export function upstreamModelOf(t: BackendTraits, path: string, body: any): unknown {
  if (t.model === "body") return body && typeof body === "object" ? body.model : undefined;
  const p = path.split("?")[0];
  if (t.model === "bedrock-path") {
    const m = /\/model\/([^/]*)\/[^/]+$/.exec(p);
    if (!m) return undefined;
    try { return decodeURIComponent(m[1]); } catch { return undefined; }
  }
  const m = /\/models\/([^/:]*):[A-Za-z]+$/.exec(p);
  return m ? m[1] : undefined;
}

// ----------------------------------------------------------------------------------- exchange

export interface Seen { headers: readonly (readonly [string, string])[]; body: Buffer }
export interface ClientSide { status: number; headers: Record<string, string>; body: Buffer; reset: string | null }

export interface Exchange {
  endpoint: Endpoint;
  /** The configuration the filter runs with (parsed). */
  config: any;
  requestBytes: Buffer;
  /** What reached the router, or null when the filter answered by itself. */
  upstream: Seen | null;
  /** The provider's answer that was fed back (null: none, the filter answered or the test stopped). */
  response: { status: number; headers: [string, string][]; body: Buffer } | null;
  client: ClientSide;
  /** Client credential values sent with the request (must never go upstream). */
  secrets: string[];
  /** The request log lines of this exchange. */
  logLines: string[];
  /** The fault is the client's (no provider answer involved): a local answer must be 4xx. */
  clientFault: boolean;
}

function header(h: readonly (readonly [string, string])[], name: string): string | undefined {
  for (const [k, v] of h) if (k === name) return v;
  return undefined;
}

function lastWinsRequest(bytes: Buffer): any {
  try { return JSON.parse(bytes.toString("utf8")); } catch { return undefined; }
}
function lastWinsModel(bytes: Buffer): unknown { return lastWinsRequest(bytes)?.model; }

/** Routing as the filter does it (assembly/routing/router.ts): an exact name first, then '*' patterns in order. */
export function routeOf(config: any, model: unknown): { backend: any; upstreamModel: string; renamed: boolean } | null {
  if (typeof model !== "string") return null;
  const rules: any[] = Array.isArray(config.models) ? config.models : [];
  const globMatch = (pattern: string, s: string): boolean => {
    const parts = pattern.split("*");
    if (parts.length === 1) return pattern === s;
    const first = parts[0], last = parts[parts.length - 1];
    if (s.length < first.length + last.length || !s.startsWith(first) || !s.endsWith(last)) return false;
    let at = first.length;
    const limit = s.length - last.length;
    for (let i = 1; i < parts.length - 1; i++) {
      if (parts[i] === "") continue;
      const k = s.indexOf(parts[i], at);
      if (k < 0 || k + parts[i].length > limit) return false;
      at = k + parts[i].length;
    }
    return true;
  };
  const rule = rules.find((r) => !String(r.match).includes("*") && r.match === model) ?? rules.find((r) => String(r.match).includes("*") && globMatch(String(r.match), model));
  if (!rule) return null;
  const backend = (config.backends ?? []).find((b: any) => b.name === rule.backend);
  return backend ? { backend, upstreamModel: rule.upstream_model ?? model, renamed: typeof rule.upstream_model === "string" && rule.upstream_model !== "" } : null;
}

/** Upstream payloads normalized for the pass-through comparison (edits the filter may make removed). */
function normalizedPayload(s: string): string | null {
  try {
    const v = JSON.parse(s);
    if (!v || typeof v !== "object" || Array.isArray(v)) return JSON.stringify(v);
    delete v.usage; delete v.x_groq;
    if (Array.isArray(v.choices)) for (const c of v.choices) if (c && typeof c === "object") delete c.finish_reason;
    return JSON.stringify(v);
  } catch { return null; } // not JSON, or nested deeper than the JS stack
}

/** The byte-level edit the filter makes on events it does not parse (partial ones included). */
function withoutUsageNull(s: string): string { return s.replace(/,"usage":null|"usage":null,/g, ""); }

/** Schema problems, or a note when the document is too deep for the validator itself. */
function safely(f: (v: any) => string[], v: any): string[] {
  try { return f(v); } catch (e) { return [`validator failed: ${(e as Error).message}`]; }
}

export function check(x: Exchange, upstreamPayloads: () => string[]): string[] {
  const out: string[] = [];
  const c = x.client;
  const fmt = x.endpoint.format;
  const ct = (c.headers["content-type"] ?? "").toLowerCase();
  const text = c.body.toString("utf8");
  const route = x.upstream ? routeOf(x.config, lastWinsModel(x.requestBytes)) : null;
  const schema: string = route ? (route.backend.schema ?? "openai") : "";
  const traits = route ? traitsOf(schema) : null;
  // Whether the filter writes the client's bytes itself: the backend does not speak the client's format.
  const translated = traits ? !traits.native.includes(fmt.name) : false;

  if (c.reset !== null && c.status === 0) { out.push(`the client got a reset (${c.reset}) and no answer`); return out; }
  if (c.status === 0) { out.push("the client got no answer"); return out; }

  // 3. the upstream request
  if (x.upstream) {
    const up = x.upstream;
    if (!isUtf8(up.body)) out.push("upstream body is not valid UTF-8");
    let body: any;
    try { body = JSON.parse(up.body.toString("utf8")); } catch (e) { out.push(`upstream body is not JSON: ${(e as Error).message}`); }
    if (body !== undefined && (body === null || typeof body !== "object" || Array.isArray(body))) out.push("upstream body is not a JSON object");
    const cl = header(up.headers, "content-length");
    if (cl !== undefined && Number(cl) !== up.body.length) out.push(`upstream content-length ${cl} but ${up.body.length} bytes`);
    const upPath = header(up.headers, ":path") ?? "";
    if (!upPath.startsWith("/")) out.push(`upstream :path ${JSON.stringify(upPath.slice(0, 100))} is not an absolute path`);
    const raw = up.headers.map(([k, v]) => `${k}: ${v}`).join("\n");
    for (const s of x.secrets) if (raw.includes(s)) out.push(`client credential ${s} went upstream`);
    if (!route) out.push(`the request went upstream but its model ${JSON.stringify(lastWinsModel(x.requestBytes))} routes nowhere`);
    else {
      const b = route.backend;
      const wantCluster = header(up.headers, x.config.cluster_header ?? "x-ai-gateway-cluster");
      if (wantCluster !== b.cluster) out.push(`upstream cluster ${wantCluster}, backend ${b.name} has ${b.cluster}`);
      if (b.host && header(up.headers, ":authority") !== b.host) out.push(`upstream authority ${header(up.headers, ":authority")}, backend host ${b.host}`);
      // The filter decodes the model name, so an unpaired surrogate escape arrives as U+FFFD where
      // the filter writes the model; where it forwards the client's bytes untouched (no rename:
      // pass-through backends, native Messages) the client's own spelling arrives.
      // Azure's Responses API (its v1 surface) names the deployment in the body's model.
      const deployment = schema === "azure-openai" && fmt.name === OPENAI_RESPONSES.name && typeof b.deployment === "string" && b.deployment !== "" ? b.deployment : null;
      const want = deployment ?? (route.upstreamModel as any).toWellFormed();
      const asSent = route.renamed || deployment ? want : route.upstreamModel;
      const t = traits!;
      if (t.model === "body") {
        if (body && typeof body === "object" && (translated || "model" in body) && body.model !== want && body.model !== asSent) out.push(`upstream model ${JSON.stringify(body.model)}, expected ${JSON.stringify(want)}`);
      } else {
        const path = header(up.headers, ":path") ?? "";
        const got = upstreamModelOf(t, path, body);
        if (got !== want) out.push(`upstream model ${JSON.stringify(got)} in the path ${JSON.stringify(path.slice(0, 200))}, expected ${JSON.stringify(want)}`);
      }
    }
  }

  // 2./4. status and JSON answers
  const up = x.response;
  const localAnswer = !up;
  if (localAnswer) {
    const okModels = x.endpoint.name === "models" && c.status === 200;
    if (!okModels && x.clientFault && (c.status < 400 || c.status >= 500)) out.push(`the filter answered a client fault with ${c.status}`);
    if (!okModels && !x.clientFault && c.status < 400) out.push(`the filter answered ${c.status} by itself`);
  } else {
    const u = up.status;
    const allowed = new Set([u, 502, ...(traits?.statuses?.(u, up.body) ?? [])]);
    if (!allowed.has(c.status)) out.push(`the provider answered ${u}, the client got ${c.status}`);
  }

  // A content-length, when there is one, counts the bytes the client got (streams included: a
  // pass-through stream the filter closes or ends with an error event is longer than the provider's).
  const ccl = c.headers["content-length"];
  if (ccl !== undefined && Number(ccl) !== c.body.length) out.push(`client content-length ${ccl} but ${c.body.length} bytes`);
  if (ct.startsWith("text/event-stream") && c.status >= 200 && c.status < 300) {
    const unwrap = traits?.unwrap;
    const payloads = unwrap ? () => upstreamPayloads().flatMap((s) => { const x = unwrap(s); return x === null ? [s] : [s, x]; }) : upstreamPayloads;
    out.push(...streamProblems(text, c.body, fmt, translated, payloads));
  } else {
    if (!ct.startsWith("application/json")) out.push(`content-type ${JSON.stringify(ct)} for a ${c.status} answer`);
    let body: any;
    let parsed = true;
    try { body = JSON.parse(text); } catch (e) { parsed = false; out.push(`client body is not JSON (${(e as Error).message}): ${JSON.stringify(text.slice(0, 120))}`); }
    if (parsed) {
      // A provider's own error body in the client's format, forwarded byte for byte, needs only the envelope's shape.
      const forwarded = up !== null && !translated && fmt.forwardedError !== undefined && c.body.equals(up.body);
      if (c.status >= 400) out.push(...safely(forwarded ? fmt.forwardedError! : fmt.error, body).map((p) => `error body: ${p}`));
      else if (c.status >= 200 && c.status < 300) {
        if (localAnswer || translated) out.push(...safely((b) => fmt.success(b, lastWinsRequest(x.requestBytes)), body).map((p) => `success body: ${p}`));
        else if (!body || typeof body !== "object") out.push("success body is not a JSON object or array");
      }
    }
  }

  // 6. the request log line
  if (x.endpoint.logged) {
    const lines = x.logLines.filter((l) => l.startsWith("ai-gateway: request "));
    if (lines.length !== 1) out.push(`${lines.length} request log lines`);
    else {
      const m = / status=(\d+)/.exec(lines[0]);
      if (!m || Number(m[1]) !== c.status) out.push(`log line status ${m?.[1]} but the client got ${c.status}: ${lines[0]}`);
    }
  }
  return out;
}

function streamProblems(text: string, bytes: Buffer, fmt: ClientFormat, translated: boolean, upstreamPayloads: () => string[]): string[] {
  const out: string[] = [];
  if (translated && !isUtf8(bytes)) out.push("translated stream is not valid UTF-8");
  const p = sseParse(text);
  if (p.partial.replace(/[\r\n]/g, "") !== "") out.push(`the stream ends inside an event: ${JSON.stringify(p.partial.slice(0, 120))}`);
  let derived: Set<string> | null = null;
  let lastPayload = "";
  const isDerived = (data: string): boolean => {
    if (translated) return false;
    if (!derived) {
      derived = new Set<string>();
      const all = upstreamPayloads();
      for (const s of all) {
        derived.add(s);
        derived.add(withoutUsageNull(s));
        const n = normalizedPayload(s);
        if (n !== null) derived.add(n);
      }
      lastPayload = all.at(-1) ?? "";
    }
    if (derived.has(data) || derived.has(withoutUsageNull(data))) return true;
    // The start of the provider's last event, forwarded before the filter cut the stream there
    // (an event over the size bound) and closed it.
    if (data.length > 0 && lastPayload.startsWith(data)) return true;
    const n = normalizedPayload(data);
    return n !== null && derived.has(n);
  };
  const evs = p.events;
  const parsed: any[] = evs.map((e) => { try { return JSON.parse(e.data); } catch { return undefined; } });
  const isDone = (i: number) => fmt.isDone(evs[i].data, parsed[i]);
  // Each event carries the `event:` line its format wants (OpenAI: none; Messages: its type).
  const named = (i: number) => {
    const want = parsed[i] === undefined ? "" : fmt.eventName(parsed[i]);
    if (evs[i].name !== want && !isDerived(evs[i].data)) out.push(`event ${i} has ${evs[i].name ? `an event: line (${evs[i].name})` : "no event: line"}${want ? `, want event: ${want}` : ""}`);
  };
  let end = -1;
  for (let i = 0; i < evs.length && end < 0; i++) {
    const d = evs[i].data;
    const v = parsed[i];
    named(i);
    if (isDone(i)) { end = i; break; }
    if (v !== undefined && fmt.isErrorEvent(v)) { end = i; if (!isDerived(d)) out.push(...safely(fmt.errorEvent ?? fmt.error, v).map((e) => `error event ${i}: ${e}`)); break; }
    if (v === undefined) { if (!isDerived(d)) out.push(`event ${i} is not JSON: ${JSON.stringify(d.slice(0, 120))}`); continue; }
    const probs = safely(fmt.chunk, v);
    if (probs.length && !isDerived(d)) out.push(`event ${i}: ${probs.slice(0, 3).join("; ")}: ${d.slice(0, 160)}`);
  }
  if (end < 0) out.push(`the stream does not end with ${fmt.done} or an error event (${evs.length} events)`);
  else {
    const endIsDone = isDone(end);
    for (let k = end + 1; k < evs.length; k++) {
      if (!endIsDone && k === end + 1 && fmt.doneAfterError && isDone(k)) continue; // error event then [DONE]
      if (!isDerived(evs[k].data) && !(endIsDone && isDone(k) && !translated)) out.push(`event after the end of the stream: ${JSON.stringify(evs[k].data.slice(0, 120))}`);
    }
    // A stream the filter wrote follows its format's state machine (Messages: block order, indexes, message_stop last).
    if (translated && fmt.sequence && parsed.slice(0, end + 1).every((v) => v !== undefined)) {
      out.push(...safely(fmt.sequence, parsed.slice(0, end + 1)).map((e) => `stream: ${e}`));
    }
  }
  if (translated) {
    // One id and created for the whole stream.
    const ids = new Set<string>();
    for (const ev of evs.slice(0, end < 0 ? evs.length : end)) { try { const v = JSON.parse(ev.data); if (v && typeof v === "object" && "id" in v) ids.add(`${v.id}/${v.created}`); } catch { /* reported */ } }
    if (ids.size > 1) out.push(`chunks carry ${ids.size} different id/created pairs: ${[...ids].slice(0, 3).join(", ")}`);
  }
  return out;
}
