// Hex and percent-encoding helpers. Expectations follow RFC 3986 (§2.1 percent-encoding, sources: OpenAI Embeddings
// unreserved set) with SigV4's rules on top: uppercase escape digits, '/' optionally kept, UTF-8
// bytes escaped one by one (the SigV4 test suite's get-utf8 vector: U+1234 → %E1%88%B4).

import { hexEncode, appendHex, uriEncode, appendUriEncoded, appendPercentDecoded } from "../../assembly/util/hex";
import { ByteBuilder, bytesOf } from "../../assembly/util/bytes";

function decode(s: string, plusAsSpace: bool): string {
  const src = bytesOf(s);
  const b = new ByteBuilder();
  appendPercentDecoded(b, src, 0, src.length, plusAsSpace);
  return b.toString();
}

describe("hex", () => {
  it("encodes bytes as lowercase hex, honouring spans", () => {
    const b = new Uint8Array(5);
    b[0] = 0x00; b[1] = 0x0f; b[2] = 0xa0; b[3] = 0xff; b[4] = 0x5c;
    expect(hexEncode(b)).toBe("000fa0ff5c");
    expect(hexEncode(b, 1, 3)).toBe("0fa0");
    expect(hexEncode(b, 3, 3)).toBe("");
    expect(hexEncode(b, -4, 99)).toBe("000fa0ff5c"); // clamped, no trap
    const out = new ByteBuilder(2);
    out.str("x=");
    appendHex(out, b, 2, 5);
    expect(out.toString()).toBe("x=a0ff5c");
  });
});

describe("uriEncode", () => {
  it("keeps exactly the unreserved set", () => {
    const unreserved = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    expect(uriEncode(unreserved, true)).toBe(unreserved);
    // Every other printable ASCII character is escaped with uppercase hex.
    expect(uriEncode(" !\"#$%&'()*+,/:;<=>?@[\\]^`{|}", true))
      .toBe("%20%21%22%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E%60%7B%7C%7D");
    expect(uriEncode(String.fromCharCode(0) + String.fromCharCode(0x7f), true)).toBe("%00%7F");
  });

  it("keeps '/' only when asked to", () => {
    expect(uriEncode("/a b/c", false)).toBe("/a%20b/c");
    expect(uriEncode("/a b/c", true)).toBe("%2Fa%20b%2Fc");
  });

  it("escapes UTF-8 bytes and re-escapes '%' (SigV4 double encoding)", () => {
    expect(uriEncode("\u1234", true)).toBe("%E1%88%B4");
    expect(uriEncode("é", true)).toBe("%C3%A9");
    expect(uriEncode("anthropic.claude-3-5-sonnet-20240620-v1%3A0", false)).toBe("anthropic.claude-3-5-sonnet-20240620-v1%253A0");
  });

  it("appends spans into a builder", () => {
    const src = bytesOf("xx a/b yy");
    const b = new ByteBuilder(1); // forces growth
    appendUriEncoded(b, src, 2, 7, false);
    expect(b.toString()).toBe("%20a/b%20");
  });
});

describe("percent decoding", () => {
  it("decodes escapes of either case and leaves malformed ones literal", () => {
    expect(decode("%41%62%2f%2F", false)).toBe("Ab//");
    expect(decode("%E1%88%B4", false)).toBe("\u1234");
    expect(decode("100%", false)).toBe("100%");
    expect(decode("%4", false)).toBe("%4");
    expect(decode("%g1%1g", false)).toBe("%g1%1g");
    expect(decode("a+b", false)).toBe("a+b");
    expect(decode("a+b%2B", true)).toBe("a b+");
  });
});
