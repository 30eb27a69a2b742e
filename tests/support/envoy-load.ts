// Load helpers for the real-Envoy suites (issue 18): many requests over keep-alive connections
// (Envoy spreads connections, not requests, over its workers), and Envoy's memory as the process
// and its admin endpoint report it.

import http from "node:http";
import { readFileSync } from "node:fs";
import type { Gateway } from "./gateway.ts";

export interface Answer { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

/** A pool of `sockets` keep-alive connections to the gateway. */
export class Client {
  readonly agent: http.Agent;
  constructor(readonly gw: Gateway, sockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }

  request(method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.gw.url}${path}`, { method, agent: this.agent, headers: body !== undefined ? { "content-length": String(Buffer.byteLength(body)), ...headers } : headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  chat(body: object, headers: Record<string, string> = {}): Promise<Answer> {
    return this.request("POST", "/v1/chat/completions", { "content-type": "application/json", authorization: "Bearer sk-client", ...headers }, JSON.stringify(body));
  }

  /** Opens every connection of the pool (concurrent requests the filter answers itself). */
  async warm(n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, () => this.request("GET", "/v1/models", { authorization: "Bearer sk-client" })));
  }

  close(): void { this.agent.destroy(); }
}

/** The Envoy process behind a real-Envoy gateway (tests/support/gateway.ts OnEnvoy). */
export function envoyPid(gw: Gateway): number {
  const pid = (gw as any).envoy?.envoy?.pid;
  if (gw.platform !== "envoy" || typeof pid !== "number" || pid <= 0) throw new Error("not a real-Envoy gateway");
  return pid;
}

export interface MemorySample {
  requests: number;
  ms: number;
  /** Envoy's resident set (kernel, /proc/<pid>/status VmRSS). */
  rssBytes: number;
  /** Envoy's heap in use (admin stat server.memory_allocated: tcmalloc; shared data lives here). */
  heapBytes: number;
  /** The filter's VMs' linear memory, summed (admin stat wasmcustom.ai_gateway.vm.linear_memory_bytes). */
  vmBytes: number;
}

export async function memorySample(gw: Gateway, requests: number, t0: number): Promise<MemorySample> {
  const status = readFileSync(`/proc/${envoyPid(gw)}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? -1) * 1024;
  const s = await gw.stats();
  return {
    requests, ms: Math.round(performance.now() - t0), rssBytes: rss,
    heapBytes: s["server.memory_allocated"] ?? -1,
    vmBytes: s["wasmcustom.ai_gateway.vm.linear_memory_bytes"] ?? -1,
  };
}

export const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
