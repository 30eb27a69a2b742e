// SHA-256 (FIPS 180-4) in pure AssemblyScript, for SigV4 request signing inside the filter.
//
// Why hand-written: the proxy-wasm ABI offers no hashing host call, and signing has to happen in
// the filter after the body is translated. Speed matters because every Bedrock request hashes its
// body and its canonical request: whole 64-byte blocks are compressed straight out of the caller's
// buffer (no copy, no per-byte work); only the tail of an update is copied into the 64-byte block
// buffer. An instance allocates nothing after construction, so it can be reused per request.
//
// Bounds: update() clamps [start, end) to the source array, then reads with raw loads inside that
// range only; every other load/store stays inside the instance's own fixed-size buffers.

// Round constants: first 32 bits of the fractional parts of the cube roots of the first 64 primes
// (FIPS 180-4 §4.2.2).
const K: StaticArray<u32> = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

export const SHA256_BYTES: i32 = 32;
export const SHA256_BLOCK: i32 = 64;

export class Sha256 {
  private h0: u32 = 0; private h1: u32 = 0; private h2: u32 = 0; private h3: u32 = 0;
  private h4: u32 = 0; private h5: u32 = 0; private h6: u32 = 0; private h7: u32 = 0;
  /** Total message bytes fed so far (the padding encodes it in bits). */
  private total: u64 = 0;
  /** Partial block carried between updates; `used` bytes of it are valid. */
  private block: StaticArray<u8> = new StaticArray<u8>(64);
  private used: i32 = 0;
  /** Message schedule, kept as a field so compress() allocates nothing. */
  private w: StaticArray<u32> = new StaticArray<u32>(64);

  constructor() { this.reset(); }

  /** Back to the initial hash value (FIPS 180-4 §5.3.3), ready for a new message. */
  reset(): Sha256 {
    this.h0 = 0x6a09e667; this.h1 = 0xbb67ae85; this.h2 = 0x3c6ef372; this.h3 = 0xa54ff53a;
    this.h4 = 0x510e527f; this.h5 = 0x9b05688c; this.h6 = 0x1f83d9ab; this.h7 = 0x5be0cd19;
    this.total = 0;
    this.used = 0;
    return this;
  }

  /** Makes this hasher continue exactly where `o` stands (HMAC reuses its keyed pad states this way). */
  copyFrom(o: Sha256): void {
    this.h0 = o.h0; this.h1 = o.h1; this.h2 = o.h2; this.h3 = o.h3;
    this.h4 = o.h4; this.h5 = o.h5; this.h6 = o.h6; this.h7 = o.h7;
    this.total = o.total;
    this.used = o.used;
    memory.copy(changetype<usize>(this.block), changetype<usize>(o.block), 64);
  }

  /** Feeds src[start, end). Out-of-range bounds are clamped, an empty or inverted span is a no-op. */
  update(src: Uint8Array, start: i32 = 0, end: i32 = -1): Sha256 {
    const len = src.length;
    if (end < 0 || end > len) end = len;
    if (start < 0) start = 0;
    if (end <= start) return this;
    let p = src.dataStart + <usize>start;
    let n = end - start;
    this.total += <u64>n;
    const blk = changetype<usize>(this.block);
    if (this.used > 0) {
      let take = 64 - this.used;
      if (take > n) take = n;
      memory.copy(blk + <usize>this.used, p, <usize>take);
      this.used += take;
      p += <usize>take;
      n -= take;
      if (this.used < 64) return this;
      this.compress(blk);
      this.used = 0;
    }
    // Whole blocks are compressed in place from the caller's buffer.
    while (n >= 64) {
      this.compress(p);
      p += 64;
      n -= 64;
    }
    if (n > 0) {
      memory.copy(blk, p, <usize>n);
      this.used = n;
    }
    return this;
  }

  /**
   * Finishes the message, writes the 32-byte digest to out[off, off + 32) and resets the hasher
   * so it can be reused. Returns false (writing nothing, state untouched) if out is too short.
   */
  digestInto(out: Uint8Array, off: i32 = 0): bool {
    if (off < 0 || off > out.length - 32) return false;
    const blk = changetype<usize>(this.block);
    const bits = this.total << 3;
    let u = this.used;
    store<u8>(blk + <usize>u, 0x80);
    u++;
    // No room for the 8-byte length after the 0x80 marker: pad out this block and use another.
    if (u > 56) {
      memory.fill(blk + <usize>u, 0, <usize>(64 - u));
      this.compress(blk);
      u = 0;
    }
    memory.fill(blk + <usize>u, 0, <usize>(56 - u));
    store<u64>(blk + 56, bswap<u64>(bits));
    this.compress(blk);
    const o = out.dataStart + <usize>off;
    store<u32>(o, bswap<u32>(this.h0));
    store<u32>(o + 4, bswap<u32>(this.h1));
    store<u32>(o + 8, bswap<u32>(this.h2));
    store<u32>(o + 12, bswap<u32>(this.h3));
    store<u32>(o + 16, bswap<u32>(this.h4));
    store<u32>(o + 20, bswap<u32>(this.h5));
    store<u32>(o + 24, bswap<u32>(this.h6));
    store<u32>(o + 28, bswap<u32>(this.h7));
    this.reset();
    return true;
  }

  /** Finishes the message into a fresh 32-byte array (and resets the hasher). */
  digest(): Uint8Array {
    const out = new Uint8Array(32);
    this.digestInto(out, 0);
    return out;
  }

  /** One 64-byte block at p (FIPS 180-4 §6.2.2). Callers guarantee p..p+64 is readable. */
  private compress(p: usize): void {
    const w = changetype<usize>(this.w);
    // Message words are big-endian; wasm loads are little-endian.
    for (let i: usize = 0; i < 64; i += 4) store<u32>(w + i, bswap<u32>(load<u32>(p + i)));
    for (let i: usize = 64; i < 256; i += 4) {
      const x = load<u32>(w + i - 60); // W[t-15]
      const y = load<u32>(w + i - 8);  // W[t-2]
      const s0 = rotr<u32>(x, 7) ^ rotr<u32>(x, 18) ^ (x >>> 3);
      const s1 = rotr<u32>(y, 17) ^ rotr<u32>(y, 19) ^ (y >>> 10);
      store<u32>(w + i, load<u32>(w + i - 64) + s0 + load<u32>(w + i - 28) + s1);
    }
    let a = this.h0, b = this.h1, c = this.h2, d = this.h3;
    let e = this.h4, f = this.h5, g = this.h6, h = this.h7;
    const k = changetype<usize>(K);
    for (let i: usize = 0; i < 256; i += 4) {
      const t1 = h + (rotr<u32>(e, 6) ^ rotr<u32>(e, 11) ^ rotr<u32>(e, 25)) + ((e & f) ^ (~e & g))
        + load<u32>(k + i) + load<u32>(w + i);
      const t2 = (rotr<u32>(a, 2) ^ rotr<u32>(a, 13) ^ rotr<u32>(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g; g = f; f = e; e = d + t1;
      d = c; c = b; b = a; a = t1 + t2;
    }
    this.h0 += a; this.h1 += b; this.h2 += c; this.h3 += d;
    this.h4 += e; this.h5 += f; this.h6 += g; this.h7 += h;
  }
}

/** SHA-256 of the whole array (allocates a hasher; hot paths keep a Sha256 and reuse it). */
export function sha256(data: Uint8Array): Uint8Array {
  return new Sha256().update(data, 0, data.length).digest();
}
