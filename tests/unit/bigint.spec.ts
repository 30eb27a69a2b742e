// Unsigned big integers: add/sub/mul/mod and Montgomery modular exponentiation against the
// BigInt reference in tests/fixtures/gcp/gen.mjs (which reproduces OpenSSL's RSA signatures as
// m^d mod n before its vectors are written). The moduli cover one and many limbs, all-ones limbs,
// a top limb of 1, bases >= the modulus, and zero/one bases and exponents.

import {
  BigNat, Montgomery, add, sub, mul, mod, cmp, modPow,
} from "../../assembly/util/bigint";
import { hexEncode } from "../../assembly/util/hex";
import { ARITH, ARITH_FIELDS, MODEXP, MODEXP_FIELDS } from "./gcp-vectors";

function unhex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = <u8>I32.parseInt(s.substr(i << 1, 2), 16);
  return out;
}

function big(hex: string): BigNat { return BigNat.fromBytesBE(unhex(hex)); }

/** Minimal big-endian hex, "" for zero: the vectors' format. */
function hexOf(x: BigNat | null): string {
  if (x === null) return "<null>";
  return hexEncode(x.toBytesBE()!);
}

describe("BigNat bytes", () => {
  it("reads big-endian bytes, ignoring leading zeros", () => {
    expect(hexOf(big("00000102030405060708090a"))).toBe("0102030405060708090a");
    expect(big("0000").isZero).toBe(true);
    expect(big("").size).toBe(0);
    expect(big("0100000000").size).toBe(2);
    expect(big("0100000000").bitLength()).toBe(33);
    expect(big("ffffffff").size).toBe(1);
    expect(big("80").bit(7)).toBe(1);
    expect(big("80").bit(6)).toBe(0);
    expect(big("80").bit(99)).toBe(0);
  });

  it("writes fixed-width big-endian bytes (I2OSP), refusing widths that are too small", () => {
    const x = big("0102");
    expect(hexEncode(x.toBytesBE(5)!)).toBe("0000000102");
    expect(hexEncode(x.toBytesBE(2)!)).toBe("0102");
    expect(x.toBytesBE(1)).toBeNull();
    expect(big("").toBytesBE()!.length).toBe(0);
    expect(hexEncode(big("").toBytesBE(3)!)).toBe("000000");
  });

  it("clamps the byte span it reads", () => {
    expect(hexOf(BigNat.fromBytesBE(unhex("aabbcc"), -3, 2))).toBe("aabb");
    expect(hexOf(BigNat.fromBytesBE(unhex("aabbcc"), 2, 99))).toBe("cc");
    expect(BigNat.fromBytesBE(unhex("aabbcc"), 3, 1).isZero).toBe(true);
  });
});

describe("BigNat arithmetic", () => {
  it("adds, subtracts, multiplies and reduces like the BigInt reference", () => {
    for (let r = 0; r + ARITH_FIELDS <= ARITH.length; r += ARITH_FIELDS) {
      const a = big(ARITH[r]), b = big(ARITH[r + 1]);
      const row = "row " + (r / ARITH_FIELDS).toString();
      expect(hexOf(add(a, b))).toBe(ARITH[r + 2], row + " add");
      expect(hexOf(add(b, a))).toBe(ARITH[r + 2], row + " add (swapped)");
      const d = sub(a, b);
      if (ARITH[r + 3] == "-") expect(d === null).toBe(true, row + " sub");
      else expect(hexOf(d)).toBe(ARITH[r + 3], row + " sub");
      expect(hexOf(mul(a, b))).toBe(ARITH[r + 4], row + " mul");
      expect(hexOf(mod(a, b))).toBe(ARITH[r + 5], row + " mod");
    }
  });

  it("compares by value, not by representation", () => {
    expect(cmp(big("0001"), big("01"))).toBe(0);
    expect(cmp(big("0100000000"), big("ffffffff"))).toBe(1);
    expect(cmp(big("ffffffff"), big("0100000000"))).toBe(-1);
    expect(cmp(big("010000000000000002"), big("010000000000000001"))).toBe(1);
    expect(cmp(big(""), big("00"))).toBe(0);
  });

  it("refuses a zero modulus", () => {
    expect(mod(big("05"), big("")) === null).toBe(true);
    expect(hexOf(mul(big(""), big("05")))).toBe("");
  });
});

describe("Montgomery exponentiation", () => {
  it("computes base^exp mod m like the BigInt reference", () => {
    for (let r = 0; r + MODEXP_FIELDS <= MODEXP.length; r += MODEXP_FIELDS) {
      const got = modPow(big(MODEXP[r]), big(MODEXP[r + 1]), big(MODEXP[r + 2]));
      expect(hexOf(got)).toBe(MODEXP[r + 3], "row " + (r / MODEXP_FIELDS).toString() + ", " + (MODEXP[r + 2].length * 4).toString() + "-bit modulus");
    }
  });

  it("gives the same results when one context is reused", () => {
    let r = 0; // the row with the largest modulus
    for (let i = 0; i + MODEXP_FIELDS <= MODEXP.length; i += MODEXP_FIELDS) if (MODEXP[i + 2].length > MODEXP[r + 2].length) r = i;
    const m = big(MODEXP[r + 2]);
    const ctx = Montgomery.create(m)!;
    for (let i = 0; i < 3; i++) expect(hexOf(ctx.pow(big(MODEXP[r]), big(MODEXP[r + 1])))).toBe(MODEXP[r + 3]);
  });

  it("multiplies modulo m like mul then mod", () => {
    for (let r = 0; r + MODEXP_FIELDS <= MODEXP.length; r += MODEXP_FIELDS) {
      const m = big(MODEXP[r + 2]);
      const ctx = Montgomery.create(m);
      if (ctx === null) continue;
      const a = big(MODEXP[r]), b = big(MODEXP[r + 3]);
      expect(hexOf(ctx.mulMod(a, b))).toBe(hexOf(mod(mul(a, b), m)), "row " + (r / MODEXP_FIELDS).toString());
    }
  });

  it("refuses even moduli and moduli below 2", () => {
    expect(Montgomery.create(big("0100")) === null).toBe(true);
    expect(Montgomery.create(big("01")) === null).toBe(true);
    expect(Montgomery.create(big("")) === null).toBe(true);
    expect(modPow(big("03"), big("05"), big("10")) === null).toBe(true);
    expect(hexOf(modPow(big("03"), big("05"), big("03")))).toBe("");
  });
});
