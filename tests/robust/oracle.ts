// What every exchange through the filter must satisfy, whatever the input (docs/robustness.md):
//
//   1. no trap (the host fails the VM on a trap: that is checked after every exchange), no host
//      error, no stream context left after the exchange, no callout pending;
//   2. an answer the filter made itself (no upstream request) is a well-formed error: the OpenAI
//      error envelope with a 4xx status for a client fault;
//   3. what went upstream is valid JSON (UTF-8, an object, the routed model), with a correct
//      content-length, the routed cluster and authority, and no client credential;
//   4. a JSON answer parses; an error status carries the OpenAI error envelope; the status is the
//      provider's, or 502 for an upstream answer the filter cannot use (503 for Anthropic's 529);
//      a success from a translating backend is schema-valid for the endpoint;
//   5. a stream is well-formed SSE (no partial event at the end) ending in [DONE] or an error
//      event; every event before the end is schema-valid, except (pass-through backends only)
//      events the provider sent, which the filter forwards as they are;
//   6. one request log line for the request, with the status the client got.
//
// Tables: CLIENT_FORMATS (what the client speaks, by endpoint) and BACKEND_TRAITS (whether a
// backend schema's answers are authored by the filter or forwarded). A new input API or provider
// is an entry in one of them; an unknown backend schema is treated as translating (strictest).

import { isUtf8 } from "node:buffer";
import { schemaErrors } from "../support/openai-schema.ts";
import { sseParse } from "./framings.ts";

// --------------------------------------------------------------------------------- client side

export interface ClientFormat {
  name: string;
  /** Problems of a 2xx JSON body from a translating backend. */
  success(body: any): string[];
  /** Problems of an error body (status >= 400). */
  error(body: any): string[];
  /** Problems of one stream event payload that is not the terminator. */
  chunk(ev: any): string[];
  /** Whether a parsed stream payload is an error event. */
  isErrorEvent(ev: any): boolean;
  /** The terminator event's data ("[DONE]" for OpenAI). */
  done: string;
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
  done: "[DONE]",
};

export const OPENAI_EMBEDDINGS: ClientFormat = {
  ...OPENAI_CHAT,
  name: "openai-embeddings",
  success: (b) => schemaErrors("CreateEmbeddingResponse", b),
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
 * The endpoints the filter serves: path, method, and the client format of the answers.
 * (When the Anthropic Messages API lands as input: {name: "messages", path: "/v1/messages", …,
 * format: ANTHROPIC_MESSAGES} with its own success/error/chunk checks and `done` handling.)
 */
export interface Endpoint { name: string; method: string; path: string; format: ClientFormat; body: boolean; /** The filter writes a request log line. */ logged: boolean }
export const ENDPOINTS: Endpoint[] = [
  { name: "chat", method: "POST", path: "/v1/chat/completions", format: OPENAI_CHAT, body: true, logged: true },
  { name: "chat-short", method: "POST", path: "/chat/completions", format: OPENAI_CHAT, body: true, logged: true },
  { name: "embeddings", method: "POST", path: "/v1/embeddings", format: OPENAI_EMBEDDINGS, body: true, logged: true },
  { name: "embeddings-short", method: "POST", path: "/embeddings", format: OPENAI_EMBEDDINGS, body: true, logged: true },
  { name: "models", method: "GET", path: "/v1/models", format: OPENAI_MODELS, body: false, logged: false },
];
/** Any other path: the filter answers 404 (OpenAI error envelope) and logs nothing. */
export const UNKNOWN_ENDPOINT: Endpoint = { name: "unknown", method: "POST", path: "", format: OPENAI_CHAT, body: true, logged: false };

export function endpointFor(path: string): Endpoint {
  const p = path.split("?")[0];
  return ENDPOINTS.find((e) => e.path === p) ?? (p.startsWith("/v1/models/") || p === "/models" ? ENDPOINTS.find((e) => e.name === "models")! : UNKNOWN_ENDPOINT);
}

// -------------------------------------------------------------------------------- backend side

export interface BackendTraits {
  /**
   * true: the filter writes the client's bytes itself (translation), so every event and body must
   * be valid. false: the provider already speaks the client's format and the filter forwards its
   * events (with documented edits: usage hidden or injected, finish_reason and error envelopes
   * normalized).
   */
  translated: boolean;
}
export const BACKEND_TRAITS: Record<string, BackendTraits> = {
  openai: { translated: false },
  "azure-openai": { translated: false },
  anthropic: { translated: true },
  // bedrock-converse, bedrock-anthropic, gemini, vertex-gemini, vertex-anthropic: translated (the default).
};
export const traitsOf = (schema: string): BackendTraits => BACKEND_TRAITS[schema] ?? { translated: true };

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

function lastWinsModel(bytes: Buffer): unknown {
  try { return JSON.parse(bytes.toString("utf8"))?.model; } catch { return undefined; }
}

/** Routing as the filter does it (exact or '*' glob, first rule wins) to know the backend. */
export function routeOf(config: any, model: unknown): { backend: any; upstreamModel: string } | null {
  if (typeof model !== "string") return null;
  for (const r of config.models ?? []) {
    const parts = String(r.match).split("*");
    let ok: boolean;
    if (parts.length === 1) ok = r.match === model;
    else {
      ok = model.startsWith(parts[0]) && model.endsWith(parts[parts.length - 1]) && model.length >= parts[0].length + parts[parts.length - 1].length;
      let at = parts[0].length;
      for (let i = 1; ok && i < parts.length - 1; i++) { const k = model.indexOf(parts[i], at); if (k < 0) ok = false; else at = k + parts[i].length; }
      if (ok && at > model.length - parts[parts.length - 1].length) ok = false;
    }
    if (ok) {
      const backend = (config.backends ?? []).find((b: any) => b.name === r.backend);
      return backend ? { backend, upstreamModel: r.upstream_model ?? model } : null;
    }
  }
  return null;
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
  const translated = route ? traitsOf(schema).translated : false;

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
    const raw = up.headers.map(([k, v]) => `${k}: ${v}`).join("\n");
    for (const s of x.secrets) if (raw.includes(s)) out.push(`client credential ${s} went upstream`);
    if (!route) out.push(`the request went upstream but its model ${JSON.stringify(lastWinsModel(x.requestBytes))} routes nowhere`);
    else {
      const b = route.backend;
      const wantCluster = header(up.headers, x.config.cluster_header ?? "x-ai-gateway-cluster");
      if (wantCluster !== b.cluster) out.push(`upstream cluster ${wantCluster}, backend ${b.name} has ${b.cluster}`);
      if (b.host && header(up.headers, ":authority") !== b.host) out.push(`upstream authority ${header(up.headers, ":authority")}, backend host ${b.host}`);
      // The filter decodes the model name, so an unpaired surrogate escape arrives as U+FFFD.
      const want = (route.upstreamModel as any).toWellFormed();
      if (body && typeof body === "object" && (translated || "model" in body) && body.model !== want) out.push(`upstream model ${JSON.stringify(body.model)}, expected ${JSON.stringify(want)}`);
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
    const allowed = new Set([u, 502]);
    if (u === 529) allowed.add(503);
    if (!allowed.has(c.status)) out.push(`the provider answered ${u}, the client got ${c.status}`);
  }

  if (ct.startsWith("text/event-stream") && c.status >= 200 && c.status < 300) {
    out.push(...streamProblems(text, c.body, fmt, translated, upstreamPayloads));
  } else {
    if (!ct.startsWith("application/json")) out.push(`content-type ${JSON.stringify(ct)} for a ${c.status} answer`);
    const cl = c.headers["content-length"];
    if (cl !== undefined && Number(cl) !== c.body.length) out.push(`client content-length ${cl} but ${c.body.length} bytes`);
    let body: any;
    let parsed = true;
    try { body = JSON.parse(text); } catch (e) { parsed = false; out.push(`client body is not JSON (${(e as Error).message}): ${JSON.stringify(text.slice(0, 120))}`); }
    if (parsed) {
      if (c.status >= 400) out.push(...safely(fmt.error, body).map((p) => `error body: ${p}`));
      else if (c.status >= 200 && c.status < 300) {
        if (localAnswer || translated) out.push(...safely(fmt.success, body).map((p) => `success body: ${p}`));
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
  const isDerived = (data: string): boolean => {
    if (translated) return false;
    if (!derived) {
      derived = new Set<string>();
      for (const s of upstreamPayloads()) {
        derived.add(s);
        derived.add(withoutUsageNull(s));
        const n = normalizedPayload(s);
        if (n !== null) derived.add(n);
      }
    }
    if (derived.has(data) || derived.has(withoutUsageNull(data))) return true;
    const n = normalizedPayload(data);
    return n !== null && derived.has(n);
  };
  const evs = p.events;
  let end = -1;
  for (let i = 0; i < evs.length && end < 0; i++) {
    const d = evs[i].data;
    if (d === fmt.done) { end = i; break; }
    let v: any;
    try { v = JSON.parse(d); } catch { v = undefined; }
    if (v !== undefined && fmt.isErrorEvent(v)) { end = i; if (!isDerived(d)) out.push(...safely(fmt.error, v).map((e) => `error event ${i}: ${e}`)); break; }
    if (evs[i].name !== "" && !isDerived(d)) out.push(`event ${i} has an event: line (${evs[i].name})`);
    if (v === undefined) { if (!isDerived(d)) out.push(`event ${i} is not JSON: ${JSON.stringify(d.slice(0, 120))}`); continue; }
    const probs = safely(fmt.chunk, v);
    if (probs.length && !isDerived(d)) out.push(`event ${i}: ${probs.slice(0, 3).join("; ")}: ${d.slice(0, 160)}`);
  }
  if (end < 0) out.push(`the stream does not end with ${fmt.done} or an error event (${evs.length} events)`);
  else {
    const after = evs.slice(end + 1);
    const endIsDone = evs[end].data === fmt.done;
    for (const [j, ev] of after.entries()) {
      if (!endIsDone && j === 0 && ev.data === fmt.done) continue; // error event then [DONE]
      if (!isDerived(ev.data) && !(endIsDone && ev.data === fmt.done && !translated)) out.push(`event after the end of the stream: ${JSON.stringify(ev.data.slice(0, 120))}`);
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
