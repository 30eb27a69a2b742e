// Helpers shared by the host tests: log filtering and small real upstream servers on 127.0.0.1.

import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { LogEntry } from "./services.ts";

/** Messages the module logged (proxy_log / fd_write), optionally from one VM (-1 canary, -2 base). */
export function wasmLogs(logs: LogEntry[], vm?: number): string[] {
  return logs.filter((l) => l.origin === "wasm" && (vm === undefined || l.vm === vm)).map((l) => l.message);
}

/** Messages the host (Envoy) logged. */
export function hostLogs(logs: LogEntry[]): string[] {
  return logs.filter((l) => l.origin === "host").map((l) => l.message);
}

export interface RecordedRequest { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }

export interface TestServer {
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** An HTTP/1.1 upstream that records requests; `handler` writes the response. */
export async function httpServer(handler: (req: RecordedRequest, res: http.ServerResponse) => void): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      requests.push(r);
      handler(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export interface H2Server {
  port: number;
  close(): Promise<void>;
}

export async function h2Server(onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): Promise<H2Server> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => { sessions.add(s); s.on("close", () => sessions.delete(s)); });
  server.on("stream", onStream);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sessions) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A port with nothing listening (bound then released). */
export async function deadPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() - start > timeoutMs) return reject(new Error("condition not met in time"));
      setTimeout(tick, 5);
    };
    tick();
  });
}

/**
 * One HTTP/1.1 request on its own connection; resolves with status, headers and body. Rejects after
 * `timeoutMs` (default 10 s) so a stream that never completes fails the test and its cleanup runs.
 */
export function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {}):
  Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no complete response from ${url} within ${opts.timeoutMs ?? 10_000} ms`));
    }, opts.timeoutMs ?? 10_000);
    const done = <T>(f: (v: T) => void) => (v: T) => { clearTimeout(timer); f(v); };
    resolve = done(resolve);
    reject = done(reject);
    const req = http.request(url, { method: opts.method ?? "GET", headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}
