// Builds the filter: a debug build and the release build optimized with binaryen's wasm-opt.
//   node scripts/build.mjs               build both
//   node scripts/build.mjs --if-needed   skip when build/ai-gateway.wasm is newer than every source
//   node scripts/build.mjs --entry F --out O   build another entry (test filters) the same way
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync, rmSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (n) => join(root, "node_modules", ".bin", n);
const args = process.argv.slice(2);
const flag = (n) => args.includes(n);
const opt = (n) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : undefined; };

function newestMtime(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

const release = join(root, "build", "ai-gateway.wasm");
if (flag("--if-needed") && existsSync(release)) {
  const src = Math.max(newestMtime(join(root, "assembly")), statSync(join(root, "asconfig.json")).mtimeMs);
  if (statSync(release).mtimeMs >= src) process.exit(0);
}

const run = (cmd, a) => execFileSync(cmd, a, { cwd: root, stdio: "inherit" });
const entry = opt("--entry");
if (entry) {
  // A test filter (e.g. the no-op filter for benchmarks): same runtime options, release only.
  // asc adds the config's "entries" to the command-line entry, which would compile the gateway
  // into every test filter: use a copy of the config without them.
  const out = opt("--out");
  const tmp = out + ".unopt";
  const cfg = JSON.parse(readFileSync(join(root, "asconfig.json"), "utf8"));
  delete cfg.entries;
  mkdirSync(join(root, ".cache"), { recursive: true });
  const entryCfg = join(root, ".cache", "asconfig.entry.json");
  writeFileSync(entryCfg, JSON.stringify(cfg));
  run(bin("asc"), [entry, "--config", entryCfg, "--target", "release", "-o", tmp]);
  run(bin("wasm-opt"), [tmp, "-O3", "--enable-bulk-memory", "--enable-sign-ext", "--enable-nontrapping-float-to-int", "--enable-mutable-globals", "-o", out]);
  rmSync(tmp);
} else {
  run(bin("asc"), ["--config", "asconfig.json", "--target", "debug"]);
  run(bin("asc"), ["--config", "asconfig.json", "--target", "release"]);
  const unopt = join(root, "build", "ai-gateway.unopt.wasm");
  run(bin("wasm-opt"), [unopt, "-O3", "--enable-bulk-memory", "--enable-sign-ext", "--enable-nontrapping-float-to-int", "--enable-mutable-globals", "-o", release]);
  rmSync(unopt);
  console.log(`built ${release} (${statSync(release).size} bytes) and build/ai-gateway.debug.wasm`);
}
