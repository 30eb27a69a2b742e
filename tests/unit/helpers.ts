// Shared helpers for the unit specs (not a spec itself: as-pect only runs *.spec.ts).
// Byte-level expectations are written as hex so that a wrong byte is visible in the failure diff.

import { ByteBuilder } from "../../assembly/util/bytes";

const HEX = "0123456789abcdef";

/** "22 c3 a9 22" for the bytes 0x22 0xc3 0xa9 0x22. */
export function hexOf(b: Uint8Array, len: i32 = -1): string {
  const n = len < 0 ? b.length : len;
  let s = "";
  for (let i = 0; i < n; i++) {
    if (i > 0) s += " ";
    const v = <i32>b[i];
    s += HEX.charAt(v >> 4) + HEX.charAt(v & 15);
  }
  return s;
}

export function hexOfBuilder(b: ByteBuilder): string { return hexOf(b.buf, b.len); }

/** Inverse of hexOf: "22 c0 af 22" → bytes. */
export function fromHex(s: string): Uint8Array {
  const parts = s.split(" ");
  const out = new Uint8Array(parts.length);
  for (let i = 0; i < parts.length; i++) out[i] = <u8>I32.parseInt(parts[i], 16);
  return out;
}

export function utf8(b: Uint8Array, len: i32 = -1): string {
  const n = len < 0 ? b.length : len;
  return String.UTF8.decodeUnsafe(b.dataStart, <usize>n);
}
