// `npm test`: builds the filter, runs the AssemblyScript unit tests (as-pect), then every
// `tests/**/*.test.ts` with Node's test runner, on the platform each can run on:
//   * the socket suites (every test file that starts the gateway through tests/support/gateway.ts)
//     in real Envoy, the newest pinned version (1.40.0, or ENVOY_BIN);
//   * a smoke set of them (SMOKE below) again on the oldest supported Envoy (1.36.4, or
//     ENVOY_OLDEST_BIN);
//   * the rest (unit tests of the test tools, the imitation host's own tests, fuzz, split-point
//     sweeps, soak, faults Envoy cannot stage) without Envoy.
// Envoy is installed first if missing (scripts/install-envoy.sh, idempotent). Ends with the counts
// per suite and per platform and one summary line.
//   node scripts/test.mjs [--skip-build] [--platform host] [name-filter ...]
// --platform host runs the socket suites in the imitation host instead (the fast inner loop; no
// Envoy needed, no smoke run).
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { join, relative, dirname, resolve } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const skipBuild = args.includes("--skip-build");
const pi = args.indexOf("--platform");
const socketPlatform = pi >= 0 ? args[pi + 1] : "envoy";
if (socketPlatform !== "envoy" && socketPlatform !== "host") { console.error("--platform must be envoy or host"); process.exit(2); }
const filters = args.filter((a, i) => !a.startsWith("--") && !(pi >= 0 && i === pi + 1));

/** Socket suites that also run on the oldest supported Envoy: load, OpenAI and Anthropic e2e
 *  (streams included), local and global limits. */
const SMOKE = [
  "tests/e2e/openai-chat.test.ts",
  "tests/e2e/anthropic-sdk.test.ts",
  "tests/limits/local.test.ts",
  "tests/limits/global.test.ts",
];
const SEAM = resolve(root, "tests", "support", "gateway.ts");

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, {
    cwd: root, stdio: opts.capture ? ["ignore", "pipe", "inherit"] : "inherit", encoding: "utf8",
    env: { ...process.env, ...(opts.env ?? {}) }, maxBuffer: 256 * 1024 * 1024,
  });
  if (opts.capture && r.stdout) process.stdout.write(r.stdout);
  return r;
}

function findTests(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) { if (e.name !== "node_modules" && e.name !== "fixtures") findTests(p, out); }
    else if (e.name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

/** Whether `file` reaches the gateway seam through its relative imports. */
const seamCache = new Map();
function usesSeam(file, seen = new Set()) {
  if (file === SEAM) return true;
  if (seamCache.has(file)) return seamCache.get(file);
  if (seen.has(file) || !existsSync(file)) return false;
  seen.add(file);
  const src = readFileSync(file, "utf8");
  let found = false;
  for (const m of src.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+["'](\.[^"']+\.ts)["']/gm)) {
    if (/^\s*import\s+type\s/.test(m[0])) continue;
    if (usesSeam(resolve(dirname(file), m[1]), seen)) { found = true; break; }
  }
  seamCache.set(file, found);
  return found;
}

let failed = false;
if (!skipBuild) {
  const b = run(process.execPath, [join(root, "scripts", "build.mjs")]);
  if (b.status !== 0) { console.error("build failed"); process.exit(1); }
}

const perPlatform = new Map(); // platform label → { pass, fail, files: [[file, pass, fail]] }
function record(label, file, pass, fail) {
  const p = perPlatform.get(label) ?? { pass: 0, fail: 0, files: [] };
  p.pass += pass; p.fail += fail; p.files.push([file, pass, fail]);
  perPlatform.set(label, p);
}

const unit = run(join(root, "node_modules", ".bin", "asp"), ["--config", "as-pect.config.js", "--no-logo"], { capture: true });
const m = /\[Tests\]:\s*(?:\x1b\[\d+m)?(\d+)(?:\x1b\[\d+m)?\s*\/\s*(\d+)/.exec(unit.stdout ?? "");
if (m) record("unit (as-pect)", "assembly (as-pect)", Number(m[1]), Number(m[2]) - Number(m[1]));
if (unit.status !== 0 || !m) { failed = true; if (!m) record("unit (as-pect)", "assembly (as-pect)", 0, 1); }

let files = findTests(join(root, "tests")).sort();
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) { console.error("no test files found"); process.exit(1); }
const socket = files.filter((f) => usesSeam(f));
const rest = files.filter((f) => !usesSeam(f));
const smoke = socketPlatform === "envoy" ? socket.filter((f) => SMOKE.includes(relative(root, f))) : [];

/** The Envoy binary of a pin, installed if missing; its version. */
function envoyOf(pin) {
  const version = pin === "oldest" ? "1.36.4" : "1.40.0";
  const r = spawnSync("bash", [join(root, "scripts", "install-envoy.sh"), version], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) { console.error(`install-envoy.sh ${version} failed`); process.exit(1); }
  const bin = r.stdout.trim().split("\n").pop();
  const v = /version: [0-9a-f]+\/(\d+\.\d+\.\d+)/.exec(spawnSync(bin, ["--version"], { encoding: "utf8" }).stdout ?? "");
  return { bin, version: v ? v[1] : "unknown" };
}

const groups = [];
if (socket.length) {
  if (socketPlatform === "envoy") {
    const e = envoyOf("newest");
    groups.push({ label: `envoy ${e.version}`, files: socket, env: { GATEWAY_PLATFORM: "envoy", ENVOY_BIN: e.bin } });
  } else groups.push({ label: "host (socket suites)", files: socket, env: { GATEWAY_PLATFORM: "host" } });
}
if (smoke.length) {
  const e = envoyOf("oldest");
  groups.push({ label: `envoy ${e.version} (smoke)`, files: smoke, env: { GATEWAY_PLATFORM: "envoy", GATEWAY_ENVOY: "oldest", ENVOY_OLDEST_BIN: e.bin } });
}
if (rest.length) groups.push({ label: "host / no gateway", files: rest, env: { GATEWAY_PLATFORM: "host" } });

const tmp = mkdtempSync(join(tmpdir(), "ai-gateway-test-"));
for (const [i, g] of groups.entries()) {
  console.log(`\n=== ${g.label}: ${g.files.length} files\n` + g.files.map((f) => "  " + relative(root, f)).join("\n"));
  const countsFile = join(tmp, `counts-${i}.json`);
  const node = run(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1",
    "--test-reporter=spec", "--test-reporter-destination=stdout",
    `--test-reporter=${join(root, "scripts", "lib", "count-reporter.mjs")}`, `--test-reporter-destination=${countsFile}`,
    ...g.files], { capture: true, env: g.env });
  const out = node.stdout ?? "";
  const pm = /[ℹ#] pass (\d+)/.exec(out), fm = /[ℹ#] fail (\d+)/.exec(out);
  let counts = {};
  try { counts = JSON.parse(readFileSync(countsFile, "utf8")); } catch { /* reporter wrote nothing */ }
  let pass = 0, fail = 0;
  for (const f of g.files) {
    const c = counts[f] ?? { pass: 0, fail: 0 };
    record(g.label, relative(root, f), c.pass, c.fail);
    pass += c.pass; fail += c.fail;
  }
  // Failures outside any test (a file that does not load) count once.
  const extra = Math.max(0, Number(fm?.[1] ?? 0) - fail);
  if (extra) record(g.label, "(outside tests)", 0, extra);
  if (node.status !== 0) failed = true;
  if (!pm) { failed = true; record(g.label, "(no test summary)", 0, 1); }
  else if (Number(pm[1]) !== pass) console.log(`note: runner counted ${pm[1]} passed, the reporter ${pass}`);
}
rmSync(tmp, { recursive: true, force: true });

let passed = 0, failedCount = 0;
console.log("\n=== per suite and platform");
for (const [label, p] of perPlatform) {
  for (const [f, pass, fail] of p.files) console.log(`  ${label.padEnd(24)} ${f.padEnd(48)} ${pass} passed${fail ? `, ${fail} FAILED` : ""}`);
}
console.log("\n=== per platform");
for (const [label, p] of perPlatform) {
  console.log(`  ${label.padEnd(24)} ${p.files.length} suites, ${p.pass} passed, ${p.fail} failed`);
  passed += p.pass; failedCount += p.fail;
}
if (failedCount) failed = true;
console.log(`\ntests: ${passed} passed, ${failedCount} failed`);
process.exit(failed ? 1 : 0);
