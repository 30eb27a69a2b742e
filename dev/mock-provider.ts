// A mock LLM provider: a real HTTP/1.1 server on 127.0.0.1 that answers from fixture files and
// records every request it receives. Provider-agnostic: a fixture is status + headers + exact
// bytes, either sent whole (with content-length) or streamed as a list of chunks (chunked
// transfer encoding, optional delay before each chunk), so OpenAI SSE, Anthropic SSE, AWS
// eventstream binary and Gemini JSON arrays all go out byte-for-byte as stored.
//
// Shared by the tests and `npm start` (scripts/local-gateway.ts), so it lives outside tests/.
//
// Choosing the answer for a request (see tests/mocks/README.md):
//   1. the queue: `mock.enqueue(fixture)` answers the next request, first in first out;
//   2. otherwise the registered fixtures (`mock.register(...)`): the one whose `match`
//      (path, body model, body stream flag) fits the request; zero or several fits is an error.
// Selection never relies on a test-only header: the gateway under test may strip or rewrite
// headers, and a real provider would ignore them anyway.
//
// When no fixture fits, the mock answers 501 with an OpenAI-style error body and records the
// problem in `failures`, so a test can fail loudly (`assertNoFailures()`) instead of seeing a
// plausible provider error.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, basename } from "node:path";
import type { AddressInfo, Socket } from "node:net";

/** One chunk of a streamed body, as written in a fixture file. */
export interface ChunkSpec {
  /** UTF-8 text, sent exactly (no newline added). */
  text?: string;
  /** Binary bytes, base64 encoded. */
  base64?: string;
  /** Wait this long before writing the chunk. */
  delayMs?: number;
}

/**
 * How a `streamFile` is cut into writes:
 * - "whole": one write;
 * - "sse-events": one write per SSE event (cut after every blank line, LF or CRLF);
 * - "aws-eventstream-frames": one write per AWS eventstream frame (the first 4 bytes of each
 *   frame are its total length, big-endian);
 * - { bytes: n }: fixed-size writes of n bytes (the last may be shorter), to put chunk
 *   boundaries in the middle of events.
 */
export type SplitSpec = "whole" | "sse-events" | "aws-eventstream-frames" | { bytes: number };

/** What selects a registered fixture. Every given field must equal the request's. */
export interface MatchSpec {
  /** Request path without the query string, e.g. "/v1/chat/completions". */
  path?: string;
  /** The JSON request body's `model`. */
  model?: string;
  /** The JSON request body's `stream` (absent counts as false). */
  stream?: boolean;
}

/** The JSON fixture file format (`*.fixture.json`). Paths are relative to the fixture file. */
export interface FixtureFile {
  description?: string;
  match?: MatchSpec;
  status: number;
  headers?: Record<string, string | string[]>;
  /** Exactly one of body / bodyFile / chunks / streamFile. The first two send a whole body. */
  body?: string;
  bodyFile?: string;
  chunks?: ChunkSpec[];
  streamFile?: string;
  split?: SplitSpec;
  /** Delay before each write of a split `streamFile`. */
  chunkDelayMs?: number;
  /** Destroy the connection after the last chunk instead of ending the response cleanly
   *  (an upstream that dies mid-stream). */
  abortAfterBody?: boolean;
}

export interface BodyPart { bytes: Buffer; delayMs: number }

/** A fixture ready to be served. */
export interface Fixture {
  name: string;
  description: string;
  match?: MatchSpec;
  status: number;
  headers: Record<string, string | string[]>;
  parts: BodyPart[];
  /** True: chunked transfer encoding, one write per part. False: one write with content-length. */
  streamed: boolean;
  abortAfterBody: boolean;
}

/** Options that change how a loaded fixture is served (e.g. the same stream cut differently). */
export interface ServeOverrides {
  split?: SplitSpec;
  chunkDelayMs?: number;
  abortAfterBody?: boolean;
}

export interface RecordedRequest {
  method: string;
  /** Path with query string, as received. */
  url: string;
  /** Path without the query string. */
  path: string;
  /** Header names lowercased; repeated headers joined by Node's rules. */
  headers: Record<string, string | string[] | undefined>;
  /** Header names and values as received on the wire, in order. */
  rawHeaders: string[];
  body: Buffer;
  bodyText: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  json: any;
  /** Name of the fixture that answered, or null when none fitted. */
  fixture: string | null;
}

// ---------------------------------------------------------------------------------------------
// Fixture loading

/** Cuts bytes into writes according to `split`. Pure; exported for the self-test. */
export function splitBody(bytes: Buffer, split: SplitSpec): Buffer[] {
  if (split === "whole") return [bytes];
  if (split === "sse-events") {
    const out: Buffer[] = [];
    const text = bytes.toString("latin1"); // 1 char per byte, so indices are byte offsets
    const boundary = /\r?\n\r?\n/g;
    let start = 0;
    for (let m; (m = boundary.exec(text)); ) {
      const end = m.index + m[0].length;
      out.push(bytes.subarray(start, end));
      start = end;
    }
    if (start < bytes.length) out.push(bytes.subarray(start));
    return out;
  }
  if (split === "aws-eventstream-frames") {
    const out: Buffer[] = [];
    let at = 0;
    while (at < bytes.length) {
      if (bytes.length - at < 4) throw new Error(`eventstream: ${bytes.length - at} trailing bytes at offset ${at}`);
      const total = bytes.readUInt32BE(at);
      if (total < 16 || at + total > bytes.length) throw new Error(`eventstream: bad frame length ${total} at offset ${at}`);
      out.push(bytes.subarray(at, at + total));
      at += total;
    }
    return out;
  }
  if (typeof split === "object" && Number.isInteger(split.bytes) && split.bytes > 0) {
    const out: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += split.bytes) out.push(bytes.subarray(at, at + split.bytes));
    return out;
  }
  throw new Error(`unknown split ${JSON.stringify(split)}`);
}

function chunkBytes(c: ChunkSpec, where: string): Buffer {
  if ((c.text === undefined) === (c.base64 === undefined)) throw new Error(`${where}: a chunk needs exactly one of text / base64`);
  return c.text !== undefined ? Buffer.from(c.text, "utf8") : Buffer.from(c.base64!, "base64");
}

/** Builds a servable fixture from a parsed fixture file. `baseDir` resolves file references. */
export function fixtureFromSpec(name: string, spec: FixtureFile, baseDir: string, overrides: ServeOverrides = {}): Fixture {
  const sources = (["body", "bodyFile", "chunks", "streamFile"] as const).filter((k) => spec[k] !== undefined);
  if (sources.length !== 1) throw new Error(`fixture ${name}: needs exactly one of body, bodyFile, chunks, streamFile (has ${sources.join(", ") || "none"})`);
  if (!Number.isInteger(spec.status) || spec.status < 100 || spec.status > 599) throw new Error(`fixture ${name}: bad status ${spec.status}`);
  if ((overrides.split || overrides.chunkDelayMs !== undefined) && spec.streamFile === undefined)
    throw new Error(`fixture ${name}: split/chunkDelayMs apply only to a streamFile fixture`);

  let parts: BodyPart[];
  let streamed: boolean;
  if (spec.body !== undefined) {
    parts = [{ bytes: Buffer.from(spec.body, "utf8"), delayMs: 0 }];
    streamed = false;
  } else if (spec.bodyFile !== undefined) {
    parts = [{ bytes: readFileSync(join(baseDir, spec.bodyFile)), delayMs: 0 }];
    streamed = false;
  } else if (spec.chunks !== undefined) {
    parts = spec.chunks.map((c, i) => ({ bytes: chunkBytes(c, `fixture ${name} chunk ${i}`), delayMs: c.delayMs ?? 0 }));
    streamed = true;
  } else {
    const delayMs = overrides.chunkDelayMs ?? spec.chunkDelayMs ?? 0;
    const bytes = readFileSync(join(baseDir, spec.streamFile!));
    parts = splitBody(bytes, overrides.split ?? spec.split ?? "sse-events").map((b) => ({ bytes: b, delayMs }));
    streamed = true;
  }
  return {
    name,
    description: spec.description ?? "",
    match: spec.match,
    status: spec.status,
    headers: spec.headers ?? {},
    parts,
    streamed,
    abortAfterBody: overrides.abortAfterBody ?? spec.abortAfterBody ?? false,
  };
}

/** Loads one `*.fixture.json` file; its name is the file name without `.fixture.json`. */
export function loadFixture(path: string, overrides: ServeOverrides = {}): Fixture {
  const spec = JSON.parse(readFileSync(path, "utf8")) as FixtureFile;
  return fixtureFromSpec(basename(path).replace(/\.fixture\.json$/, ""), spec, dirname(path), overrides);
}

/** Loads every `*.fixture.json` in a folder, by name. */
export function loadFixtures(dir: string): Map<string, Fixture> {
  const out = new Map<string, Fixture>();
  for (const f of readdirSync(dir).sort()) if (f.endsWith(".fixture.json")) {
    const fx = loadFixture(join(dir, f));
    out.set(fx.name, fx);
  }
  return out;
}

/** All bytes a fixture sends, concatenated (what a client of the real provider would read). */
export function fixtureBytes(f: Fixture): Buffer {
  return Buffer.concat(f.parts.map((p) => p.bytes));
}

// ---------------------------------------------------------------------------------------------
// The server

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class MockProvider {
  readonly requests: RecordedRequest[] = [];
  /** Requests no fixture could answer (each also answered 501). */
  readonly failures: string[] = [];
  private queue: Fixture[] = [];
  private registered: Fixture[] = [];
  private sockets = new Set<Socket>();
  private waiters: { n: number; resolve: () => void }[] = [];

  /** Called with every recorded request (scripts/mock-providers.ts logs them). */
  onRequest: ((r: RecordedRequest) => void) | null = null;

  private constructor(private server: Server, readonly port: number, readonly host: string) {}

  /** Listens on 127.0.0.1 and an ephemeral port unless told otherwise (the compose container
   *  listens on 0.0.0.0:8080). */
  static async start(opts: { host?: string; port?: number } = {}): Promise<MockProvider> {
    let mock!: MockProvider;
    const host = opts.host ?? "127.0.0.1";
    const server = createServer((req, res) => void mock.handle(req, res));
    // Latency matters for streaming tests: write each chunk as soon as it is produced.
    server.on("connection", (s) => { s.setNoDelay(true); mock.sockets.add(s); s.on("close", () => mock.sockets.delete(s)); });
    await new Promise<void>((resolve, reject) => { server.once("error", reject); server.listen(opts.port ?? 0, host, resolve); });
    mock = new MockProvider(server, (server.address() as AddressInfo).port, host);
    return mock;
  }

  get url(): string { return `http://${this.host === "0.0.0.0" ? "127.0.0.1" : this.host}:${this.port}`; }

  /** Answers the next request that arrives with `fixture` (FIFO). */
  enqueue(...fixtures: Fixture[]): this { this.queue.push(...fixtures); return this; }

  /** Makes fixtures available for selection by their `match` when the queue is empty. */
  register(...fixtures: Fixture[]): this {
    for (const f of fixtures) if (!f.match) throw new Error(`fixture ${f.name} has no match; enqueue it instead`);
    this.registered.push(...fixtures);
    return this;
  }

  /** Forgets recorded requests, failures, queued and registered fixtures. */
  reset(): void {
    this.requests.length = 0;
    this.failures.length = 0;
    this.queue = [];
    this.registered = [];
  }

  /** Fixtures enqueued but not yet used. */
  pendingFixtures(): string[] { return this.queue.map((f) => f.name); }

  assertNoFailures(): void {
    if (this.failures.length) throw new Error(`mock provider could not answer:\n  ${this.failures.join("\n  ")}`);
  }

  /** Resolves once at least `n` requests have been recorded in total. */
  waitForRequests(n: number, timeoutMs = 5000): Promise<void> {
    if (this.requests.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`mock provider: ${this.requests.length} requests after ${timeoutMs} ms, wanted ${n}`)), timeoutMs);
      this.waiters.push({ n, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private select(path: string, json: any): Fixture | string {
    if (this.queue.length) return this.queue.shift()!;
    const model = json && typeof json === "object" ? json.model : undefined;
    const stream = json && typeof json === "object" ? json.stream === true : false;
    const fits = this.registered.filter((f) => {
      const m = f.match!;
      return (m.path === undefined || m.path === path) && (m.model === undefined || m.model === model) &&
        (m.stream === undefined || m.stream === stream);
    });
    const what = `path=${path} model=${JSON.stringify(model)} stream=${stream}`;
    if (fits.length === 1) return fits[0];
    if (fits.length === 0) return `no fixture queued or registered for ${what}`;
    return `${fits.length} registered fixtures fit ${what}: ${fits.map((f) => f.name).join(", ")}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const pieces: Buffer[] = [];
    for await (const p of req) pieces.push(p as Buffer);
    const body = Buffer.concat(pieces);
    const bodyText = body.toString("utf8");
    let json: any;
    try { json = body.length ? JSON.parse(bodyText) : undefined; } catch { json = undefined; }
    const path = (req.url ?? "/").split("?")[0];
    const chosen = this.select(path, json);
    this.requests.push({
      method: req.method ?? "", url: req.url ?? "", path, headers: { ...req.headers }, rawHeaders: req.rawHeaders,
      body, bodyText, json, fixture: typeof chosen === "string" ? null : chosen.name,
    });
    this.waiters = this.waiters.filter((w) => (this.requests.length >= w.n ? (w.resolve(), false) : true));
    this.onRequest?.(this.requests[this.requests.length - 1]);

    if (typeof chosen === "string") {
      this.failures.push(`${req.method} ${req.url}: ${chosen}`);
      const err = JSON.stringify({ error: { message: `mock provider: ${chosen}`, type: "mock_error", param: null, code: "mock_no_fixture" } });
      res.writeHead(501, { "content-type": "application/json", "content-length": Buffer.byteLength(err) });
      res.end(err);
      return;
    }
    await this.serve(chosen, res);
  }

  private async serve(f: Fixture, res: ServerResponse): Promise<void> {
    const headers: Record<string, string | string[]> = { ...f.headers };
    const has = (n: string) => Object.keys(headers).some((k) => k.toLowerCase() === n);
    if (!f.streamed && !has("content-length")) headers["content-length"] = String(f.parts[0].bytes.length);
    res.writeHead(f.status, headers);
    if (f.streamed) res.flushHeaders(); // a stream's headers go out before its first (maybe delayed) chunk
    for (const p of f.parts) {
      if (p.delayMs > 0) await sleep(p.delayMs);
      if (res.destroyed) return; // the client (the gateway) went away mid-stream
      await new Promise<void>((resolve) => (res.write(p.bytes) ? resolve() : res.once("drain", resolve)));
    }
    if (f.abortAfterBody) {
      // Give the last write a moment to leave, then cut the connection without the final chunk.
      await sleep(20);
      res.socket?.destroy();
      return;
    }
    res.end();
  }
}
