// Local-mode token limits are fed by the usage each provider format reports (issue 5 item 6):
// every provider answer that exists as a fixture goes through the real filter (Envoy-faithful
// host, real sockets, 2 workers) and the cost it committed is read back from what a client sees:
//   - the next identical request's x-ratelimit-remaining-tokens (rule "weighted", the most
//     restrictive): limit − committed − that request's own reservation;
//   - a probe whose estimate exceeds the limit (so it is capped at the limit and denied whenever
//     anything is used): the 429 message's "used" value for rule "total".
// The expected cost comes from the usage the provider reported (each case's case.json, from the
// provider reference) and the rule's weights; the estimate from the request size (bytes/4) and
// max_tokens (else default_output_tokens). Nothing is taken from the filter's own code.
// Also: rule matching (match.model globs, header keys, per-request cost) over several descriptors.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadCase, PROVIDER_FIXTURES, type ProviderCase } from "../providers/fixture-case.ts";
import { mockFixture } from "../providers/gateway-env.ts";
import { loadFixture } from "../../dev/mock-provider.ts";
import { OPENAI_FIXTURES } from "../e2e/harness.ts";
import { parseOpenAISse } from "../support/sse.ts";
import {
  startLimitGateway, chat, limitHeaders, denial, weightedCost, reservation, assertClean, sharedCounter,
  type Weights, type Usage, type Reply,
} from "./support.ts";

const LIMIT = { timeout: 30_000 };
const TOTAL_LIMIT = 10_000_000;
const WEIGHTED_LIMIT = 1_000_000;
const DEFAULT_OUTPUT = 500; // not the filter's default (1024): requests without max_tokens must use this
// Distinct weights for every usage component, fractional so rounding shows.
const WEIGHTS: Weights = { input: 1.5, cached_input: 0.25, output: 4, reasoning: 7, request: 100 };

function limitsFor(): any {
  return {
    mode: "local", default_output_tokens: DEFAULT_OUTPUT,
    rules: [
      { name: "total", key: ["client", "model"], window: "hour", tokens: TOTAL_LIMIT },
      { name: "weighted", key: ["client"], window: "hour", tokens: WEIGHTED_LIMIT, cost: WEIGHTS },
    ],
  };
}

function maxTokensOf(req: any): number | undefined {
  return typeof req.max_completion_tokens === "number" ? req.max_completion_tokens : typeof req.max_tokens === "number" ? req.max_tokens : undefined;
}

/** A request the gateway can only deny while anything is used (estimate capped at the limit). */
function probeOf(req: any): any {
  const p = { ...req };
  if ("max_completion_tokens" in p) p.max_completion_tokens = 100_000_000; else p.max_tokens = 100_000_000;
  return p;
}

interface CostCase { id: string; config: any; request: any; requestBytes: Buffer; fixture: () => ReturnType<typeof mockFixture>; usage: Usage; stream: boolean; endpoint: string }

function fromProviderCase(id: string): CostCase {
  const c: ProviderCase = loadCase(join(PROVIDER_FIXTURES, id));
  assert.ok(c.usage && c.response, `${id}: case without usage or upstream response`);
  return { id, config: c.config, request: c.request, requestBytes: c.requestBytes, fixture: () => mockFixture(c), usage: c.usage!, stream: c.request.stream === true, endpoint: c.endpoint };
}

// OpenAI JSON with reasoning tokens: the usage numbers are the provider's (fixture body).
function openaiReasoningJson(): CostCase {
  const request = { model: "gpt-5-mini", messages: [{ role: "user", content: "How does Envoy isolate Wasm filters?" }], max_completion_tokens: 2000 };
  return {
    id: "openai/chat-completion-reasoning-usage (JSON, reasoning)",
    config: { backends: [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: "sk-up" } }], models: [{ match: "gpt-*", backend: "openai" }] },
    request, requestBytes: Buffer.from(JSON.stringify(request)),
    fixture: () => loadFixture(join(OPENAI_FIXTURES, "chat-completion-reasoning-usage.fixture.json")),
    usage: { input: 1792, output: 645, cached: 1536, reasoning: 448 }, stream: false, endpoint: "/v1/chat/completions",
  };
}

const CASES: (() => CostCase)[] = [
  openaiReasoningJson,
  () => fromProviderCase("openai/stream-usage-requested"),         // OpenAI stream, client asked include_usage
  () => fromProviderCase("openai/stream-usage-injected-and-hidden"), // OpenAI stream, gateway injected include_usage
  () => fromProviderCase("anthropic/usage-cache-tokens"),            // Anthropic JSON, cache read + write
  () => fromProviderCase("anthropic/stream-text"),                   // Anthropic SSE, cache read, no include_usage
  () => fromProviderCase("anthropic/stream-text-include-usage"),     // Anthropic SSE, client asked include_usage
  () => fromProviderCase("azure/chat"),                              // Azure JSON
  () => fromProviderCase("azure/stream-tool-calls"),                 // Azure SSE (usage injected)
  () => fromProviderCase("azure/embeddings"),                        // embeddings: prompt tokens only
  () => fromProviderCase("groq/stream-usage-in-x-groq"),             // Groq x_groq.usage
  () => fromProviderCase("deepseek/chat-prompt-cache-hit-tokens"),   // DeepSeek prompt_cache_hit_tokens
  () => fromProviderCase("gemini/reasoning-effort-thinking"),        // Gemini JSON, thoughtsTokenCount
  () => fromProviderCase("gemini/stream-include-usage-thoughts-cached"), // Gemini SSE, cached + thoughts, last usageMetadata
  () => fromProviderCase("gemini/embeddings-batch-float"),           // Gemini embeddings: no counts, estimated from bytes
];

let vmSeq = 0;

for (const make of CASES) {
  const c = make();
  test(`committed cost = weighted usage: ${c.id}`, LIMIT, async () => {
    const env = await startLimitGateway({ ...c.config, limits: limitsFor() }, { vmId: `usage-cost-${vmSeq++}` });
    try {
      const body = c.requestBytes.toString("utf8");
      const wantTotal = weightedCost({}, c.usage);
      const wantWeighted = weightedCost(WEIGHTS, c.usage);
      const resv = reservation(WEIGHTS, c.requestBytes.length, maxTokensOf(c.request), WEIGHTED_LIMIT, DEFAULT_OUTPUT);
      const send = async (): Promise<Reply> => {
        env.mock.enqueue(c.fixture());
        const r = await chat(env.gateway, body, {}, c.endpoint);
        assert.equal(r.status, 200, r.text);
        if (c.stream) {
          const s = parseOpenAISse(r.text, { allowComments: true });
          assert.ok(s.done, "stream completed");
        }
        await assertClean(env.gateway); // on_log (the commit) has run
        return r;
      };
      // 1st request: nothing used yet, its own reservation is the only charge.
      const first = limitHeaders(await send());
      assert.deepEqual(first, { limit: WEIGHTED_LIMIT, remaining: WEIGHTED_LIMIT - resv, reset: first.reset });
      // 2nd: the 1st is committed at its actual weighted cost.
      const second = limitHeaders(await send());
      assert.equal(WEIGHTED_LIMIT - resv - second.remaining, wantWeighted,
        `weighted cost committed for one request (usage ${JSON.stringify(c.usage)}, weights ${JSON.stringify(WEIGHTS)})`);
      // Probe: denied by rule "total", reporting both committed requests at total tokens.
      const d = denial(await chat(env.gateway, JSON.stringify(probeOf(c.request)), {}, c.endpoint));
      assert.deepEqual({ rule: d.rule, limit: d.limit, used: d.used }, { rule: "total", limit: TOTAL_LIMIT, used: 2 * wantTotal });
      // The denied probe reserved nothing on "weighted" (rule order: "total" refused first).
      assert.equal(await sharedCounter(env.gateway, "weighted|client=-", 3600), 2 * wantWeighted);
      env.mock.assertNoFailures();
      assert.deepEqual(env.mock.pendingFixtures(), []);
      await assertClean(env.gateway);
    } finally {
      await env.stop();
    }
  });
}

test("rule matching: match.model globs, header keys, per-request cost, several descriptors", LIMIT, async () => {
  const config = {
    backends: [{ name: "openai", schema: "openai", cluster: "openai", host: "api.openai.com", auth: { type: "bearer", key: "sk-up" } }],
    models: [{ match: "gpt-*", backend: "openai" }],
    limits: {
      mode: "local", default_output_tokens: 64,
      rules: [
        { name: "gpt4o", key: ["model"], match: { model: "gpt-4o*" }, window: "hour", tokens: 1_000_000 },
        { name: "tier", key: ["header:x-tier"], match: { "header:x-tier": "gold*" }, window: "hour", tokens: 1_000_000 },
        { name: "mini-requests", match: { model: "*-mini" }, window: "hour", tokens: 1000, cost: { input: 0, output: 0, request: 1 } },
        { name: "pcm", key: ["client", "model", "backend"], window: "hour", tokens: 1_000_000 },
      ],
    },
  };
  const env = await startLimitGateway(config, { vmId: "usage-cost-match" });
  const C = 29; // chat-completion-gpt-4o-mini: prompt 19 + completion 10
  try {
    const send = async (model: string, tier?: string) => {
      env.mock.enqueue(loadFixture(join(OPENAI_FIXTURES, "chat-completion-gpt-4o-mini.fixture.json")));
      const r = await chat(env.gateway, { model, messages: [{ role: "user", content: "hi" }] }, tier ? { "x-tier": tier } : {});
      assert.equal(r.status, 200, r.text);
      await assertClean(env.gateway);
      return r;
    };
    await send("gpt-4o-mini", "gold");      // gpt4o, tier(gold), mini-requests, pcm
    await send("gpt-4o", "goldplus");       // gpt4o, tier(goldplus), pcm
    const third = await send("gpt-4.1-mini", "silver"); // mini-requests, pcm
    await send("gpt-4.1");                  // pcm only
    const n = (d: string) => sharedCounter(env.gateway, d, 3600);
    const counters: Record<string, Promise<number>> = {
      "gpt4o gpt-4o-mini": n("gpt4o|model=gpt-4o-mini"), "gpt4o gpt-4o": n("gpt4o|model=gpt-4o"),
      "gpt4o gpt-4.1-mini": n("gpt4o|model=gpt-4.1-mini"), "gpt4o gpt-4.1": n("gpt4o|model=gpt-4.1"),
      "tier gold": n("tier|header:x-tier=gold"), "tier goldplus": n("tier|header:x-tier=goldplus"), "tier silver": n("tier|header:x-tier=silver"), "tier none": n("tier|header:x-tier="),
      "mini-requests": n("mini-requests"),
      "pcm gpt-4o-mini": n("pcm|client=-|model=gpt-4o-mini|backend=openai"), "pcm gpt-4o": n("pcm|client=-|model=gpt-4o|backend=openai"),
      "pcm gpt-4.1-mini": n("pcm|client=-|model=gpt-4.1-mini|backend=openai"), "pcm gpt-4.1": n("pcm|client=-|model=gpt-4.1|backend=openai"),
    };
    assert.deepEqual(Object.fromEntries(await Promise.all(Object.entries(counters).map(async ([k, v]) => [k, await v]))), {
      "gpt4o gpt-4o-mini": C, "gpt4o gpt-4o": C, "gpt4o gpt-4.1-mini": 0, "gpt4o gpt-4.1": 0,
      "tier gold": C, "tier goldplus": C, "tier silver": 0, "tier none": 0,
      "mini-requests": 2,
      "pcm gpt-4o-mini": C, "pcm gpt-4o": C, "pcm gpt-4.1-mini": C, "pcm gpt-4.1": C,
    });
    // Black box: the 3rd request's most restrictive rule was mini-requests (1 used + its own 1 reserved).
    assert.deepEqual(limitHeaders(third), { limit: 1000, remaining: 998, reset: limitHeaders(third).reset });
    // A probe for gpt-4o is refused by rule gpt4o with exactly that model's usage.
    const d = denial(await chat(env.gateway, { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 5_000_000 }, { "x-tier": "bronze" }));
    assert.deepEqual({ rule: d.rule, used: d.used }, { rule: "gpt4o", used: C });
    env.mock.assertNoFailures();
    await assertClean(env.gateway);
  } finally {
    await env.stop();
  }
});
