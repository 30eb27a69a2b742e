// The never-throwing JSON parser. Valid/invalid tables follow JSONTestSuite (nst/JSONTestSuite):
// y_* must be accepted, n_* must be rejected (RFC 8259). The i_* cases (implementation-defined)
// are pinned to the choices documented in json.ts: invalid UTF-8 is rejected (RFC 3629), lone
// escaped surrogates decode to U+FFFD, huge exponents become ±Infinity.

import { parseJson, Kind, Edits, JNode, JsonDoc, MAX_DEPTH, MAX_NODES } from "../../assembly/json/json";
import { ByteBuilder, bytesOf } from "../../assembly/util/bytes";
import { fromHex } from "./helpers";

function roundTrip(src: string): string {
  const doc = parseJson(bytesOf(src));
  const e = new Edits(doc);
  const b = new ByteBuilder();
  e.apply(b);
  return b.toString();
}

function cc(a: i32): string { return String.fromCharCode(a); }

function text(doc: JsonDoc, n: JNode): string {
  const b = new ByteBuilder();
  doc.copyTo(n, b);
  return b.toString();
}

describe("parseJson", () => {
  it("parses an object and reads members", () => {
    const doc = parseJson(bytesOf('{"model":"gpt-4o","stream":true,"n":2,"x":[1,2.5e3,-0.5],"s":"a\\n\\u00e9\\ud83d\\ude00"}'));
    expect(doc.ok).toBe(true);
    expect(doc.str(doc.get(doc.root, "model"))).toBe("gpt-4o");
    expect(doc.get(doc.root, "stream")!.flag).toBe(true);
    expect(doc.int(doc.get(doc.root, "n"))).toBe(2);
    expect(doc.get(doc.root, "x")!.items![1].num).toBe(2500.0);
    expect(doc.str(doc.get(doc.root, "s"))).toBe("a\né😀");
  });
  it("rejects malformed input without trapping", () => {
    const bad: string[] = ["", "{", "{\"a\":}", "[1,]", "{\"a\" 1}", "01", "\"\\x\"", "tru", "{} x", "\"a", "-", "1.", "1e", "[\"\\u12\"]"];
    for (let i = 0; i < bad.length; i++) {
      const doc = parseJson(bytesOf(bad[i]));
      expect(doc.ok).toBe(false, bad[i]);
      expect(doc.error.length).toBeGreaterThan(0);
    }
  });
  it("rejects invalid UTF-8 and over-deep nesting", () => {
    const b = new Uint8Array(4); b[0] = 0x22; b[1] = 0xc0; b[2] = 0xaf; b[3] = 0x22;
    expect(parseJson(b).ok).toBe(false);
    expect(parseJson(bytesOf("[".repeat(200) + "]".repeat(200))).ok).toBe(false);
    expect(parseJson(bytesOf("[".repeat(100) + "]".repeat(100))).ok).toBe(true);
  });
  it("refuses a document of more than MAX_NODES values (each costs ~100 bytes of VM memory)", () => {
    // [0,0,…]: the array and n zeros are n + 1 values.
    const n = MAX_NODES - 1;
    const b = new ByteBuilder(2 * n + 2);
    b.byte(0x5b);
    for (let i = 0; i < n; i++) { if (i > 0) b.byte(0x2c); b.byte(0x30); }
    b.byte(0x5d);
    const ok = parseJson(b.toBytes());
    expect(ok.ok).toBe(true);
    expect(ok.root!.length).toBe(n);
    b.len -= 1; b.str(",0]");
    const over = parseJson(b.toBytes());
    expect(over.ok).toBe(false);
    expect(over.error).toBe("more than " + MAX_NODES.toString() + " JSON values");
  });

  it("copies unedited documents byte for byte", () => {
    expect(roundTrip('{ "a" : [1, {"b":null}] }')).toBe('{ "a" : [1, {"b":null}] }');
  });
  it("removes members with their commas", () => {
    const cases: string[][] = [
      ['{"a":1,"usage":null,"b":2}', '{"a":1,"b":2}'],
      ['{"a":1,"usage":null}', '{"a":1}'],
      ['{"usage":null,"a":1}', '{"a":1}'],
      ['{"usage":null}', '{}'],
    ];
    for (let i = 0; i < cases.length; i++) {
      const doc = parseJson(bytesOf(cases[i][0]));
      const e = new Edits(doc);
      e.removeMember(doc.root!, doc.indexOf(doc.root!, "usage"));
      const b = new ByteBuilder();
      e.apply(b);
      expect(b.toString()).toBe(cases[i][1]);
    }
  });
});

describe("JSONTestSuite-style acceptance", () => {
  it("accepts the y_ cases", () => {
    const valid: string[] = [
      "[[]   ]", "[]", "[\"\"]", "[false]", "[null, 1, \"1\", {}]", "[null]", " [1]", "[2] ", "[1\n]", "[1,null,null,null,2]",
      "[0e+1]", "[0e1]", "[ 4]", "[-0.000000000000000000000000000000000000000000000000000000000000000000000000000001]",
      "[20e1]", "[-0]", "[-123]", "[-1]", "[1E22]", "[1E-2]", "[1E+2]", "[123e45]", "[123.456e78]", "[1e-2]", "[1e+2]",
      "[123]", "[123.456789]", "[0]", "[-0.0]", "[1.5e308]",
      "{\"asd\":\"sdf\", \"dfg\":\"fgh\"}", "{\"a\":\"b\",\"a\":\"c\"}", "{}", "{\"\":0}", "{\"foo\\u0000bar\": 42}",
      "{\n\"a\": \"b\"\n}", "{\"x\":[{\"id\": \"xxx\"}], \"id\": \"yyy\"}", "{\"a\":[]}",
      "[\"\\u0060\\u012a\\u12AB\"]", "[\"\\uD801\\udc37\"]", "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]", "[\"\\\\u0000\"]",
      "[\"a/*b*/c/*d//e\"]", "[ \"asd\"]", "[\"€𝄞\"]", "[\"a" + cc(0x7f) + "a\"]", "[\"" + cc(0xffff) + "\"]",
      "[\"\\uFFFF\"]", "[\"\\u0000\"]", "[\"\\\\a\"]", "[\"new\\u000Aline\"]", "[\"\\u002c\"]",
      "false", "42", "-0.1", "null", "\"asd\"", "true", "\"\"", "[\"a\"]\n", "[true]", " [] ", "\t\r\n[]\t\r\n",
    ];
    for (let i = 0; i < valid.length; i++) {
      const doc = parseJson(bytesOf(valid[i]));
      expect(doc.ok).toBe(true, "y #" + i.toString() + " " + valid[i] + " → " + doc.error);
      expect(doc.errorAt).toBe(-1);
    }
  });

  it("rejects the n_ cases", () => {
    const invalid: string[] = [
      // arrays
      "[1 true]", "[\"\": 1]", "[\"\"],", "[,1]", "[1,,2]", "[\"x\"]]", "[\"\",]", "[\"x\"", "[3[4]]", "[   , \"\"]",
      "[1,]", "[,]", "[*]", "[", "[\"a\",\n4\n,1,", "[1:2]",
      // numbers
      "[-01]", "[-1.0.]", "[.2e-3]", "[0.e1]", "[0E+]", "[0E]", "[1.0e+]", "[1.0e-]", "[2.e3]", "[9.e+]", "[Inf]",
      "[NaN]", "[Infinity]", "[-Infinity]", "[0x1]", "[0x42]", "[-012]", "[+1]", "[012]", "[-1x]", "[- 1]", "[1.]",
      "[.123]", "[1+2]", "[1ea]", "[1e1.5]", "[-]", "[--1]", "[1eE2]", "[0.3e]", "[1 000.0]",
      // objects
      "[\"x\", truth]", "{\"x\", null}", "{\"x\"::\"b\"}", "{\"a\" b}", "{:\"b\"}", "{\"a\":", "{\"a\"", "{1:1}",
      "{'a':0}", "{\"id\":0,}", "{a: \"b\"}", "{\"a\":\"b\",,\"c\":\"d\"}", "{\"a\":\"b\"}/**/", "{\"a\": true} \"x\"",
      "{\"a\":\"a\" 123}", "{null:null,null:null}", "{\"a\":\"b\"}#{}", "{,}", "{\"a\":1 \"b\":2}", "{}}",
      // strings
      "['single quote']", "[\"\\x00\"]", "[\"\\\t\"]", "[\"\\a\"]", "[\"\\u00A\"]", "[\"new\nline\"]", "[\"\t\"]",
      "[\"a" + cc(0) + "a\"]", "[\\n]", "\"", "[\"\\", "[\"\\uqqqq\"]", "[\"\\uD800\\u1x\"]", "[\"\\U0041\"]",
      "[\"\\u\"]", "abc", "\"\\\"", "[\"a\\", "[\"" + cc(0x1f) + "\"]",
      // structure
      "", " ", "[\f]", "[" + cc(0x2060) + "]", "1]", "{\"asd\":\"asd\"", "[" + cc(0) + "]", "[][]", "[True]",
      "{\"a\":/*comment*/\"b\"}", "[fals]", "[nul]", "[tru]", "nulll", "truex", "[1]x", "2 3", "<.>", "[\"a\"]]",
      "\u00ef\u00bb\u00bf{}", // BOM written as separate code points U+00EF U+00BB U+00BF: garbage, not a BOM
    ];
    for (let i = 0; i < invalid.length; i++) {
      const doc = parseJson(bytesOf(invalid[i]));
      expect(doc.ok).toBe(false, "n #" + i.toString() + " " + invalid[i]);
      expect(doc.root === null).toBe(true, "no root on error");
      expect(doc.error.length).toBeGreaterThan(0, "an error message is set");
      expect(doc.errorAt).toBeGreaterThanOrEqual(0, "an error position is set");
    }
  });

  it("validates raw UTF-8 in strings at every RFC 3629 boundary", () => {
    // [hex bytes of a JSON string literal, "1" valid / "0" invalid]
    const cases: string[][] = [
      ["22 c2 80 22", "1"],          // U+0080, smallest 2-byte
      ["22 df bf 22", "1"],          // U+07FF
      ["22 e0 a0 80 22", "1"],       // U+0800, smallest 3-byte
      ["22 ed 9f bf 22", "1"],       // U+D7FF, just below surrogates
      ["22 ee 80 80 22", "1"],       // U+E000, just above surrogates
      ["22 ef bf bf 22", "1"],       // U+FFFF
      ["22 f0 90 80 80 22", "1"],    // U+10000, smallest 4-byte
      ["22 f4 8f bf bf 22", "1"],    // U+10FFFF, largest code point
      ["22 80 22", "0"],             // lone continuation byte
      ["22 bf 22", "0"],
      ["22 c0 af 22", "0"],          // overlong '/'
      ["22 c1 bf 22", "0"],          // overlong
      ["22 e0 80 af 22", "0"],       // overlong 3-byte
      ["22 e0 9f bf 22", "0"],       // overlong U+07FF
      ["22 ed a0 80 22", "0"],       // encoded surrogate U+D800
      ["22 ed bf bf 22", "0"],       // encoded surrogate U+DFFF
      ["22 f0 8f bf bf 22", "0"],    // overlong 4-byte
      ["22 f4 90 80 80 22", "0"],    // U+110000
      ["22 f5 80 80 80 22", "0"],
      ["22 ff 22", "0"],
      ["22 fe 22", "0"],
      ["22 e2 82 22", "0"],          // truncated 3-byte sequence before the quote
      ["22 c3 22", "0"],             // truncated 2-byte
      ["22 f0 9f 98 22", "0"],       // truncated 4-byte
      ["22 e2 28 a1 22", "0"],       // bad 2nd byte
      ["22 e2 82 28 22", "0"],       // bad 3rd byte
      ["22 f0 9f 98 28 22", "0"],    // bad 4th byte
      ["22 5c e5 22", "0"],          // n_string_invalid_utf8_after_escape
      ["22 c3 a9", "0"],             // valid char, unterminated string
    ];
    for (let i = 0; i < cases.length; i++) {
      const doc = parseJson(fromHex(cases[i][0]));
      expect(doc.ok).toBe(cases[i][1] == "1", "utf8 #" + i.toString() + " " + cases[i][0]);
    }
  });

  it("reports where the error is", () => {
    // [input, message, byte offset of the offending byte]
    const cases: string[][] = [
      ["", "unexpected end of JSON", "0"],
      ["[1,]", "unexpected character", "3"],
      ["{\"a\" 1}", "expected ':'", "5"],
      ["{\"a\":1 \"b\":2}", "expected ',' or '}'", "7"],
      ["[1 2]", "expected ',' or ']'", "3"],
      ["{} x", "unexpected data after JSON value", "3"],
      ["\"ab", "unterminated string", "3"],
      ["\"a\\q\"", "invalid escape", "2"],
      ["\"\\u12g4\"", "invalid \\u escape", "1"],
      ["\"a\nb\"", "control character in string", "2"],
      ["tru", "invalid literal", "0"],
      ["[01]", "expected ',' or ']'", "2"],
      ["-a", "invalid number", "1"],
      ["{1:2}", "expected object key", "1"],
    ];
    for (let i = 0; i < cases.length; i++) {
      const doc = parseJson(bytesOf(cases[i][0]));
      expect(doc.ok).toBe(false, cases[i][0]);
      expect(doc.error).toBe(cases[i][1], cases[i][0]);
      expect(doc.errorAt).toBe(I32.parseInt(cases[i][2]), cases[i][0]);
    }
    const utf = parseJson(fromHex("22 61 ff 22")); // "a<0xff>"
    expect(utf.error).toBe("invalid UTF-8");
    expect(utf.errorAt).toBe(2);
  });

  it("parses only the first len bytes when len is given", () => {
    const src = bytesOf("[1]garbage");
    expect(parseJson(src, MAX_DEPTH, 3).ok).toBe(true);
    expect(parseJson(src, MAX_DEPTH, 4).ok).toBe(false);
    expect(parseJson(src).ok).toBe(false);
    expect(parseJson(src, MAX_DEPTH, 2).ok).toBe(false, "truncated array");
  });
});

describe("numbers", () => {
  it("decodes ints, fractions and exponents to the nearest f64", () => {
    const srcs: string[] = ["0", "7", "-7", "123", "-123", "1e2", "1E+2", "1e-2", "2.5e3", "-0.5", "0.1", "123.456e-2",
      "999999999999999", "-999999999999999", "1234567890123456789", "9007199254740993", "1e308", "5e-324", "0e10",
      "4294967296", "-9223372036854775808", "1.7976931348623157e308"];
    const want: f64[] = [0, 7, -7, 123, -123, 100, 100, 0.01, 2500, -0.5, 0.1, 1.23456,
      999999999999999, -999999999999999, 1234567890123456789.0, 9007199254740992.0, 1e308, 5e-324, 0,
      4294967296, -9223372036854775808.0, 1.7976931348623157e308];
    for (let i = 0; i < srcs.length; i++) {
      const doc = parseJson(bytesOf(srcs[i]));
      expect(doc.ok).toBe(true, srcs[i]);
      expect(doc.root!.kind).toBe(Kind.Num, srcs[i]);
      expect(doc.root!.num).toBe(want[i], srcs[i]);
    }
  });

  it("keeps the sign of -0 on both the fast and the slow path", () => {
    const srcs: string[] = ["-0", "-0.0", "-0e5"];
    for (let i = 0; i < srcs.length; i++) {
      const v = parseJson(bytesOf(srcs[i])).root!.num;
      expect(v).toBe(0.0, srcs[i]);
      expect(1.0 / v).toBe(-Infinity, srcs[i] + " is negative zero");
    }
  });

  it("turns out-of-range exponents into ±Infinity, which int() refuses", () => {
    const doc = parseJson(bytesOf("[1e400,-1e400,1e-400]"));
    expect(doc.ok).toBe(true);
    const it = doc.root!.items!;
    expect(it[0].num).toBe(Infinity);
    expect(it[1].num).toBe(-Infinity);
    expect(it[2].num).toBe(0.0);
    expect(doc.int(it[0], -1)).toBe(-1);
    expect(doc.int(it[1], -1)).toBe(-1);
  });

  it("int() truncates and falls back to the default for non-numbers and huge values", () => {
    const doc = parseJson(bytesOf('{"a":2.9,"b":-2.9,"c":1e19,"d":"5","e":null,"f":9000000000000000000,"g":12}'));
    const r = doc.root;
    expect(doc.int(doc.get(r, "a"), -1)).toBe(2);
    expect(doc.int(doc.get(r, "b"), -1)).toBe(-2);
    expect(doc.int(doc.get(r, "c"), -1)).toBe(-1);
    expect(doc.int(doc.get(r, "d"), -1)).toBe(-1, "a numeric string is not a number");
    expect(doc.int(doc.get(r, "e"), -1)).toBe(-1);
    expect(doc.int(doc.get(r, "f"), -1)).toBe(9000000000000000000);
    expect(doc.int(doc.get(r, "g"), -1)).toBe(12);
    expect(doc.int(doc.get(r, "missing"), -1)).toBe(-1);
  });
});

describe("strings", () => {
  it("decodes every escape (differential against expected text)", () => {
    // [JSON literal, expected decoded string]
    const cases: string[][] = [
      ["\"\\\"\"", "\""],
      ["\"\\\\\"", "\\"],
      ["\"\\/\"", "/"],
      ["\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t"],
      ["\"\\u0041\\u0062\"", "Ab"],
      ["\"\\u00e9\\u00E9\"", "éé"],
      ["\"\\u20AC\\u20ac\"", "€€"],
      ["\"\\uD834\\uDD1E\"", "𝄞"],
      ["\"\\ud83d\\ude00x\"", "😀x"],
      ["\"\\u0000\"", cc(0)],
      ["\"\\u001f\"", cc(0x1f)],
      ["\"\\ud800\"", cc(0xfffd)],                       // lone high at end
      ["\"\\udc00\"", cc(0xfffd)],                       // lone low
      ["\"\\ud800\\u0041\"", cc(0xfffd) + "A"],          // high followed by a non-surrogate escape
      ["\"\\ud800\\ud800\"", cc(0xfffd) + cc(0xfffd)],   // two highs
      ["\"\\ud800x\"", cc(0xfffd) + "x"],
      ["\"\\ud800\\ud83d\\ude00\"", cc(0xfffd) + "😀"],  // lone high, then a valid pair
      ["\"a\\\\nb\"", "a\\nb"],                          // escaped backslash followed by n
      ["\"é😀 raw\"", "é😀 raw"],                        // raw UTF-8, no escapes (no-copy path)
      ["\"mix é\\n😀\\\"\"", "mix é\n😀\""],
      ["\"\"", ""],
    ];
    for (let i = 0; i < cases.length; i++) {
      const doc = parseJson(bytesOf(cases[i][0]));
      expect(doc.ok).toBe(true, cases[i][0] + " " + doc.error);
      expect(doc.str(doc.root)).toBe(cases[i][1], cases[i][0]);
      // flag marks "has escapes": only then does str() take the decoding path.
      expect(doc.root!.flag).toBe(cases[i][0].includes("\\"), "flag of " + cases[i][0]);
    }
  });

  it("strIs and keyIs see through escapes", () => {
    const doc = parseJson(bytesOf('{"mo\\u0064el":"gpt\\u002d4","plain":"x"}'));
    const r = doc.root!;
    expect(doc.str(doc.get(r, "model"))).toBe("gpt-4");
    expect(doc.strIs(doc.get(r, "model"), "gpt-4")).toBe(true);
    expect(doc.strIs(doc.get(r, "model"), "gpt-5")).toBe(false);
    expect(doc.strIs(doc.get(r, "plain"), "x")).toBe(true);
    expect(doc.strIs(doc.get(r, "plain"), "xx")).toBe(false);
    expect(doc.strIs(r, "x")).toBe(false, "not a string node");
    expect(doc.str(r)).toBe("", "str() of a non-string is empty");
  });
});

describe("objects", () => {
  it("duplicate keys: the last one wins for get() and indexOf()", () => {
    const doc = parseJson(bytesOf('{"a":1,"b":2,"a":3}'));
    expect(doc.int(doc.get(doc.root, "a"))).toBe(3);
    expect(doc.indexOf(doc.root!, "a")).toBe(2);
    expect(doc.indexOf(doc.root!, "b")).toBe(1);
    expect(doc.indexOf(doc.root!, "c")).toBe(-1);
    expect(doc.get(doc.root, "c") === null).toBe(true);
    const arr = parseJson(bytesOf("[1]"));
    expect(arr.get(arr.root, "a") === null).toBe(true, "get on an array");
    expect(arr.indexOf(arr.root!, "a")).toBe(-1, "indexOf on an array");
    expect(arr.get(null, "a") === null).toBe(true);
  });
});

describe("depth limit", () => {
  it("accepts exactly MAX_DEPTH nested containers and refuses MAX_DEPTH+1", () => {
    expect(MAX_DEPTH).toBe(128);
    expect(parseJson(bytesOf("[".repeat(MAX_DEPTH) + "]".repeat(MAX_DEPTH))).ok).toBe(true, "arrays at MAX_DEPTH");
    const deep = parseJson(bytesOf("[".repeat(MAX_DEPTH + 1) + "]".repeat(MAX_DEPTH + 1)));
    expect(deep.ok).toBe(false, "arrays at MAX_DEPTH+1");
    expect(deep.error).toBe("JSON nested too deeply");
    expect(deep.errorAt).toBe(MAX_DEPTH, "at the first bracket past the limit");
    const obj = '{"a":';
    expect(parseJson(bytesOf(obj.repeat(MAX_DEPTH) + "1" + "}".repeat(MAX_DEPTH))).ok).toBe(true, "objects at MAX_DEPTH");
    expect(parseJson(bytesOf(obj.repeat(MAX_DEPTH + 1) + "1" + "}".repeat(MAX_DEPTH + 1))).ok).toBe(false, "objects at MAX_DEPTH+1");
    // Mixed nesting counts both kinds.
    const half = MAX_DEPTH / 2;
    expect(parseJson(bytesOf("[{\"a\":".repeat(half) + "1" + "}]".repeat(half))).ok).toBe(true);
    expect(parseJson(bytesOf("[" + "[{\"a\":".repeat(half) + "1" + "}]".repeat(half) + "]")).ok).toBe(false);
    // Scalars do not count as a level.
    expect(parseJson(bytesOf("[".repeat(MAX_DEPTH) + "1" + "]".repeat(MAX_DEPTH))).ok).toBe(true);
  });
  it("honours a custom limit", () => {
    expect(parseJson(bytesOf("[[1]]"), 2).ok).toBe(true);
    expect(parseJson(bytesOf("[[[1]]]"), 2).ok).toBe(false);
    expect(parseJson(bytesOf("1"), 0).ok).toBe(true, "a scalar root needs no depth");
    expect(parseJson(bytesOf("[]"), 0).ok).toBe(false);
  });
});

/** Every node's span reparses to a node of the same kind with the same text (recursive walk). */
function checkSpans(doc: JsonDoc, n: JNode): i32 {
  const t = text(doc, n);
  const sub = parseJson(bytesOf(t));
  let bad = 0;
  if (!sub.ok || sub.root!.kind != n.kind || sub.root!.start != 0 || sub.root!.end != String.UTF8.byteLength(t)) bad++;
  const items = n.items;
  if (items !== null) for (let i = 0; i < items.length; i++) bad += checkSpans(doc, items[i]);
  const keys = n.keys;
  if (keys !== null) for (let i = 0; i < keys.length; i++) {
    if (keys[i].kind != Kind.Str) bad++;
    bad += checkSpans(doc, keys[i]);
  }
  return bad;
}

describe("source spans", () => {
  it("copyTo reproduces the exact source text of each value", () => {
    const src = ' { "a" : [1, {"b":null}] , "s":"x\\ny" , "n": -1.5e3, "t":true,"e":{ } } ';
    const doc = parseJson(bytesOf(src));
    expect(doc.ok).toBe(true);
    const r = doc.root!;
    expect(text(doc, r)).toBe(src.trim());
    expect(r.start).toBe(1);
    expect(r.end).toBe(src.length - 1);
    expect(text(doc, doc.get(r, "a")!)).toBe('[1, {"b":null}]');
    expect(text(doc, doc.get(r, "s")!)).toBe('"x\\ny"', "strings keep quotes and escapes");
    expect(text(doc, doc.get(r, "n")!)).toBe("-1.5e3");
    expect(text(doc, doc.get(r, "t")!)).toBe("true");
    expect(text(doc, doc.get(r, "e")!)).toBe("{ }");
    expect(text(doc, r.keys![0])).toBe('"a"');
    expect(text(doc, doc.get(r, "a")!.items![1])).toBe('{"b":null}');
  });
  it("every node of a realistic body has a self-consistent span", () => {
    const src = '{"model":"gpt-4o","messages":[{"role":"system","content":"Be \\"brief\\" é"},' +
      '{"role":"user","content":[{"type":"text","text":"hi 😀"},{"type":"image_url","image_url":{"url":"data:x"}}]}],' +
      '"temperature":0.2,"stream":true,"stream_options":null,"stop":["\\n\\n"],"n":1,"logit_bias":{"50256":-100}}';
    const doc = parseJson(bytesOf(src));
    expect(doc.ok).toBe(true);
    expect(checkSpans(doc, doc.root!)).toBe(0);
  });
});

function apply(e: Edits): string {
  const b = new ByteBuilder(4);
  e.apply(b);
  return b.toString();
}

describe("Edits", () => {
  it("replace / insert / replaceNode splice bytes and keep the rest identical", () => {
    const doc = parseJson(bytesOf('{"model":"a", "x" : [1,2]}'));
    const r = doc.root!;
    const e = new Edits(doc);
    e.replaceNode(doc.get(r, "model")!, bytesOf('"gpt-4o"'));
    e.insert(doc.get(r, "x")!.items![1].start, bytesOf("0,"));
    expect(e.count).toBe(2);
    expect(apply(e)).toBe('{"model":"gpt-4o", "x" : [1,0,2]}');
  });

  it("applies edits in position order whatever the order they were added", () => {
    const doc = parseJson(bytesOf("[1,2,3]"));
    const it = doc.root!.items!;
    const e = new Edits(doc);
    e.replaceNode(it[2], bytesOf("c"));
    e.replaceNode(it[0], bytesOf("a"));
    e.replaceNode(it[1], bytesOf("b"));
    expect(apply(e)).toBe("[a,b,c]");
  });

  it("two inserts at the same position keep the order they were added", () => {
    const doc = parseJson(bytesOf("[]"));
    const e = new Edits(doc);
    e.insert(1, bytesOf("1"));
    e.insert(1, bytesOf(",2"));
    expect(apply(e)).toBe("[1,2]");
  });

  it("removeMember takes one adjacent comma and the whitespace before the next key", () => {
    // [source, key to remove, expected]
    const cases: string[][] = [
      ['{"a":1, "usage":null, "b":2}', "usage", '{"a":1, "b":2}'],
      ['{"a":1 , "usage" : null }', "usage", '{"a":1 }'],
      ['{ "usage":null }', "usage", "{  }"],
      ['{"usage":{"x":[1,{"y":2}]},"a":1}', "usage", '{"a":1}'],
      ['{"a":{"b":1},"c":2}', "a", '{"c":2}'],
    ];
    for (let i = 0; i < cases.length; i++) {
      const doc = parseJson(bytesOf(cases[i][0]));
      const e = new Edits(doc);
      e.removeMember(doc.root!, doc.indexOf(doc.root!, cases[i][1]));
      const out = apply(e);
      expect(out).toBe(cases[i][2], cases[i][0]);
      expect(parseJson(bytesOf(out)).ok).toBe(true, "still JSON: " + out);
    }
  });

  it("removeMember works on nested objects and ignores out-of-range indexes", () => {
    const doc = parseJson(bytesOf('{"o":{"keep":1,"drop":2},"z":0}'));
    const inner = doc.get(doc.root, "o")!;
    const e = new Edits(doc);
    e.removeMember(inner, doc.indexOf(inner, "drop"));
    e.removeMember(inner, -1);
    e.removeMember(inner, 2);
    expect(e.count).toBe(1);
    expect(apply(e)).toBe('{"o":{"keep":1},"z":0}');
  });

  it("addMember appends to empty, non-empty and nested objects", () => {
    // [source, path ("" = root, else a member of the root), key, raw value, expected]
    const cases: string[][] = [
      ["{}", "", "k", "true", '{"k":true}'],
      ["{ }", "", "k", "1", '{ "k":1}'],
      ['{"a":1}', "", "k", "{\"x\":null}", '{"a":1,"k":{"x":null}}'],
      ['{"a":1\n}', "", "k", "1", '{"a":1\n,"k":1}'],
      ['{"o":{}}', "o", "k", "1", '{"o":{"k":1}}'],
      ['{"o":{"a":[]},"b":2}', "o", "k", "[]", '{"o":{"a":[],"k":[]},"b":2}'],
      ["{}", "", "q\"uote\n", "0", '{"q\\"uote\\n":0}'],   // the key is JSON-escaped
    ];
    for (let i = 0; i < cases.length; i++) {
      const doc = parseJson(bytesOf(cases[i][0]));
      const target = cases[i][1].length ? doc.get(doc.root, cases[i][1])! : doc.root!;
      const e = new Edits(doc);
      e.addMember(target, cases[i][2], cases[i][3]);
      const out = apply(e);
      expect(out).toBe(cases[i][4], cases[i][0]);
      const re = parseJson(bytesOf(out));
      expect(re.ok).toBe(true, "still JSON: " + out);
      expect(re.get(cases[i][1].length ? re.get(re.root, cases[i][1]) : re.root, cases[i][2]) !== null).toBe(true, "member is readable");
    }
  });

  it("ignores an edit that overlaps an earlier one instead of corrupting the output", () => {
    const doc = parseJson(bytesOf('{"a":"xyz"}'));
    const e = new Edits(doc);
    e.replace(5, 10, bytesOf('"R"'));  // the whole string "xyz"
    e.replace(6, 7, bytesOf("Q"));     // inside it: overlaps → ignored
    expect(apply(e)).toBe('{"a":"R"}');
    // An insert at the start of a replaced span goes before it (inserts sort first on ties),
    // whatever order the two were added in.
    const e2 = new Edits(doc);
    e2.replace(5, 10, bytesOf("1"));
    e2.insert(5, bytesOf("[0,"));
    expect(apply(e2)).toBe('{"a":[0,1}');
    const e2b = new Edits(doc);
    e2b.insert(5, bytesOf("[0,"));
    e2b.replace(5, 10, bytesOf("1"));
    expect(apply(e2b)).toBe('{"a":[0,1}');
    // An edit ending exactly where the next starts is not an overlap.
    const e3 = new Edits(doc);
    e3.replace(1, 4, bytesOf('"b"'));
    e3.replace(4, 5, bytesOf(" : "));
    expect(apply(e3)).toBe('{"b" : "xyz"}');
  });

  it("BUG: removing two adjacent members, the second being the last, removes both", () => {
    // removeMember(1) spans [key1, key2) and removeMember(2) spans [end of value1, end of value2):
    // they overlap on the comma, so apply() silently drops the second removal.
    const doc = parseJson(bytesOf('{"a":1,"b":2,"c":3}'));
    const e = new Edits(doc);
    e.removeMember(doc.root!, 1);
    e.removeMember(doc.root!, 2);
    expect(apply(e)).toBe('{"a":1}');
  });

  it("BUG: removing the only member and adding another yields valid JSON", () => {
    // addMember writes a leading comma because the parsed object has members; the removal took
    // the only one, so the output is `{,"k":1}`.
    const doc = parseJson(bytesOf('{"a":1}'));
    const e = new Edits(doc);
    e.removeMember(doc.root!, 0);
    e.addMember(doc.root!, "k", "1");
    const out = apply(e);
    expect(parseJson(bytesOf(out)).ok).toBe(true, out);
    expect(out).toBe('{"k":1}');
  });
});
