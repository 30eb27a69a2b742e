// Assembles WAT probe modules with binaryen.
//
//   assemble(text)            a complete `(module ...)`
//   probe("name")             probes/<name>.wat spliced after probes/prelude.wat into one module
//                             (single-line `(import ...)` lines of the body are hoisted before the
//                             prelude, since WAT wants imports ahead of definitions)
//   moduleFile("name")        probes/<name>.wat as a complete module (linking probes)
//
// Inside probe bodies, `(str "text")` expands to `(i32.const ptr) (i32.const len)` of a data
// segment holding the bytes (WAT escapes such as \00 allowed), so string arguments stay readable.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const STRINGS_BASE = 4096;
const cacheDir = join(tmpdir(), "ai-gateway-wat-cache");
const memo = new Map<string, Uint8Array>();

/**
 * WAT text → wasm bytes with binaryen.parseText, run in a plain-Node child process
 * (assemble-worker.mjs; binaryen under the tsx loader costs seconds per process). Results are
 * cached by content hash in memory and under the OS temp directory.
 */
export function assemble(wat: string): Uint8Array {
  const key = hash(wat);
  const hit = memo.get(key) ?? fromDisk(key);
  if (hit) return hit;
  // Cache miss: assemble this text together with every probe file not yet cached, in one child
  // process, so a clean checkout pays the child's start-up once.
  const texts = [wat, ...allProbeSources().filter((t) => t !== wat && !fromDisk(hash(t)))];
  const out = execFileSync(process.execPath, [join(here, "assemble-worker.mjs")], {
    input: JSON.stringify(texts),
    maxBuffer: 256 * 1024 * 1024,
  }).toString("utf8");
  const results = JSON.parse(out) as { wasm?: string; error?: string }[];
  mkdirSync(cacheDir, { recursive: true });
  results.forEach((r, i) => {
    if (!r.wasm) return;
    const bytes = new Uint8Array(Buffer.from(r.wasm, "base64"));
    writeFileSync(join(cacheDir, `${hash(texts[i])}.wasm`), bytes);
    memo.set(hash(texts[i]), bytes);
  });
  if (!results[0].wasm) throw new Error(`cannot assemble probe: ${results[0].error}`);
  return memo.get(key)!;
}

function hash(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function fromDisk(key: string): Uint8Array | undefined {
  const file = join(cacheDir, `${key}.wasm`);
  if (!existsSync(file)) return undefined;
  const bytes = new Uint8Array(readFileSync(file));
  memo.set(key, bytes);
  return bytes;
}

/** Module texts of every probe file: full modules as they are, probe bodies with the prelude. */
function allProbeSources(): string[] {
  return readdirSync(here).filter((f) => f.endsWith(".wat") && f !== "prelude.wat").map((f) => {
    const name = f.slice(0, -4);
    const text = readFileSync(join(here, f), "utf8");
    return /^\s*(;;[^\n]*\n\s*)*\(module/.test(text) ? text : probeSource(name);
  });
}

/** Decode a WAT string literal body (between the quotes) to bytes. */
function watBytes(lit: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < lit.length; i++) {
    const c = lit[i];
    if (c !== "\\") {
      out.push(...Buffer.from(c, "utf8"));
      continue;
    }
    const n = lit[++i];
    if (/[0-9a-fA-F]/.test(n) && /[0-9a-fA-F]/.test(lit[i + 1] ?? "")) {
      out.push(parseInt(lit.slice(i, i + 2), 16));
      i++;
    } else if (n === "n") out.push(10);
    else if (n === "t") out.push(9);
    else out.push(n.charCodeAt(0)); // \" \\ \'
  }
  return out;
}

/** Expand `(str "...")` macros and append the data segments. */
export function expandStrings(body: string): string {
  const segments: string[] = [];
  let next = STRINGS_BASE;
  const pool = new Map<string, number>();
  const text = body.replace(/\(str "((?:[^"\\]|\\.)*)"\)/g, (_m, lit: string) => {
    const len = watBytes(lit).length;
    let ptr = pool.get(lit);
    if (ptr === undefined) {
      ptr = next;
      pool.set(lit, ptr);
      segments.push(`  (data (i32.const ${ptr}) "${lit}")`);
      next += len + 1;
    }
    return `(i32.const ${ptr}) (i32.const ${len})`;
  });
  if (next > 65536) throw new Error("probe strings overflow the string area");
  return `${text}\n${segments.join("\n")}`;
}

export function probeSource(name: string): string {
  const prelude = readFileSync(join(here, "prelude.wat"), "utf8");
  const lines = readFileSync(join(here, `${name}.wat`), "utf8").split("\n");
  const isImport = (l: string) => /^\s*\(import\s.*\)\s*$/.test(l);
  const imports = lines.filter(isImport).join("\n");
  const body = lines.filter((l) => !isImport(l)).join("\n");
  return `(module\n${imports}\n${prelude}\n${expandStrings(body)}\n)`;
}

export function moduleFile(name: string): Uint8Array {
  return assemble(readFileSync(join(here, `${name}.wat`), "utf8"));
}

export function probe(name: string): Uint8Array {
  return assemble(probeSource(name));
}
