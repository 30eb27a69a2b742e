// `npm test`: builds the filter, runs the AssemblyScript unit tests (as-pect), then every
// host-level test (`tests/**/*.test.ts`: ABI conformance, the Envoy-faithful host, the SDK probe,
// end-to-end with the official clients) with Node's test runner. Ends with one summary line.
//   node scripts/test.mjs [--skip-build] [name-filter ...]
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const skipBuild = args.includes("--skip-build");
const filters = args.filter((a) => !a.startsWith("--"));

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: opts.capture ? ["ignore", "pipe", "inherit"] : "inherit", encoding: "utf8" });
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

let failed = false;
if (!skipBuild) {
  const b = run(process.execPath, [join(root, "scripts", "build.mjs")]);
  if (b.status !== 0) { console.error("build failed"); process.exit(1); }
}

let passed = 0, failedCount = 0;
const unit = run(join(root, "node_modules", ".bin", "asp"), ["--config", "as-pect.config.js", "--no-logo"], { capture: true });
const m = /\[Tests\]:\s*(?:\x1b\[\d+m)?(\d+)(?:\x1b\[\d+m)?\s*\/\s*(\d+)/.exec(unit.stdout ?? "");
if (m) { passed += Number(m[1]); failedCount += Number(m[2]) - Number(m[1]); }
if (unit.status !== 0 || !m) { failed = true; if (!m) failedCount++; }

let files = findTests(join(root, "tests")).sort();
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) { console.error("no host-level test files found"); process.exit(1); }
console.log(`\nnode --test: ${files.length} files\n` + files.map((f) => "  " + relative(root, f)).join("\n"));
const node = run(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...files], { capture: true });
const out = node.stdout ?? "";
const pm = /[ℹ#] pass (\d+)/.exec(out), fm = /[ℹ#] fail (\d+)/.exec(out);
if (pm) passed += Number(pm[1]);
if (fm) failedCount += Number(fm[1]);
if (node.status !== 0) failed = true;
if (!pm) { failed = true; failedCount++; }
console.log(`\ntests: ${passed} passed, ${failedCount} failed`);
process.exit(failed ? 1 : 0);
