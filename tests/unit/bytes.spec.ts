// ByteBuilder: the one output buffer every body rewrite goes through. Expected bytes below are
// derived from RFC 8259 §7 (JSON string escaping) and RFC 3629 (UTF-8), not from the code's output.

import { ByteBuilder, bytesOf, spanEquals, toLowerAscii } from "../../assembly/util/bytes";
import { parseJson } from "../../assembly/json/json";
import { hexOfBuilder, hexOf } from "./helpers";

function jsonHex(s: string): string {
  const b = new ByteBuilder();
  b.jsonString(s);
  return hexOfBuilder(b);
}

function cc(a: i32): string { return String.fromCharCode(a); }
function cc2(a: i32, b: i32): string { return String.fromCharCode(a) + String.fromCharCode(b); }

describe("ByteBuilder.jsonString escaping", () => {
  it("escapes quote, backslash and control characters as RFC 8259 requires", () => {
    // [input, expected UTF-8 bytes of the JSON literal, quotes included]
    const cases: string[][] = [
      ["", "22 22"],
      ["a", "22 61 22"],
      ["\"", "22 5c 22 22"],
      ["\\", "22 5c 5c 22"],
      ["/", "22 2f 22"],                      // solidus may stay raw
      ["\n", "22 5c 6e 22"],
      ["\r", "22 5c 72 22"],
      ["\t", "22 5c 74 22"],
      ["\b", "22 5c 62 22"],
      ["\f", "22 5c 66 22"],
      [cc(0x00), "22 5c 75 30 30 30 30 22"],  // \u0000
      [cc(0x0b), "22 5c 75 30 30 30 62 22"],  // \u000b (no short escape for VT)
      [cc(0x1f), "22 5c 75 30 30 31 66 22"],  // \u001f: last control char
      [" ", "22 20 22"],                      // 0x20 is the first char that needs no escape
      [cc(0x7f), "22 7f 22"],                 // DEL is not a JSON control char
      ["a\"b\\c", "22 61 5c 22 62 5c 5c 63 22"],
    ];
    for (let i = 0; i < cases.length; i++) expect(jsonHex(cases[i][0])).toBe(cases[i][1], "input #" + i.toString());
  });

  it("encodes non-ASCII as UTF-8 at every length boundary", () => {
    const cases: string[][] = [
      [cc(0x80), "22 c2 80 22"],
      ["é", "22 c3 a9 22"],
      [cc(0x7ff), "22 df bf 22"],
      [cc(0x800), "22 e0 a0 80 22"],
      ["€", "22 e2 82 ac 22"],
      [cc(0xd7ff), "22 ed 9f bf 22"],   // just below the surrogate block
      [cc(0xe000), "22 ee 80 80 22"],   // just above it
      [cc(0xffff), "22 ef bf bf 22"],
    ];
    for (let i = 0; i < cases.length; i++) expect(jsonHex(cases[i][0])).toBe(cases[i][1], "input #" + i.toString());
  });

  it("joins surrogate pairs into one 4-byte sequence", () => {
    const cases: string[][] = [
      [cc2(0xd800, 0xdc00), "22 f0 90 80 80 22"], // U+10000
      ["😀", "22 f0 9f 98 80 22"],                 // U+1F600
      [cc2(0xdbff, 0xdfff), "22 f4 8f bf bf 22"], // U+10FFFF
    ];
    for (let i = 0; i < cases.length; i++) expect(jsonHex(cases[i][0])).toBe(cases[i][1], "input #" + i.toString());
  });

  it("replaces lone surrogates with U+FFFD (EF BF BD) instead of emitting invalid UTF-8", () => {
    const cases: string[][] = [
      ["a" + cc(0xd800), "22 61 ef bf bd 22"],                       // high at end of string
      [cc(0xdc00), "22 ef bf bd 22"],                                // lone low
      [cc(0xd800) + "A", "22 ef bf bd 41 22"],                       // high + non-surrogate
      [cc2(0xd800, 0xd800), "22 ef bf bd ef bf bd 22"],              // two highs
      [cc2(0xde00, 0xd83d), "22 ef bf bd ef bf bd 22"],              // pair in the wrong order
      [cc(0xd800) + cc2(0xd83d, 0xde00), "22 ef bf bd f0 9f 98 80 22"], // lone high, then a valid pair
    ];
    for (let i = 0; i < cases.length; i++) expect(jsonHex(cases[i][0])).toBe(cases[i][1], "input #" + i.toString());
  });

  it("round-trips through the JSON parser for every char 0..0x7f and assorted non-ASCII", () => {
    // Differential check: the encoder and the parser's unescaper are independent code paths.
    let all = "";
    for (let c = 0; c < 0x80; c++) all += cc(c);
    const inputs: string[] = [all, "é€😀𝄞 mixed \"q\" \\ \n end", "", cc(0x1f) + "😀" + cc(0)];
    for (let i = 0; i < inputs.length; i++) {
      const b = new ByteBuilder(4);
      b.jsonString(inputs[i]);
      const doc = parseJson(b.toBytes());
      expect(doc.ok).toBe(true, "re-parse #" + i.toString() + ": " + doc.error);
      expect(doc.str(doc.root)).toBe(inputs[i], "round trip #" + i.toString());
    }
  });
});

describe("ByteBuilder.jsonStringBytes", () => {
  it("escapes quote, backslash and controls in raw UTF-8 and passes other bytes through", () => {
    const src = bytesOf("a\"b\\c\nd" + cc(1) + cc(0x1f) + " " + cc(0x7f) + "é");
    const b = new ByteBuilder();
    b.jsonStringBytes(src, 0, src.length);
    expect(hexOfBuilder(b)).toBe("22 61 5c 22 62 5c 5c 63 5c 6e 64 5c 75 30 30 30 31 5c 75 30 30 31 66 20 7f c3 a9 22");
  });
  it("only reads the given range", () => {
    const src = bytesOf("xx\"yy");
    const b = new ByteBuilder();
    b.jsonStringBytes(src, 1, 4);
    expect(b.toString()).toBe("\"x\\\"y\"");
  });
});

describe("ByteBuilder.int", () => {
  it("writes decimal integers", () => {
    const values: i64[] = [0, 1, 9, 10, 11, 99, 100, -1, -9, -10, -100, 1234567890, 4294967296, 9007199254740993,
      i64.MAX_VALUE, -i64.MAX_VALUE];
    const expected: string[] = ["0", "1", "9", "10", "11", "99", "100", "-1", "-9", "-10", "-100", "1234567890", "4294967296",
      "9007199254740993", "9223372036854775807", "-9223372036854775807"];
    for (let i = 0; i < values.length; i++) {
      const b = new ByteBuilder();
      b.int(values[i]);
      expect(b.toString()).toBe(expected[i]);
      expect(b.toString()).toBe(values[i].toString(), "agrees with i64.toString"); // differential
    }
  });

  it("BUG: writes i64.MIN_VALUE (negation overflows)", () => {
    // -i64.MIN_VALUE == i64.MIN_VALUE, so the `v < 10` fast path fires with a negative v.
    const b = new ByteBuilder();
    b.int(i64.MIN_VALUE);
    expect(b.toString()).toBe("-9223372036854775808");
  });

  it("appends after existing content and grows past capacity", () => {
    const b = new ByteBuilder(16);
    b.str("123456789012345"); // 15 of 16 bytes used: the 19 digits must trigger growth
    b.int(i64.MAX_VALUE);
    b.byte(0x2c);
    b.int(-42);
    expect(b.toString()).toBe("1234567890123459223372036854775807,-42");
    expect(b.len).toBe(38);
  });
});

describe("ByteBuilder growth and copies", () => {
  it("keeps every byte when growing from the minimum capacity", () => {
    const b = new ByteBuilder(0);
    expect(b.buf.length).toBe(16, "capacity is clamped to at least 16");
    for (let i = 0; i < 1000; i++) b.byte(<u8>(i & 0xff));
    expect(b.len).toBe(1000);
    let ok = true;
    for (let i = 0; i < 1000; i++) if (b.buf[i] != <u8>(i & 0xff)) ok = false;
    expect(ok).toBe(true, "byte-by-byte contents survive reallocation");
    const big = "x".repeat(5000);
    b.str(big);
    expect(b.len).toBe(6000);
    // Compare bytes, not a decoded string: the first 1000 bytes are not valid UTF-8.
    let tailOk = true;
    for (let i = 1000; i < 6000; i++) if (b.buf[i] != 0x78) tailOk = false;
    expect(tailOk).toBe(true, "str() after growth appends all 5000 bytes");
  });

  it("bytes() clamps out-of-range spans instead of reading outside src", () => {
    const src = bytesOf("abcde");
    const b = new ByteBuilder();
    b.bytes(src, -3, 2);
    b.byte(0x7c);
    b.bytes(src, 3, 99);
    b.byte(0x7c);
    b.bytes(src, 4, 2); // empty
    b.all(src);
    expect(b.toString()).toBe("ab|de|abcde");
  });

  it("toBytes / toArrayBuffer are copies; reset reuses the buffer", () => {
    const b = new ByteBuilder();
    b.str("héllo");
    const copy = b.toBytes();
    const ab = b.toArrayBuffer();
    b.reset();
    expect(b.len).toBe(0);
    b.str("XXXXXX");
    expect(hexOf(copy)).toBe("68 c3 a9 6c 6c 6f");
    expect(hexOf(Uint8Array.wrap(ab))).toBe("68 c3 a9 6c 6c 6f");
    expect(b.toString()).toBe("XXXXXX");
  });
});

describe("byte helpers", () => {
  it("spanEquals compares an exact span with an ASCII literal", () => {
    const s = bytesOf("data: [DONE]");
    expect(spanEquals(s, 6, 12, "[DONE]")).toBe(true);
    expect(spanEquals(s, 6, 11, "[DONE]")).toBe(false, "shorter span");
    expect(spanEquals(s, 5, 12, "[DONE]")).toBe(false, "longer span");
    expect(spanEquals(s, 6, 12, "[DONE}")).toBe(false, "last byte differs");
    expect(spanEquals(s, 8, 14, "ONE]xx")).toBe(false, "span past the end is not read");
    expect(spanEquals(s, 0, 0, "")).toBe(true);
  });
  it("toLowerAscii lowers A-Z only", () => {
    expect(toLowerAscii("X-Api-KEY_9")).toBe("x-api-key_9");
    expect(toLowerAscii("already-lower")).toBe("already-lower");
  });
});
