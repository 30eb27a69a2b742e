// HMAC-SHA256 (RFC 2104, test vectors RFC 4231) on top of util/sha256.
//
// setKey() runs the two pad blocks (K^ipad, K^opad) once and keeps the resulting hash states; each
// MAC afterwards starts from copies of them. SigV4 MACs every request with the same derived signing
// key, so a cached keyed instance saves two of the four-odd compressions per signature.

import { Sha256 } from "./sha256";

export class HmacSha256 {
  private inner: Sha256 = new Sha256();
  private outer: Sha256 = new Sha256();
  /** States right after absorbing K^ipad / K^opad. */
  private innerKeyed: Sha256 = new Sha256();
  private outerKeyed: Sha256 = new Sha256();
  private pad: Uint8Array = new Uint8Array(64);
  private innerDigest: Uint8Array = new Uint8Array(32);

  /** Keys with key[start, end) (any length; longer than a block is hashed first, RFC 2104 §2). */
  setKey(key: Uint8Array, start: i32 = 0, end: i32 = -1): HmacSha256 {
    if (end < 0 || end > key.length) end = key.length;
    if (start < 0) start = 0;
    const pad = this.pad;
    memory.fill(pad.dataStart, 0, 64);
    const n = end - start;
    if (n > 64) {
      this.inner.reset().update(key, start, end).digestInto(pad, 0);
    } else if (n > 0) {
      memory.copy(pad.dataStart, key.dataStart + <usize>start, <usize>n);
    }
    const p = pad.dataStart;
    for (let i: usize = 0; i < 64; i += 4) store<u32>(p + i, load<u32>(p + i) ^ 0x36363636);
    this.innerKeyed.reset().update(pad, 0, 64);
    // (K^ipad)^(ipad^opad) = K^opad
    for (let i: usize = 0; i < 64; i += 4) store<u32>(p + i, load<u32>(p + i) ^ 0x6a6a6a6a);
    this.outerKeyed.reset().update(pad, 0, 64);
    memory.fill(p, 0, 64); // don't leave key material in the scratch buffer
    this.inner.copyFrom(this.innerKeyed);
    return this;
  }

  /** Starts a new MAC with the current key (digestInto does this implicitly). */
  restart(): HmacSha256 {
    this.inner.copyFrom(this.innerKeyed);
    return this;
  }

  update(src: Uint8Array, start: i32 = 0, end: i32 = -1): HmacSha256 {
    this.inner.update(src, start, end);
    return this;
  }

  /**
   * Writes the 32-byte MAC to out[off, off + 32) and restarts with the same key.
   * Returns false (writing nothing, state untouched) if out is too short.
   */
  digestInto(out: Uint8Array, off: i32 = 0): bool {
    if (off < 0 || off > out.length - 32) return false;
    this.inner.digestInto(this.innerDigest, 0);
    this.outer.copyFrom(this.outerKeyed);
    this.outer.update(this.innerDigest, 0, 32);
    this.outer.digestInto(out, off);
    this.inner.copyFrom(this.innerKeyed);
    return true;
  }

  digest(): Uint8Array {
    const out = new Uint8Array(32);
    this.digestInto(out, 0);
    return out;
  }
}

/** One-shot HMAC-SHA256(key, msg). */
export function hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return new HmacSha256().setKey(key, 0, key.length).update(msg, 0, msg.length).digest();
}
