// `npm run soak`: 1,000,000 requests through one VM of the release filter (soak-lib.ts), the
// memory curve written as CSV and the summary as JSON; exit status 1 when a criterion fails.
// With --envoy, the same mix through real Envoy with 2 workers (soak-envoy.ts): Envoy's RSS, heap
// and the VMs' linear memory sampled from its admin endpoint.
//
//   npm run soak -- [--envoy] [--requests N] [--sample-every N] [--seed S] [--out DIR]

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runSoak, soakCsv, soakSummary } from "./soak-lib.ts";
import { runEnvoySoak, envoySoakCsv, envoySoakSummary } from "./soak-envoy.ts";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const requests = Number(arg("requests") ?? 1_000_000);
const sampleEvery = Number(arg("sample-every") ?? Math.max(100, Math.round(requests / 200)));
const seed = arg("seed") ?? "1";
const out = arg("out") ?? ".scratch/soak";
if (!Number.isInteger(requests) || requests <= 0 || !Number.isInteger(sampleEvery) || sampleEvery <= 0) {
  console.error("usage: npm run soak -- [--requests N] [--sample-every N] [--seed S] [--out DIR]");
  process.exit(2);
}
if (process.argv.includes("--envoy")) {
  console.log(`soak in real Envoy: ${requests} requests, a sample every ${sampleEvery}, seed ${seed}`);
  const res = await runEnvoySoak({
    requests, sampleEvery, seed,
    progress: (s) => { if (s.requests % (sampleEvery * 20) === 0) console.log(`  … ${s.requests} requests, ${(s.ms / 1000).toFixed(0)} s, RSS ${s.rssBytes} B, heap ${s.heapBytes} B, VMs ${s.vmBytes} B`); },
  });
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "soak-envoy.csv"), envoySoakCsv(res));
  const { samples, ...summary } = res;
  writeFileSync(join(out, "soak-envoy.json"), JSON.stringify({ ...summary, sampleEvery, seed, samples: samples.length }, null, 1));
  console.log(envoySoakSummary(res));
  console.log(`curve: ${join(out, "soak-envoy.csv")}, summary: ${join(out, "soak-envoy.json")}`);
  process.exit(res.pass ? 0 : 1);
}
console.log(`soak: ${requests} requests, a sample every ${sampleEvery}, seed ${seed}`);
const res = await runSoak({
  requests, sampleEvery, seed,
  progress: (s) => { if (s.requests % (sampleEvery * 20) === 0) console.log(`  … ${s.requests} requests, ${(s.ms / 1000).toFixed(0)} s, memory ${s.memoryBytes} B, heap used ${s.heapUsed} B`); },
});
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "soak.csv"), soakCsv(res));
const { samples, ...summary } = res;
writeFileSync(join(out, "soak.json"), JSON.stringify({ ...summary, sampleEvery, seed, samples: samples.length }, null, 1));
console.log(soakSummary(res));
console.log(`curve: ${join(out, "soak.csv")}, summary: ${join(out, "soak.json")}`);
process.exit(res.pass ? 0 : 1);
