// The repository stands alone: comments and docs cite the repo's own docs (docs/, a test) or a
// public source (a provider's API docs, Envoy's source or docs, an RFC or FIPS section), never a
// document outside the checkout. docs/sources.md lists the public sources that comments name as
// `sources: <label>`; every such label must be listed there.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const TEXT = /\.(ts|mts|md|mjs|js|cjs|json|ya?ml|sh|proto|txt)$/;
const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" })
  .split("\n").filter((f) => TEXT.test(f) && f !== "tests/repo/standalone.test.ts");

/** Standards and specifications whose numbered sections are public. */
const PUBLIC_SECTION = /(RFC ?\d+|FIPS[ -]?\d+[-\d]*|SP ?800-\d+\w*|PKCS ?#?\d+|X\.\d+|ECMA-\d+|ISO[ /]?\d+|WHATWG|HTML|Section)[^§]{0,40}$/i;
const OUTSIDE = /\.\.\/shared\/|\/work\/shared|\b(providers|envoy-proxy-wasm|ratelimit-service|envoy-upstream-filter|anchors|names)\.md\b|\bDESIGN\.md\b/;
/** The test suites that read the public provider specs from a directory beside the checkout (overridable by env). */
const SPEC_LOOKUP = /new URL\("(\.\.\/)+shared\/specs\//;

test("no file cites a document outside the repository", () => {
  const problems: string[] = [];
  for (const f of files) {
    let text: string;
    try { text = readFileSync(join(ROOT, f), "utf8"); } catch { continue; }
    text.split("\n").forEach((line, i) => {
      if (SPEC_LOOKUP.test(line)) return;
      if (OUTSIDE.test(line)) problems.push(`${f}:${i + 1}: ${line.trim().slice(0, 120)}`);
      for (let at = line.indexOf("§"); at >= 0; at = line.indexOf("§", at + 1)) {
        if (!PUBLIC_SECTION.test(line.slice(0, at))) { problems.push(`${f}:${i + 1}: § of an outside document: ${line.trim().slice(0, 120)}`); break; }
      }
    });
  }
  assert.ok(files.length > 100, `only ${files.length} files scanned`);
  assert.deepEqual(problems, [], "cite docs/ or a public source instead (docs/sources.md)");
});

test("every `sources: <label>` a file cites is listed in docs/sources.md", () => {
  const listed = new Set([...readFileSync(join(ROOT, "docs", "sources.md"), "utf8").matchAll(/^\| ([^|]+?) \|/gm)].map((m) => m[1]));
  const missing = new Set<string>();
  let cited = 0;
  for (const f of files) {
    if (f === "docs/sources.md") continue;
    let text: string;
    try { text = readFileSync(join(ROOT, f), "utf8"); } catch { continue; }
    // A citation: `sources: ` then labels separated by "; " (prose may follow the last one).
    for (const m of text.matchAll(/sources: ((?:[A-Z]|proxy-wasm |envoyproxy\/|solo-io\/)[^()\n"]*)/g)) {
      cited++;
      const first = m[1].split(";")[0].trim();
      if (![...listed].some((l) => first.startsWith(l))) missing.add(`${f}: ${first.slice(0, 60)}`);
    }
  }
  assert.ok(cited > 50, `only ${cited} citations found`);
  assert.deepEqual([...missing], []);
});
