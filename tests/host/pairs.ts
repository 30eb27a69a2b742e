// The proxy-wasm "pairs" wire format (sources: proxy-wasm C++ host: header pairs, cpp-host `src/pairs_util.cc`):
//   u32 count, count × (u32 key_len, u32 value_len), then per pair: key bytes, 0x00, value bytes, 0x00
// All words little-endian. Header names/values are handled as latin1 strings, so every byte maps
// to one UTF-16 code unit and round-trips exactly (Node's http module uses latin1 for headers too).

export type Pair = [string, string];

/** sources: proxy-wasm C++ host: header pairs: host-side parsing limits (PROXY_WASM_HOST_PAIRS_MAX_BYTES / _MAX_COUNT). */
export const PAIRS_MAX_BYTES = 1024 * 1024;
export const PAIRS_MAX_COUNT = 1024;

export function pairsSize(pairs: readonly Pair[]): number {
  let size = 4;
  for (const [k, v] of pairs) size += 8 + k.length + 1 + v.length + 1;
  return size;
}

/** Serialize into `out` (which must be exactly `pairsSize(pairs)` long). */
export function marshalPairs(pairs: readonly Pair[], out: Uint8Array): void {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  dv.setUint32(0, pairs.length, true);
  let pos = 4;
  for (const [k, v] of pairs) {
    dv.setUint32(pos, k.length, true);
    dv.setUint32(pos + 4, v.length, true);
    pos += 8;
  }
  for (const [k, v] of pairs) {
    pos = writeLatin1(out, pos, k);
    out[pos++] = 0;
    pos = writeLatin1(out, pos, v);
    out[pos++] = 0;
  }
}

export function encodePairs(pairs: readonly Pair[]): Uint8Array {
  const out = new Uint8Array(pairsSize(pairs));
  marshalPairs(pairs, out);
  return out;
}

/**
 * Parse a pairs buffer exactly like cpp-host `PairsUtil::toPairs`: any malformation (short buffer,
 * lengths overrunning, missing NUL terminators, trailing bytes, over the limits) yields an EMPTY
 * list, never an error (sources: proxy-wasm C++ host: header pairs).
 */
export function decodePairs(buf: Uint8Array): Pair[] {
  if (buf.length < 4 || buf.length > PAIRS_MAX_BYTES) return [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = dv.getUint32(0, true);
  if (n > PAIRS_MAX_COUNT) return [];
  if (4 + n * 8 > buf.length) return [];
  const sizes: number[] = new Array(n * 2);
  for (let i = 0; i < n * 2; i++) sizes[i] = dv.getUint32(4 + i * 4, true);
  let pos = 4 + n * 8;
  const out: Pair[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const kl = sizes[i * 2], vl = sizes[i * 2 + 1];
    if (pos + kl + 1 > buf.length) return [];
    const k = readLatin1(buf, pos, kl);
    pos += kl;
    if (buf[pos++] !== 0) return [];
    if (pos + vl + 1 > buf.length) return [];
    const v = readLatin1(buf, pos, vl);
    pos += vl;
    if (buf[pos++] !== 0) return [];
    out[i] = [k, v];
  }
  if (pos !== buf.length) return [];
  return out;
}

export function readLatin1(buf: Uint8Array, start: number, len: number): string {
  if (len === 0) return "";
  return Buffer.from(buf.buffer, buf.byteOffset + start, len).toString("latin1");
}

export function writeLatin1(out: Uint8Array, pos: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[pos++] = s.charCodeAt(i) & 0xff;
  return pos;
}

export function latin1Bytes(s: string): Uint8Array {
  return Buffer.from(s, "latin1");
}
