// Fixture-driven provider translation tests (format: tests/fixtures/providers/README.md).
//
// Each case drives the real filter (build/ai-gateway.wasm) in the Envoy-faithful host twice:
//   over real sockets (client → Gateway → mock provider answering from the fixture):
//     1. request side — the request the mock received (method, path and query, headers incl. auth
//        and anthropic-version, body) and no client credential leaked; or, for cases the gateway
//        must refuse, its own answer and nothing upstream;
//     2. response side — the client's body or SSE stream against the fixture, the OpenAI schema and
//        the stream contract (same id/created, dense tool-call indexes, termination);
//     3. usage — the filter's request log line reports the provider's tokens (OpenAI semantics);
//   through the socket-free stream driver, which feeds exact body callbacks:
//     4. every split — the provider's bytes cut into two body callbacks at every byte position
//        must give the client exactly the same bytes as one callback (modulo the clock in `created`).
// The official openai client runs over the same fixtures in tests/e2e/providers.test.ts.
// Platforms: 1.–3. run on the gateway platform (real Envoy by default); 4. stays on the socket-free
// host because Envoy, not the test, decides where body callbacks split (one per socket read).

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { PluginHost } from "../host/plugin-host.ts";
import {
  loadCases, Bindings, assertUpstreamRequest, assertClientJson, assertStreamMatches, parseCaseStream, caseStreamProblems,
  withoutClock, CLIENT_SECRETS, GATEWAY_WASM, type ProviderCase, type SeenRequest,
} from "./fixture-case.ts";
import { ProviderGateways, socketExchange, seenFromRecorded, assertCaseUsage, type SocketExchange } from "./gateway-env.ts";
import { seedGcpTokens } from "./gcp-token.ts";

if (!existsSync(GATEWAY_WASM)) throw new Error(`${GATEWAY_WASM} is missing: run npm run build`);

const cases = loadCases();
const hosts = new Map<string, Promise<PluginHost>>();
/** One plugin instance per distinct configuration, loaded on first use. */
function hostFor(c: ProviderCase): Promise<PluginHost> {
  let h = hosts.get(c.configText);
  if (!h) {
    h = PluginHost.load({ wasm: GATEWAY_WASM, plugin: { configuration: c.configText }, workers: 1, bufferLimitBytes: 16 * 1024 * 1024 })
      .then((host) => { seedGcpTokens(host.sharedData, c.config); return host; });
    hosts.set(c.configText, h);
  }
  return h;
}
const gateways = new ProviderGateways();
after(async () => {
  for (const h of hosts.values()) (await h).close();
  await gateways.stopAll();
});

interface Exchange {
  /** What reached the router; null when the filter answered by itself. */
  upstream: SeenRequest | null;
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** One request through a fresh stream; the provider's body is delivered as `parts` (the last with end_stream). */
function exchange(host: PluginHost, c: ProviderCase, parts: Buffer[]): Exchange {
  const d = host.worker(0).newStream();
  d.requestHeaders([
    [":method", "POST"], [":scheme", "http"], [":authority", "gateway.test"], [":path", c.endpoint],
    ["content-type", "application/json"], ["content-length", String(c.requestBytes.length)],
    ["authorization", CLIENT_SECRETS.authorization], ["api-key", CLIENT_SECRETS["api-key"]], ["x-api-key", CLIENT_SECRETS["x-api-key"]],
    ...Object.entries(c.clientHeaders).map(([k, v]) => [k.toLowerCase(), v] as [string, string]),
  ]);
  d.requestBody(c.requestBytes, true);
  let upstream: SeenRequest | null = null;
  const uh = d.upstream.headers;
  if (uh && !d.downstream.headers) {
    const headers: Record<string, string> = {};
    for (const [k, v] of uh.pairs()) if (!k.startsWith(":")) headers[k] = k in headers ? `${headers[k]},${v}` : v;
    headers.host = uh.get(":authority") ?? "";
    upstream = {
      method: uh.get(":method") ?? "", url: uh.get(":path") ?? "", headers,
      rawHeaderText: uh.pairs().map(([k, v]) => `${k}: ${v}`).join("\n"),
      body: Buffer.concat(d.upstream.chunks),
    };
    const r = c.response;
    if (r) {
      const rh: [string, string][] = [[":status", String(r.status)]];
      for (const [k, v] of Object.entries(r.headers)) for (const x of Array.isArray(v) ? v : [v]) rh.push([k.toLowerCase(), x]);
      if (!r.isStream && !rh.some(([k]) => k === "content-length")) rh.push(["content-length", String(r.body.length)]);
      d.responseHeaders(rh, false);
      parts.forEach((p, i) => d.responseBody(p, i === parts.length - 1));
    }
  }
  d.complete();
  const dh = d.downstream.headers;
  const headers: Record<string, string> = {};
  if (dh) for (const [k, v] of dh.pairs()) if (!k.startsWith(":")) headers[k] = v;
  return { upstream, status: Number(dh?.get(":status") ?? 0), headers, text: d.downstreamBody() };
}

function assertClientSide(c: ProviderCase, x: { status: number; headers: Record<string, string>; text: string }, b: Bindings): void {
  if (c.clientStream) {
    assert.equal(x.status, 200, `client status (body: ${x.text.slice(0, 300)})`);
    assert.ok((x.headers["content-type"] ?? "").startsWith("text/event-stream"), `client content-type: ${x.headers["content-type"]}`);
    assert.equal(x.headers["content-length"], undefined, "no content-length on a translated stream");
    const events = parseCaseStream(c, x.text);
    assertStreamMatches(events, c.clientStream, b);
    assert.deepEqual(caseStreamProblems(c, events), [], "client stream contract (schema, id/created or block order, tool-call indexes, termination)");
  } else {
    assertClientJson(c, x.status, x.headers, x.text, b);
  }
}

for (const c of cases) {
  describe(`${c.id}: ${c.description}`, () => {
    let sock: SocketExchange;
    before(async () => { sock = await socketExchange(await gateways.for(c), c); });

    test("request side: the request the provider received (or the gateway's own answer, nothing upstream)", () => {
      if (!c.upstream) {
        assert.deepEqual(sock.received.map((r) => `${r.method} ${r.url} ${r.bodyText.slice(0, 300)}`), [], "nothing may go upstream");
        return;
      }
      assert.equal(sock.received.length, 1, `exactly one upstream request; the gateway answered ${sock.status}: ${sock.text.slice(0, 400)}`);
      assertUpstreamRequest(c, seenFromRecorded(sock.received[0]), new Bindings());
    });

    test("response side: the client gets the fixture's body or stream (OpenAI / Anthropic schema, stream contract)", () => {
      assertClientSide(c, sock, new Bindings());
      if (c.passthrough) assert.equal(sock.text, c.response!.body.toString("utf8"), "the provider's body reaches the client byte for byte");
    });

    if (c.usage) {
      test(`usage: the request log line reports input=${c.usage.input} output=${c.usage.output} cached=${c.usage.cached} reasoning=${c.usage.reasoning}`, async () => {
        await assertCaseUsage(await gateways.for(c), c, sock.logFrom, sock.status);
      });
    }

    if (c.response) {
      const body = c.response.body;
      const positions = c.response.isStream ? Array.from({ length: body.length - 1 }, (_, i) => i + 1) : [1, body.length >> 1, body.length - 1];
      test(`every split: the provider's ${body.length} bytes cut into two body callbacks at ${c.response.isStream ? "every byte position" : "3 positions"} give the same client bytes (and the same as over sockets)`, async () => {
        const host = await hostFor(c);
        // The reference: the whole body in one callback (its content is checked by "response side").
        const whole = exchange(host, c, [body]);
        const ref = withoutClock(whole.text);
        // Over sockets the provider wrote one SSE event per write (JSON: one write): same bytes.
        assert.equal(ref, withoutClock(sock.text), "the client bytes with the body in one callback differ from those over sockets");
        const bad: number[] = [];
        let firstDiff = "";
        for (const p of positions) {
          const x = exchange(host, c, [body.subarray(0, p), body.subarray(p)]);
          const got = withoutClock(x.text);
          if (got !== ref || x.status !== whole.status) {
            if (!bad.length) {
              let k = 0;
              while (k < got.length && got[k] === ref[k]) k++;
              firstDiff = `split at byte ${p}: status ${x.status} vs ${whole.status}; first difference at client byte ${k}:\n  whole: ${JSON.stringify(ref.slice(Math.max(0, k - 80), k + 120))}\n  split: ${JSON.stringify(got.slice(Math.max(0, k - 80), k + 120))}`;
            }
            bad.push(p);
          }
        }
        assert.deepEqual(bad, [], `${bad.length} of ${positions.length} split positions changed the client bytes; ${firstDiff}`);
        assert.equal(host.liveContexts(), 0, "every stream context was deleted");
      });
    }
  });
}
