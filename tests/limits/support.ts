// Shared pieces of the token-limit tests (tests/limits/*.test.ts) and the bench's limit scenarios:
// a gateway with limits over real sockets, the cost/estimate arithmetic computed independently of
// the filter (the filter's own formulas are never imported), readers for what the filter exposes
// (x-ratelimit-* headers, the 429 message, the shared-data counters), a TCP proxy that counts
// gRPC requests and can delay answers, and a Redis MONITOR reader for the RLS's INCRBY calls.

import assert from "node:assert/strict";
import net from "node:net";
import { Gateway, type ClusterConfig } from "../support/gateway.ts";
import { MockProvider } from "../../dev/mock-provider.ts";
import { GATEWAY_WASM as BUILT_WASM, vmFailures } from "../e2e/harness.ts";

/** The filter under test: build/ai-gateway.wasm, or AI_GATEWAY_WASM (e.g. a deliberately broken build). */
export const GATEWAY_WASM = process.env.AI_GATEWAY_WASM ?? BUILT_WASM;

export const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));

/** Polls `cond` every 5 ms; throws after `timeoutMs`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

// ------------------------------------------------------------------------------------------------
// Cost and estimate, as docs/config describe them (not imported from the filter)

export interface Weights { input?: number; cached_input?: number; output?: number; reasoning?: number; request?: number }
export interface Usage { input: number; output: number; cached: number; reasoning: number }

/**
 * The weighted cost of a request under a rule: OpenAI usage semantics (input includes cached,
 * output includes reasoning); an unset cached_input weight follows input, an unset reasoning
 * weight follows output; rounded up to a whole token.
 */
export function weightedCost(w: Weights, u: Usage): number {
  const wi = w.input ?? 1, wc = w.cached_input ?? wi, wo = w.output ?? 1, wr = w.reasoning ?? wo, wq = w.request ?? 0;
  const v = (u.input - u.cached) * wi + u.cached * wc + (u.output - u.reasoning) * wo + u.reasoning * wr + wq;
  return v > 0 ? Math.ceil(v - 1e-9) : 0;
}

/** Admission estimate: input = ceil(client body bytes / bytes_per_token), output = max_(completion_)tokens or the default. */
export function estimateUsage(bodyBytes: number, maxTokens: number | undefined, defaultOutput = 1024, bytesPerToken = 4): Usage {
  return { input: Math.ceil(bodyBytes / bytesPerToken), output: maxTokens && maxTokens > 0 ? maxTokens : defaultOutput, cached: 0, reasoning: 0 };
}

/** The reservation for a request: its estimated cost, capped at the rule's limit. */
export function reservation(w: Weights, bodyBytes: number, maxTokens: number | undefined, limit: number, defaultOutput = 1024): number {
  return Math.min(limit, weightedCost(w, estimateUsage(bodyBytes, maxTokens, defaultOutput)));
}

// ------------------------------------------------------------------------------------------------
// A gateway with limits, one mock provider behind every backend cluster

export interface LimitEnv {
  gateway: Gateway;
  mock: MockProvider;
  logFrom: number;
  stop(): Promise<void>;
}

export async function startLimitGateway(config: any, opts: { workers?: number; clusters?: Record<string, ClusterConfig>; vmId?: string } = {}): Promise<LimitEnv> {
  const mock = await MockProvider.start();
  const clusters: Record<string, ClusterConfig> = {};
  for (const b of config.backends) clusters[b.cluster] = { host: "127.0.0.1", port: mock.port };
  Object.assign(clusters, opts.clusters ?? {});
  let gateway: Gateway;
  try {
    gateway = await Gateway.start({
      wasm: GATEWAY_WASM,
      plugin: { configuration: JSON.stringify(config), vmId: opts.vmId },
      workers: opts.workers ?? 2,
      // As in the shipped configs: no limit on the whole exchange. Envoy's route timeout runs
      // until the response is complete, and the load tests' streams on a busy machine can take
      // longer than the 15 s default (the stream is then reset mid-body).
      routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster", timeoutMs: 0 }],
      clusters,
    });
  } catch (e) { await mock.stop(); throw e; }
  return { gateway, mock, logFrom: 0, stop: async () => { await gateway.stop(); await mock.stop(); } };
}

export interface Reply { status: number; headers: Record<string, string>; text: string; json: any; ms: number }

/** One POST (default /v1/chat/completions) over a fresh connection (connection: close, so workers round-robin). */
export async function chat(gw: Gateway, body: any, headers: Record<string, string> = {}, path = "/v1/chat/completions"): Promise<Reply> {
  const bytes = typeof body === "string" ? body : JSON.stringify(body);
  const t0 = performance.now();
  const res = await fetch(`${gw.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer sk-client", connection: "close", ...headers },
    body: bytes,
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  const h: Record<string, string> = {};
  res.headers.forEach((v, k) => { h[k] = v; });
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: h, text, json, ms };
}

/** x-ratelimit-* headers of a reply as numbers (reset in seconds, from "<n>s"). */
export function limitHeaders(r: Reply): { limit: number; remaining: number; reset: number } {
  const lim = r.headers["x-ratelimit-limit-tokens"], rem = r.headers["x-ratelimit-remaining-tokens"], reset = r.headers["x-ratelimit-reset-tokens"];
  assert.ok(lim !== undefined && rem !== undefined && reset !== undefined, `x-ratelimit-* headers missing: ${JSON.stringify(r.headers)}`);
  assert.match(lim, /^\d+$/); assert.match(rem, /^\d+$/); assert.match(reset, /^\d+s$/);
  return { limit: Number(lim), remaining: Number(rem), reset: Number(reset.slice(0, -1)) };
}

/** The numbers in a 429 message: "… (rule R, per W): limit L, used U, requested Q. …". */
export function denial(r: Reply): { rule: string; limit: number; used: number; requested: number } {
  assert.equal(r.status, 429, `expected 429, got ${r.status}: ${r.text}`);
  const m = /\(rule ([\w.-]+), per \w+\): limit (\d+), used (\d+)(?:, requested (\d+))?/.exec(r.json?.error?.message ?? "");
  assert.ok(m, `429 message without rule/limit/used: ${r.text}`);
  return { rule: m[1], limit: Number(m[2]), used: Number(m[3]), requested: Number(m[4] ?? 0) };
}

/**
 * The local counter of a descriptor straight from shared data (what every worker sees):
 * "<windowStart>:<used>" under "ai_gateway.lim.<rule>|<key>=<value>…". 0 when absent or from an
 * older window than `windowStart`.
 */
export async function sharedCounter(gw: Gateway, descriptor: string, windowSeconds: number): Promise<number> {
  const v = await gw.sharedData("ai_gateway.lim." + descriptor);
  if (!v) return 0;
  const [w, used] = Buffer.from(v).toString("utf8").split(":").map(Number);
  const now = Math.floor(Date.now() / 1000);
  return w === now - (now % windowSeconds) ? used : 0;
}

/** End of a test: no stream context left, no callout pending, no VM failed, no host error. */
export async function assertClean(gw: Gateway, logFrom = 0, timeoutMs = 5000): Promise<void> {
  await until("stream contexts to be deleted", async () => (await gw.liveContexts()) === 0, timeoutMs).catch(async (e) => { throw new Error(`${e.message}: ${await gw.liveContexts()} live`); });
  await until("callouts to finish", async () => (await gw.pendingCalls()) === 0, timeoutMs).catch(async (e) => { throw new Error(`${e.message}: ${await gw.pendingCalls()} pending`); });
  assert.deepEqual(vmFailures(gw, logFrom), [], "no VM failed / no host error");
}

// ------------------------------------------------------------------------------------------------
// TCP proxy in front of the RLS: counts HTTP/2 requests (HEADERS frames from the client), and
// can hold every byte from the server for `delayMs` (a slow service) or refuse connections.

export class TcpProxy {
  /** HTTP/2 request HEADERS frames seen client → server (= gRPC calls started). */
  requests = 0;
  delayMs = 0;
  private sockets = new Set<net.Socket>();
  private constructor(private server: net.Server, readonly port: number, private target: number) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy!: TcpProxy;
    const server = net.createServer((c) => proxy.onConnection(c));
    await new Promise<void>((ok, fail) => { server.once("error", fail); server.listen(0, "127.0.0.1", () => ok()); });
    proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port, targetPort);
    return proxy;
  }

  private onConnection(client: net.Socket): void {
    const upstream = net.connect({ host: "127.0.0.1", port: this.target });
    this.sockets.add(client); this.sockets.add(upstream);
    const drop = () => { client.destroy(); upstream.destroy(); this.sockets.delete(client); this.sockets.delete(upstream); };
    client.on("error", drop); upstream.on("error", drop); client.on("close", drop); upstream.on("close", drop);
    // Client → server: parse HTTP/2 framing to count HEADERS frames (type 1) on client streams.
    let buf = Buffer.alloc(0), prefaceLeft = 24;
    client.on("data", (d: Buffer) => {
      upstream.write(d);
      buf = Buffer.concat([buf, d]);
      if (prefaceLeft > 0) { const n = Math.min(prefaceLeft, buf.length); buf = buf.subarray(n); prefaceLeft -= n; }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3], stream = buf.readUInt32BE(5) & 0x7fffffff;
        if (type === 1 && stream % 2 === 1) this.requests++;
        buf = buf.subarray(9 + len);
      }
    });
    upstream.on("data", (d: Buffer) => {
      const delay = this.delayMs;
      if (delay > 0) setTimeout(() => { if (!client.destroyed) client.write(d); }, delay);
      else client.write(d);
    });
  }

  /** Closes every connection through the proxy (the next call reconnects). */
  dropConnections(): void { for (const s of this.sockets) s.destroy(); this.sockets.clear(); }

  async stop(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }
}

// ------------------------------------------------------------------------------------------------
// Redis MONITOR: every INCRBY the rate limit service runs, with its key and hits

export interface Incr { key: string; hits: number }

export class RedisMonitor {
  readonly incrs: Incr[] = [];
  private constructor(private sock: net.Socket) {}

  static async start(port: number): Promise<RedisMonitor> {
    const sock = net.connect({ host: "127.0.0.1", port });
    await new Promise<void>((ok, fail) => { sock.once("connect", () => ok()); sock.once("error", fail); });
    const m = new RedisMonitor(sock);
    let buf = "";
    let ready!: () => void;
    const okSeen = new Promise<void>((r) => (ready = r));
    sock.on("data", (d) => {
      buf += d.toString("utf8");
      let i;
      while ((i = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (line === "+OK") { ready(); continue; }
        // +1795560073.123456 [0 127.0.0.1:40000] "INCRBY" "key" "0"
        const x = /\] "INCRBY" "((?:[^"\\]|\\.)*)" "(\d+)"$/i.exec(line);
        if (x) m.incrs.push({ key: x[1], hits: Number(x[2]) });
      }
    });
    sock.write("*1\r\n$7\r\nMONITOR\r\n");
    await okSeen;
    return m;
  }

  stop(): void { this.sock.destroy(); }
}

/** Reads an integer counter from Redis (GET; 0 when absent). */
export function redisGet(port: number, key: string): Promise<number> {
  return new Promise((ok, fail) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = "";
    const t = setTimeout(() => { sock.destroy(); fail(new Error("redis GET timed out")); }, 2000);
    sock.on("error", (e) => { clearTimeout(t); fail(e); });
    sock.on("connect", () => sock.write(`*2\r\n$3\r\nGET\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n`));
    sock.on("data", (d) => {
      buf += d.toString("utf8");
      if (buf.startsWith("$-1\r\n")) { clearTimeout(t); sock.end(); return ok(0); }
      const m = /^\$(\d+)\r\n(.*)\r\n/s.exec(buf);
      if (m) { clearTimeout(t); sock.end(); ok(Number(m[2])); }
      else if (buf.startsWith("-")) { clearTimeout(t); sock.end(); fail(new Error(buf)); }
    });
  });
}
