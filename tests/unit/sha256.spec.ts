// SHA-256 against published vectors: the FIPS 180-2/180-4 example messages (NIST "Examples with
// intermediate values": "abc", the 448-bit and 896-bit messages, one million 'a'), the empty
// message, and byte-oriented CAVS "SHA-256 ShortMsg" vectors chosen at the padding edges (55/56/57
// bytes: the length field fits / does not fit; 63/64 bytes: block boundary). Streaming is checked
// by feeding the same messages in pieces: the digest must not depend on how the input is split.

import { Sha256, sha256 } from "../../assembly/util/sha256";
import { hexEncode } from "../../assembly/util/hex";
import { bytesOf } from "../../assembly/util/bytes";

function unhex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = <u8>I32.parseInt(s.substr(i << 1, 2), 16);
  return out;
}

const MSG_448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
const MSG_896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
const MD_896 = "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1";
const MD_MILLION_A = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

function millionA(): Uint8Array {
  const m = new Uint8Array(1000000);
  m.fill(0x61);
  return m;
}

describe("SHA-256 published vectors", () => {
  it("hashes the FIPS 180 example messages", () => {
    expect(hexEncode(sha256(new Uint8Array(0)))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(hexEncode(sha256(bytesOf("abc")))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(hexEncode(sha256(bytesOf(MSG_448)))).toBe("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    expect(hexEncode(sha256(bytesOf(MSG_896)))).toBe(MD_896);
  });

  it("hashes one million 'a'", () => {
    expect(hexEncode(sha256(millionA()))).toBe(MD_MILLION_A);
  });

  it("hashes CAVS ShortMsg vectors around the padding and block edges", () => {
    // [Msg, MD] from a CAVS 21.3 "SHA-256 ShortMsg" (byte-oriented) response file.
    const cases: string[][] = [
      ["9e", "35af2d15ebde4d67b29569ec19749e813c76f02286afc5a2a9871c2bfbdaab32"],
      ["177df9f1768f798c8ec59a1f36ed02856a62b090403090511e794d932b1867a90383856aaff60c79d4cef0ca2a33cb6130f92c5d1fc831",
        "34416b20eef5474b6602ef98fb0b5f018086805b7b2df3ef1d4635502f631642"], // 55 bytes
      ["08f645ff0f9a765593bd419ff60a308d3b4e70e816388577455d3c1f237ee14d7b0eb3999aef95a3a87d064138cd53dd1d360b187f11b4b3",
        "76f082a9a8e45c02a376ee1b42629cfb5db30e0ba1632f19cd28c96363f9da66"], // 56 bytes
      ["e17116dc56b4ac41fa94e356cb2c3932d959ecacf0c9be117755f5189891a717a2a13476ab4e14647959d3caa30e597df31d6fb80fa67fc958",
        "32821cf9348d03b17b13a163b6d84a9819ddfa6da9afdd911f8e3aa7d4f18db0"], // 57 bytes
      ["c3e81f34b716b165addda4fce195ba39e3a496ccf44f3746b3d0c0cef9a87a1501361b8ccc8949d4c3735a759fde5ed486635f5f7619e70be7abc300acae07",
        "2775a3f9bb46a4fda00eef650b45db52a8e8c948b6eff3b7a8206544de4f3ba0"], // 63 bytes
      ["3d007ab1483de3511ce9a7edc7a9610bcacac0ec6f3d7cb45de08fcc6a00a185b01bc4fee3ea6147e29e72c68b6bf2dad44392bf17e4aeb2ae147f55c02b9254",
        "b9e850d487a74e6b8e07330b7648b6c1aa84cdcc16b238c96d47613de313e2f9"], // 64 bytes
    ];
    for (let i = 0; i < cases.length; i++) {
      const m = unhex(cases[i][0]);
      expect(hexEncode(sha256(m))).toBe(cases[i][1], m.length.toString() + " bytes");
    }
  });
});

describe("SHA-256 streaming", () => {
  it("gives the same digest for every split of the 896-bit message into two updates", () => {
    const m = bytesOf(MSG_896);
    const h = new Sha256();
    for (let k = 0; k <= m.length; k++) {
      h.update(m, 0, k);
      h.update(m, k, m.length);
      expect(hexEncode(h.digest())).toBe(MD_896, "split at " + k.toString());
    }
  });

  it("gives the same digest for every split of a 3-block message into three updates", () => {
    // 150 bytes of the 896-bit message repeated: splits cross 0, 1 and 2 block boundaries.
    const m = bytesOf(MSG_896 + MSG_896.substring(0, 38));
    const want = hexEncode(sha256(m));
    const h = new Sha256();
    for (let a = 0; a <= m.length; a += 7) {
      for (let b = a; b <= m.length; b += 5) {
        h.update(m, 0, a).update(m, a, b).update(m, b, m.length);
        expect(hexEncode(h.digest())).toBe(want, "splits " + a.toString() + "/" + b.toString());
      }
    }
  });

  it("hashes one million 'a' fed in uneven chunks", () => {
    const m = millionA();
    const h = new Sha256();
    let p = 0;
    let step = 1;
    while (p < m.length) {
      const e = p + step < m.length ? p + step : m.length;
      h.update(m, p, e);
      p = e;
      step = step % 97 + 13; // 1, 14, 27, … cycles through sizes below and above a block
    }
    expect(hexEncode(h.digest())).toBe(MD_MILLION_A);
  });

  it("resets after digest and can be copied mid-message", () => {
    const h = new Sha256();
    h.update(bytesOf("junk that must not leak into the next message"));
    h.digest();
    expect(hexEncode(h.update(bytesOf("abc")).digest())).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const m = bytesOf(MSG_896);
    const a = new Sha256().update(m, 0, 70);
    const b = new Sha256();
    b.copyFrom(a);
    expect(hexEncode(a.update(m, 70, m.length).digest())).toBe(MD_896);
    expect(hexEncode(b.update(m, 70, m.length).digest())).toBe(MD_896);
  });

  it("clamps out-of-range spans and refuses a too-short output instead of trapping", () => {
    const m = bytesOf("abc");
    const h = new Sha256();
    h.update(m, -5, 100); // clamped to the whole array
    h.update(m, 2, 1);    // inverted: nothing
    expect(hexEncode(h.digest())).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const small = new Uint8Array(40);
    expect(h.update(m).digestInto(small, 9)).toBe(false);
    expect(h.digestInto(small, 8)).toBe(true);
    expect(hexEncode(small, 8, 40)).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});
