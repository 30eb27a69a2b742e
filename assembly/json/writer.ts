// Streaming JSON writer over a ByteBuilder: commas and nesting handled, values written either
// from AssemblyScript values or copied verbatim from a parsed source document (so translated
// bodies reuse the client's own string literals without decoding and re-encoding them).

import { ByteBuilder } from "../util/bytes";
import { JNode, JsonDoc } from "./json";

export class JsonWriter {
  private counts: i32[] = [];
  private closers: u8[] = [];
  private afterKey: bool = false;

  constructor(public out: ByteBuilder) {}

  private pre(): void {
    if (this.afterKey) { this.afterKey = false; return; }
    const d = this.counts.length;
    if (d > 0) {
      const c = unchecked(this.counts[d - 1]);
      if (c > 0) this.out.byte(0x2c);
      unchecked((this.counts[d - 1] = c + 1));
    }
  }

  get depth(): i32 { return this.counts.length; }

  obj(): JsonWriter { this.pre(); this.out.byte(0x7b); this.counts.push(0); this.closers.push(0x7d); return this; }
  arr(): JsonWriter { this.pre(); this.out.byte(0x5b); this.counts.push(0); this.closers.push(0x5d); return this; }
  end(): JsonWriter {
    if (this.counts.length == 0) return this;
    this.counts.pop();
    this.out.byte(this.closers.pop());
    return this;
  }

  key(k: string): JsonWriter { this.pre(); this.out.jsonString(k); this.out.byte(0x3a); this.afterKey = true; return this; }
  str(s: string): JsonWriter { this.pre(); this.out.jsonString(s); return this; }
  int(v: i64): JsonWriter { this.pre(); this.out.int(v); return this; }
  bool(v: bool): JsonWriter { this.pre(); this.out.str(v ? "true" : "false"); return this; }
  nul(): JsonWriter { this.pre(); this.out.str("null"); return this; }
  /** Starts a value the caller writes itself into `out` (must be exactly one JSON value). */
  value(): ByteBuilder { this.pre(); return this.out; }
  /** A pre-formatted JSON value. */
  json(s: string): JsonWriter { this.pre(); this.out.str(s); return this; }
  /** A value copied verbatim from a parsed document. */
  raw(doc: JsonDoc, n: JNode): JsonWriter { this.pre(); doc.copyTo(n, this.out); return this; }
  /** Raw JSON bytes (already validated JSON). */
  rawBytes(src: Uint8Array, start: i32, end: i32): JsonWriter { this.pre(); this.out.bytes(src, start, end); return this; }
  /** A JSON string whose content is the given UTF-8 bytes (escaped as needed). */
  strBytes(src: Uint8Array, start: i32, end: i32): JsonWriter { this.pre(); this.out.jsonStringBytes(src, start, end); return this; }

  // Shorthands for members.
  kStr(k: string, v: string): JsonWriter { return this.key(k).str(v); }
  kInt(k: string, v: i64): JsonWriter { return this.key(k).int(v); }
  kRaw(k: string, doc: JsonDoc, n: JNode): JsonWriter { return this.key(k).raw(doc, n); }
}
