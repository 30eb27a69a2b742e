// Shared set-up for the end-to-end tests: the real filter (build/ai-gateway.wasm) in the
// Envoy-faithful host, one route that follows the cluster header the filter sets, and mock
// providers as the clusters. Also the checks every test ends with (nothing leaked, no VM failed)
// and the reader for the filter's one-line-per-request usage log.

import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { Gateway } from "../support/gateway.ts";
import { MockProvider, loadFixture, type Fixture, type ServeOverrides } from "../../dev/mock-provider.ts";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const GATEWAY_WASM = join(ROOT, "build", "ai-gateway.wasm");
export const OPENAI_FIXTURES = join(ROOT, "tests", "fixtures", "openai");

/** The upstream key the gateway holds; clients never know it. */
export const UPSTREAM_KEY = "sk-upstream-secret";
export const BACKEND_HOST = "api.openai.test";
export const MAX_REQUEST_BYTES = 1048576;

export const PLUGIN_CONFIG = {
  backends: [{ name: "openai", schema: "openai", cluster: "openai", host: BACKEND_HOST, auth: { type: "bearer", key: UPSTREAM_KEY } }],
  models: [
    { match: "gpt-4o-mini", backend: "openai" },
    { match: "gpt-*", backend: "openai" },
    { match: "fast", backend: "openai", upstream_model: "gpt-4o-mini" },
  ],
  max_request_bytes: MAX_REQUEST_BYTES,
};

/** proxy-wasm log levels (trace 0 … critical 5). */
export const LOG_INFO = 2;

export interface E2E {
  gateway: Gateway;
  /** The OpenAI backend's cluster. */
  openai: MockProvider;
  /** A second cluster no configured model routes to: it must never see a request. */
  decoy: MockProvider;
}

export async function startE2E(): Promise<E2E> {
  if (!existsSync(GATEWAY_WASM)) throw new Error(`${GATEWAY_WASM} is missing: run npm run build`);
  const openai = await MockProvider.start();
  const decoy = await MockProvider.start();
  const gateway = await Gateway.start({
    wasm: GATEWAY_WASM,
    plugin: { configuration: JSON.stringify(PLUGIN_CONFIG) },
    // Two workers = two VMs, as Envoy runs one VM per worker thread.
    workers: 2,
    // Above max_request_bytes, so the filter (not the host's buffer limit) decides about 413.
    bufferLimitBytes: 4 * MAX_REQUEST_BYTES,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters: {
      openai: { host: "127.0.0.1", port: openai.port },
      decoy: { host: "127.0.0.1", port: decoy.port },
    },
  });
  return { gateway, openai, decoy };
}

export async function stopE2E(e: E2E | undefined): Promise<void> {
  if (!e) return;
  await e.gateway?.stop();
  await e.openai.stop();
  await e.decoy.stop();
}

export function fixture(name: string, overrides?: ServeOverrides): Fixture {
  return loadFixture(join(OPENAI_FIXTURES, `${name}.fixture.json`), overrides);
}

/** The official client, unmodified, pointed at the gateway. No retries: one call = one request. */
export function openaiClient(gateway: Gateway, opts: { apiKey?: string; defaultHeaders?: Record<string, string> } = {}): OpenAI {
  return new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: opts.apiKey ?? "sk-client-key-never-forwarded", maxRetries: 0, defaultHeaders: opts.defaultHeaders });
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Key=value pairs of the filter's per-request usage lines logged since `from`. */
export function requestLogLines(gateway: Gateway, from: number): Record<string, string>[] {
  return gateway.logs.slice(from)
    .filter((l) => l.level === LOG_INFO && /\bmodel=\S+/.test(l.message) && /\bstatus=\d+/.test(l.message))
    .map((l) => {
      const kv: Record<string, string> = { _line: l.message };
      for (const m of l.message.matchAll(/(\w+)=(\S+)/g)) kv[m[1]] = m[2];
      return kv;
    });
}

/** Waits for exactly `n` request lines since `from` (the line is written when the stream ends,
 *  which may be after the client has read the last byte). */
export async function waitForRequestLogLines(gateway: Gateway, from: number, n: number): Promise<Record<string, string>[]> {
  await until(`${n} request log line(s)`, () => requestLogLines(gateway, from).length >= n).catch((e) => {
    throw new Error(`${(e as Error).message}; logs since the test began:\n  ${gateway.logs.slice(from).map((l) => `[${l.level}] ${l.message}`).join("\n  ")}`);
  });
  await new Promise((r) => setTimeout(r, 30)); // a late duplicate would show up here
  const lines = requestLogLines(gateway, from);
  assert.equal(lines.length, n, `one log line per request; got:\n  ${lines.map((l) => l._line).join("\n  ")}`);
  return lines;
}

export interface ExpectedUsage { model: string | string[]; backend: string; status: number; input: number; output: number; cached: number; reasoning: number }

/** Checks one usage line against the usage the provider reported. */
export function assertUsageLine(line: Record<string, string>, want: ExpectedUsage): void {
  const models = Array.isArray(want.model) ? want.model : [want.model];
  assert.ok(models.includes(line.model), `model=${line.model} should be one of ${models.join(", ")}: ${line._line}`);
  assert.deepEqual(
    { backend: line.backend, status: line.status, input_tokens: line.input_tokens, output_tokens: line.output_tokens, cached_tokens: line.cached_tokens, reasoning_tokens: line.reasoning_tokens },
    { backend: want.backend, status: String(want.status), input_tokens: String(want.input), output_tokens: String(want.output), cached_tokens: String(want.cached), reasoning_tokens: String(want.reasoning) },
    line._line,
  );
}

/** The end of every test: no stream context left behind, no callout pending, no VM failed, and
 *  the mocks answered every request they got from a fixture the test meant. */
export async function assertHealthy(e: E2E, logFrom: number): Promise<void> {
  await until("all stream contexts to be deleted", async () => (await e.gateway.liveContexts()) === 0).catch(async (err) => {
    throw new Error(`${(err as Error).message}: ${await e.gateway.liveContexts()} live`);
  });
  await until("no pending callouts", async () => (await e.gateway.pendingCalls()) === 0);
  const failures = vmFailures(e.gateway, logFrom);
  assert.deepEqual(failures, [], "no VM failed");
  e.openai.assertNoFailures();
  assert.deepEqual(e.openai.pendingFixtures(), [], "every enqueued fixture was used");
  assert.equal(e.decoy.requests.length, 0, "the decoy cluster got no request");
}

/** Evidence of a failed VM: a worker whose VM is gone or failed (the state Envoy's FAIL_CLOSED
 *  answers 503 from) and the platform's error lines about the VM ("Function: … failed"). */
export function vmFailures(gateway: Gateway, logFrom: number): string[] {
  return gateway.vmFailures(logFrom);
}
