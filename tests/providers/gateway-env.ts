// Real sockets for the provider cases: one Gateway (the filter in the Envoy-faithful host) per
// distinct plugin configuration, every cluster of that configuration pointing at one mock
// provider that answers with the case's upstream response and records what it received.

import { Gateway } from "../support/gateway.ts";
import { MockProvider, splitBody, type Fixture, type RecordedRequest } from "../../dev/mock-provider.ts";
import { waitForRequestLogLines, assertUsageLine } from "../e2e/harness.ts";
import { CLIENT_SECRETS, GATEWAY_WASM, type ProviderCase, type SeenRequest } from "./fixture-case.ts";
import { seedGcpTokens } from "./gcp-token.ts";

export interface ProviderEnv { gateway: Gateway; mock: MockProvider }

export class ProviderGateways {
  private envs = new Map<string, Promise<ProviderEnv>>();

  /** The gateway + mock for the case's configuration (started on first use). */
  for(c: ProviderCase): Promise<ProviderEnv> {
    let env = this.envs.get(c.configText);
    if (!env) {
      env = (async () => {
        const mock = await MockProvider.start();
        const clusters: Record<string, { host: string; port: number }> = {};
        for (const b of c.config.backends) clusters[b.cluster] = { host: "127.0.0.1", port: mock.port };
        const gateway = await Gateway.start({
          wasm: GATEWAY_WASM,
          plugin: { configuration: c.configText },
          workers: 2,
          routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
          clusters,
        });
        if (gateway.host) seedGcpTokens(gateway.host.sharedData, c.config);
        return { gateway, mock };
      })();
      this.envs.set(c.configText, env);
    }
    return env;
  }

  async stopAll(): Promise<void> {
    for (const env of this.envs.values()) {
      const { gateway, mock } = await env;
      await gateway.stop();
      await mock.stop();
    }
  }
}

/** The case's upstream response as a mock-provider fixture (SSE: one write per event, 1 ms apart). */
export function mockFixture(c: ProviderCase): Fixture {
  const r = c.response!;
  if (r.fixture) return { ...r.fixture, match: undefined };
  return {
    name: c.id, description: c.description, status: r.status, headers: r.headers,
    parts: r.writes ? r.writes.map((bytes) => ({ bytes, delayMs: 1 }))
      : r.isStream ? splitBody(r.body, "sse-events").map((bytes) => ({ bytes, delayMs: 1 })) : [{ bytes: r.body, delayMs: 0 }],
    streamed: r.isStream, abortAfterBody: false,
  };
}

export function seenFromRecorded(r: RecordedRequest): SeenRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(",") : v;
  return { method: r.method, url: r.url, headers, rawHeaderText: r.rawHeaders.join("\n"), body: r.body };
}

export interface SocketExchange {
  /** Requests the provider received. */
  received: RecordedRequest[];
  status: number;
  headers: Record<string, string>;
  text: string;
  logFrom: number;
}

/** The case's client request over HTTP (with client credentials), the provider answering from the fixture. */
export async function socketExchange(env: ProviderEnv, c: ProviderCase): Promise<SocketExchange> {
  env.mock.reset();
  if (c.response) env.mock.enqueue(mockFixture(c));
  const logFrom = env.gateway.logs.length;
  const res = await fetch(env.gateway.url + c.endpoint, {
    method: "POST",
    headers: { "content-type": "application/json", ...CLIENT_SECRETS, ...c.clientHeaders },
    body: new Uint8Array(c.requestBytes),
  });
  const text = await res.text();
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => { headers[k] = v; });
  return { received: [...env.mock.requests], status: res.status, headers, text, logFrom };
}

/** The filter's request log line for the exchange reports the case's expected usage. */
export async function assertCaseUsage(env: ProviderEnv, c: ProviderCase, logFrom: number, status: number): Promise<void> {
  const [line] = await waitForRequestLogLines(env.gateway, logFrom, 1);
  assertUsageLine(line, { model: [c.request.model, c.upstreamModel], backend: c.backendName, status, ...c.usage! });
}
