// `npm run fuzz`: the fuzzer over the real release filter (docs/robustness.md).
//
//   npm run fuzz -- [--seed S] [--iterations N] [--target requests|responses|configs]... [--sweeps all|N|none]
//                   [--only I] [--out DIR] [--json FILE]
//
// Bounded and deterministic: the same seed, iterations and build give the same inputs. Every
// target runs its systematic sweeps, then N seeded random inputs. Findings (an input that broke
// an invariant) are summarised and written as reproducers to DIR (default .scratch/fuzz); one is
// replayed with `--target T --seed S --only I`. Exit status 1 when anything was found.

import { Hosts, Findings } from "./harness.ts";
import { TARGETS, type TargetStats } from "./targets.ts";
import { loadCases } from "../providers/fixture-case.ts";
import { withResponsesCases } from "../support/responses-from-chat.ts";
import { writeFileSync } from "node:fs";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function args(name: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => { if (a === `--${name}`) out.push(process.argv[i + 1]); });
  return out;
}

const seed = arg("seed") ?? "1";
const iterations = Number(arg("iterations") ?? 20000);
const sweepsArg = arg("sweeps") ?? "all";
const sweeps = sweepsArg === "all" || sweepsArg === "none" ? sweepsArg : Number(sweepsArg);
const only = arg("only");
const names = args("target");
const outDir = arg("out") ?? ".scratch/fuzz";
const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
if (unknown.length || !Number.isFinite(iterations) || (typeof sweeps === "number" && !Number.isFinite(sweeps))) {
  console.error(`usage: npm run fuzz -- [--seed S] [--iterations N] [--target ${TARGETS.map((t) => t.name).join("|")}] [--sweeps all|N|none] [--only I] [--out DIR] [--json FILE]`);
  process.exit(2);
}
const targets = names.length ? TARGETS.filter((t) => names.includes(t.name)) : TARGETS;

const hosts = new Hosts();
const findings = new Findings(outDir);
const cases = withResponsesCases(loadCases());
const all: TargetStats[] = [];
const t0 = performance.now();
console.log(`fuzz: seed ${seed}, ${iterations} random inputs per target, sweeps ${sweeps}, ${cases.length} fixture cases`);
for (const t of targets) {
  const before = findings.count;
  const s = await t.run({ seed, iterations, sweeps, cases, hosts, findings, only: only === undefined ? undefined : only, progress: (m) => console.log(`  … ${m}`) });
  all.push(s);
  console.log(`${t.name}: ${s.inputs} inputs, ${s.exchanges} exchanges, ${s.traps} traps, ${findings.count - before} findings, ${(s.ms / 1000).toFixed(1)} s  ${JSON.stringify(s.detail)}`);
}
hosts.close();
console.log(`total: ${all.reduce((n, s) => n + s.inputs, 0)} inputs, ${all.reduce((n, s) => n + s.exchanges, 0)} exchanges, ${findings.count} findings, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
if (findings.count) {
  console.log(`findings by kind:\n${findings.summary(40)}`);
  for (const f of findings.list.slice(0, 10)) console.log(`- [${f.target} ${f.iteration}] ${f.caseId}: ${f.label}\n    ${f.problems.slice(0, 4).join("\n    ")}${f.file ? `\n    reproducer: ${f.file}` : ""}`);
}
const jsonOut = arg("json");
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ seed, iterations, sweeps, targets: all, findings: findings.count, bySignature: Object.fromEntries(findings.bySignature) }, null, 1));
process.exit(findings.count ? 1 : 0);
