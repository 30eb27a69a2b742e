// Exchanges of the robustness suite (harness.ts RequestSpec / ResponseSpec) over real sockets
// through real Envoy (issue 18 part 3): a client on keep-alive connections, and one upstream
// server behind every backend cluster that answers each request with the ResponseSpec planned
// for it (found by the x-robust-id request header, which the filter passes upstream), writing
// the body in the planned parts. The result is an oracle.ts Exchange, so the soak and the fuzz
// replay judge Envoy's exchanges with the same oracle as the host's.
//
// Token endpoints (Vertex's gcp_oauth cluster) are answered by the same server with the fixture
// token, since Envoy's shared data cannot be seeded from outside.

import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { check, endpointFor, type Exchange, type Seen } from "./oracle.ts";
import { framingFor } from "./framings.ts";
import { CLIENT_SECRETS, CLIENT_SECRET_VALUES } from "../providers/fixture-case.ts";
import { FIXTURE_GCP_TOKEN } from "../providers/gcp-token.ts";
import type { RequestSpec, ResponseSpec } from "./harness.ts";
import type { Gateway } from "../support/gateway.ts";

const ID = "x-robust-id";

interface Plan { resp: ResponseSpec | null; seen?: Seen; fed?: boolean }

/** The upstream: serves planned answers, records what reached it. */
export class PlannedUpstream {
  private plans = new Map<string, Plan>();
  private sockets = new Set<Socket>();
  tokenRequests = 0;
  unplanned = 0;
  private constructor(private server: http.Server) {}

  static async start(): Promise<PlannedUpstream> {
    const server = http.createServer();
    server.keepAliveTimeout = 120_000;
    const u = new PlannedUpstream(server);
    server.on("connection", (s) => { u.sockets.add(s); s.on("close", () => u.sockets.delete(s)); });
    server.on("request", (req, res) => u.serve(req, res));
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    return u;
  }

  get port(): number { return (this.server.address() as AddressInfo).port; }

  plan(id: string, resp: ResponseSpec | null): Plan { const p: Plan = { resp }; this.plans.set(id, p); return p; }
  forget(id: string): void { this.plans.delete(id); }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const id = req.headers[ID];
      const p = typeof id === "string" ? this.plans.get(id) : undefined;
      if (!p) {
        if ((req.url ?? "").includes("token")) {
          this.tokenRequests++;
          const b = JSON.stringify({ access_token: FIXTURE_GCP_TOKEN, expires_in: 3600, token_type: "Bearer" });
          res.writeHead(200, { "content-type": "application/json", "content-length": String(b.length) }).end(b);
        } else { this.unplanned++; res.writeHead(500).end(); }
        return;
      }
      const headers: [string, string][] = [[":method", req.method ?? ""], [":path", req.url ?? ""], [":authority", req.headers.host ?? ""]];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i].toLowerCase();
        if (k !== "host") headers.push([k, req.rawHeaders[i + 1]]);
      }
      p.seen = { headers, body: Buffer.concat(chunks) };
      const r = p.resp;
      if (!r) { res.writeHead(500).end(); return; }
      p.fed = true;
      // A real provider's content-length counts its body; a fuzzed body keeps the header, not the count.
      const h: Record<string, string[]> = {};
      let hadLength = false;
      for (const [k, v] of r.headers) { if (k === "content-length") { hadLength = true; continue; } (h[k] ??= []).push(v); }
      if (hadLength && !r.endOnHeaders) h["content-length"] = [String(r.body.length)];
      res.writeHead(r.status, h);
      if (r.endOnHeaders) { res.end(); return; }
      let at = 0;
      for (const c of [...(r.cuts ?? []), r.body.length]) {
        if (res.destroyed) return;
        res.write(r.body.subarray(at, c));
        at = c;
        await new Promise((ok) => setImmediate(ok));
      }
      res.end();
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }
}

/** Keep-alive client side: runs one exchange and returns the oracle's Exchange. */
export class ExchangeClient {
  private agent: http.Agent;
  private next = 0;
  constructor(private gw: Gateway, private upstream: PlannedUpstream, sockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }

  /** `abortAfterParts`: the client goes away after that many response body chunks (0: after the headers). */
  run(config: any, req: RequestSpec, resp: ResponseSpec | null, opts: { clientFault: boolean; abortAfterParts?: number }): Promise<Exchange> {
    const id = `${process.pid}-${this.next++}`;
    const plan = this.upstream.plan(id, resp);
    const headers: Record<string, string> = { "content-type": "application/json", ...CLIENT_SECRETS, [ID]: id };
    for (const [k, v] of Object.entries(req.headers ?? {})) { if (v === null) delete headers[k]; else if (!k.startsWith(":")) headers[k] = v; }
    if (!req.noBody) headers["content-length"] = String(req.body.length);
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let status = 0, reset: string | null = null;
      const ch: Record<string, string> = {};
      const done = () => {
        this.upstream.forget(id);
        resolve({
          endpoint: endpointFor(req.path), config, requestBytes: req.body,
          upstream: plan.seen ?? null,
          response: plan.fed && resp ? { status: resp.status, headers: resp.headers, body: resp.endOnHeaders ? Buffer.alloc(0) : resp.body } : null,
          client: { status, headers: ch, body: Buffer.concat(chunks), reset },
          secrets: CLIENT_SECRET_VALUES, logLines: [], clientFault: opts.clientFault,
        });
      };
      // A header value Node will not write (control bytes) cannot reach Envoy's filter either:
      // Envoy's HTTP/1 codec refuses it first. Reported as unsendable.
      let r: http.ClientRequest;
      try { r = http.request(`${this.gw.url}${req.path}`, { method: req.method ?? "POST", agent: this.agent, headers }, (res) => {
        status = res.statusCode ?? 0;
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) ch[k] = Array.isArray(v) ? v.join(", ") : v;
        let parts = 0;
        if (opts.abortAfterParts === 0) { r.destroy(); reset = "client abort"; done(); return; }
        res.on("data", (c: Buffer) => {
          chunks.push(c);
          if (opts.abortAfterParts !== undefined && ++parts >= opts.abortAfterParts) { r.destroy(); reset = "client abort"; done(); }
        });
        res.on("end", () => { if (reset === null) done(); });
        res.on("error", (e) => { if (reset === null) { reset = e.message; done(); } });
      }); } catch (e) { reset = `unsendable: ${(e as Error).message}`; done(); return; }
      r.on("error", (e) => { if (reset === null) { reset = e.message; done(); } });
      // Node's client hands the answer to a CONNECT request over as a tunnel ('connect'), never as
      // a response the oracle could read; without this listener the exchange never settles.
      r.on("connect", (res, socket) => {
        status = res.statusCode ?? 0;
        socket.destroy();
        if (reset === null) { reset = "unsendable: CONNECT answered as a tunnel by Node's client"; done(); }
      });
      r.end(req.noBody ? undefined : req.body);
    });
  }

  close(): void { this.agent.destroy(); }
}

/** The oracle on an Envoy exchange, as harness.ts runExchange applies it. */
export function judgeExchange(x: Exchange): string[] {
  const fed = x.response;
  const ct = fed ? (fed.headers.find(([k]) => k === "content-type")?.[1] ?? "") : "";
  const framing = framingFor(ct);
  return check(x, () => (framing && fed ? framing.payloads(fed.body) : []));
}
