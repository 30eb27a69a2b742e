// Minimal reader for the parts of a wasm binary a linker needs: types, imports, exports.
// Node 20's WebAssembly.Module.imports()/exports() give names and kinds but not signatures,
// and Envoy (cpp-host `src/v8/v8.cc` link()) rejects a signature mismatch, so we read them here.

import type { FuncType, ValType } from "./envoy-abi.ts";

export type ExternKind = "func" | "table" | "memory" | "global" | "tag";
export interface Limits { min: number; max?: number; shared?: boolean }
export interface Import {
  module: string;
  name: string;
  kind: ExternKind;
  type?: FuncType;
  /** Limits of an imported memory or table (a host must create one to link the module). */
  limits?: Limits;
  /** Element type of an imported table. */
  element?: "funcref" | "externref";
}
export interface Export { name: string; kind: ExternKind; type?: FuncType }
export interface ModuleInfo {
  imports: Import[];
  exports: Export[];
  hasStartSection: boolean;
  customSections: string[];
}

const VALTYPES: Record<number, ValType> = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64" };
const KINDS: ExternKind[] = ["func", "table", "memory", "global", "tag"];

class Reader {
  pos = 0;
  constructor(private b: Uint8Array) {}
  get done() { return this.pos >= this.b.length; }
  byte(): number {
    if (this.pos >= this.b.length) throw new Error("wasm: unexpected end");
    return this.b[this.pos++];
  }
  u32(): number {
    let result = 0, shift = 0, byte;
    do { byte = this.byte(); result |= (byte & 0x7f) << shift; shift += 7; } while (byte & 0x80);
    return result >>> 0;
  }
  bytes(n: number): Uint8Array { const out = this.b.subarray(this.pos, this.pos + n); this.pos += n; return out; }
  name(): string { return new TextDecoder().decode(this.bytes(this.u32())); }
  valtype(): ValType {
    const t = this.byte();
    const v = VALTYPES[t];
    if (!v) throw new Error(`wasm: unsupported value type 0x${t.toString(16)}`);
    return v;
  }
  limits(): Limits {
    const flags = this.byte();
    const min = this.u32();
    const max = flags & 1 ? this.u32() : undefined;
    return { min, max, shared: (flags & 2) !== 0 };
  }
}

export function parseModule(bytes: Uint8Array): ModuleInfo {
  const r = new Reader(bytes);
  const magic = r.bytes(4), version = r.bytes(4);
  if (magic.join() !== "0,97,115,109" || version[0] !== 1) throw new Error("wasm: not a wasm v1 binary");
  const types: FuncType[] = [];
  const funcTypeIdx: number[] = []; // per function index (imports first)
  const imports: Import[] = [];
  const exportsRaw: { name: string; kind: ExternKind; index: number }[] = [];
  const customSections: string[] = [];
  let hasStartSection = false;
  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    switch (id) {
      case 0: customSections.push(r.name()); break;
      case 1: { // type
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const form = r.byte();
          if (form !== 0x60) throw new Error("wasm: only func types supported");
          const params = Array.from({ length: r.u32() }, () => r.valtype());
          const results = Array.from({ length: r.u32() }, () => r.valtype());
          types.push({ params, results });
        }
        break;
      }
      case 2: { // import
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const module = r.name(), name = r.name(), kind = KINDS[r.byte()];
          if (kind === "func") {
            const t = r.u32();
            funcTypeIdx.push(t);
            imports.push({ module, name, kind, type: types[t] });
          } else if (kind === "table") {
            const element = r.byte() === 0x6f ? "externref" : "funcref";
            imports.push({ module, name, kind, element, limits: r.limits() });
          } else if (kind === "memory") {
            imports.push({ module, name, kind, limits: r.limits() });
          } else {
            if (kind === "global") { r.valtype(); r.byte(); }
            else if (kind === "tag") { r.byte(); r.u32(); }
            imports.push({ module, name, kind });
          }
        }
        break;
      }
      case 3: { // function
        const n = r.u32();
        for (let i = 0; i < n; i++) funcTypeIdx.push(r.u32());
        break;
      }
      case 7: { // export
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const name = r.name(), kind = KINDS[r.byte()], index = r.u32();
          exportsRaw.push({ name, kind, index });
        }
        break;
      }
      case 8: hasStartSection = true; break;
    }
    r.pos = end;
  }
  const exports: Export[] = exportsRaw.map((e) =>
    e.kind === "func" ? { name: e.name, kind: e.kind, type: types[funcTypeIdx[e.index]] } : { name: e.name, kind: e.kind });
  return { imports, exports, hasStartSection, customSections };
}
