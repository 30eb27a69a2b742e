// Builds a test filter (default: the SDK probe) with the project's compiler options.
//
// Same steps as `scripts/build.mjs --entry` (asc release target of asconfig.json, then wasm-opt
// -O3), except that asconfig.json's "entries" are left out: asc appends a config's entries to the
// command-line ones, so `--entry X` would also compile assembly/index.ts into the module, and the
// gateway's registerRootContext would replace the probe's. Options are read from asconfig.json, so
// the two builds cannot drift apart.
//
//   node --import tsx tests/sdk/build-probe.ts [entry.ts out.wasm]

import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const PROBE_ENTRY = join(ROOT, "tests", "filters", "sdk-probe", "index.ts");
export const PROBE_WASM = join(ROOT, "build", "sdk-probe.wasm");

const RUNTIME_DIR = join(ROOT, "node_modules", "@solo-io", "proxy-runtime", "assembly");

function newest(paths: string[]): number {
  let t = 0;
  for (const p of paths) {
    const st = statSync(p);
    t = Math.max(t, st.isDirectory() ? newest(readdirSync(p).map((n) => join(p, n))) : st.mtimeMs);
  }
  return t;
}

/** Builds `entry` into `out` unless `out` is newer than the entry, the runtime and asconfig.json. */
export function buildTestFilter(entry = PROBE_ENTRY, out = PROBE_WASM): string {
  const inputs = [dirname(entry), RUNTIME_DIR, join(ROOT, "asconfig.json")];
  if (existsSync(out) && statSync(out).mtimeMs >= newest(inputs)) return out;
  const config = JSON.parse(readFileSync(join(ROOT, "asconfig.json"), "utf8"));
  delete config.entries;
  mkdirSync(dirname(out), { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), "probe-build-"));
  try {
    const cfg = join(tmp, "asconfig.json");
    writeFileSync(cfg, JSON.stringify(config));
    const unopt = join(tmp, "filter.unopt.wasm");
    const bin = (n: string) => join(ROOT, "node_modules", ".bin", n);
    execFileSync(bin("asc"), [entry, "--config", cfg, "--target", "release", "-o", unopt], { cwd: ROOT, stdio: "inherit" });
    execFileSync(bin("wasm-opt"), [unopt, "-O3", "--enable-bulk-memory", "--enable-sign-ext",
      "--enable-nontrapping-float-to-int", "--enable-mutable-globals", "-o", out], { cwd: ROOT, stdio: "inherit" });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [entry, out] = process.argv.slice(2);
  console.log(buildTestFilter(entry ? resolve(entry) : undefined, out ? resolve(out) : undefined));
}
