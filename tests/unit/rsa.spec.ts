// RSA private-key parsing and RS256 signing. Signatures must equal node:crypto's byte for byte
// (RSASSA-PKCS1-v1_5 is deterministic) for 2048- and 3072-bit keys in PKCS#8 and PKCS#1 form,
// with p > q and p < q, and with the PEM mangled the ways keys get mangled in transit. Broken keys
// (tests/fixtures/gcp/gen.mjs BAD_KEYS) must come back as errors naming the problem, and no
// corruption of the DER may trap the VM or produce a wrong signature.

import { parseRsaPrivateKeyPem, parsePkcs8Der, parsePkcs1Der, RsaPrivateKey } from "../../assembly/auth/rsa";
import { BigNat, add } from "../../assembly/util/bigint";
import { hexEncode } from "../../assembly/util/hex";
import { sha256 } from "../../assembly/util/sha256";
import {
  GOOD_KEYS, GOOD_KEYS_FIELDS, RSA_SIGS, RSA_SIGS_FIELDS, BAD_KEYS, BAD_KEYS_FIELDS,
  RSA2048_PKCS8_PEM, RSA2048_PKCS8_DER_HEX, RSA2048_PKCS8_DER_STRUCTURE,
  RSA2048_N_HEX, RSA2048_P_HEX, RSA2048_DP_HEX,
} from "./gcp-vectors";

function unhex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = <u8>I32.parseInt(s.substr(i << 1, 2), 16);
  return out;
}

function keyNamed(name: string): RsaPrivateKey {
  for (let r = 0; r + GOOD_KEYS_FIELDS <= GOOD_KEYS.length; r += GOOD_KEYS_FIELDS) {
    if (GOOD_KEYS[r] == name) {
      const res = parseRsaPrivateKeyPem(GOOD_KEYS[r + 1]);
      expect(res.error).toBe("", name);
      return res.key!;
    }
  }
  expect(name).toBe("<a key in GOOD_KEYS>");
  return changetype<RsaPrivateKey>(0); // unreachable: the expectation above fails first
}

function sigHex(key: RsaPrivateKey, msg: Uint8Array): string {
  const s = key.signSha256(msg);
  return s.signature === null ? "<error: " + s.error + ">" : hexEncode(s.signature!);
}

/** The first RSA_SIGS row for a key: [message hex, signature hex]. */
function firstSig(name: string): string[] {
  for (let r = 0; r + RSA_SIGS_FIELDS <= RSA_SIGS.length; r += RSA_SIGS_FIELDS) {
    if (RSA_SIGS[r] == name) return [RSA_SIGS[r + 1], RSA_SIGS[r + 2]];
  }
  return ["", ""];
}

describe("RSA key parsing", () => {
  it("reads every field of a PKCS#8 key", () => {
    const k = keyNamed("2048-pkcs8");
    expect(k.bits).toBe(2048);
    expect(k.size).toBe(256);
    expect(hexEncode(k.n.toBytesBE()!)).toBe(RSA2048_N_HEX);
    expect(hexEncode(k.p.toBytesBE()!)).toBe(RSA2048_P_HEX);
    expect(hexEncode(k.dp.toBytesBE()!)).toBe(RSA2048_DP_HEX);
    expect(hexEncode(k.e.toBytesBE()!)).toBe("010001");
  });

  it("accepts every key form in GOOD_KEYS", () => {
    for (let r = 0; r + GOOD_KEYS_FIELDS <= GOOD_KEYS.length; r += GOOD_KEYS_FIELDS) {
      const res = parseRsaPrivateKeyPem(GOOD_KEYS[r + 1]);
      expect(res.error).toBe("", GOOD_KEYS[r]);
      expect(res.ok).toBe(true, GOOD_KEYS[r]);
    }
  });

  it("rejects each broken key with an error naming the problem", () => {
    for (let r = 0; r + BAD_KEYS_FIELDS <= BAD_KEYS.length; r += BAD_KEYS_FIELDS) {
      const name = BAD_KEYS[r];
      const res = parseRsaPrivateKeyPem(BAD_KEYS[r + 1]);
      expect(res.ok).toBe(false, name);
      expect(res.error.includes(BAD_KEYS[r + 2])).toBe(true, name + ": got \"" + res.error + "\"");
      // "MII" starts the base64 of every RSA key's DER; an error must not echo key text.
      expect(res.error.includes("MII")).toBe(false, name);
    }
  });

  it("rejects every corruption of a tag or length byte, without trapping", () => {
    const der = unhex(RSA2048_PKCS8_DER_HEX);
    expect(parsePkcs8Der(der).ok).toBe(true);
    const flips: u8[] = [0x01, 0x02, 0x80, 0xff];
    for (let i = 0; i < RSA2048_PKCS8_DER_STRUCTURE.length; i++) {
      const at = RSA2048_PKCS8_DER_STRUCTURE[i];
      for (let f = 0; f < flips.length; f++) {
        const bad = der.slice(0);
        bad[at] ^= flips[f];
        const res = parsePkcs8Der(bad);
        expect(res.ok).toBe(false, "byte " + at.toString() + " ^ " + flips[f].toString());
        expect(res.error.length > 0).toBe(true);
      }
    }
  });

  it("never yields a wrong signature from a key with a corrupted content byte", () => {
    const der = unhex(RSA2048_PKCS8_DER_HEX);
    const expected = firstSig("2048-pkcs8");
    const msg = unhex(expected[0]);
    let rejected = 0;
    for (let at = 3; at < der.length; at += 41) {
      const bad = der.slice(0);
      bad[at] ^= 0x10;
      const res = parsePkcs8Der(bad);
      if (res.ok) expect(sigHex(res.key!, msg)).toBe(expected[1], "byte " + at.toString());
      else rejected++;
    }
    expect(rejected > 25).toBe(true); // nearly every flip lands in n, d, p, q, … and must be caught
  });

  it("rejects truncations of the DER at every length", () => {
    const der = unhex(RSA2048_PKCS8_DER_HEX);
    expect(hexEncode(der.subarray(22, 28))).toBe("048204a73082"); // the RSAPrivateKey starts at 26
    for (let n = 0; n < der.length; n += 7) {
      expect(parsePkcs8Der(der, 0, n).ok).toBe(false, n.toString());
      expect(parsePkcs1Der(der, 26, n).ok).toBe(false, n.toString()); // 26: the RSAPrivateKey
    }
    expect(parsePkcs1Der(der, 26).ok).toBe(true);
  });
});

describe("RS256 signatures", () => {
  it("equal node:crypto's signatures byte for byte", () => {
    let last = "";
    let key: RsaPrivateKey | null = null;
    for (let r = 0; r + RSA_SIGS_FIELDS <= RSA_SIGS.length; r += RSA_SIGS_FIELDS) {
      if (RSA_SIGS[r] != last) { last = RSA_SIGS[r]; key = keyNamed(last); }
      const msg = unhex(RSA_SIGS[r + 1]);
      expect(sigHex(key!, msg)).toBe(RSA_SIGS[r + 2], last + ", " + msg.length.toString() + "-byte message");
    }
  });

  it("signs only the requested span, and the same digest the same way", () => {
    const k = keyNamed("2048-pkcs8");
    const expected = firstSig("2048-pkcs8"); // the empty message
    expect(expected[0]).toBe("");
    const padded = unhex("616263");
    expect(sigHex(k, padded.subarray(1, 1))).toBe(expected[1]);
    const s = k.signSha256(padded, 2, 2);
    expect(hexEncode(s.signature!)).toBe(expected[1]);
    expect(hexEncode(k.signSha256Digest(sha256(new Uint8Array(0))).signature!)).toBe(expected[1]);
    expect(k.signSha256Digest(new Uint8Array(31)).ok).toBe(false);
  });

  it("withholds the signature when the CRT result fails verification", () => {
    const expected = firstSig("2048-pkcs8");
    const msg = unhex(expected[0]);
    const one = BigNat.fromU32(1);

    const k1 = keyNamed("2048-pkcs8");
    k1.dp = add(k1.dp, one); // a fault in the p half
    const s1 = k1.signSha256(msg);
    expect(s1.ok).toBe(false);
    expect(s1.signature).toBeNull();
    expect(s1.error.includes("verification")).toBe(true, s1.error);

    const k2 = keyNamed("2048-pkcs8");
    k2.qinv = add(k2.qinv, one); // a fault in the recombination
    expect(k2.signSha256(msg).ok).toBe(false);

    const k3 = keyNamed("2048-pkcs8");
    expect(sigHex(k3, msg)).toBe(expected[1]); // the unmodified key still signs
  });
});
