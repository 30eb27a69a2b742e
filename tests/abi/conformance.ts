// Static ABI conformance check of a filter module against Envoy's host surface
// (sources: proxy-wasm C++ host: linking; proxy-wasm ABI v0.2.1, encoded in tests/host/envoy-abi.ts).
// Everything reported here would make Envoy refuse the module at load time, or (wrong callback
// signatures) refuse to initialize the VM, so a real deployment would fail before any request.

import {
  ABI_0_1_0_ONLY, ABI_MARKERS, ENV_IMPORTS, EXPORTS, NOT_PROVIDED, REQUIRED_FILTER_EXPORTS,
  WASI_IMPORTS, WASI_MODULES, sameType, showType, type FuncType,
} from "../host/envoy-abi.ts";
import { parseModule } from "../host/wasm-module.ts";

export const EXPECTED_ABI_MARKER = "proxy_abi_version_0_2_1";

/** Returns every problem found; an empty list means Envoy would link and initialize the module. */
export function checkModule(bytes: Uint8Array): string[] {
  const problems: string[] = [];
  const mod = parseModule(bytes);

  for (const imp of mod.imports) {
    const full = `${imp.module}.${imp.name}`;
    if (imp.kind === "global") {
      // sources: proxy-wasm C++ host: linking: cpp-host's link() only resolves functions (memory/table are allowed).
      problems.push(`imported global ${full}: Envoy does not provide imported globals (missing import)`);
      continue;
    }
    if (imp.kind !== "func") continue;
    let want: FuncType | undefined;
    if (NOT_PROVIDED.includes(full)) {
      problems.push(`import ${full}: AssemblyScript default that Envoy does not provide (missing import) — ` +
        `build with --use abort=abort_proc_exit and avoid trace()/Math.random()`);
      continue;
    } else if (imp.module === "env" && ABI_0_1_0_ONLY.includes(imp.name)) {
      problems.push(`import ${full}: registered only for ABI 0.1.0 modules, missing for ${EXPECTED_ABI_MARKER}`);
      continue;
    } else if (imp.module === "env") {
      want = ENV_IMPORTS[imp.name];
    } else if (WASI_MODULES.includes(imp.module)) {
      want = WASI_IMPORTS[imp.name];
    }
    if (!want) {
      problems.push(`import ${full}: not provided by Envoy (missing import)`);
    } else if (!imp.type || !sameType(want, imp.type)) {
      problems.push(`import ${full}: type mismatch, want: ${showType(want)}, but module has: ` +
        (imp.type ? showType(imp.type) : "unknown"));
    }
  }

  const byName = new Map(mod.exports.map((e) => [e.name, e]));
  for (const name of REQUIRED_FILTER_EXPORTS) {
    if (name === "memory") {
      const hasMemory = mod.exports.some((e) => e.kind === "memory") || mod.imports.some((i) => i.kind === "memory");
      if (!hasMemory) problems.push("no memory: the module must export (or import) a memory");
      continue;
    }
    if (!byName.has(name)) problems.push(`required export ${name} is missing`);
  }

  for (const exp of mod.exports) {
    const want = EXPORTS[exp.name];
    if (!want) continue;
    if (exp.kind !== "func") {
      problems.push(`export ${exp.name}: must be a function, is a ${exp.kind}`);
    } else if (!exp.type || !sameType(want, exp.type)) {
      problems.push(`export ${exp.name}: bad function signature, want: ${showType(want)}, but module has: ` +
        (exp.type ? showType(exp.type) : "unknown"));
    }
  }

  // sources: proxy-wasm C++ host: linking: the first function export named like an ABI marker decides the ABI.
  const marker = mod.exports.find((e) => e.kind === "func" && ABI_MARKERS.includes(e.name));
  if (!marker) {
    problems.push(`missing ABI marker: export ${EXPECTED_ABI_MARKER} (Envoy: "Missing or unknown Proxy-Wasm ABI version")`);
  } else if (marker.name !== EXPECTED_ABI_MARKER) {
    problems.push(`wrong ABI marker: first marker export is ${marker.name}, want ${EXPECTED_ABI_MARKER} ` +
      `(the import signatures follow ABI 0.2.1)`);
  }

  if (mod.hasStartSection) {
    // sources: proxy-wasm C++ host: linking: a start section runs inside instantiation with no current context; top-level code must
    // run from the exported _initialize instead (asc --exportStart _initialize).
    problems.push("module has a wasm start section: top-level code must run in the exported _initialize");
  }
  return problems;
}
