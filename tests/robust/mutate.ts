// Mutations of JSON documents and raw bytes, shared by every fuzz target (client requests,
// provider bodies and stream events, plugin configurations).
//
// JSON mutations work on the parsed value and serialize it again with a writer that can emit raw
// bytes where JSON.stringify cannot: numbers JavaScript cannot hold (1e400, 2^63+1, 5000 digits),
// duplicate keys, invalid UTF-8 inside strings, unpaired surrogate escapes. Byte mutations work on
// any body. Systematic sweeps (every path × every other type, every truncation point) are
// generators; random mutations draw from an Rng.

import type { Rng } from "./prng.ts";

/** Bytes written verbatim by `serialize`. */
export class Raw { constructor(readonly bytes: Buffer) {} }
/** An object whose entries may repeat a key (JSON allows it; parsers disagree on which wins). */
export class Dup { constructor(readonly entries: [string, Json][]) {} }
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json } | Raw | Dup;
export type Path = (string | number)[];

export const raw = (s: string | Buffer): Raw => new Raw(typeof s === "string" ? Buffer.from(s, "utf8") : s);

export function serialize(v: Json): Buffer {
  // Text accumulates in one string; only Raw bytes (possibly not UTF-8) break it into buffers.
  const parts: Buffer[] = [];
  let cur = "";
  const write = (x: Json): void => {
    if (x instanceof Raw) { if (cur) { parts.push(Buffer.from(cur, "utf8")); cur = ""; } parts.push(x.bytes); return; }
    if (x instanceof Dup) {
      cur += "{";
      x.entries.forEach(([k, val], i) => { if (i) cur += ","; cur += JSON.stringify(k) + ":"; write(val); });
      cur += "}";
      return;
    }
    if (Array.isArray(x)) {
      cur += "[";
      for (let i = 0; i < x.length; i++) { if (i) cur += ","; write(x[i]); }
      cur += "]";
      return;
    }
    if (x !== null && typeof x === "object") {
      cur += "{";
      let i = 0;
      for (const k in x) { if (i++) cur += ","; cur += JSON.stringify(k) + ":"; write((x as any)[k]); }
      cur += "}";
      return;
    }
    cur += JSON.stringify(x) ?? "null";
  };
  write(v);
  if (cur) parts.push(Buffer.from(cur, "utf8"));
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/** Every path in a plain JSON value (root first, depth-first). */
export function paths(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((e, i) => paths(e, [...at, i], out));
  else if (v !== null && typeof v === "object") for (const k of Object.keys(v)) paths((v as any)[k], [...at, k], out);
  return out;
}

export function getAt(v: any, p: Path): any {
  for (const k of p) v = v?.[k as any];
  return v;
}

function clone<T>(v: T): T { return structuredClone(v); }

/** A copy of `root` with the value at `p` replaced by `f(old)` (root path: the whole document). */
export function replaceAt(root: Json, p: Path, f: (old: any) => Json): Json {
  if (p.length === 0) return f(root);
  const copy = clone(root) as any;
  let parent = copy;
  for (const k of p.slice(0, -1)) parent = parent[k as any];
  const last = p[p.length - 1];
  parent[last as any] = f(parent[last as any]);
  return copy;
}

/** A copy with the member/element at `p` removed (null when p is the root). */
export function dropAt(root: Json, p: Path): Json | null {
  if (p.length === 0) return null;
  const copy = clone(root) as any;
  let parent = copy;
  for (const k of p.slice(0, -1)) parent = parent[k as any];
  const last = p[p.length - 1];
  if (Array.isArray(parent)) parent.splice(last as number, 1); else delete parent[last as any];
  return copy;
}

export const JSON_TYPES = ["null", "boolean", "number", "string", "array", "object"] as const;
export type JsonType = typeof JSON_TYPES[number];

export function typeOf(v: unknown): JsonType {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v as JsonType;
}

/** A representative value of a type, varied by `k` (0 = the plain one). */
export function valueOfType(t: JsonType, k = 0): Json {
  switch (t) {
    case "null": return null;
    case "boolean": return k % 2 === 0;
    case "number": return [0, -1, 1.5, 4294967296, -0.0][k % 5];
    case "string": return ["", "x", "null", "0", "\u0000\n\"\\"][k % 5];
    case "array": return [[], [null], [{}], ["x", 1]][k % 4];
    case "object": return [{}, { x: 1 }, { "": null }][k % 3];
  }
}

/** Number tokens JavaScript cannot hold or that trip naive parsers. */
export const NUMBER_TOKENS = [
  "1e400", "-1e400", "1e-400", "-0", "-0.0", "0e0", "1E+2", "9223372036854775807", "9223372036854775808", "9223372036854775809",
  "-9223372036854775809", "18446744073709551617", "4294967296", "4294967295", "2147483648", "-2147483649", "1.7976931348623157e308",
  "4.9e-324", "0.1e1", "123456789012345678901234567890", "1" + "0".repeat(400), "1" + "9".repeat(5000), "0." + "0".repeat(4000) + "1",
  "1e999999999", "1e-999999999", "-" + "9".repeat(310),
];

/** Malformed UTF-8 (and JSON escapes of unpaired surrogates) to put inside a string literal. */
export const BAD_STRING_BYTES: Buffer[] = [
  Buffer.from([0xff]), Buffer.from([0xfe]), Buffer.from([0xc0, 0x80]), Buffer.from([0xc1, 0xbf]), Buffer.from([0xe0, 0x80, 0x80]),
  Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xed, 0xbf, 0xbf]), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from([0xf5, 0x80, 0x80, 0x80]),
  Buffer.from([0xe2, 0x82]), Buffer.from([0xf0, 0x9f, 0x98]), Buffer.from([0x80]), Buffer.from([0xbf, 0xbf]), Buffer.from([0x00]),
  Buffer.from([0x1f]), Buffer.from([0x7f]), Buffer.from("\\ud800"), Buffer.from("\\udfff\\ud800"), Buffer.from("\\u0000"),
  Buffer.from("\\uD83D\\uDE00"), Buffer.from("\\uZZZZ"), Buffer.from("\\x41"), Buffer.from("\\"), Buffer.from("\\u12"),
];

/** A string literal whose content is `s` with `bad` spliced in at a random point (raw bytes). */
export function badString(s: string, bad: Buffer, at: number): Raw {
  const body = Buffer.from(JSON.stringify(s).slice(1, -1), "utf8");
  const k = Math.min(Math.max(0, at), body.length);
  // Do not cut an escape sequence or a multi-byte character in half.
  let cut = k;
  while (cut > 0 && (body[cut] & 0xc0) === 0x80) cut--;
  return new Raw(Buffer.concat([Buffer.from('"'), body.subarray(0, cut), bad, body.subarray(cut), Buffer.from('"')]));
}

/** `depth` levels of nesting around `inner` (arrays, objects, or alternating). */
export function nested(depth: number, inner: Buffer, kind: "array" | "object" | "mixed"): Raw {
  const open: string[] = [], close: string[] = [];
  for (let i = 0; i < depth; i++) {
    const arr = kind === "array" || (kind === "mixed" && i % 2 === 0);
    open.push(arr ? "[" : '{"a":');
    close.push(arr ? "]" : "}");
  }
  return new Raw(Buffer.concat([Buffer.from(open.join("")), inner, Buffer.from(close.reverse().join(""))]));
}

/** A random JSON value (bounded size). */
export function randomJson(rng: Rng, depth = 0): Json {
  const t = depth > 3 ? rng.pick(["null", "boolean", "number", "string"] as const) : rng.pick(JSON_TYPES);
  switch (t) {
    case "null": return null;
    case "boolean": return rng.bool();
    case "number": return rng.bool(0.3) ? raw(rng.pick(NUMBER_TOKENS.slice(0, 20))) : rng.int(1000) - 500;
    case "string": return rng.pick(["", "a", "model", "user", "assistant", "tool", "function", "gpt-4o-mini", "text", "é", "😀", "x".repeat(rng.int(64))]);
    case "array": return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth + 1));
    case "object": {
      const o: Record<string, Json> = {};
      for (let i = rng.int(4); i > 0; i--) o[rng.pick(["model", "messages", "role", "content", "type", "stream", "x", "", "index", "id"])] = randomJson(rng, depth + 1);
      return o;
    }
  }
}

export interface Mutant { label: string; bytes: Buffer }

/** One random structural mutation of a parsed JSON document. */
export function mutateJson(rng: Rng, doc: Json, opts: { hugeBytes?: number } = {}): Mutant {
  const all = paths(doc);
  const p = rng.pick(all);
  const cur = getAt(doc, p);
  const where = "/" + p.join("/");
  const op = rng.weighted([
    [6, "retype"], [3, "drop"], [3, "unknown-field"], [3, "duplicate-key"], [3, "huge-number"], [2, "huge-string"],
    [4, "bad-utf8"], [2, "deep-nesting"], [1, "wide-array"], [2, "random-value"], [1, "swap-siblings"],
  ] as const);
  switch (op) {
    case "retype": {
      const others = JSON_TYPES.filter((t) => t !== typeOf(cur));
      const t = rng.pick(others);
      return { label: `retype ${where} → ${t}`, bytes: serialize(replaceAt(doc, p, () => valueOfType(t, rng.int(5)))) };
    }
    case "drop": {
      const d = dropAt(doc, p);
      return d === null ? { label: "empty body", bytes: Buffer.alloc(0) } : { label: `drop ${where}`, bytes: serialize(d) };
    }
    case "unknown-field": {
      const objs = all.filter((q) => typeOf(getAt(doc, q)) === "object");
      const q = objs.length ? rng.pick(objs) : [];
      const key = rng.pick(["x_unknown", "__proto__", "constructor", "", "model", "stream", "\u0000", "é"]);
      return { label: `add field ${JSON.stringify(key)} at /${q.join("/")}`, bytes: serialize(replaceAt(doc, q, (o) => (typeOf(o) === "object" ? new Dup([...Object.entries(o as Record<string, Json>), [key, randomJson(rng)]]) : o))) };
    }
    case "duplicate-key": {
      const objs = all.filter((q) => typeOf(getAt(doc, q)) === "object" && Object.keys(getAt(doc, q)).length > 0);
      if (!objs.length) return mutateJson(rng, doc, opts);
      const q = rng.pick(objs);
      const o = getAt(doc, q);
      const keys = Object.keys(o);
      const k = rng.pick(keys);
      const entries: [string, Json][] = Object.entries(o);
      const other: Json = rng.bool() ? randomJson(rng) : valueOfType(rng.pick(JSON_TYPES));
      if (rng.bool()) entries.push([k, other]); else entries.unshift([k, other]);
      return { label: `duplicate key ${k} at /${q.join("/")}`, bytes: serialize(replaceAt(doc, q, () => new Dup(entries))) };
    }
    case "huge-number": {
      const tok = rng.pick(NUMBER_TOKENS);
      return { label: `number ${tok.length > 24 ? tok.slice(0, 12) + "…(" + tok.length + ")" : tok} at ${where}`, bytes: serialize(replaceAt(doc, p, () => raw(tok))) };
    }
    case "huge-string": {
      const n = rng.pick([4096, 65536, (opts.hugeBytes ?? 1 << 20) - 200, (opts.hugeBytes ?? 1 << 20) + 1, 3 << 20]);
      const ch = rng.pick(["a", "é", "😀", "\\n", "\\u00e9", "\""]);
      const s = ch === "\"" ? "\\\"".repeat(n >> 1) : ch.repeat(Math.max(1, Math.floor(n / Buffer.byteLength(ch))));
      return { label: `string of ~${n} bytes (${ch}) at ${where}`, bytes: serialize(replaceAt(doc, p, () => raw(`"${s}"`))) };
    }
    case "bad-utf8": {
      const strs = all.filter((q) => typeof getAt(doc, q) === "string");
      const bad = rng.pick(BAD_STRING_BYTES);
      if (!strs.length) return { label: `bad bytes ${bad.toString("hex")} as a value at ${where}`, bytes: serialize(replaceAt(doc, p, () => new Raw(Buffer.concat([Buffer.from('"'), bad, Buffer.from('"')])))) };
      const q = rng.pick(strs);
      const s: string = getAt(doc, q);
      return { label: `bad string bytes ${bad.toString("hex")} in /${q.join("/")}`, bytes: serialize(replaceAt(doc, q, () => badString(s, bad, rng.int(s.length + 1)))) };
    }
    case "deep-nesting": {
      const depth = rng.pick([127, 128, 129, 1000, 10000, 100000]);
      const kind = rng.pick(["array", "object", "mixed"] as const);
      return { label: `${depth} levels of ${kind} nesting at ${where}`, bytes: serialize(replaceAt(doc, p, (old) => nested(depth, serialize(old ?? null), kind))) };
    }
    case "wide-array": {
      const arrs = all.filter((q) => Array.isArray(getAt(doc, q)) && getAt(doc, q).length > 0);
      if (!arrs.length) return mutateJson(rng, doc, opts);
      const q = rng.pick(arrs);
      const n = rng.pick([1000, 20000]);
      return { label: `array /${q.join("/")} repeated to ${n} elements`, bytes: serialize(replaceAt(doc, q, (a: Json[]) => Array.from({ length: n }, (_, i) => a[i % a.length]))) };
    }
    case "random-value":
      return { label: `random value at ${where}`, bytes: serialize(replaceAt(doc, p, () => randomJson(rng))) };
    case "swap-siblings": {
      const objs = all.filter((q) => typeOf(getAt(doc, q)) === "object" && Object.keys(getAt(doc, q)).length > 1);
      if (!objs.length) return mutateJson(rng, doc, opts);
      const q = rng.pick(objs);
      const o = getAt(doc, q);
      const ks = Object.keys(o);
      const a = rng.pick(ks), b = rng.pick(ks);
      return { label: `swap values of ${a} and ${b} at /${q.join("/")}`, bytes: serialize(replaceAt(doc, q, () => ({ ...o, [a]: o[b], [b]: o[a] }))) };
    }
  }
}

/** One random byte-level mutation. */
export function mutateBytes(rng: Rng, b: Buffer): Mutant {
  const op = rng.weighted([[4, "flip"], [2, "truncate"], [2, "insert"], [2, "delete"], [1, "duplicate"], [1, "random"]] as const);
  const n = b.length;
  switch (op) {
    case "flip": {
      const c = Buffer.from(b);
      const k = rng.range(1, 8);
      const at: number[] = [];
      for (let i = 0; i < k && n > 0; i++) { const j = rng.int(n); c[j] ^= 1 << rng.int(8); at.push(j); }
      return { label: `bit flips at ${at.join(",")}`, bytes: c };
    }
    case "truncate": { const k = rng.int(n + 1); return { label: `truncated at ${k}/${n}`, bytes: b.subarray(0, k) }; }
    case "insert": {
      const k = rng.int(n + 1);
      const ins = rng.bool() ? rng.bytes(rng.range(1, 16)) : Buffer.from(rng.pick(["{", "}", "[", "]", ",", ":", '"', "\\", "\n", "\r\n", "\u0000", "data: ", "\n\n", "null", "1e400"]));
      return { label: `insert ${ins.toString("hex").slice(0, 32)} at ${k}`, bytes: Buffer.concat([b.subarray(0, k), ins, b.subarray(k)]) };
    }
    case "delete": {
      const k = rng.int(n + 1), len = rng.range(1, 32);
      return { label: `delete ${len} bytes at ${k}`, bytes: Buffer.concat([b.subarray(0, k), b.subarray(Math.min(n, k + len))]) };
    }
    case "duplicate": {
      const k = rng.int(n + 1), len = rng.range(1, 256);
      return { label: `duplicate ${len} bytes at ${k}`, bytes: Buffer.concat([b.subarray(0, k + len), b.subarray(k)]) };
    }
    case "random": { const len = rng.int(512); return { label: `${len} random bytes`, bytes: rng.bytes(len) }; }
  }
}

/** Every (path, other type) replacement of a document: the "wrong type at every path" sweep. */
export function* retypeSweep(doc: Json): Generator<Mutant> {
  for (const p of paths(doc)) {
    const cur = getAt(doc, p);
    for (const t of JSON_TYPES) {
      if (t === typeOf(cur)) continue;
      yield { label: `retype /${p.join("/")} → ${t}`, bytes: serialize(replaceAt(doc, p, () => valueOfType(t))) };
    }
    if (p.length > 0) {
      const d = dropAt(doc, p);
      if (d !== null) yield { label: `drop /${p.join("/")}`, bytes: serialize(d) };
    }
  }
}

/** Every prefix of the body (truncation at every byte, including empty). */
export function* truncationSweep(b: Buffer): Generator<Mutant> {
  for (let k = 0; k < b.length; k++) yield { label: `truncated at ${k}/${b.length}`, bytes: b.subarray(0, k) };
}
