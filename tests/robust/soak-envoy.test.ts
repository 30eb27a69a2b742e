// The soak in real Envoy (soak-envoy.ts), the CI size: 20,000 mixed requests through Envoy with 2
// workers and the shipped failure policy; 0 answers from a failed VM, memory flat after warm-up.
// `npm run soak -- --envoy` is the long run (docs/robustness.md).
//
//   SOAK_ENVOY_REQUESTS=N   requests (default 20,000)

import { test } from "node:test";
import assert from "node:assert/strict";
import { runEnvoySoak, envoySoakSummary } from "./soak-envoy.ts";

const N = Number(process.env.SOAK_ENVOY_REQUESTS ?? 20_000);

test(`soak in real Envoy: ${N} mixed requests, 2 workers — no failed VM, memory flat after warm-up, sampled answers pass the oracle`, { timeout: 3_600_000 }, async () => {
  const res = await runEnvoySoak({ requests: N, sampleEvery: Math.max(100, Math.round(N / 40)), seed: "ci" });
  console.log(envoySoakSummary(res).split("\n").map((l) => `# ${l}`).join("\n"));
  assert.ok((res.statuses["200"] ?? 0) > N / 2 && res.statuses["429"] > 0 && res.statuses["aborted"] > 0, `a real mix: ${JSON.stringify(res.statuses)}`);
  assert.deepEqual(res.verdict, [], envoySoakSummary(res));
});
