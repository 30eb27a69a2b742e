// Base64 against RFC 4648 §10 (the "foobar" vectors), every byte value against Node's Buffer
// (tests/fixtures/gcp/gen.mjs), the URL-safe alphabet and unpadded form JWTs use (RFC 7515 §2),
// PEM-style whitespace, and input the decoder must refuse with null rather than guess at.

import {
  base64Encode, base64UrlEncode, base64Decode, base64DecodeString, appendBase64, base64Length,
} from "../../assembly/util/base64";
import { ByteBuilder, bytesOf } from "../../assembly/util/bytes";
import { B64_ALL_BYTES_STD, B64_ALL_BYTES_URL } from "./gcp-vectors";
import { utf8 } from "./helpers";

function decoded(s: string): string {
  const d = base64DecodeString(s);
  return d === null ? "<null>" : utf8(d);
}

function allBytes(): Uint8Array {
  const b = new Uint8Array(256);
  for (let i = 0; i < 256; i++) b[i] = <u8>i;
  return b;
}

// RFC 4648 §10
const PLAIN: string[] = ["", "f", "fo", "foo", "foob", "fooba", "foobar"];
const STD: string[] = ["", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"];
const URL_NOPAD: string[] = ["", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"];

describe("base64 encode", () => {
  it("encodes the RFC 4648 test vectors, padded and URL-safe unpadded", () => {
    for (let i = 0; i < PLAIN.length; i++) {
      expect(base64Encode(bytesOf(PLAIN[i]))).toBe(STD[i], PLAIN[i]);
      expect(base64UrlEncode(bytesOf(PLAIN[i]))).toBe(URL_NOPAD[i], PLAIN[i]);
      expect(base64Length(PLAIN[i].length, true)).toBe(STD[i].length);
      expect(base64Length(PLAIN[i].length, false)).toBe(URL_NOPAD[i].length);
    }
  });

  it("encodes every byte value as Node's Buffer does, in both alphabets", () => {
    expect(base64Encode(allBytes())).toBe(B64_ALL_BYTES_STD);
    expect(base64UrlEncode(allBytes())).toBe(B64_ALL_BYTES_URL);
  });

  it("uses - and _ instead of + and / only in the URL-safe alphabet", () => {
    const b = new Uint8Array(3);
    b[0] = 0xfb; b[1] = 0xff; b[2] = 0xbf;
    expect(base64Encode(b)).toBe("+/+/");
    expect(base64UrlEncode(b)).toBe("-_-_");
  });

  it("appends a sub-range after existing content, clamping out-of-range bounds", () => {
    const out = new ByteBuilder(4);
    out.str("x.");
    appendBase64(out, bytesOf("--foobar--"), 2, 8, false);
    out.byte(0x2e);
    appendBase64(out, bytesOf("fo"), -5, 99, true);
    expect(out.toString()).toBe("x.Zm9vYmFy.Zm8");
  });
});

describe("base64 decode", () => {
  it("decodes the RFC 4648 test vectors and every byte value", () => {
    for (let i = 0; i < PLAIN.length; i++) expect(decoded(STD[i])).toBe(PLAIN[i], STD[i]);
    const all = base64DecodeString(B64_ALL_BYTES_STD);
    expect(all).not.toBeNull();
    expect(all!.length).toBe(256);
    for (let i = 0; i < 256; i++) expect(<i32>all![i]).toBe(i);
  });

  it("accepts unpadded input of a valid length", () => {
    expect(decoded("Zg")).toBe("f");
    expect(decoded("Zm8")).toBe("fo");
    expect(decoded("Zm9vYmE")).toBe("fooba");
  });

  it("skips whitespace anywhere, as in PEM bodies", () => {
    expect(decoded("Zm9v\nYmFy\n")).toBe("foobar");
    expect(decoded("Zm9v\r\nYmE=\r\n")).toBe("fooba");
    expect(decoded("  Z m\t9v Yg =\n= ")).toBe("foob");
    expect(decoded(" \n\t")).toBe("");
  });

  it("decodes only the requested span", () => {
    const src = bytesOf("!!Zm9v!!");
    expect(utf8(base64Decode(src, 2, 6)!)).toBe("foo");
    expect(base64Decode(src, 0, 6)).toBeNull();
  });

  it("returns null for characters outside the alphabet", () => {
    expect(base64DecodeString("Zm9v!")).toBeNull();
    expect(base64DecodeString("-_-_")).toBeNull();   // URL-safe alphabet is not standard base64
    expect(base64DecodeString("Zm9v\\nYmFy")).toBeNull(); // a literal backslash-n is not whitespace
    expect(base64DecodeString("Zm9v\u00e9")).toBeNull();
  });

  it("returns null for wrong lengths and misplaced or excess padding", () => {
    expect(base64DecodeString("Z")).toBeNull();         // 4k+1 symbols carry no whole byte
    expect(base64DecodeString("Zm9vY")).toBeNull();
    expect(base64DecodeString("Zg=")).toBeNull();       // 2 symbols need 2 '='
    expect(base64DecodeString("Zm8==")).toBeNull();     // 3 symbols need 1 '='
    expect(base64DecodeString("Zg===")).toBeNull();
    expect(base64DecodeString("Zm9v=")).toBeNull();     // a full group takes no padding
    expect(base64DecodeString("=")).toBeNull();
    expect(base64DecodeString("Zg==Zg==")).toBeNull();  // data after padding
    expect(base64DecodeString("Zg=a")).toBeNull();
  });

  it("returns null when the bits discarded by the padding are not zero", () => {
    expect(decoded("Zg==")).toBe("f");
    expect(base64DecodeString("Zh==")).toBeNull(); // 'h' sets one of the 4 dropped bits
    expect(decoded("Zm8=")).toBe("fo");
    expect(base64DecodeString("Zm9=")).toBeNull(); // '9' sets one of the 2 dropped bits
    expect(base64DecodeString("Zm9")).toBeNull();
  });

  it("round-trips lengths 0..70 through encode and decode", () => {
    const src = new Uint8Array(70);
    for (let i = 0; i < 70; i++) src[i] = <u8>(i * 37 + 11);
    for (let n = 0; n <= 70; n++) {
      const d = base64DecodeString(base64Encode(src, 0, n));
      expect(d).not.toBeNull();
      expect(d!.length).toBe(n);
      let same = true;
      for (let i = 0; i < n; i++) if (d![i] != src[i]) same = false;
      expect(same).toBe(true, n.toString());
    }
  });
});
