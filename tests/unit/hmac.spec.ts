// HMAC-SHA256 against RFC 4231 §4.2–4.8 (test cases 1–7): short keys, a key shorter than the
// output, combined key/data patterns, truncated output (case 5: compare the leftmost 128 bits only),
// and keys longer than the 64-byte block, which must be hashed first (cases 6 and 7).

import { HmacSha256, hmacSha256 } from "../../assembly/util/hmac";
import { hexEncode } from "../../assembly/util/hex";
import { bytesOf } from "../../assembly/util/bytes";
import { sha256 } from "../../assembly/util/sha256";

function unhex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = <u8>I32.parseInt(s.substr(i << 1, 2), 16);
  return out;
}

function filled(b: u8, n: i32): Uint8Array {
  const out = new Uint8Array(n);
  out.fill(b);
  return out;
}

class Case {
  constructor(public key: Uint8Array, public data: Uint8Array, public mac: string) {}
}

function rfc4231(): Case[] {
  return [
    new Case(filled(0x0b, 20), bytesOf("Hi There"),
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    new Case(bytesOf("Jefe"), bytesOf("what do ya want for nothing?"),
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    new Case(filled(0xaa, 20), filled(0xdd, 50),
      "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    new Case(unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), filled(0xcd, 50),
      "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    // Case 5: the RFC publishes only the first 128 bits.
    new Case(filled(0x0c, 20), bytesOf("Test With Truncation"), "a3b6167473100ee06e0c796c2955552b"),
    new Case(filled(0xaa, 131), bytesOf("Test Using Larger Than Block-Size Key - Hash Key First"),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    new Case(filled(0xaa, 131),
      bytesOf("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."),
      "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
  ];
}

describe("HMAC-SHA256 RFC 4231", () => {
  it("matches test cases 1-7 (one-shot)", () => {
    const cs = rfc4231();
    expect(cs.length).toBe(7);
    for (let i = 0; i < cs.length; i++) {
      const c = cs[i];
      const mac = hmacSha256(c.key, c.data);
      expect(hexEncode(mac, 0, c.mac.length >> 1)).toBe(c.mac, "test case " + (i + 1).toString());
    }
  });

  it("matches test cases 1-7 with one reused instance, data fed byte by byte", () => {
    const cs = rfc4231();
    const h = new HmacSha256();
    for (let i = 0; i < cs.length; i++) {
      const c = cs[i];
      h.setKey(c.key, 0, c.key.length);
      for (let j = 0; j < c.data.length; j++) h.update(c.data, j, j + 1);
      expect(hexEncode(h.digest(), 0, c.mac.length >> 1)).toBe(c.mac, "test case " + (i + 1).toString());
    }
  });

  it("keeps its key across digests (the cached SigV4 signing key relies on this)", () => {
    const c = rfc4231()[1];
    const h = new HmacSha256().setKey(c.key, 0, c.key.length);
    h.update(bytesOf("discarded by restart"));
    h.restart();
    for (let i = 0; i < 3; i++) {
      expect(hexEncode(h.update(c.data, 0, c.data.length).digest())).toBe(c.mac, "round " + i.toString());
    }
  });

  it("hashes keys longer than the 64-byte block, and only those (RFC 2104 §2)", () => {
    // By definition HMAC(K, m) == HMAC(SHA-256(K), m) exactly when len(K) > 64.
    const m = bytesOf("message");
    const lens: i32[] = [63, 64, 65, 128, 200];
    for (let i = 0; i < lens.length; i++) {
      const key = new Uint8Array(lens[i]);
      for (let j = 0; j < key.length; j++) key[j] = <u8>(j * 7 + 1);
      const direct = hexEncode(hmacSha256(key, m));
      const viaHash = hexEncode(hmacSha256(sha256(key), m));
      if (lens[i] > 64) expect(direct).toBe(viaHash, lens[i].toString() + "-byte key");
      else expect(direct).not.toBe(viaHash, lens[i].toString() + "-byte key");
    }
  });

  it("takes the key from a sub-span of a larger buffer", () => {
    const c = rfc4231()[3];
    const framed = new Uint8Array(c.key.length + 7);
    framed.set(c.key, 3);
    const h = new HmacSha256().setKey(framed, 3, 3 + c.key.length);
    expect(hexEncode(h.update(c.data).digest())).toBe(c.mac);
  });
});
