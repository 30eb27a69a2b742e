// Growable byte buffer and small byte helpers shared by the JSON, SSE and provider code.
// Everything here works on UTF-8 bytes: bodies arrive as bytes and leave as bytes, so we never
// round-trip through AssemblyScript's UTF-16 strings on the hot path.
//
// Bounds: all reads are guarded by explicit length checks and then use `unchecked`, because a
// checked out-of-range access aborts, and an abort traps the VM for every request on the worker.

export class ByteBuilder {
  buf: Uint8Array;
  len: i32 = 0;

  constructor(capacity: i32 = 256) {
    this.buf = new Uint8Array(capacity < 16 ? 16 : capacity);
  }

  @inline reset(): void { this.len = 0; }

  ensure(extra: i32): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length << 1;
    if (cap < need) cap = need;
    const next = new Uint8Array(cap);
    memory.copy(next.dataStart, this.buf.dataStart, <usize>this.len);
    this.buf = next;
  }

  @inline byte(b: u8): void {
    this.ensure(1);
    store<u8>(this.buf.dataStart + <usize>this.len, b); // len < capacity after ensure
    this.len++;
  }

  /** Appends src[start, end). Callers pass in-range bounds; out-of-range spans are clamped. */
  bytes(src: Uint8Array, start: i32, end: i32): void {
    if (start < 0) start = 0;
    if (end > src.length) end = src.length;
    const n = end - start;
    if (n <= 0) return;
    this.ensure(n);
    memory.copy(this.buf.dataStart + <usize>this.len, src.dataStart + <usize>start, <usize>n);
    this.len += n;
  }

  all(src: Uint8Array): void { this.bytes(src, 0, src.length); }

  /** Appends an AssemblyScript string as UTF-8 (no escaping). */
  str(s: string): void {
    const n = String.UTF8.byteLength(s);
    this.ensure(n);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.buf.dataStart + <usize>this.len);
    this.len += n;
  }

  /** Appends a JSON string literal (quotes included) for an AssemblyScript string. */
  jsonString(s: string): void {
    this.byte(0x22);
    for (let i = 0, n = s.length; i < n; i++) {
      let c = <u32>s.charCodeAt(i);
      if (c == 0x22 || c == 0x5c) { this.byte(0x5c); this.byte(<u8>c); }
      else if (c < 0x20) this.controlEscape(c);
      else if (c < 0x80) this.byte(<u8>c);
      else if (c < 0x800) { this.byte(<u8>(0xc0 | (c >> 6))); this.byte(<u8>(0x80 | (c & 0x3f))); }
      else {
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
          const d = <u32>s.charCodeAt(i + 1);
          if (d >= 0xdc00 && d <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            i++;
          }
        }
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate: not representable in UTF-8
        if (c < 0x10000) {
          this.byte(<u8>(0xe0 | (c >> 12))); this.byte(<u8>(0x80 | ((c >> 6) & 0x3f))); this.byte(<u8>(0x80 | (c & 0x3f)));
        } else {
          this.byte(<u8>(0xf0 | (c >> 18))); this.byte(<u8>(0x80 | ((c >> 12) & 0x3f)));
          this.byte(<u8>(0x80 | ((c >> 6) & 0x3f))); this.byte(<u8>(0x80 | (c & 0x3f)));
        }
      }
    }
    this.byte(0x22);
  }

  /** Appends raw UTF-8 bytes as the content of a JSON string (escaping quotes, backslashes, controls). */
  jsonStringBytes(src: Uint8Array, start: i32, end: i32): void {
    this.byte(0x22);
    if (start < 0) start = 0;
    if (end > src.length) end = src.length;
    let run = start;
    const base = src.dataStart;
    for (let i = start; i < end; i++) {
      const c = load<u8>(base + <usize>i);
      if (c == 0x22 || c == 0x5c || c < 0x20) {
        this.bytes(src, run, i);
        if (c < 0x20) this.controlEscape(c); else { this.byte(0x5c); this.byte(c); }
        run = i + 1;
      }
    }
    this.bytes(src, run, end);
    this.byte(0x22);
  }

  private controlEscape(c: u32): void {
    this.byte(0x5c);
    if (c == 0x0a) this.byte(0x6e);
    else if (c == 0x0d) this.byte(0x72);
    else if (c == 0x09) this.byte(0x74);
    else if (c == 0x08) this.byte(0x62);
    else if (c == 0x0c) this.byte(0x66);
    else { this.byte(0x75); this.byte(0x30); this.byte(0x30); this.byte(hexDigit(c >> 4)); this.byte(hexDigit(c & 0xf)); }
  }

  int(v: i64): void {
    if (v == i64.MIN_VALUE) { this.str("-9223372036854775808"); return; } // -v would overflow
    if (v < 0) { this.byte(0x2d); v = -v; }
    if (v < 10) { this.byte(<u8>(0x30 + v)); return; }
    let digits = 0;
    for (let t = v; t > 0; t /= 10) digits++;
    this.ensure(digits);
    let p = this.len + digits - 1;
    for (let t = v; t > 0; t /= 10) unchecked((this.buf[p--] = <u8>(0x30 + t % 10)));
    this.len += digits;
  }

  /** A copy of the written bytes as a fresh ArrayBuffer (what the host ABI wrappers take). */
  toArrayBuffer(): ArrayBuffer {
    const out = new ArrayBuffer(this.len);
    memory.copy(changetype<usize>(out), this.buf.dataStart, <usize>this.len);
    return out;
  }

  toBytes(): Uint8Array {
    const out = new Uint8Array(this.len);
    memory.copy(out.dataStart, this.buf.dataStart, <usize>this.len);
    return out;
  }

  toString(): string { return String.UTF8.decodeUnsafe(this.buf.dataStart, <usize>this.len); }
}

@inline function hexDigit(v: u32): u8 { return <u8>(v < 10 ? 0x30 + v : 0x57 + v); }

export function bytesOf(s: string): Uint8Array { return Uint8Array.wrap(String.UTF8.encode(s)); }

export function wrap(buf: ArrayBuffer): Uint8Array { return Uint8Array.wrap(buf); }

/** src[start, end) equals the ASCII string lit. */
export function spanEquals(src: Uint8Array, start: i32, end: i32, lit: string): bool {
  const n = end - start;
  if (n != lit.length || start < 0 || end > src.length) return false;
  const p = src.dataStart + <usize>start, q = changetype<usize>(lit);
  for (let i = 0; i < n; i++) if (<u32>load<u8>(p + <usize>i) != <u32>load<u16>(q + (<usize>i << 1))) return false;
  return true;
}

export function toLowerAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.toLowerCase();
  }
  return s;
}

/** Offset of lit in d[from, end) (end defaults to d.length), or -1. */
export function indexOfBytes(d: Uint8Array, lit: Uint8Array, from: i32 = 0, end: i32 = -1): i32 {
  const n = lit.length;
  if (end < 0 || end > d.length) end = d.length;
  const last = end - n;
  if (n == 0 || from < 0) return -1;
  // Raw loads over [0, end): bounds are established by `last`.
  const base = d.dataStart, lp = lit.dataStart;
  const first = load<u8>(lp);
  for (let i = from; i <= last; i++) {
    if (load<u8>(base + <usize>i) != first) continue;
    let k = 1;
    while (k < n && load<u8>(base + <usize>(i + k)) == load<u8>(lp + <usize>k)) k++;
    if (k == n) return i;
  }
  return -1;
}
