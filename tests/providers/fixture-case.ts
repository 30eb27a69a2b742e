// Provider translation cases (tests/fixtures/providers/<provider>/<case>/, format in the README
// there): loading, the comparison rules, and the checks every client-facing body and stream must
// pass. Shared by tests/providers/translation.test.ts (socket-free driver, every split) and
// tests/e2e/providers.test.ts (official openai client through real sockets).

import assert from "node:assert/strict";
import { readFileSync, readdirSync, existsSync, statSync } from "node:fs";
import { join, dirname, resolve, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { loadFixture, fixtureBytes, type Fixture } from "../../dev/mock-provider.ts";
import { schemaErrors, type OpenAISchemaName } from "../support/openai-schema.ts";
import { parseOpenAISse } from "../support/sse.ts";
import { loadEventStreamFile } from "../support/eventstream.ts";
import { bedrockRequestErrors } from "../support/bedrock-schema.ts";
import { messagesSchemaErrors, messagesStreamProblems, parseMessagesSse } from "../support/anthropic-messages.ts";
import { geminiErrors, geminiRequestMessage } from "../support/gemini-schema.ts";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const PROVIDER_FIXTURES = join(ROOT, "tests", "fixtures", "providers");
/** The filter under test; AI_GATEWAY_WASM overrides it (e.g. to try a candidate build). */
export const GATEWAY_WASM = process.env.AI_GATEWAY_WASM ?? join(ROOT, "build", "ai-gateway.wasm");

/** Credentials a client sends to the gateway; none of them may reach a provider. */
export const CLIENT_SECRETS = {
  authorization: "Bearer sk-client-own-key-0123456789",
  "api-key": "azure-client-key-abcdef0123",
  "x-api-key": "anthropic-client-key-ghijkl4567",
} as const;
export const CLIENT_SECRET_VALUES = ["sk-client-own-key-0123456789", "azure-client-key-abcdef0123", "anthropic-client-key-ghijkl4567"];

export const FINISH_REASONS = ["stop", "length", "tool_calls", "content_filter", "function_call"];

export interface UpstreamExpectation {
  method: string;
  /** Path with query. */
  path: string;
  /** Selected headers with exact values; `host` is the upstream authority. */
  headers: Record<string, string>;
  absent_headers?: string[];
  body: unknown;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  isStream: boolean;
  /** How the provider writes the body (one write per AWS eventstream frame); default: per SSE event. */
  writes?: Buffer[];
  /** The mock-provider fixture this came from, when the case reuses one. */
  fixture?: Fixture;
}

export interface ClientResponseExpectation {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
  body_match?: "exact" | "subset";
}

export type StreamEvent = Record<string, any> | "[DONE]";

export interface ExpectedUsage { input: number; output: number; cached: number; reasoning: number }

export interface ProviderCase {
  /** "<provider>/<case>" */
  id: string;
  dir: string;
  description: string;
  refs: string;
  endpoint: string;
  config: any;
  /** Canonical text of the configuration (cases with equal text share a plugin instance). */
  configText: string;
  request: any;
  requestBytes: Buffer;
  /** The backend the request's model routes to: name and schema; the model sent upstream. */
  backendName: string;
  backendSchema: string;
  upstreamModel: string;
  upstream?: UpstreamExpectation;
  response?: UpstreamResponse;
  clientResponse?: ClientResponseExpectation;
  clientStream?: StreamEvent[];
  usage?: ExpectedUsage;
  /** Extra client request headers (e.g. anthropic-version, anthropic-beta for Messages clients). */
  clientHeaders: Record<string, string>;
  /** The client must get the provider's body byte for byte (native pass-through, no re-encoding). */
  passthrough: boolean;
}

/** The client speaks the Anthropic Messages API (POST /v1/messages): Messages schema and SSE framing. */
export function isMessagesCase(c: ProviderCase): boolean {
  return c.endpoint === "/v1/messages" || c.endpoint === "/messages";
}

// ---------------------------------------------------------------------------------------------
// Loading

function readJson(path: string): any {
  const v = JSON.parse(readFileSync(path, "utf8"));
  if (v && typeof v === "object" && !Array.isArray(v) && typeof v.$ref === "string" && Object.keys(v).length === 1) {
    return readJson(resolve(dirname(path), v.$ref));
  }
  return v;
}

function parseJsonl(text: string, where: string): StreamEvent[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l, i) => {
    if (l === "[DONE]") return "[DONE]";
    try { return JSON.parse(l); } catch (e) { throw new Error(`${where}:${i + 1}: ${(e as Error).message}`); }
  });
}

function globMatch(pattern: string, s: string): boolean {
  const parts = pattern.split("*");
  if (parts.length === 1) return pattern === s;
  if (!s.startsWith(parts[0]) || !s.endsWith(parts[parts.length - 1])) return false;
  let at = parts[0].length;
  for (let i = 1; i < parts.length - 1; i++) {
    const k = s.indexOf(parts[i], at);
    if (k < 0) return false;
    at = k + parts[i].length;
  }
  return at <= s.length - parts[parts.length - 1].length;
}

export function loadCase(dir: string): ProviderCase {
  const id = relative(PROVIDER_FIXTURES, dir);
  const meta = readJson(join(dir, "case.json"));
  const files: Record<string, string> = meta.files ?? {};
  const pathOf = (role: string, ...names: string[]): string | undefined => {
    if (files[role]) return resolve(dir, files[role]);
    for (const n of names) if (existsSync(join(dir, n))) return join(dir, n);
    return undefined;
  };
  const config = readJson(join(dir, "config.json"));
  const requestBytes = readFileSync(join(dir, "request.json"));
  // A case may send a body that is not JSON (the gateway's 400): then nothing routes.
  let request: any = {};
  try { request = JSON.parse(requestBytes.toString("utf8")); } catch { /* kept as bytes */ }
  const rule = (config.models as any[]).find((m) => typeof request?.model === "string" && globMatch(m.match, request.model));
  const backend = rule && (config.backends as any[]).find((b) => b.name === rule.backend);
  const c: ProviderCase = {
    id, dir,
    description: meta.description ?? "",
    refs: meta.refs ?? "",
    endpoint: meta.endpoint ?? "/v1/chat/completions",
    config,
    configText: JSON.stringify(config),
    request,
    requestBytes,
    backendName: backend?.name ?? "(unrouted)",
    backendSchema: backend?.schema ?? "(unrouted)",
    upstreamModel: rule?.upstream_model ?? request.model,
    usage: meta.usage,
    clientHeaders: meta.client_headers ?? {},
    passthrough: meta.passthrough === true,
  };
  const upReq = pathOf("upstream-request", "upstream-request.json");
  if (upReq) c.upstream = readJson(upReq);

  const upResp = pathOf("upstream-response", "upstream-response.json", "upstream-response.sse", "upstream-response.eventstream.json");
  if (upResp) {
    if (upResp.endsWith(".eventstream.json")) {
      // AWS eventstream frames listed as JSON, encoded by tests/support/eventstream.ts.
      const metaPath = pathOf("upstream-response.meta", "upstream-response.meta.json");
      if (!metaPath) throw new Error(`${id}: ${upResp} needs upstream-response.meta.json`);
      const m = readJson(metaPath);
      const writes = loadEventStreamFile(upResp);
      c.response = { status: m.status, headers: m.headers ?? {}, body: Buffer.concat(writes), isStream: true, writes };
    } else if (upResp.endsWith(".fixture.json")) {
      const fx = loadFixture(upResp);
      const ct = String(Object.entries(fx.headers).find(([k]) => k.toLowerCase() === "content-type")?.[1] ?? "");
      c.response = { status: fx.status, headers: fx.headers, body: fixtureBytes(fx), isStream: ct.startsWith("text/event-stream"), fixture: fx };
    } else {
      const metaPath = pathOf("upstream-response.meta", "upstream-response.meta.json");
      if (!metaPath) throw new Error(`${id}: ${upResp} needs upstream-response.meta.json`);
      const m = readJson(metaPath);
      c.response = { status: m.status, headers: m.headers ?? {}, body: readFileSync(upResp), isStream: upResp.endsWith(".sse") };
    }
  }
  const cr = pathOf("client-response", "client-response.json");
  if (cr) c.clientResponse = readJson(cr);
  const cs = pathOf("client-stream", "client-stream.jsonl");
  if (cs) {
    if (cs.endsWith(".sse")) {
      const parsed = parseOpenAISse(readFileSync(cs, "utf8"));
      c.clientStream = [...parsed.chunks, ...(parsed.done ? ["[DONE]" as const] : [])];
    } else c.clientStream = parseJsonl(readFileSync(cs, "utf8"), cs);
  }
  if (!!c.upstream !== !!c.response) throw new Error(`${id}: upstream-request and upstream-response go together`);
  if (!c.clientResponse === !c.clientStream) throw new Error(`${id}: exactly one of client-response.json / client-stream.jsonl`);
  return c;
}

/** Every case, sorted by id. */
export function loadCases(root = PROVIDER_FIXTURES): ProviderCase[] {
  const out: ProviderCase[] = [];
  for (const provider of readdirSync(root).sort()) {
    const pdir = join(root, provider);
    if (provider === "configs" || provider.startsWith("_") || !statSync(pdir).isDirectory()) continue;
    for (const name of readdirSync(pdir).sort()) {
      const dir = join(pdir, name);
      if (name.startsWith("_") || !statSync(dir).isDirectory()) continue;
      out.push(loadCase(dir));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Comparison rules (README "Comparison rules")

const PLACEHOLDER = /^\{\{(\w+):(\w+)\}\}$/;

/** Values bound to placeholder names within one case. */
export class Bindings {
  private byName = new Map<string, unknown>();
  constructor(private readonly nowSeconds = Date.now() / 1000) {}

  /** The problem with binding `name` of `kind` to `actual`, or "" when it matches. */
  bind(name: string, kind: string, actual: unknown): string {
    if (kind === "unixtime") {
      if (!Number.isInteger(actual) || (actual as number) <= 0) return `expected a positive integer (unix seconds), got ${JSON.stringify(actual)}`;
      if (Math.abs((actual as number) - this.nowSeconds) > 86400) return `expected the current time (~${Math.round(this.nowSeconds)}), got ${actual}`;
    } else if (kind === "alnum9") {
      if (typeof actual !== "string" || !/^[A-Za-z0-9]{9}$/.test(actual)) return `expected 9 characters [A-Za-z0-9], got ${JSON.stringify(actual)}`;
    } else if (kind === "gemini_call_id") {
      if (typeof actual !== "string" || !/^call_[0-9a-f]{8}_[0-9]+$/.test(actual)) return `expected a gateway-made Gemini tool call id call_<8 hex>_<n>, got ${JSON.stringify(actual)}`;
    } else if (kind === "gateway_chat_id") {
      if (typeof actual !== "string" || !/^chatcmpl-[0-9a-f]{8}$/.test(actual)) return `expected a gateway-made completion id chatcmpl-<8 hex>, got ${JSON.stringify(actual)}`;
    } else return `unknown placeholder kind ${kind}`;
    if (this.byName.has(name)) {
      const prev = this.byName.get(name);
      return prev === actual ? "" : `{{${name}}} was ${JSON.stringify(prev)} elsewhere, here ${JSON.stringify(actual)}`;
    }
    for (const [other, v] of this.byName) if (v === actual) return `{{${name}}} has the same value as {{${other}}}: ${JSON.stringify(actual)}`;
    this.byName.set(name, actual);
    return "";
  }
}

/**
 * A copy of `expected` where every placeholder that `actual` satisfies is replaced by the actual
 * value (so a deep-equal shows only real differences); violations are pushed to `problems`.
 */
export function resolvePlaceholders(expected: unknown, actual: unknown, b: Bindings, problems: string[], path = "$"): unknown {
  if (typeof expected === "string") {
    const m = PLACEHOLDER.exec(expected);
    if (!m) return expected;
    const p = b.bind(m[1], m[2], actual);
    if (p) { problems.push(`${path}: ${p}`); return expected; }
    return actual;
  }
  if (Array.isArray(expected)) {
    return expected.map((e, i) => resolvePlaceholders(e, Array.isArray(actual) ? actual[i] : undefined, b, problems, `${path}[${i}]`));
  }
  if (expected && typeof expected === "object") {
    const out: Record<string, unknown> = {};
    const a = actual && typeof actual === "object" && !Array.isArray(actual) ? (actual as Record<string, unknown>) : {};
    for (const [k, v] of Object.entries(expected)) out[k] = resolvePlaceholders(v, a[k], b, problems, `${path}.${k}`);
    return out;
  }
  return expected;
}

function clone<T>(v: T): T { return v === undefined ? v : JSON.parse(JSON.stringify(v)); }

/** Rule 2: usage detail counters equal to 0 are dropped (schema default 0). In place. */
function dropZeroUsageDetails(v: any): void {
  if (!v || typeof v !== "object") return;
  if (Array.isArray(v)) { v.forEach(dropZeroUsageDetails); return; }
  for (const [k, val] of Object.entries(v)) {
    if (k === "usage" && val && typeof val === "object") {
      for (const d of ["prompt_tokens_details", "completion_tokens_details"]) {
        const det = (val as any)[d];
        if (!det || typeof det !== "object") continue;
        for (const [dk, dv] of Object.entries(det)) if (dv === 0) delete det[dk];
        if (Object.keys(det).length === 0) delete (val as any)[d];
      }
    } else dropZeroUsageDetails(val);
  }
}

/** Rule 3: non-streamed tool-call arguments compared as parsed JSON. In place. */
function parseMessageToolArguments(body: any): void {
  for (const ch of Array.isArray(body?.choices) ? body.choices : []) {
    for (const tc of Array.isArray(ch?.message?.tool_calls) ? ch.message.tool_calls : []) {
      const args = tc?.function?.arguments;
      if (typeof args !== "string") continue;
      try { tc.function.arguments = { "(parsed JSON)": JSON.parse(args) }; } catch { /* compared as text */ }
    }
  }
}

/** Normalised client-facing JSON (rules 2 and 3). */
export function normalizeClientJson(v: unknown): unknown {
  const c = clone(v);
  dropZeroUsageDetails(c);
  parseMessageToolArguments(c);
  return c;
}

const textBlocks = (v: unknown) => (typeof v === "string" ? [{ type: "text", text: v }] : v);

/** Rule 4: Anthropic content strings as one text block. */
export function normalizeAnthropicRequest(body: any): unknown {
  const c = clone(body);
  if (!c || typeof c !== "object") return c;
  if ("system" in c) c.system = textBlocks(c.system);
  for (const m of Array.isArray(c.messages) ? c.messages : []) {
    if (!m || typeof m !== "object") continue;
    m.content = textBlocks(m.content);
    for (const blk of Array.isArray(m.content) ? m.content : []) {
      if (blk?.type === "tool_result" && "content" in blk) blk.content = textBlocks(blk.content);
    }
  }
  return c;
}

/** Rule 3 on the request side: tool-call arguments in a translated chat request compared as parsed JSON. */
export function normalizeChatRequest(body: any): unknown {
  const c = clone(body);
  for (const m of Array.isArray(c?.messages) ? c.messages : []) {
    for (const tc of Array.isArray(m?.tool_calls) ? m.tool_calls : []) {
      const args = tc?.function?.arguments;
      if (typeof args !== "string") continue;
      try { tc.function.arguments = { "(parsed JSON)": JSON.parse(args) }; } catch { /* compared as text */ }
    }
  }
  return c;
}

/** `actual` reduced to the members `expected` names (objects), recursively; for subset matching. */
export function pruneTo(actual: unknown, expected: unknown): unknown {
  if (Array.isArray(expected) && Array.isArray(actual)) return actual.map((a, i) => (i < expected.length ? pruneTo(a, expected[i]) : a));
  if (expected && typeof expected === "object" && !Array.isArray(expected) && actual && typeof actual === "object" && !Array.isArray(actual)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(expected)) if (k in (actual as object)) out[k] = pruneTo((actual as any)[k], (expected as any)[k]);
    return out;
  }
  return actual;
}

/** deepStrictEqual after placeholders; throws with the placeholder problems and the diff. */
export function assertMatches(actual: unknown, expected: unknown, b: Bindings, what: string, subset = false): void {
  const problems: string[] = [];
  const resolved = resolvePlaceholders(expected, actual, b, problems);
  const got = subset ? pruneTo(actual, expected) : actual;
  if (problems.length) throw new assert.AssertionError({ message: `${what}: ${problems.join("; ")}`, actual: got, expected: resolved, operator: "deepStrictEqual" });
  assert.deepStrictEqual(got, resolved, `${what} differs from the fixture`);
}

// ---------------------------------------------------------------------------------------------
// Request side

export interface SeenRequest {
  method: string;
  /** Path with query. */
  url: string;
  /** Lower-cased names; `host` is the authority. */
  headers: Record<string, string>;
  /** Every header value as sent (to look for leaked secrets). */
  rawHeaderText: string;
  body: Buffer;
}

export function assertUpstreamRequest(c: ProviderCase, seen: SeenRequest, b: Bindings): void {
  const up = c.upstream!;
  assert.equal(seen.method, up.method, "upstream method");
  assert.equal(seen.url, up.path, "upstream path and query");
  for (const [k, v] of Object.entries(up.headers)) assert.equal(seen.headers[k.toLowerCase()], v, `upstream header ${k}`);
  for (const k of up.absent_headers ?? []) assert.equal(seen.headers[k.toLowerCase()], undefined, `upstream header ${k} must not be sent`);
  for (const s of CLIENT_SECRET_VALUES) assert.ok(!seen.rawHeaderText.includes(s), `client credential ${s} leaked into the upstream headers`);
  if (seen.headers["content-length"] !== undefined) assert.equal(Number(seen.headers["content-length"]), seen.body.length, "content-length equals the upstream body length");
  let body: unknown;
  try { body = JSON.parse(seen.body.toString("utf8")); } catch (e) { assert.fail(`upstream body is not JSON: ${(e as Error).message}: ${seen.body.toString("utf8").slice(0, 300)}`); }
  const norm = c.backendSchema.endsWith("anthropic") ? normalizeAnthropicRequest : normalizeChatRequest; // anthropic, vertex-anthropic, bedrock-anthropic
  assertMatches(norm(body), norm(up.body), b, "upstream request body");
  if (c.backendSchema.startsWith("bedrock-")) {
    // What the gateway sent must satisfy the Bedrock Runtime service model (path labels and body).
    const base = String(c.config.backends.find((x: any) => x.name === c.backendName)?.base_path ?? "");
    const path = seen.url.startsWith(base) ? seen.url.slice(base.length) : seen.url;
    assert.deepEqual(bedrockRequestErrors(seen.method, path, seen.body), [], "upstream request against the Bedrock service model (../shared/specs/bedrock/service-2.json)");
  }
  // Gemini bodies must also be what the published protos accept (proto3 JSON mapping).
  const geminiMessage = c.backendSchema === "gemini" || c.backendSchema === "vertex-gemini" ? geminiRequestMessage(seen.url) : undefined;
  if (geminiMessage) assert.deepEqual(geminiErrors(geminiMessage, body), [], `upstream body is not a valid ${geminiMessage} (Gemini protos)`);
}

// ---------------------------------------------------------------------------------------------
// Client side

function schemaProblems(name: OpenAISchemaName, v: unknown, what: string): string[] {
  return schemaErrors(name, v).map((e) => `${what}: not a valid OpenAI ${name}: ${e}`);
}

/** The OpenAI schema name a JSON client body must satisfy. */
export function clientBodySchema(c: ProviderCase, status: number): OpenAISchemaName {
  if (status >= 400) return "ErrorResponse";
  return c.endpoint.endsWith("/embeddings") ? "CreateEmbeddingResponse" : "CreateChatCompletionResponse";
}

/**
 * The OpenAI schema types `embedding` as an array of numbers only; with `encoding_format: "base64"`
 * the API sends base64 of the little-endian float32 array instead (§2). Such bodies are checked as
 * the arrays they decode to; an embedding that is not such a string is reported.
 */
function decodedEmbeddings(body: any, problems: string[]): any {
  if (!body || !Array.isArray(body.data)) return body;
  const copy = { ...body, data: body.data.map((d: any, i: number) => {
    if (typeof d?.embedding !== "string") { problems.push(`client body: data[${i}].embedding is not a base64 string (encoding_format base64)`); return d; }
    const buf = Buffer.from(d.embedding, "base64");
    if (buf.length % 4 !== 0 || buf.toString("base64") !== d.embedding) { problems.push(`client body: data[${i}].embedding is not base64 of float32 values`); return d; }
    return { ...d, embedding: Array.from({ length: buf.length / 4 }, (_, k) => buf.readFloatLE(k * 4)) };
  }) };
  return copy;
}

/** Contract checks on a JSON client body (schema, finish_reason values). Returns problems. */
export function jsonBodyProblems(c: ProviderCase, status: number, body: any): string[] {
  if (isMessagesCase(c)) {
    const name = status >= 400 ? "ErrorResponse" : "Message";
    return messagesSchemaErrors(name, body).map((e) => `client body: not a valid Anthropic ${name}: ${e}`);
  }
  const schema = clientBodySchema(c, status);
  const decodeProblems: string[] = [];
  const checked = schema === "CreateEmbeddingResponse" && c.request?.encoding_format === "base64" ? decodedEmbeddings(body, decodeProblems) : body;
  const out = [...decodeProblems, ...schemaProblems(schema, checked, "client body")];
  if (schema === "CreateChatCompletionResponse") {
    for (const [i, ch] of (Array.isArray(body?.choices) ? body.choices : []).entries()) {
      if (!FINISH_REASONS.includes(ch?.finish_reason)) out.push(`choices[${i}].finish_reason ${JSON.stringify(ch?.finish_reason)} is not one of ${FINISH_REASONS.join(", ")}`);
    }
  }
  return out;
}

export function assertClientJson(c: ProviderCase, status: number, headers: Record<string, string>, text: string, b: Bindings): void {
  const want = c.clientResponse!;
  assert.equal(status, want.status, `client status (body: ${text.slice(0, 300)})`);
  for (const [k, v] of Object.entries(want.headers ?? {})) assert.ok((headers[k.toLowerCase()] ?? "").startsWith(v), `client header ${k}: want ${v}…, got ${headers[k.toLowerCase()]}`);
  let body: any;
  try { body = JSON.parse(text); } catch (e) { assert.fail(`client body is not JSON: ${(e as Error).message}: ${text.slice(0, 300)}`); }
  const problems = jsonBodyProblems(c, status, body);
  assertMatches(normalizeClientJson(body), normalizeClientJson(want.body), b, "client body", want.body_match === "subset");
  assert.deepEqual(problems, [], "client body contract (OpenAI / Anthropic schema, finish_reason)");
}

/** Client SSE text → events in the case's client format (Messages: strict `event:` + `data:` framing). */
export function parseCaseStream(c: ProviderCase, text: string): StreamEvent[] {
  return isMessagesCase(c) ? parseMessagesSse(text).events : parseClientStream(text);
}

/** Stream contract for the case's client format. */
export function caseStreamProblems(c: ProviderCase, events: StreamEvent[]): string[] {
  return isMessagesCase(c) ? messagesStreamProblems(events as any[]) : streamProblems(events);
}

/** Azure's prompt annotation chunk (README rule 6). */
export function isAzureAnnotationChunk(ch: any): boolean {
  return ch && typeof ch === "object" && Array.isArray(ch.choices) && ch.choices.length === 0 && "prompt_filter_results" in ch;
}
const isError = (ev: StreamEvent) => ev !== "[DONE]" && "error" in ev;

/** Client SSE text → events (comments dropped; `event:` lines rejected by the strict parser). */
export function parseClientStream(text: string): StreamEvent[] {
  const parsed = parseOpenAISse(text, { allowComments: true });
  return [...parsed.chunks, ...(parsed.done ? ["[DONE]" as const] : [])];
}

/** Contract checks on a client stream (README "Checks the runner adds"). Returns problems. */
export function streamProblems(events: StreamEvent[]): string[] {
  const out: string[] = [];
  let id: unknown, created: unknown;
  const tools = new Map<number, Map<number, { id: string; name: string }>>(); // choice → tool index → identity
  const errorAt = events.findIndex(isError);
  if (errorAt >= 0) {
    const rest = events.slice(errorAt + 1);
    if (!(rest.length === 0 || (rest.length === 1 && rest[0] === "[DONE]"))) out.push(`events after the error event at ${errorAt}: ${JSON.stringify(rest).slice(0, 200)}`);
  } else if (events[events.length - 1] !== "[DONE]") out.push("the stream does not end with [DONE]");
  if (events.indexOf("[DONE]") >= 0 && events.indexOf("[DONE]") !== events.length - 1) out.push("events after [DONE]");
  events.forEach((ev, i) => {
    if (ev === "[DONE]") return;
    if (isError(ev)) { out.push(...schemaProblems("ErrorResponse", ev, `event ${i} (error)`)); return; }
    if (isAzureAnnotationChunk(ev)) return;
    out.push(...schemaProblems("CreateChatCompletionStreamResponse", ev, `chunk ${i}`));
    if (id === undefined) { id = ev.id; created = ev.created; }
    else {
      if (ev.id !== id) out.push(`chunk ${i}: id ${JSON.stringify(ev.id)} differs from the first chunk's ${JSON.stringify(id)}`);
      if (ev.created !== created) out.push(`chunk ${i}: created ${ev.created} differs from the first chunk's ${created}`);
    }
    for (const ch of Array.isArray(ev.choices) ? ev.choices : []) {
      if (ch.finish_reason !== null && ch.finish_reason !== undefined && !FINISH_REASONS.includes(ch.finish_reason)) out.push(`chunk ${i}: finish_reason ${JSON.stringify(ch.finish_reason)} is not an OpenAI value`);
      const calls = ch?.delta?.tool_calls;
      if (!Array.isArray(calls)) continue;
      let seen = tools.get(ch.index);
      if (!seen) tools.set(ch.index, (seen = new Map()));
      for (const tc of calls) {
        const k = tc.index;
        if (!Number.isInteger(k) || k < 0) { out.push(`chunk ${i}: tool call index ${JSON.stringify(k)}`); continue; }
        const known = seen.get(k);
        if (!known) {
          if (k !== seen.size) out.push(`chunk ${i}: new tool call index ${k}, expected ${seen.size} (dense from 0, in order)`);
          if (typeof tc.id !== "string" || !tc.id || tc.type !== "function" || typeof tc.function?.name !== "string" || !tc.function.name) {
            out.push(`chunk ${i}: first fragment of tool call ${k} lacks id / type "function" / function.name: ${JSON.stringify(tc)}`);
          }
          seen.set(k, { id: tc.id, name: tc.function?.name });
        } else {
          if (tc.id !== undefined && tc.id !== known.id) out.push(`chunk ${i}: tool call ${k} changed id ${known.id} → ${tc.id}`);
          if (tc.function?.name !== undefined && tc.function.name !== known.name) out.push(`chunk ${i}: tool call ${k} changed name ${known.name} → ${tc.function.name}`);
        }
      }
    }
  });
  return out;
}

/** Expected vs actual stream events (README rules 1, 2, 5). */
export function assertStreamMatches(actual: StreamEvent[], expected: StreamEvent[], b: Bindings): void {
  const trimDoneAfterError = (evs: StreamEvent[]) => {
    const e = evs.findIndex(isError);
    return e >= 0 && evs[e + 1] === "[DONE]" && e + 2 === evs.length ? evs.slice(0, e + 1) : evs;
  };
  const got = trimDoneAfterError(actual), want = trimDoneAfterError(expected);
  const gotCmp = got.map((ev, i) => {
    if (ev === "[DONE]") return ev;
    const w = want[i];
    return isError(ev) && w && w !== "[DONE]" && isError(w) ? pruneTo(ev, w) : normalizeClientJson(ev);
  });
  const wantCmp = want.map((ev) => (ev === "[DONE]" ? ev : normalizeClientJson(ev)));
  const problems: string[] = [];
  const resolved = resolvePlaceholders(wantCmp, gotCmp, b, problems) as unknown[];
  const diffs: string[] = [];
  for (let i = 0; i < Math.max(gotCmp.length, resolved.length); i++) {
    try { assert.deepStrictEqual(gotCmp[i], resolved[i]); } catch {
      diffs.push(`event ${i}:\n    want ${i < resolved.length ? JSON.stringify(resolved[i]) : "(nothing)"}\n    got  ${i < gotCmp.length ? JSON.stringify(gotCmp[i]) : "(nothing)"}`);
    }
  }
  if (problems.length || diffs.length) {
    throw new assert.AssertionError({ message: `client stream differs from the fixture (${got.length} events, ${want.length} expected):\n  ${[...problems, ...diffs.slice(0, 6)].join("\n  ")}${diffs.length > 6 ? `\n  … ${diffs.length - 6} more` : ""}`, actual: gotCmp, expected: resolved, operator: "deepStrictEqual" });
  }
}

/** Raw client SSE text with every `"created":N` value blanked (the gateway clock may tick between runs). */
export function withoutClock(text: string): string {
  return text.replace(/"created":\d+/g, "\"created\":0");
}
