// Lowercase hex and RFC 3986 percent-encoding, as SigV4 needs them.
//
// SigV4 writes digests as lowercase hex but percent-escapes with UPPERCASE hex ("%3A", never "%3a"),
// and leaves exactly the RFC 3986 unreserved set (A-Z a-z 0-9 - . _ ~) unescaped; everything else,
// including '%' itself, is escaped byte by byte over the UTF-8 encoding. The byte-level functions
// append into a ByteBuilder so the signer builds its canonical request without temporary strings.

import { ByteBuilder } from "./bytes";

@inline function lowerDigit(v: u32): u8 { return <u8>(v < 10 ? 0x30 + v : 0x57 + v); }
@inline function upperDigit(v: u32): u8 { return <u8>(v < 10 ? 0x30 + v : 0x37 + v); }

/** Appends src[start, end) as lowercase hex (two characters per byte). Bounds are clamped. */
export function appendHex(b: ByteBuilder, src: Uint8Array, start: i32 = 0, end: i32 = -1): void {
  if (end < 0 || end > src.length) end = src.length;
  if (start < 0) start = 0;
  const n = end - start;
  if (n <= 0) return;
  b.ensure(n << 1);
  const s = src.dataStart + <usize>start;
  const d = b.buf.dataStart + <usize>b.len;
  for (let i = 0; i < n; i++) {
    const v = <u32>load<u8>(s + <usize>i);
    store<u8>(d + <usize>(i << 1), lowerDigit(v >> 4));
    store<u8>(d + <usize>(i << 1) + 1, lowerDigit(v & 15));
  }
  b.len += n << 1;
}

/** src[start, end) as a lowercase hex string. */
export function hexEncode(src: Uint8Array, start: i32 = 0, end: i32 = -1): string {
  if (end < 0 || end > src.length) end = src.length;
  if (start < 0) start = 0;
  let s = "";
  if (end <= start) return s;
  // One UTF-16 string built directly; concatenating per byte would allocate n strings.
  const n = end - start;
  const out = changetype<string>(__new(<usize>(n << 2), idof<string>()));
  const d = changetype<usize>(out);
  const p = src.dataStart + <usize>start;
  for (let i = 0; i < n; i++) {
    const v = <u32>load<u8>(p + <usize>i);
    store<u16>(d + <usize>(i << 2), <u16>lowerDigit(v >> 4));
    store<u16>(d + <usize>(i << 2) + 2, <u16>lowerDigit(v & 15));
  }
  return out;
}

/** RFC 3986 §2.3 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
@inline export function isUnreserved(c: u32): bool {
  return (c - 0x41 < 26) || (c - 0x61 < 26) || (c - 0x30 < 10) || c == 0x2d || c == 0x2e || c == 0x5f || c == 0x7e;
}

/**
 * Appends src[start, end) percent-encoded: unreserved bytes as is, '/' as is unless encodeSlash,
 * every other byte as %XX (uppercase). The input is taken as bytes, so an existing "%3A" becomes
 * "%253A": that is SigV4's double encoding of an already-escaped path.
 */
export function appendUriEncoded(b: ByteBuilder, src: Uint8Array, start: i32, end: i32, encodeSlash: bool): void {
  if (end < 0 || end > src.length) end = src.length;
  if (start < 0) start = 0;
  const n = end - start;
  if (n <= 0) return;
  b.ensure(n * 3); // worst case: every byte escaped
  const s = src.dataStart + <usize>start;
  const d = b.buf.dataStart;
  let o = b.len;
  for (let i = 0; i < n; i++) {
    const c = <u32>load<u8>(s + <usize>i);
    if (isUnreserved(c) || (c == 0x2f && !encodeSlash)) {
      store<u8>(d + <usize>o, <u8>c);
      o++;
    } else {
      store<u8>(d + <usize>o, 0x25);
      store<u8>(d + <usize>o + 1, upperDigit(c >> 4));
      store<u8>(d + <usize>o + 2, upperDigit(c & 15));
      o += 3;
    }
  }
  b.len = o;
}

/** uriEncode over the UTF-8 bytes of s (for configuration-time use; the signer uses the byte form). */
export function uriEncode(s: string, encodeSlash: bool): string {
  const src = Uint8Array.wrap(String.UTF8.encode(s));
  const b = new ByteBuilder(src.length + 8);
  appendUriEncoded(b, src, 0, src.length, encodeSlash);
  return b.toString();
}

@inline function hexValue(c: u32): i32 {
  if (c - 0x30 < 10) return <i32>(c - 0x30);
  const l = c | 0x20; // ASCII lower-case
  if (l - 0x61 < 6) return <i32>(l - 0x61 + 10);
  return -1;
}

/**
 * Appends src[start, end) with %XX escapes decoded (either hex case). A '%' not followed by two hex
 * digits is kept literally, so malformed input never fails. With plusAsSpace, '+' decodes to a
 * space, as in application/x-www-form-urlencoded query strings.
 */
export function appendPercentDecoded(b: ByteBuilder, src: Uint8Array, start: i32, end: i32, plusAsSpace: bool): void {
  if (end < 0 || end > src.length) end = src.length;
  if (start < 0) start = 0;
  const n = end - start;
  if (n <= 0) return;
  b.ensure(n); // decoding never grows
  const s = src.dataStart + <usize>start;
  const d = b.buf.dataStart;
  let o = b.len;
  for (let i = 0; i < n; i++) {
    let c = <u32>load<u8>(s + <usize>i);
    if (c == 0x25 && i + 2 < n) {
      const hi = hexValue(<u32>load<u8>(s + <usize>i + 1));
      const lo = hexValue(<u32>load<u8>(s + <usize>i + 2));
      if (hi >= 0 && lo >= 0) { c = <u32>((hi << 4) | lo); i += 2; }
    } else if (c == 0x2b && plusAsSpace) {
      c = 0x20;
    }
    store<u8>(d + <usize>o, <u8>c);
    o++;
  }
  b.len = o;
}
