// A validating JSON parser over UTF-8 bytes that never throws.
//
// Why our own: request and response bodies are untrusted, and json-as (like most AS JSON code)
// throws on malformed or mistyped input; in AssemblyScript a throw is an abort, and an abort traps
// the VM for every request on that Envoy worker. This parser reports errors as values instead.
//
// Every node keeps its source span, so callers can (a) copy any value verbatim into another
// document (a JSON string literal is valid JSON as-is: no decode/re-encode), and (b) splice edits
// into the original bytes (see Edits) instead of re-serializing a whole body.

import { ByteBuilder, spanEquals } from "../util/bytes";

export const enum Kind { Null = 0, Bool = 1, Num = 2, Str = 3, Arr = 4, Obj = 5 }

export class JNode {
  kind: Kind;
  /** Value span [start, end) in the source; strings include their quotes. */
  start: i32;
  end: i32;
  num: f64 = 0;
  /** Bool value, or for strings: whether the literal contains backslash escapes. */
  flag: bool = false;
  /** Array items, or object member values (parallel to keys). */
  items: JNode[] | null = null;
  /** Object member keys (string nodes). */
  keys: JNode[] | null = null;

  constructor(kind: Kind, start: i32) {
    this.kind = kind;
    this.start = start;
    this.end = start;
  }

  @inline get isObj(): bool { return this.kind == Kind.Obj; }
  @inline get isArr(): bool { return this.kind == Kind.Arr; }
  @inline get isStr(): bool { return this.kind == Kind.Str; }
  @inline get isNum(): bool { return this.kind == Kind.Num; }
  @inline get isBool(): bool { return this.kind == Kind.Bool; }
  @inline get isNull(): bool { return this.kind == Kind.Null; }
  get length(): i32 { const it = this.items; return it ? it.length : 0; }
}

/** A byte range of a buffer. */
export class Span {
  constructor(public buf: Uint8Array, public start: i32, public end: i32) {}
  get length(): i32 { return this.end - this.start; }
  startsWith(lit: string): bool { return this.length >= lit.length && spanEquals(this.buf, this.start, this.start + lit.length, lit); }
  indexOf(lit: string, from: i32 = 0): i32 {
    const n = lit.length;
    for (let i = this.start + from; i + n <= this.end; i++) if (spanEquals(this.buf, i, i + n, lit)) return i - this.start;
    return -1;
  }
  toString(): string { return String.UTF8.decodeUnsafe(this.buf.dataStart + <usize>this.start, <usize>this.length); }
}

export class JsonDoc {
  src: Uint8Array;
  root: JNode | null = null;
  error: string = "";
  errorAt: i32 = -1;

  constructor(src: Uint8Array) { this.src = src; }

  get ok(): bool { return this.root !== null; }

  /** Member value of an object by key (the last one wins for duplicate keys, as in JSON.parse). */
  get(obj: JNode | null, key: string): JNode | null {
    if (obj === null || obj.kind != Kind.Obj) return null;
    const keys = obj.keys!, items = obj.items!;
    for (let i = keys.length - 1; i >= 0; i--) {
      if (this.keyIs(unchecked(keys[i]), key)) return unchecked(items[i]);
    }
    return null;
  }

  /** Index of the member with this key, or -1. */
  indexOf(obj: JNode, key: string): i32 {
    if (obj.kind != Kind.Obj) return -1;
    const keys = obj.keys!;
    for (let i = keys.length - 1; i >= 0; i--) if (this.keyIs(unchecked(keys[i]), key)) return i;
    return -1;
  }

  keyIs(k: JNode, key: string): bool {
    if (!k.flag) return spanEquals(this.src, k.start + 1, k.end - 1, key);
    return this.str(k) == key;
  }

  /** Decoded value of a string node ("" for non-strings). */
  str(n: JNode | null): string {
    if (n === null || n.kind != Kind.Str) return "";
    if (!n.flag) return String.UTF8.decodeUnsafe(this.src.dataStart + <usize>(n.start + 1), <usize>(n.end - n.start - 2));
    const b = new ByteBuilder(n.end - n.start);
    this.unescapeTo(n, b);
    return b.toString();
  }

  /** Whether a string node equals an ASCII literal, without allocating. */
  strIs(n: JNode | null, lit: string): bool {
    if (n === null || n.kind != Kind.Str) return false;
    if (!n.flag) return spanEquals(this.src, n.start + 1, n.end - 1, lit);
    return this.str(n) == lit;
  }

  /** Appends the decoded UTF-8 content of a string node (no quotes). */
  unescapeTo(n: JNode, out: ByteBuilder): void {
    const s = this.src;
    let i = n.start + 1;
    const end = n.end - 1;
    let run = i;
    while (i < end) {
      const c = unchecked(s[i]);
      if (c != 0x5c) { i++; continue; }
      out.bytes(s, run, i);
      const e = unchecked(s[i + 1]);
      i += 2;
      if (e == 0x6e) out.byte(0x0a);
      else if (e == 0x74) out.byte(0x09);
      else if (e == 0x72) out.byte(0x0d);
      else if (e == 0x62) out.byte(0x08);
      else if (e == 0x66) out.byte(0x0c);
      else if (e == 0x75) {
        let cp = hex4(s, i);
        i += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && i + 6 <= end && unchecked(s[i]) == 0x5c && unchecked(s[i + 1]) == 0x75) {
          const lo = hex4(s, i + 2);
          if (lo >= 0xdc00 && lo <= 0xdfff) { cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00); i += 6; }
        }
        if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
        putCodePoint(out, cp);
      } else out.byte(e); // \" \\ \/
      run = i;
    }
    out.bytes(s, run, end);
  }

  /** Integer value of a number node (truncated), or def for anything else. */
  int(n: JNode | null, def: i64 = 0): i64 {
    if (n === null || n.kind != Kind.Num) return def;
    const v = n.num;
    if (!isFinite(v)) return def;
    if (v > 9.0e18 || v < -9.0e18) return def;
    return <i64>v;
  }

  /**
   * The decoded UTF-8 bytes of a string node as a span: the source bytes themselves when the
   * literal has no escapes (no copy), else a fresh buffer.
   */
  strSpan(n: JNode): Span {
    if (!n.flag) return new Span(this.src, n.start + 1, n.end - 1);
    const b = new ByteBuilder(n.end - n.start);
    this.unescapeTo(n, b);
    return new Span(b.buf, 0, b.len);
  }

  /** Appends the exact source text of a node. */
  copyTo(n: JNode, out: ByteBuilder): void { out.bytes(this.src, n.start, n.end); }
}

@inline function hexVal(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>(c - 0x30);
  c |= 0x20;
  if (c >= 0x61 && c <= 0x66) return <i32>(c - 0x57);
  return -1;
}

function hex4(s: Uint8Array, i: i32): u32 {
  if (i + 4 > s.length) return 0xfffd;
  let v: u32 = 0;
  for (let k = 0; k < 4; k++) {
    const h = hexVal(unchecked(s[i + k]));
    if (h < 0) return 0xfffd;
    v = (v << 4) | <u32>h;
  }
  return v;
}

export function putCodePoint(out: ByteBuilder, cp: u32): void {
  if (cp < 0x80) out.byte(<u8>cp);
  else if (cp < 0x800) { out.byte(<u8>(0xc0 | (cp >> 6))); out.byte(<u8>(0x80 | (cp & 0x3f))); }
  else if (cp < 0x10000) {
    out.byte(<u8>(0xe0 | (cp >> 12))); out.byte(<u8>(0x80 | ((cp >> 6) & 0x3f))); out.byte(<u8>(0x80 | (cp & 0x3f)));
  } else {
    out.byte(<u8>(0xf0 | (cp >> 18))); out.byte(<u8>(0x80 | ((cp >> 12) & 0x3f)));
    out.byte(<u8>(0x80 | ((cp >> 6) & 0x3f))); out.byte(<u8>(0x80 | (cp & 0x3f)));
  }
}

/** Default nesting limit: deeper documents are refused (recursion depth is wasm stack). */
export const MAX_DEPTH: i32 = 128;

/**
 * Most values (keys included) one document may have. A parsed value costs about 100 bytes of VM
 * memory (node, member arrays), so a body of tiny values (`[0,0,0,…]`) would cost some 50 times
 * its size; this bound keeps a tree near 100 MiB whatever the body (docs/design.md "Memory").
 */
export const MAX_NODES: i32 = 1 << 20;

class Parser {
  pos: i32 = 0;
  err: string = "";
  errAt: i32 = -1;
  nodes: i32 = 0;
  /** Raw loads: every index is checked against `end` (≤ s.length) before it is read. */
  base: usize;
  constructor(public s: Uint8Array, public end: i32, public maxDepth: i32) { this.base = s.dataStart; }

  fail(msg: string): JNode | null {
    if (this.errAt < 0) { this.err = msg; this.errAt = this.pos; }
    return null;
  }

  @inline ws(): void {
    const s = this.s, end = this.end;
    let p = this.pos;
    while (p < end) {
      const c = load<u8>(this.base + <usize>(p));
      if (c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09) p++; else break;
    }
    this.pos = p;
  }

  value(depth: i32): JNode | null {
    if (++this.nodes > MAX_NODES) return this.fail("more than " + MAX_NODES.toString() + " JSON values");
    this.ws();
    if (this.pos >= this.end) return this.fail("unexpected end of JSON");
    const c = load<u8>(this.base + <usize>(this.pos));
    if (c == 0x7b) return this.object(depth);
    if (c == 0x5b) return this.array(depth);
    if (c == 0x22) return this.string();
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (c == 0x74) return this.literal("true", Kind.Bool, true);
    if (c == 0x66) return this.literal("false", Kind.Bool, false);
    if (c == 0x6e) return this.literal("null", Kind.Null, false);
    return this.fail("unexpected character");
  }

  literal(lit: string, kind: Kind, v: bool): JNode | null {
    const start = this.pos, n = lit.length;
    if (start + n > this.end || !spanEquals(this.s, start, start + n, lit)) return this.fail("invalid literal");
    const node = new JNode(kind, start);
    node.flag = v;
    this.pos = start + n;
    node.end = this.pos;
    return node;
  }

  object(depth: i32): JNode | null {
    if (depth >= this.maxDepth) return this.fail("JSON nested too deeply");
    const node = new JNode(Kind.Obj, this.pos);
    const keys = new Array<JNode>(), items = new Array<JNode>();
    node.keys = keys; node.items = items;
    this.pos++;
    this.ws();
    if (this.pos < this.end && load<u8>(this.base + <usize>(this.pos)) == 0x7d) { this.pos++; node.end = this.pos; return node; }
    while (true) {
      this.ws();
      if (this.pos >= this.end || load<u8>(this.base + <usize>(this.pos)) != 0x22) return this.fail("expected object key");
      const k = this.string();
      if (k === null) return null;
      if (++this.nodes > MAX_NODES) return this.fail("more than " + MAX_NODES.toString() + " JSON values");
      this.ws();
      if (this.pos >= this.end || load<u8>(this.base + <usize>(this.pos)) != 0x3a) return this.fail("expected ':'");
      this.pos++;
      const v = this.value(depth + 1);
      if (v === null) return null;
      keys.push(k); items.push(v);
      this.ws();
      if (this.pos >= this.end) return this.fail("unexpected end of JSON");
      const c = load<u8>(this.base + <usize>(this.pos));
      this.pos++;
      if (c == 0x2c) continue;
      if (c == 0x7d) break;
      this.pos--;
      return this.fail("expected ',' or '}'");
    }
    node.end = this.pos;
    return node;
  }

  array(depth: i32): JNode | null {
    if (depth >= this.maxDepth) return this.fail("JSON nested too deeply");
    const node = new JNode(Kind.Arr, this.pos);
    const items = new Array<JNode>();
    node.items = items;
    this.pos++;
    this.ws();
    if (this.pos < this.end && load<u8>(this.base + <usize>(this.pos)) == 0x5d) { this.pos++; node.end = this.pos; return node; }
    while (true) {
      const v = this.value(depth + 1);
      if (v === null) return null;
      items.push(v);
      this.ws();
      if (this.pos >= this.end) return this.fail("unexpected end of JSON");
      const c = load<u8>(this.base + <usize>(this.pos));
      this.pos++;
      if (c == 0x2c) continue;
      if (c == 0x5d) break;
      this.pos--;
      return this.fail("expected ',' or ']'");
    }
    node.end = this.pos;
    return node;
  }

  string(): JNode | null {
    const s = this.s, end = this.end;
    const node = new JNode(Kind.Str, this.pos);
    let p = this.pos + 1;
    while (true) {
      if (p >= end) { this.pos = p; return this.fail("unterminated string"); }
      const c = load<u8>(this.base + <usize>(p));
      if (c == 0x22) break;
      if (c == 0x5c) {
        node.flag = true;
        if (p + 1 >= end) { this.pos = p; return this.fail("unterminated string"); }
        const e = load<u8>(this.base + <usize>(p + 1));
        if (e == 0x75) {
          if (p + 6 > end) { this.pos = p; return this.fail("invalid \\u escape"); }
          for (let k = 2; k < 6; k++) if (hexVal(load<u8>(this.base + <usize>(p + k))) < 0) { this.pos = p; return this.fail("invalid \\u escape"); }
          p += 6;
        } else if (e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74) {
          p += 2;
        } else { this.pos = p; return this.fail("invalid escape"); }
        continue;
      }
      if (c < 0x20) { this.pos = p; return this.fail("control character in string"); }
      if (c < 0x80) { p++; continue; }
      // UTF-8 well-formedness (RFC 3629): reject overlongs, surrogates and > U+10FFFF.
      let n = 0;
      let lo: u8 = 0x80, hi: u8 = 0xbf;
      if (c >= 0xc2 && c <= 0xdf) n = 1;
      else if (c >= 0xe0 && c <= 0xef) { n = 2; if (c == 0xe0) lo = 0xa0; else if (c == 0xed) hi = 0x9f; }
      else if (c >= 0xf0 && c <= 0xf4) { n = 3; if (c == 0xf0) lo = 0x90; else if (c == 0xf4) hi = 0x8f; }
      else { this.pos = p; return this.fail("invalid UTF-8"); }
      if (p + n >= end) { this.pos = p; return this.fail("invalid UTF-8"); }
      const c1 = load<u8>(this.base + <usize>(p + 1));
      if (c1 < lo || c1 > hi) { this.pos = p; return this.fail("invalid UTF-8"); }
      for (let k = 2; k <= n; k++) {
        const ck = load<u8>(this.base + <usize>(p + k));
        if (ck < 0x80 || ck > 0xbf) { this.pos = p; return this.fail("invalid UTF-8"); }
      }
      p += n + 1;
    }
    this.pos = p + 1;
    node.end = this.pos;
    return node;
  }

  number(): JNode | null {
    const s = this.s, end = this.end, start = this.pos;
    let p = start;
    if (load<u8>(this.base + <usize>(p)) == 0x2d) p++;
    if (p >= end) { this.pos = p; return this.fail("invalid number"); }
    let c = load<u8>(this.base + <usize>(p));
    let intVal: f64 = 0;
    let simple = true;
    if (c == 0x30) p++;
    else if (c >= 0x31 && c <= 0x39) {
      while (p < end) {
        c = load<u8>(this.base + <usize>(p));
        if (c < 0x30 || c > 0x39) break;
        intVal = intVal * 10 + <f64>(c - 0x30);
        p++;
      }
    } else { this.pos = p; return this.fail("invalid number"); }
    if (p < end && load<u8>(this.base + <usize>(p)) == 0x2e) {
      simple = false;
      p++;
      const d0 = p;
      while (p < end && load<u8>(this.base + <usize>(p)) >= 0x30 && load<u8>(this.base + <usize>(p)) <= 0x39) p++;
      if (p == d0) { this.pos = p; return this.fail("invalid number"); }
    }
    if (p < end && (load<u8>(this.base + <usize>(p)) | 0x20) == 0x65) {
      simple = false;
      p++;
      if (p < end && (load<u8>(this.base + <usize>(p)) == 0x2b || load<u8>(this.base + <usize>(p)) == 0x2d)) p++;
      const d0 = p;
      while (p < end && load<u8>(this.base + <usize>(p)) >= 0x30 && load<u8>(this.base + <usize>(p)) <= 0x39) p++;
      if (p == d0) { this.pos = p; return this.fail("invalid number"); }
    }
    const node = new JNode(Kind.Num, start);
    node.end = p;
    // Long digit runs lose precision in the running product; parseFloat rounds correctly.
    if (simple && p - start < 16) node.num = load<u8>(this.base + <usize>(start)) == 0x2d ? -intVal : intVal;
    else node.num = parseFloat(String.UTF8.decodeUnsafe(s.dataStart + <usize>start, <usize>(p - start)));
    this.pos = p;
    return node;
  }
}

/**
 * Parses src[start, end) (end defaults to all). Node spans are offsets into src.
 * Never throws: check doc.ok / doc.error.
 */
export function parseJson(src: Uint8Array, maxDepth: i32 = MAX_DEPTH, end: i32 = -1, start: i32 = 0): JsonDoc {
  const doc = new JsonDoc(src);
  if (end < 0 || end > src.length) end = src.length;
  if (start < 0 || start > end) start = end;
  const p = new Parser(src, end, maxDepth);
  p.pos = start;
  const root = p.value(0);
  if (root !== null) {
    p.ws();
    if (p.pos != end) p.fail("unexpected data after JSON value");
    else doc.root = root;
  }
  if (doc.root === null) { doc.error = p.err.length ? p.err : "invalid JSON"; doc.errorAt = p.errAt; }
  return doc;
}

/**
 * Byte-level edits on a parsed document: replace spans, insert before positions, remove or add
 * object members. apply() writes the edited document in one pass.
 *
 * Member removals and additions are resolved per object at apply() time, so any combination
 * (adjacent removals, removing every member then adding one) keeps exactly one comma between
 * the members that remain. Span replacements must not overlap each other or removed members.
 */
export class Edits {
  private at: i32[] = [];
  private to: i32[] = [];
  private with: Uint8Array[] = [];
  private memberObj: JNode[] = [];
  /** Member index to remove, or -1 for an addition (then memberAdd holds `"key":value`). */
  private memberIdx: i32[] = [];
  private memberAdd: Uint8Array[] = [];
  constructor(public doc: JsonDoc) {}

  get count(): i32 { return this.at.length + this.memberObj.length; }

  replace(start: i32, end: i32, bytes: Uint8Array): void { this.at.push(start); this.to.push(end); this.with.push(bytes); }
  insert(pos: i32, bytes: Uint8Array): void { this.replace(pos, pos, bytes); }
  replaceNode(n: JNode, bytes: Uint8Array): void { this.replace(n.start, n.end, bytes); }

  /** Removes member i of obj. */
  removeMember(obj: JNode, i: i32): void {
    if (obj.kind != Kind.Obj || i < 0 || i >= obj.keys!.length) return;
    this.memberObj.push(obj); this.memberIdx.push(i); this.memberAdd.push(EMPTY_BYTES);
  }

  /** Adds a member `"key":<raw json>` at the end of obj. */
  addMember(obj: JNode, key: string, rawValue: string): void {
    if (obj.kind != Kind.Obj) return;
    const b = new ByteBuilder(key.length + rawValue.length + 8);
    b.jsonString(key);
    b.byte(0x3a);
    b.str(rawValue);
    this.memberObj.push(obj); this.memberIdx.push(-1); this.memberAdd.push(b.toBytes());
  }

  /** Turns the member edits of each object into span edits. */
  private resolveMembers(): void {
    const n = this.memberObj.length;
    const done = new Array<bool>(n);
    for (let e = 0; e < n; e++) {
      if (unchecked(done[e])) continue;
      const obj = unchecked(this.memberObj[e]);
      const keys = obj.keys!, items = obj.items!;
      const m = keys.length;
      const removed = new Array<bool>(m);
      for (let f = e; f < n; f++) {
        if (unchecked(this.memberObj[f]) !== obj) continue;
        const idx = unchecked(this.memberIdx[f]);
        if (idx >= 0) unchecked((removed[idx] = true));
      }
      // Runs of removed members: take the following separator when a kept member follows,
      // else the preceding one, else (everything removed) just the members.
      let kept = 0;
      let i = 0;
      while (i < m) {
        if (!unchecked(removed[i])) { kept++; i++; continue; }
        let j = i;
        while (j + 1 < m && unchecked(removed[j + 1])) j++;
        let start: i32, end: i32;
        if (j + 1 < m) { start = unchecked(keys[i]).start; end = unchecked(keys[j + 1]).start; }
        else if (i > 0) { start = unchecked(items[i - 1]).end; end = unchecked(items[j]).end; }
        else { start = unchecked(keys[i]).start; end = unchecked(items[j]).end; }
        this.replace(start, end, EMPTY_BYTES);
        i = j + 1;
      }
      let added = 0;
      const b = new ByteBuilder(64);
      for (let f = e; f < n; f++) {
        if (unchecked(this.memberObj[f]) !== obj) continue;
        unchecked((done[f] = true));
        if (unchecked(this.memberIdx[f]) >= 0) continue;
        if (kept + added > 0) b.byte(0x2c);
        b.all(unchecked(this.memberAdd[f]));
        added++;
      }
      if (added > 0) this.insert(obj.end - 1, b.toBytes());
    }
    this.memberObj.length = 0; this.memberIdx.length = 0; this.memberAdd.length = 0;
  }

  apply(out: ByteBuilder): void {
    if (this.memberObj.length > 0) this.resolveMembers();
    const n = this.at.length;
    // Insertion sort by position (ties: insertions before replacements): edit lists are tiny.
    const order = new Array<i32>(n);
    for (let i = 0; i < n; i++) unchecked((order[i] = i));
    for (let i = 1; i < n; i++) {
      const k = unchecked(order[i]);
      let j = i - 1;
      while (j >= 0 && this.after(unchecked(order[j]), k)) { unchecked((order[j + 1] = order[j])); j--; }
      unchecked((order[j + 1] = k));
    }
    const src = this.doc.src;
    let pos = 0;
    for (let i = 0; i < n; i++) {
      const k = unchecked(order[i]);
      const a = unchecked(this.at[k]);
      if (a < pos) continue; // overlapping edit: ignored rather than corrupting the output
      out.bytes(src, pos, a);
      out.all(unchecked(this.with[k]));
      pos = unchecked(this.to[k]);
    }
    out.bytes(src, pos, src.length);
  }

  /** Edit x sorts after edit y. */
  private after(x: i32, y: i32): bool {
    const ax = unchecked(this.at[x]), ay = unchecked(this.at[y]);
    if (ax != ay) return ax > ay;
    const xIns = unchecked(this.to[x]) == ax, yIns = unchecked(this.to[y]) == ay;
    return !xIns && yIns;
  }
}

const EMPTY_BYTES = new Uint8Array(0);
