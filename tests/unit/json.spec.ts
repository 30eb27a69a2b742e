import { parseJson, Kind, Edits } from "../../assembly/json/json";
import { ByteBuilder, bytesOf } from "../../assembly/util/bytes";

function roundTrip(src: string): string {
  const doc = parseJson(bytesOf(src));
  const e = new Edits(doc);
  const b = new ByteBuilder();
  e.apply(b);
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
