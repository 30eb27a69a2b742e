// Unsigned arbitrary-precision integers: just what RSA signing needs (RSASSA-PKCS1-v1_5 with CRT,
// see auth/rsa.ts), nothing more.
//
// Representation: little-endian 32-bit limbs in a StaticArray<u32>, normalised (no leading zero
// limb; zero has no limbs). 32-bit limbs because wasm has no 64×64→128 multiply but does have
// 64-bit integers: a 32×32 product plus two 32-bit carries always fits in a u64, so the inner
// loops need no overflow checks.
//
// Modular exponentiation uses Montgomery multiplication (FIOS variant: the multiply and the
// reduction share one inner loop), a separate squaring that computes each cross product once (about
// 10% faster signing overall, measured), and a fixed 4-bit window. Where secret values are involved
// the code avoids secret-dependent branches and memory indexes: the window is always multiplied in
// (also when its value is 0), its table entry is picked by scanning all 16 entries with masks, and
// the final conditional subtraction of a Montgomery product and of mod() is a masked select. The
// sizes of values (limb counts, the exponent's bit length) are not hidden, and there is no
// blinding: signing runs about once an hour per worker on an input nobody outside chooses.
//
// Bounds: the limb loops use raw loads/stores whose extents are fixed by the sizes of the arrays
// allocated right here, so nothing can index out of range; nothing throws: invalid arguments (a
// zero or even modulus, a subtraction that would go negative) return null.

export class BigNat {
  /** Little-endian 32-bit limbs, top limb non-zero; zero is the empty array. */
  readonly limbs: StaticArray<u32>;

  /** Takes ownership of limbs[0, n) (n clamped to the array) and drops leading zero limbs. */
  constructor(limbs: StaticArray<u32>, n: i32 = -1) {
    if (n < 0 || n > limbs.length) n = limbs.length;
    while (n > 0 && unchecked(limbs[n - 1]) == 0) n--;
    if (n == limbs.length) {
      this.limbs = limbs;
    } else {
      const t = new StaticArray<u32>(n);
      memory.copy(changetype<usize>(t), changetype<usize>(limbs), <usize>n << 2);
      this.limbs = t;
    }
  }

  /** Number of limbs (0 for zero). */
  @inline get size(): i32 { return this.limbs.length; }
  @inline get isZero(): bool { return this.limbs.length == 0; }
  get isOdd(): bool { return this.limbs.length > 0 && (unchecked(this.limbs[0]) & 1) != 0; }

  /** Number of significant bits (0 for zero). */
  bitLength(): i32 {
    const n = this.limbs.length;
    if (n == 0) return 0;
    return (n << 5) - <i32>clz<u32>(unchecked(this.limbs[n - 1]));
  }

  /** Bit i (0 = least significant); 0 beyond the top. */
  bit(i: i32): u32 {
    if (i < 0) return 0;
    const w = i >> 5;
    if (w >= this.limbs.length) return 0;
    return (unchecked(this.limbs[w]) >> <u32>(i & 31)) & 1;
  }

  static fromU32(v: u32): BigNat {
    const l = new StaticArray<u32>(1);
    unchecked((l[0] = v));
    return new BigNat(l);
  }

  /** The unsigned big-endian integer in src[start, end) (bounds clamped; leading zeros allowed). */
  static fromBytesBE(src: Uint8Array, start: i32 = 0, end: i32 = -1): BigNat {
    if (end < 0 || end > src.length) end = src.length;
    if (start < 0) start = 0;
    if (end < start) end = start;
    const n = end - start;
    const limbs = new StaticArray<u32>((n + 3) >> 2);
    const l = changetype<usize>(limbs);
    const s = src.dataStart + <usize>start;
    // Byte i from the end is bits 8i.. of the value: limb i >> 2, shift 8 * (i & 3).
    for (let i = 0; i < n; i++) {
      const p = l + (<usize>(i >> 2) << 2);
      store<u32>(p, load<u32>(p) | (<u32>load<u8>(s + <usize>(n - 1 - i)) << (<u32>(i & 3) << 3)));
    }
    return new BigNat(limbs);
  }

  /** Byte length of the minimal big-endian encoding (0 for zero). */
  byteLength(): i32 { return (this.bitLength() + 7) >> 3; }

  /**
   * Big-endian bytes, left-padded with zeros to len (RFC 8017 I2OSP); len < 0 means the minimal
   * length. Null if the value does not fit in len bytes.
   */
  toBytesBE(len: i32 = -1): Uint8Array | null {
    const need = this.byteLength();
    if (len < 0) len = need;
    if (need > len) return null;
    const out = new Uint8Array(len);
    const d = out.dataStart;
    const l = changetype<usize>(this.limbs);
    for (let i = 0; i < need; i++) {
      store<u8>(d + <usize>(len - 1 - i), <u8>(load<u32>(l + (<usize>(i >> 2) << 2)) >> (<u32>(i & 3) << 3)));
    }
    return out;
  }

  equals(o: BigNat): bool { return cmp(this, o) == 0; }
}

/** -1, 0 or 1 as a <, ==, > b. */
export function cmp(a: BigNat, b: BigNat): i32 {
  const na = a.size, nb = b.size;
  if (na != nb) return na < nb ? -1 : 1;
  for (let i = na - 1; i >= 0; i--) {
    const x = unchecked(a.limbs[i]), y = unchecked(b.limbs[i]);
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

export function add(a: BigNat, b: BigNat): BigNat {
  if (a.size < b.size) { const t = a; a = b; b = t; }
  const na = a.size, nb = b.size;
  const out = new StaticArray<u32>(na + 1);
  const pa = changetype<usize>(a.limbs), pb = changetype<usize>(b.limbs), po = changetype<usize>(out);
  let c: u64 = 0;
  for (let i = 0; i < na; i++) {
    const o = <usize>i << 2;
    c += <u64>load<u32>(pa + o);
    if (i < nb) c += <u64>load<u32>(pb + o);
    store<u32>(po + o, <u32>c);
    c >>= 32;
  }
  store<u32>(po + (<usize>na << 2), <u32>c);
  return new BigNat(out);
}

/** a - b, or null when b > a (these are unsigned). */
export function sub(a: BigNat, b: BigNat): BigNat | null {
  if (cmp(a, b) < 0) return null;
  const na = a.size, nb = b.size;
  const out = new StaticArray<u32>(na);
  const pa = changetype<usize>(a.limbs), pb = changetype<usize>(b.limbs), po = changetype<usize>(out);
  let borrow: u64 = 0;
  for (let i = 0; i < na; i++) {
    const o = <usize>i << 2;
    let d = <u64>load<u32>(pa + o) - borrow;
    if (i < nb) d -= <u64>load<u32>(pb + o);
    store<u32>(po + o, <u32>d);
    borrow = d >> 63; // a wrapped (negative) difference has the top bit set
  }
  return new BigNat(out);
}

/** a × b (schoolbook: the operands here are at most a few thousand bits). */
export function mul(a: BigNat, b: BigNat): BigNat {
  const na = a.size, nb = b.size;
  if (na == 0 || nb == 0) return new BigNat(new StaticArray<u32>(0));
  const out = new StaticArray<u32>(na + nb);
  const pa = changetype<usize>(a.limbs), pb = changetype<usize>(b.limbs), po = changetype<usize>(out);
  for (let i = 0; i < na; i++) {
    const ai = <u64>load<u32>(pa + (<usize>i << 2));
    let c: u64 = 0;
    const row = po + (<usize>i << 2);
    for (let j = 0; j < nb; j++) {
      const o = <usize>j << 2;
      c += <u64>load<u32>(row + o) + ai * <u64>load<u32>(pb + o);
      store<u32>(row + o, <u32>c);
      c >>= 32;
    }
    store<u32>(row + (<usize>nb << 2), <u32>c);
  }
  return new BigNat(out);
}

/**
 * a mod m, or null for m == 0. Binary long division: the remainder takes one bit of a at a time
 * and m is subtracted whenever it fits, as a masked select, so past the initial a < m shortcut the
 * running time depends on the sizes only. The top size(m)-1 limbs of a are loaded at once (any number with fewer limbs than m
 * is below m), so the loop runs over (size(a) - size(m) + 1) × 32 bits.
 */
export function mod(a: BigNat, m: BigNat): BigNat | null {
  return m.size == 0 ? null : modNonZero(a, m);
}

/** mod() for a modulus known to be non-zero (m.size >= 1). */
function modNonZero(a: BigNat, m: BigNat): BigNat {
  const k = m.size;
  if (cmp(a, m) < 0) return a;
  const r = new StaticArray<u32>(k + 1);
  const t = new StaticArray<u32>(k + 1);
  const pr = changetype<usize>(r), pt = changetype<usize>(t), pm = changetype<usize>(m.limbs);
  const pa = changetype<usize>(a.limbs);
  const na = a.size;
  const pre = k - 1; // a.size >= k here, since a >= m
  memory.copy(pr, pa + (<usize>(na - pre) << 2), <usize>pre << 2);
  for (let bi = ((na - pre) << 5) - 1; bi >= 0; bi--) {
    // r = 2r + bit(a, bi); r < m before, so r < 2m after: k + 1 limbs suffice.
    let carry: u32 = (load<u32>(pa + (<usize>(bi >> 5) << 2)) >> <u32>(bi & 31)) & 1;
    for (let j = 0; j <= k; j++) {
      const p = pr + (<usize>j << 2);
      const v = load<u32>(p);
      store<u32>(p, (v << 1) | carry);
      carry = v >> 31;
    }
    // t = r - m; keep t unless it borrowed.
    let borrow: u64 = 0;
    for (let j = 0; j < k; j++) {
      const o = <usize>j << 2;
      const d = <u64>load<u32>(pr + o) - <u64>load<u32>(pm + o) - borrow;
      store<u32>(pt + o, <u32>d);
      borrow = d >> 63;
    }
    const top = <u64>load<u32>(pr + (<usize>k << 2)) - borrow;
    const keep = <u32>0 - <u32>(1 - (top >> 63)); // all ones when r >= m
    for (let j = 0; j < k; j++) {
      const o = <usize>j << 2;
      store<u32>(pr + o, (load<u32>(pt + o) & keep) | (load<u32>(pr + o) & ~keep));
    }
    store<u32>(pr + (<usize>k << 2), <u32>top & keep);
  }
  return new BigNat(r);
}

/**
 * Montgomery arithmetic modulo an odd m > 1, with R = 2^(32·size(m)). Built once per modulus
 * (R² mod m costs one long division); the instance owns its scratch buffers, so it is not
 * reentrant, which is fine in a single-threaded wasm VM.
 */
export class Montgomery {
  readonly m: BigNat;
  /** Limb count of m. */
  readonly k: i32;
  /** -m^-1 mod 2^32. */
  private n0: u32;
  /** R² mod m and R mod m (Montgomery form of 1), k limbs each. */
  private r2: StaticArray<u32>;
  private one: StaticArray<u32>;
  /** Product accumulator (k + 1 limbs), square (2k + 1), window table (16 × k), k-limb registers. */
  private t: StaticArray<u32>;
  private wide: StaticArray<u32>;
  private table: StaticArray<u32>;
  private acc: StaticArray<u32>;
  private sel: StaticArray<u32>;
  private x: StaticArray<u32>;

  private constructor(m: BigNat, r2: BigNat) {
    const k = m.size;
    this.m = m;
    this.k = k;
    // Newton's iteration for the inverse mod 2^32: x = m0 is right to 3 bits (m0² ≡ 1 mod 8 for
    // odd m0), and each step doubles the correct bits: 3 → 6 → 12 → 24 → 48.
    const m0 = unchecked(m.limbs[0]);
    let inv = m0;
    for (let i = 0; i < 4; i++) inv *= 2 - m0 * inv;
    this.n0 = 0 - inv;
    this.r2 = padded(r2, k);
    this.t = new StaticArray<u32>(k + 1);
    this.wide = new StaticArray<u32>((k << 1) + 1);
    this.table = new StaticArray<u32>(k << 4);
    this.acc = new StaticArray<u32>(k);
    this.sel = new StaticArray<u32>(k);
    this.x = new StaticArray<u32>(k);
    // R mod m = REDC(R² mod m · 1)
    this.one = new StaticArray<u32>(k);
    const unit = new StaticArray<u32>(k);
    unchecked((unit[0] = 1));
    this.mulRaw(changetype<usize>(this.one), changetype<usize>(this.r2), changetype<usize>(unit));
  }

  /** Null unless m is odd and greater than 1 (Montgomery reduction needs gcd(m, 2^32) = 1). */
  static create(m: BigNat): Montgomery | null {
    if (!m.isOdd || m.bitLength() < 2) return null;
    const rr = new StaticArray<u32>((m.size << 1) + 1);
    unchecked((rr[m.size << 1] = 1));
    const r2 = mod(new BigNat(rr), m);
    if (r2 === null) return null;
    return new Montgomery(m, r2);
  }

  /**
   * out = a · b · R^-1 mod m for k-limb a, b < m (out may alias a or b: it is written only after
   * the product is complete). FIOS: per limb of b, add a·b[i] and u·m (u chosen so the low limb
   * cancels) and shift down one limb, in a single pass. The accumulator stays below 2m, so one
   * masked subtraction at the end brings it below m.
   */
  private mulRaw(out: usize, a: usize, b: usize): void {
    const k = this.k;
    const m = changetype<usize>(this.m.limbs);
    const t = changetype<usize>(this.t);
    const n0 = this.n0;
    const kb = <usize>k << 2;
    memory.fill(t, 0, kb + 4);
    for (let ib: usize = 0; ib < kb; ib += 4) {
      const bi = <u64>load<u32>(b + ib);
      let s = <u64>load<u32>(t) + <u64>load<u32>(a) * bi;
      let c1 = s >> 32;
      const u = <u64>(<u32>s * n0);
      let s2 = (s & 0xffffffff) + u * <u64>load<u32>(m);
      let c2 = s2 >> 32;
      for (let j: usize = 4; j < kb; j += 4) {
        s = <u64>load<u32>(t + j) + <u64>load<u32>(a + j) * bi + c1;
        c1 = s >> 32;
        s2 = (s & 0xffffffff) + u * <u64>load<u32>(m + j) + c2;
        c2 = s2 >> 32;
        store<u32>(t + j - 4, <u32>s2);
      }
      s = <u64>load<u32>(t + kb) + c1 + c2;
      store<u32>(t + kb - 4, <u32>s);
      store<u32>(t + kb, <u32>(s >> 32));
    }
    this.finish(out, t, load<u32>(t + kb));
  }

  /**
   * out = a² · R^-1 mod m for k-limb a < m. Squaring computes each cross product a[i]·a[j] once
   * and doubles it, then reduces the 2k-limb square separately (SOS): about 1.5k² limb products
   * instead of mulRaw's 2k², which matters because squarings are ~80% of an exponentiation.
   */
  private sqrRaw(out: usize, a: usize): void {
    const k = this.k;
    const m = changetype<usize>(this.m.limbs);
    const t = changetype<usize>(this.wide);
    const n0 = this.n0;
    const kb = <usize>k << 2;
    memory.fill(t, 0, (kb << 1) + 4);
    // Cross products a[i]·a[j], j > i, at limb i + j.
    for (let ib: usize = 0; ib < kb; ib += 4) {
      const ai = <u64>load<u32>(a + ib);
      let c: u64 = 0;
      const row = t + ib;
      for (let j = ib + 4; j < kb; j += 4) {
        c += <u64>load<u32>(row + j) + ai * <u64>load<u32>(a + j);
        store<u32>(row + j, <u32>c);
        c >>= 32;
      }
      store<u32>(row + kb, <u32>c);
    }
    // Double them and add the squares a[i]² at limb 2i, in one carry chain.
    let c: u64 = 0;
    let hi: u32 = 0; // bit shifted out of the previous limb
    for (let ib: usize = 0; ib < kb; ib += 4) {
      const sq = <u64>load<u32>(a + ib) * <u64>load<u32>(a + ib);
      const p = t + (ib << 1);
      const lo0 = load<u32>(p), lo1 = load<u32>(p + 4);
      c += <u64>((lo0 << 1) | hi) + (sq & 0xffffffff);
      store<u32>(p, <u32>c);
      c >>= 32;
      c += <u64>((lo1 << 1) | (lo0 >> 31)) + (sq >> 32);
      store<u32>(p + 4, <u32>c);
      c >>= 32;
      hi = lo1 >> 31;
    }
    // REDC: clear one low limb per row by adding u·m; row i's carry lands where row i+1 ends.
    let top: u64 = 0;
    for (let ib: usize = 0; ib < kb; ib += 4) {
      const row = t + ib;
      // The u32 temporary matters: under a u64 context, load<u32>(…) * n0 would become a 64-bit
      // load and multiply, and u must be the product mod 2^32.
      const low: u32 = load<u32>(row);
      const u = <u64>(low * n0);
      let c2: u64 = 0;
      for (let j: usize = 0; j < kb; j += 4) {
        c2 += <u64>load<u32>(row + j) + u * <u64>load<u32>(m + j);
        store<u32>(row + j, <u32>c2);
        c2 >>= 32;
      }
      top += <u64>load<u32>(row + kb) + c2;
      store<u32>(row + kb, <u32>top);
      top >>= 32;
    }
    this.finish(out, t + kb, <u32>top);
  }

  /**
   * out = v - m when the (k + 1)-limb value (top, v[0, k)) is >= m, else v: a masked select, as
   * v < 2m after a Montgomery product and the choice must not branch on it.
   */
  private finish(out: usize, v: usize, top: u32): void {
    const m = changetype<usize>(this.m.limbs);
    const kb = <usize>this.k << 2;
    let borrow: u64 = 0;
    for (let j: usize = 0; j < kb; j += 4) {
      const d = <u64>load<u32>(v + j) - <u64>load<u32>(m + j) - borrow;
      store<u32>(out + j, <u32>d);
      borrow = d >> 63;
    }
    const keepV = <u32>0 - (<u32>borrow & ~top & 1);
    for (let j: usize = 0; j < kb; j += 4) {
      store<u32>(out + j, (load<u32>(v + j) & keepV) | (load<u32>(out + j) & ~keepV));
    }
  }

  /** x mod m. */
  reduce(x: BigNat): BigNat { return modNonZero(x, this.m); }

  /** x mod m as k limbs. */
  private loadReduced(dst: StaticArray<u32>, x: BigNat): void {
    const r = modNonZero(x, this.m);
    memory.fill(changetype<usize>(dst), 0, <usize>this.k << 2);
    memory.copy(changetype<usize>(dst), changetype<usize>(r.limbs), <usize>r.size << 2);
  }

  /** a · b mod m. */
  mulMod(a: BigNat, b: BigNat): BigNat {
    const x = changetype<usize>(this.x), acc = changetype<usize>(this.acc);
    this.loadReduced(this.x, a);
    this.loadReduced(this.acc, b);
    this.mulRaw(acc, x, acc);                            // a·b·R^-1
    this.mulRaw(acc, acc, changetype<usize>(this.r2));   // a·b
    return this.result();
  }

  /** base^exp mod m (base may be >= m). */
  pow(base: BigNat, exp: BigNat): BigNat {
    const k = this.k;
    const kb = <usize>k << 2;
    const tab = changetype<usize>(this.table);
    const acc = changetype<usize>(this.acc), sel = changetype<usize>(this.sel), x = changetype<usize>(this.x);
    // table[i] = base^i in Montgomery form, i = 0..15.
    this.loadReduced(this.x, base);
    memory.copy(tab, changetype<usize>(this.one), kb);
    this.mulRaw(tab + kb, x, changetype<usize>(this.r2));
    for (let i: usize = 2; i < 16; i++) this.mulRaw(tab + i * kb, tab + (i - 1) * kb, tab + kb);
    memory.copy(acc, changetype<usize>(this.one), kb);
    const windows = (exp.bitLength() + 3) >> 2;
    const e = changetype<usize>(exp.limbs);
    for (let w = windows - 1; w >= 0; w--) {
      if (w != windows - 1) for (let s = 0; s < 4; s++) this.sqrRaw(acc, acc);
      // A window never straddles limbs: 4 divides 32.
      const nib = (load<u32>(e + (<usize>(w >> 3) << 2)) >> (<u32>(w & 7) << 2)) & 15;
      // sel = table[nib], reading every entry so the access pattern does not depend on nib.
      memory.fill(sel, 0, kb);
      for (let i: u32 = 0; i < 16; i++) {
        const mask = <u32>0 - <u32>(i == nib);
        const row = tab + <usize>i * kb;
        for (let j: usize = 0; j < kb; j += 4) store<u32>(sel + j, load<u32>(sel + j) | (load<u32>(row + j) & mask));
      }
      this.mulRaw(acc, acc, sel);
    }
    // Out of Montgomery form: acc · 1 · R^-1.
    memory.fill(x, 0, kb);
    store<u32>(x, 1);
    this.mulRaw(acc, acc, x);
    return this.result();
  }

  /** A fresh BigNat from the accumulator. */
  private result(): BigNat {
    const out = new StaticArray<u32>(this.k);
    memory.copy(changetype<usize>(out), changetype<usize>(this.acc), <usize>this.k << 2);
    return new BigNat(out);
  }
}

/** base^exp mod m for an odd m > 1, or null for any other modulus. */
export function modPow(base: BigNat, exp: BigNat, m: BigNat): BigNat | null {
  const ctx = Montgomery.create(m);
  return ctx === null ? null : ctx.pow(base, exp);
}

/** x's limbs zero-extended to k (x has at most k limbs at every call site). */
function padded(x: BigNat, k: i32): StaticArray<u32> {
  const out = new StaticArray<u32>(k);
  const n = x.size < k ? x.size : k;
  memory.copy(changetype<usize>(out), changetype<usize>(x.limbs), <usize>n << 2);
  return out;
}
