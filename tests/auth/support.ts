// Shared set-up for the upstream-authorization tests (tests/auth/*.test.ts): the real filter
// (build/ai-gateway.wasm) in the Envoy-faithful host, and small programmable HTTP servers on
// 127.0.0.1 that play providers and OAuth token endpoints. Unlike dev/mock-provider.ts (which
// answers from fixtures), these servers decide from what they received, as a real provider does
// from the credential it is given: a wrong key gets 401, a bad signature 403, an unknown token 401.
// Every request they receive is recorded, so a test can look for secrets where they must not be.

import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import assert from "node:assert/strict";
import { Gateway, type LogEntry } from "../support/gateway.ts";
import { GATEWAY_WASM, vmFailures } from "../e2e/harness.ts";

export { GATEWAY_WASM };

export interface Seen {
  method: string;
  /** Path with query, as received. */
  url: string;
  path: string;
  query: URLSearchParams;
  /** Lower-case names; repeated headers joined by Node's rules. */
  headers: Record<string, string | string[] | undefined>;
  /** Names and values exactly as on the wire. */
  rawHeaders: string[];
  body: Buffer;
  text: string;
  json: any;
  /** ms since the server started (for ordering against client-side times). */
  at: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | object;
  /** Wait this long before answering. */
  delayMs?: number;
}

/** "hang": never answer (the connection stays open until the server stops or the peer gives up). */
export type Handler = (r: Seen) => Reply | "hang" | Promise<Reply | "hang">;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A real HTTP/1.1 server on 127.0.0.1 whose answers come from a function of the request. */
export class Upstream {
  readonly requests: Seen[] = [];
  private sockets = new Set<Socket>();
  private hanging = new Set<ServerResponse>();
  private readonly t0 = Date.now();

  private constructor(private server: http.Server, readonly port: number, public handler: Handler) {}

  static async start(handler: Handler): Promise<Upstream> {
    let up!: Upstream;
    const server = http.createServer((req, res) => void up.handle(req, res));
    server.on("connection", (s) => { up.sockets.add(s); s.on("close", () => up.sockets.delete(s)); });
    await new Promise<void>((resolve, reject) => { server.once("error", reject); server.listen(0, "127.0.0.1", resolve); });
    up = new Upstream(server, (server.address() as AddressInfo).port, handler);
    return up;
  }

  /** Requests recorded so far whose path starts with `prefix`. */
  count(prefix = "/"): number { return this.requests.filter((r) => r.path.startsWith(prefix)).length; }

  async stop(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const p of req) parts.push(p as Buffer);
    const body = Buffer.concat(parts);
    const text = body.toString("utf8");
    let json: any;
    try { json = body.length ? JSON.parse(text) : undefined; } catch { json = undefined; }
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const seen: Seen = {
      method: req.method ?? "", url, path: q >= 0 ? url.slice(0, q) : url, query: new URLSearchParams(q >= 0 ? url.slice(q + 1) : ""),
      headers: { ...req.headers }, rawHeaders: req.rawHeaders, body, text, json, at: Date.now() - this.t0,
    };
    this.requests.push(seen);
    let reply: Reply | "hang";
    try { reply = await this.handler(seen); } catch (e) {
      reply = { status: 500, body: { error: { message: `test upstream handler threw: ${(e as Error).message}`, type: "test_error", param: null, code: null } } };
    }
    if (reply === "hang") { this.hanging.add(res); res.on("close", () => this.hanging.delete(res)); return; }
    if (reply.delayMs) await sleep(reply.delayMs);
    if (res.destroyed) return;
    const out = reply.body === undefined ? "" : typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
    res.writeHead(reply.status, { "content-type": "application/json", "content-length": Buffer.byteLength(out), ...reply.headers });
    res.end(out);
  }
}

/** A port nothing listens on (bound, then closed): connections to it are refused. */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// ---------------------------------------------------------------------------------------------
// Provider answers

let seq = 0;
/** A valid OpenAI chat.completion (CreateChatCompletionResponse). */
export function openaiCompletion(model: string, content = "ok"): object {
  return {
    id: `chatcmpl-auth${++seq}`, object: "chat.completion", created: 1756316240, model,
    choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, logprobs: null, finish_reason: "stop" }],
    usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 },
  };
}

/** A valid Anthropic Messages response. */
export function anthropicMessage(model: string, content = "ok"): object {
  return {
    id: `msg_auth${++seq}`, type: "message", role: "assistant", model, content: [{ type: "text", text: content }],
    stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 7, output_tokens: 2 },
  };
}

/** The answer a provider gives to a request with a wrong credential (OpenAI's error shape). */
export function unauthorized(message = "Incorrect API key provided."): Reply {
  return { status: 401, body: { error: { message, type: "invalid_request_error", param: null, code: "invalid_api_key" } } };
}

/** OK answer in the right dialect for the path (Anthropic /messages, else OpenAI). */
export function okFor(r: Seen): Reply {
  const model = typeof r.json?.model === "string" ? r.json.model : "unknown";
  return { status: 200, body: r.path.endsWith("/messages") ? anthropicMessage(model) : openaiCompletion(model) };
}

export function chatBody(model: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model, messages: [{ role: "user", content: "Say ok." }], ...extra });
}

// ---------------------------------------------------------------------------------------------
// Gateway

let vmCounter = 0;

export interface StartOptions {
  config: object | string;
  env?: Record<string, string>;
  workers?: number;
  clusters: Record<string, number>;
  /** proxy_get_log_level (default 2 = info, as Envoy). */
  logLevel?: number;
}

/**
 * The filter with `config`, one route following the cluster header. Each gateway gets its own
 * vm_id: shared data is process-wide per vm_id (§5.7), and token caches / key penalties of one
 * test must not leak into the next.
 */
export async function startGateway(o: StartOptions): Promise<Gateway> {
  if (!existsSync(GATEWAY_WASM)) throw new Error(`${GATEWAY_WASM} is missing: run npm run build`);
  const clusters: Record<string, { host: string; port: number }> = {};
  for (const [name, port] of Object.entries(o.clusters)) clusters[name] = { host: "127.0.0.1", port };
  return Gateway.start({
    wasm: GATEWAY_WASM,
    plugin: {
      configuration: typeof o.config === "string" ? o.config : JSON.stringify(o.config),
      env: o.env, vmId: `auth_test_${process.pid}_${++vmCounter}`,
    },
    workers: o.workers ?? 2,
    logLevel: o.logLevel,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters,
  });
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
  /** Client-side duration in ms. */
  ms: number;
}

export interface SendOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Default false: a new connection per request (connections go to workers round-robin). */
  agent?: http.Agent | false;
  /** Abort the request after this many ms (rejects). */
  abortAfterMs?: number;
}

/** One HTTP/1.1 request to the gateway with exact headers (no client library in between). */
export function send(gw: Gateway, o: SendOptions = {}): Promise<Answer> {
  const t0 = performance.now();
  const body = o.body ?? "";
  const headers: Record<string, string> = { "content-type": "application/json", ...o.headers };
  if (o.method !== "GET") headers["content-length"] = String(Buffer.byteLength(body));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: gw.port, method: o.method ?? "POST", path: o.path ?? "/v1/chat/completions", headers, agent: o.agent ?? false }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8");
        let json: any;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, ms: performance.now() - t0 });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (o.abortAfterMs !== undefined) setTimeout(() => req.destroy(new Error("aborted by the test")), o.abortAfterMs);
    if (o.method !== "GET") req.end(body); else req.end();
  });
}

/** POST a chat completion for `model` with extra client headers. */
export function chat(gw: Gateway, model: string, headers: Record<string, string> = {}, o: SendOptions = {}): Promise<Answer> {
  return send(gw, { ...o, body: o.body ?? chatBody(model), headers: { ...headers, ...o.headers } });
}

export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** No stream context left, no call pending, no VM failed, no host error log line. */
export async function assertHealthy(gw: Gateway): Promise<void> {
  await until("all stream contexts to be deleted", async () => (await gw.liveContexts()) === 0).catch(async (e) => {
    throw new Error(`${(e as Error).message}: ${await gw.liveContexts()} live`);
  });
  await until("no pending callouts", async () => (await gw.pendingCalls()) === 0);
  assert.deepEqual(vmFailures(gw, 0), [], "no VM failed");
}

export interface RequestLine { vm: number; line: string; kv: Record<string, string> }

/** The filter's per-request log lines since `from`, with the worker that wrote each. */
export function requestLines(gw: Gateway, from = 0): RequestLine[] {
  return gw.logs.slice(from)
    .filter((l) => l.origin === "wasm" && l.message.startsWith("ai-gateway: request "))
    .map((l) => {
      const kv: Record<string, string> = {};
      for (const m of l.message.matchAll(/(\w+)=(\S+)/g)) kv[m[1]] = m[2];
      return { vm: l.vm, line: l.message, kv };
    });
}

/** Waits until `n` request lines were logged since `from` (a line is written when its stream ends). */
export async function waitForLines(gw: Gateway, from: number, n: number): Promise<RequestLine[]> {
  await until(`${n} request log line(s)`, () => requestLines(gw, from).length >= n).catch((e) => {
    throw new Error(`${(e as Error).message}; logs:\n  ${gw.logs.slice(from).map((l: LogEntry) => `[${l.vm}] ${l.message}`).join("\n  ")}`);
  });
  return requestLines(gw, from);
}

/**
 * Sends requests with `send` until one is served by a worker other than `worker` (Envoy's kernel,
 * not the test, picks the worker of each connection); at most `max` requests. Returns every result
 * with the worker that served it, the last one on another worker (the test fails otherwise).
 */
export async function untilAnotherWorker<T>(gw: Gateway, worker: number, send: () => Promise<T>, max = 30): Promise<{ result: T; vm: number }[]> {
  const out: { result: T; vm: number }[] = [];
  while (out.length < max) {
    const from = gw.logs.length;
    const result = await send();
    const [line] = await waitForLines(gw, from, 1);
    out.push({ result, vm: line.vm });
    if (line.vm !== worker) return out;
  }
  throw new Error(`${max} requests all ran on worker ${worker}`);
}

export const sha256hex = (s: string) => createHash("sha256").update(s).digest("hex");
/** A recognisable random secret, so a leak is unambiguous. */
export const secret = (prefix: string) => `${prefix}-${randomBytes(12).toString("hex")}`;

/** Every header value of a recorded request, lower-case name → values. */
export function headerValues(r: Seen, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) if (r.rawHeaders[i].toLowerCase() === name) out.push(r.rawHeaders[i + 1]);
  return out;
}

/** The exact single value of a header (fails when absent or repeated). */
export function one(r: Seen, name: string): string {
  const v = headerValues(r, name);
  assert.equal(v.length, 1, `exactly one ${name} header upstream; got ${JSON.stringify(v)} in ${JSON.stringify(r.rawHeaders)}`);
  return v[0];
}

/** Everything a request exposes: request line + raw headers + body. */
export function wireText(r: Seen): string {
  return `${r.method} ${r.url}\n${r.rawHeaders.join("\n")}\n\n${r.text}`;
}
