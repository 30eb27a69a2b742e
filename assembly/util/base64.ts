// Base64 (RFC 4648 §4) and base64url (sources: Bedrock Converse) for the Google service-account flow: PEM key bodies are
// standard base64 wrapped over several lines, and every JWT segment is base64url without padding
// (RFC 7515 §2 "Base64url Encoding").
//
// Decoding is strict about the alphabet and the padding (RFC 4648 §3.3: characters outside the
// alphabet are rejected, not silently skipped), but tolerant of whitespace anywhere, because PEM
// wraps its body every 64 characters and configuration systems re-wrap or indent it. Invalid input
// yields null: nothing here throws or aborts.
//
// Bounds: every load/store is inside [start, end) of the source (clamped first) or inside an
// output sized exactly beforehand.

import { ByteBuilder } from "./bytes";

const STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Value of a standard-alphabet character, -1 for anything else ('=' included). */
@inline function stdValue(c: u32): i32 {
  if (c - 0x41 < 26) return <i32>(c - 0x41);      // A-Z
  if (c - 0x61 < 26) return <i32>(c - 0x61 + 26); // a-z
  if (c - 0x30 < 10) return <i32>(c - 0x30 + 52); // 0-9
  if (c == 0x2b) return 62;                       // +
  if (c == 0x2f) return 63;                       // /
  return -1;
}

/** RFC 4648 §3.3 leaves line breaks to the application; PEM (RFC 7468 §3) allows all of these. */
@inline function isSpace(c: u32): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 || c == 0x0b || c == 0x0c;
}

/** Encoded length of n bytes: padded (4 per started 3-byte group) or unpadded. */
export function base64Length(n: i32, pad: bool): i32 {
  if (n <= 0) return 0;
  if (pad) return ((n + 2) / 3) << 2;
  const r = n % 3;
  return (n / 3) * 4 + (r == 0 ? 0 : r + 1);
}

/**
 * Appends src[start, end) encoded: the URL-safe alphabet without padding when url (JWT segments),
 * else the standard alphabet with '=' padding. Bounds are clamped.
 */
export function appendBase64(b: ByteBuilder, src: Uint8Array, start: i32 = 0, end: i32 = -1, url: bool = false): void {
  if (end < 0 || end > src.length) end = src.length;
  if (start < 0) start = 0;
  const n = end - start;
  if (n <= 0) return;
  const outLen = base64Length(n, !url);
  b.ensure(outLen);
  const alpha = changetype<usize>(url ? URL_SAFE : STD); // UTF-16 code units: index i at alpha + 2i
  const s = src.dataStart + <usize>start;
  const d = b.buf.dataStart + <usize>b.len;
  let i = 0, o: usize = 0;
  for (; i + 3 <= n; i += 3) {
    const v = (<u32>load<u8>(s + <usize>i) << 16) | (<u32>load<u8>(s + <usize>i + 1) << 8) | <u32>load<u8>(s + <usize>i + 2);
    store<u8>(d + o, <u8>load<u16>(alpha + ((v >> 18) << 1)));
    store<u8>(d + o + 1, <u8>load<u16>(alpha + (((v >> 12) & 63) << 1)));
    store<u8>(d + o + 2, <u8>load<u16>(alpha + (((v >> 6) & 63) << 1)));
    store<u8>(d + o + 3, <u8>load<u16>(alpha + ((v & 63) << 1)));
    o += 4;
  }
  const r = n - i;
  if (r > 0) {
    let v = <u32>load<u8>(s + <usize>i) << 16;
    if (r == 2) v |= <u32>load<u8>(s + <usize>i + 1) << 8;
    store<u8>(d + o, <u8>load<u16>(alpha + ((v >> 18) << 1)));
    store<u8>(d + o + 1, <u8>load<u16>(alpha + (((v >> 12) & 63) << 1)));
    o += 2;
    if (r == 2) { store<u8>(d + o, <u8>load<u16>(alpha + (((v >> 6) & 63) << 1))); o++; }
    else if (!url) { store<u8>(d + o, 0x3d); o++; }
    if (!url) { store<u8>(d + o, 0x3d); o++; }
  }
  b.len += <i32>o;
}

/** Standard base64 with padding, as a string. */
export function base64Encode(src: Uint8Array, start: i32 = 0, end: i32 = -1): string {
  const b = new ByteBuilder(base64Length(src.length, true));
  appendBase64(b, src, start, end, false);
  return b.toString();
}

/** base64url without padding (RFC 7515 §2), as a string. */
export function base64UrlEncode(src: Uint8Array, start: i32 = 0, end: i32 = -1): string {
  const b = new ByteBuilder(base64Length(src.length, false));
  appendBase64(b, src, start, end, true);
  return b.toString();
}

/**
 * Decodes standard base64 in src[start, end), skipping whitespace anywhere. Returns null if the
 * input contains a character outside the alphabet, data after the padding, a wrong amount of
 * padding, a dangling single character (4k+1 symbols), or non-zero bits in the last symbol that
 * the padding discards (RFC 4648 §3.5: such input is not canonical; encoders never produce it).
 * Unpadded input is accepted when its length is otherwise valid.
 */
export function base64Decode(src: Uint8Array, start: i32 = 0, end: i32 = -1): Uint8Array | null {
  if (end < 0 || end > src.length) end = src.length;
  if (start < 0) start = 0;
  if (end < start) end = start;
  const s = src.dataStart;
  // Pass 1: validate and count symbols, so the output is allocated once at its exact size.
  let symbols = 0, pads = 0;
  for (let i = start; i < end; i++) {
    const c = <u32>load<u8>(s + <usize>i);
    if (isSpace(c)) continue;
    if (c == 0x3d) { pads++; if (pads > 2) return null; continue; }
    if (pads > 0 || stdValue(c) < 0) return null; // data after '=' or outside the alphabet
    symbols++;
  }
  const rem = symbols & 3;
  if (rem == 1) return null;
  if (pads > 0 && (rem == 0 || rem + pads != 4)) return null;
  const outLen = (symbols >> 2) * 3 + (rem == 0 ? 0 : rem - 1);
  const out = new Uint8Array(outLen);
  const d = out.dataStart;
  // Pass 2: every character is known valid now; whitespace and '=' are skipped.
  let acc: u32 = 0, k = 0, o: usize = 0;
  for (let i = start; i < end; i++) {
    const v = stdValue(<u32>load<u8>(s + <usize>i));
    if (v < 0) continue;
    acc = (acc << 6) | <u32>v;
    if (++k == 4) {
      store<u8>(d + o, <u8>(acc >> 16));
      store<u8>(d + o + 1, <u8>(acc >> 8));
      store<u8>(d + o + 2, <u8>acc);
      o += 3;
      acc = 0; k = 0;
    }
  }
  if (k == 2) {
    if ((acc & 0xf) != 0) return null; // 12 bits carry 8: the low 4 must be zero
    store<u8>(d + o, <u8>(acc >> 4));
  } else if (k == 3) {
    if ((acc & 0x3) != 0) return null; // 18 bits carry 16: the low 2 must be zero
    store<u8>(d + o, <u8>(acc >> 10));
    store<u8>(d + o + 1, <u8>(acc >> 2));
  }
  return out;
}

/** base64Decode over the UTF-8 bytes of a string. */
export function base64DecodeString(s: string): Uint8Array | null {
  const bytes = Uint8Array.wrap(String.UTF8.encode(s));
  return base64Decode(bytes, 0, bytes.length);
}
