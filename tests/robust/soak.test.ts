// The short soak of `npm test` (the 1,000,000-request run is `npm run soak`): 20,000 mixed
// requests through one VM of the release filter with local limits on, sampled every 500 requests;
// the criteria of soak-lib.ts must hold. The criteria are checked first on made-up curves, so a
// leak would be caught rather than averaged away.
// Host-only: the soak samples the VM's linear memory between requests, which Envoy does not expose.

import { test } from "node:test";
import assert from "node:assert/strict";
import { runSoak, judge, soakSummary, type SoakResult, type SoakSample } from "./soak-lib.ts";

function curve(n: number, f: (i: number) => Partial<SoakSample>): SoakResult {
  const samples: SoakSample[] = [];
  for (let i = 0; i <= 20; i++) samples.push({ requests: i * n / 20, ms: i, memoryBytes: 262144, heapUsed: 60000, heapFree: 100000, heapBlocks: 100, ...f(i) });
  return { requests: n, ms: 1, samples, statuses: {}, kinds: {}, traps: 0, problems: [], memory: {} as any, heapUsed: {} as any, pass: false, verdict: [] };
}

test("the soak criteria fail a leak: memory growing after warm-up, allocator use trending up, a trap", () => {
  assert.equal(judge(curve(1000, () => ({})), 1000).pass, true, "flat curves pass");
  assert.equal(judge(curve(1000, (i) => ({ memoryBytes: i < 4 ? 131072 * (i + 1) : 655360 })), 1000).pass, true, "growth during warm-up only passes");
  const grew = judge(curve(1000, (i) => ({ memoryBytes: i < 10 ? 262144 : 327680 })), 1000);
  assert.match(grew.verdict.join(), /linear memory grew after warm-up/);
  const trend = judge(curve(1000, (i) => ({ heapUsed: 60000 + i * 20000 })), 1000);
  assert.match(trend.verdict.join(), /trend upwards/);
  const trapped = judge({ ...curve(1000, () => ({})), traps: 1 }, 1000);
  assert.equal(trapped.pass, false);
});

test("soak: 20,000 mixed requests through one VM — no trap, no leftover context, memory flat after warm-up", { timeout: 120_000 }, async () => {
  const res = await runSoak({ requests: 20_000, sampleEvery: 500, seed: "ci" });
  console.log(soakSummary(res));
  assert.ok(res.statuses["200"] > 10_000 && res.statuses["429"] > 0 && res.statuses["aborted"] > 0, `a real mix: ${JSON.stringify(res.statuses)}`);
  assert.deepEqual(res.verdict, [], soakSummary(res));
});
