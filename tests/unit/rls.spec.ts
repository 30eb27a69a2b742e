// RLS wire format (assembly/limits/rls.ts). Expected bytes are worked examples of the RLS
// messages (sources: Envoy rate limit service API), computed with an independent encoder, and
// hand encodings derived from the
// protobuf encoding rules (tag = field << 3 | wire type; varints little-endian base 128), not from
// the code's output. The decoder must never trap: malformed inputs give an error value.

import {
  RlsRequest, RlsDescriptor, RlsResponse, RlsStatus, encodeRateLimitRequest, rateLimitRequestBytes,
  decodeRateLimitResponse, writeVarint, writeTag, varintSize,
  CODE_OK, CODE_OVER_LIMIT, CODE_UNKNOWN, UNIT_MINUTE, UNIT_DAY, UNIT_WEEK, UNIT_SECOND,
} from "../../assembly/limits/rls";
import { ByteBuilder } from "../../assembly/util/bytes";
import { hexOf, hexOfBuilder, fromHex } from "./helpers";

function encodeHex(req: RlsRequest): string {
  const out = new ByteBuilder();
  const err = encodeRateLimitRequest(req, out);
  return err.length ? "ERROR " + err : hexOfBuilder(out);
}

function aliceRequest(): RlsRequest {
  return new RlsRequest("llm").add(new RlsDescriptor().entry("user", "alice"));
}

/** A readable summary of a decoded response, to compare whole responses at once. */
function render(r: RlsResponse): string {
  let s = r.error.length ? "error: " + r.error : "overall=" + r.overallCode.toString();
  for (let i = 0; i < r.statuses.length; i++) {
    const st = r.statuses[i];
    s += " [" + st.code.toString();
    const lim = st.currentLimit;
    if (lim != null) s += " limit=" + lim.requestsPerUnit.toString() + "/" + lim.unit.toString() + (lim.name.length ? " '" + lim.name + "'" : "");
    s += " rem=" + st.limitRemaining.toString();
    if (st.hasDurationUntilReset) s += " reset=" + st.resetSeconds.toString() + "s" + (st.resetNanos != 0 ? st.resetNanos.toString() + "ns" : "");
    s += "]";
  }
  for (let i = 0; i + 1 < r.responseHeaders.length; i += 2) s += " >" + r.responseHeaders[i] + "=" + r.responseHeaders[i + 1];
  for (let i = 0; i + 1 < r.requestHeaders.length; i += 2) s += " <" + r.requestHeaders[i] + "=" + r.requestHeaders[i + 1];
  return s;
}

function decodeHex(hex: string): RlsResponse { return decodeRateLimitResponse(hex.length ? fromHex(hex) : new Uint8Array(0)); }

describe("RateLimitRequest encoding", () => {
  it("check: per-descriptor hits_addend 0 is sent as the empty wrapper (sources: Envoy rate limit service API)", () => {
    const req = aliceRequest();
    req.descriptors[0].hits(0);
    expect(encodeHex(req)).toBe("0a 03 6c 6c 6d 12 11 0a 0d 0a 04 75 73 65 72 12 05 61 6c 69 63 65 1a 00");
  });

  it("a new descriptor carries the hits_addend wrapper by default (0: check only)", () => {
    expect(encodeHex(aliceRequest())).toBe("0a 03 6c 6c 6d 12 11 0a 0d 0a 04 75 73 65 72 12 05 61 6c 69 63 65 1a 00");
  });

  it("debit of 1234 tokens in the per-descriptor wrapper (sources: Envoy rate limit service API)", () => {
    const req = aliceRequest();
    req.descriptors[0].hits(1234);
    expect(encodeHex(req)).toBe("0a 03 6c 6c 6d 12 14 0a 0d 0a 04 75 73 65 72 12 05 61 6c 69 63 65 1a 03 08 d2 09");
  });

  it("no wrapper + request-level hits_addend (field 3, uint32)", () => {
    const req = aliceRequest();
    req.descriptors[0].noHits();
    req.hitsAddend = 5;
    // descriptor = one entry (2 + 13 bytes) = 15 = 0x0f; then 18 05
    expect(encodeHex(req)).toBe("0a 03 6c 6c 6d 12 0f 0a 0d 0a 04 75 73 65 72 12 05 61 6c 69 63 65 18 05");
    req.hitsAddend = 0; // proto3 default: not on the wire
    expect(encodeHex(req)).toBe("0a 03 6c 6c 6d 12 0f 0a 0d 0a 04 75 73 65 72 12 05 61 6c 69 63 65");
  });

  it("several entries, a limit override and an empty entry value", () => {
    const d = new RlsDescriptor().entry("tenant", "acme").entry("model", "gpt-4o").limitOverride(5000, UNIT_DAY);
    // entries 16 + 17 bytes, override 12 05 08 88 27 10 04 (7), wrapper 1a 00 (2): 42 = 0x2a
    expect(encodeHex(new RlsRequest("llm").add(d))).toBe(
      "0a 03 6c 6c 6d 12 2a " +
      "0a 0e 0a 06 74 65 6e 61 6e 74 12 04 61 63 6d 65 " +
      "0a 0f 0a 05 6d 6f 64 65 6c 12 06 67 70 74 2d 34 6f " +
      "12 05 08 88 27 10 04 1a 00");
    // An empty value is the proto3 default: only the key is sent.
    const e = new RlsDescriptor().entry("model", "").hits(1);
    expect(encodeHex(new RlsRequest("d").add(e))).toBe("0a 01 64 12 0d 0a 07 0a 05 6d 6f 64 65 6c 1a 02 08 01");
  });

  it("two descriptors in order, UTF-8 values and the largest addend", () => {
    const req = new RlsRequest("llm")
      .add(new RlsDescriptor().entry("u", "é").hits(u64.MAX_VALUE))
      .add(new RlsDescriptor().entry("k", "v").hits(300));
    // entry 9 + wrapper of 2^64-1 (1a 0b 08 + 10-byte varint) 13 = 0x16; 300 = ac 02: 8 + 5 = 0x0d
    expect(encodeHex(req)).toBe(
      "0a 03 6c 6c 6d " +
      "12 16 0a 07 0a 01 75 12 02 c3 a9 1a 0b 08 ff ff ff ff ff ff ff ff ff 01 " +
      "12 0d 0a 06 0a 01 6b 12 01 76 1a 03 08 ac 02");
  });

  it("appends to what the builder already holds", () => {
    const out = new ByteBuilder();
    out.byte(0xee);
    expect(encodeRateLimitRequest(aliceRequest(), out)).toBe("");
    expect(hexOf(out.buf, 3)).toBe("ee 0a 03");
    expect(out.len).toBe(1 + 24);
  });

  it("refuses requests the service rejects, appending nothing", () => {
    const out = new ByteBuilder();
    expect(encodeRateLimitRequest(new RlsRequest("").add(new RlsDescriptor().entry("a", "b")), out)).toBe("rate limit request: empty domain");
    expect(encodeRateLimitRequest(new RlsRequest("llm"), out)).toBe("rate limit request: no descriptors");
    expect(encodeRateLimitRequest(new RlsRequest("llm").add(new RlsDescriptor()), out)).toBe("rate limit request: descriptor 0 has no entries");
    const bad = new RlsRequest("llm").add(new RlsDescriptor().entry("a", "b")).add(new RlsDescriptor().entry("a", "b").entry("", "x"));
    expect(encodeRateLimitRequest(bad, out)).toBe("rate limit request: descriptor 1 entry 1 has an empty key");
    const unpaired = new RlsDescriptor().entry("a", "b");
    unpaired.values.push("c");
    expect(encodeRateLimitRequest(new RlsRequest("llm").add(unpaired), out)).toBe("rate limit request: descriptor 0 has unpaired keys and values");
    expect(out.len).toBe(0);
    expect(rateLimitRequestBytes(new RlsRequest("llm"))).toBeNull();
  });

  it("varint sizes at the 7-bit boundaries", () => {
    const vals: u64[] = [0, 127, 128, 16383, 16384, 0xffffffff, u64.MAX_VALUE];
    const sizes: i32[] = [1, 1, 2, 2, 3, 5, 10];
    for (let i = 0; i < vals.length; i++) {
      expect(varintSize(vals[i])).toBe(sizes[i]);
      const b = new ByteBuilder();
      writeVarint(b, vals[i]);
      expect(b.len).toBe(sizes[i]);
    }
  });
});

describe("RateLimitResponse decoding", () => {
  it("the worked response (sources: Envoy rate limit service API)", () => {
    const r = decodeHex("08 01 12 10 08 01 12 05 08 e8 07 10 02 18 a0 06 22 02 08 2a");
    expect(render(r)).toBe("overall=1 [1 limit=1000/2 rem=800 reset=42s]");
    expect(r.ok).toBe(true);
    expect(r.overLimit).toBe(false);
    expect(r.statuses[0].currentLimit!.unit).toBe(UNIT_MINUTE);
    expect(r.statuses[0].exhausted()).toBe(false);
  });

  it("a descriptor without a limit: no current_limit, remaining 0 is not exhaustion", () => {
    const r = decodeHex("08 01 12 02 08 01");
    expect(render(r)).toBe("overall=1 [1 rem=0]");
    expect(r.statuses[0].currentLimit == null).toBe(true);
    expect(r.statuses[0].exhausted()).toBe(false);
  });

  it("used == limit: OK with remaining 0 and a limit is exhausted", () => {
    const r = decodeHex("08 01 12 0b 08 01 12 05 08 f4 03 10 04 22 00");
    expect(render(r)).toBe("overall=1 [1 limit=500/4 rem=0 reset=0s]");
    expect(r.statuses[0].exhausted()).toBe(true);
  });

  it("empty input: UNKNOWN overall code, no statuses, no error", () => {
    const r = decodeHex("");
    expect(render(r)).toBe("overall=0");
    expect(r.ok).toBe(true);
    expect(r.overallCode).toBe(CODE_UNKNOWN);
  });

  it("decodes a sub-range (e.g. after a gRPC frame header)", () => {
    const framed = fromHex("00 00 00 00 02 08 02 ff");
    const r = decodeRateLimitResponse(framed, 5, 7);
    expect(render(r)).toBe("overall=2");
    expect(render(decodeRateLimitResponse(framed, 9, 7))).toBe("error: rate limit response: invalid range");
    expect(render(decodeRateLimitResponse(framed, -1, 7))).toBe("error: rate limit response: invalid range");
  });

  it("full 64-bit varints: uint32 fields truncate, enums sign-extend, int64 seconds", () => {
    const r = decodeHex(
      "08 ff ff ff ff ff ff ff ff ff 01 " +                          // overall_code -1
      "12 19 18 ff ff ff ff ff ff ff ff ff 01 " +                    // limit_remaining 2^64-1 → u32 max
      "22 0c 08 ff ff ff ff ff ff ff ff 7f 10 05");                  // seconds 2^63-1, nanos 5
    expect(render(r)).toBe("overall=-1 [0 rem=4294967295 reset=9223372036854775807s5ns]");
  });

  it("headers: value, raw_value, and request headers", () => {
    const r = decodeHex(
      "08 02 " +
      "1a 09 0a 01 61 12 01 62 1a 01 7a " +   // key a, value b (raw_value z ignored: value is set)
      "1a 06 0a 01 63 1a 01 64 " +            // key c, raw_value d
      "22 06 0a 01 78 12 01 79");             // request header x=y
    expect(render(r)).toBe("overall=2 >a=b >c=d <x=y");
  });

  it("repeated current_limit occurrences merge (protobuf rule for embedded messages)", () => {
    const r = decodeHex("12 0a 12 02 08 0a 12 04 10 01 1a 00");
    expect(render(r)).toBe("overall=0 [0 limit=10/1 rem=0]");
  });
});

describe("RateLimitResponse malformed input", () => {
  it("truncated varints", () => {
    expect(render(decodeHex("08"))).toBe("error: rate limit response: truncated varint at byte 1");
    expect(render(decodeHex("08 80"))).toBe("error: rate limit response: truncated varint at byte 1");
    expect(render(decodeHex("80"))).toBe("error: rate limit response: truncated varint at byte 0");
    expect(render(decodeHex("12 03 18 80 80"))).toBe("error: rate limit response: truncated varint at byte 3");
  });

  it("varints longer than 64 bits", () => {
    expect(render(decodeHex("08 ff ff ff ff ff ff ff ff ff 02"))).toBe("error: rate limit response: varint longer than 64 bits at byte 1");
    expect(render(decodeHex("08 80 80 80 80 80 80 80 80 80 80 01"))).toBe("error: rate limit response: varint longer than 64 bits at byte 1");
  });

  it("lengths past the end, including huge ones", () => {
    expect(render(decodeHex("12 05 08 01"))).toBe("error: rate limit response: length 5 past the end at byte 1");
    expect(render(decodeHex("12 ff ff ff ff 0f 08 01"))).toBe("error: rate limit response: length 4294967295 past the end at byte 1");
    expect(render(decodeHex("12 ff ff ff ff ff ff ff ff ff 01"))).toBe("error: rate limit response: length 18446744073709551615 past the end at byte 1");
    expect(render(decodeHex("12 80 80 80 80 08"))).toBe("error: rate limit response: length 2147483648 past the end at byte 1");
    // Inside a status: the nested length must fit the status, not just the buffer.
    expect(render(decodeHex("12 02 12 05 08 01 08 01 08 01"))).toBe("error: rate limit response: length 5 past the end at byte 3");
    expect(render(decodeHex("1a 03 0a 05 61"))).toBe("error: rate limit response: length 5 past the end at byte 3");
    // An unknown length-delimited field too.
    expect(render(decodeHex("2a 09 00"))).toBe("error: rate limit response: length 9 past the end at byte 1");
  });

  it("wire types 3, 4, 6 and 7, at top level and nested", () => {
    expect(render(decodeHex("0b"))).toBe("error: rate limit response: unsupported wire type 3 at byte 0");
    expect(render(decodeHex("0c"))).toBe("error: rate limit response: unsupported wire type 4 at byte 0");
    expect(render(decodeHex("08 01 0e 00"))).toBe("error: rate limit response: unsupported wire type 6 at byte 2");
    expect(render(decodeHex("0f"))).toBe("error: rate limit response: unsupported wire type 7 at byte 0");
    expect(render(decodeHex("12 03 08 01 0b 08 01"))).toBe("error: rate limit response: unsupported wire type 3 at byte 4");
    expect(render(decodeHex("12 06 12 04 10 01 1f 00"))).toBe("error: rate limit response: unsupported wire type 7 at byte 6");
    expect(render(decodeHex("12 04 22 02 0e 00"))).toBe("error: rate limit response: unsupported wire type 6 at byte 4");
    expect(render(decodeHex("1a 01 0c"))).toBe("error: rate limit response: unsupported wire type 4 at byte 2");
  });

  it("field number 0 and out-of-range field numbers", () => {
    expect(render(decodeHex("00 01"))).toBe("error: rate limit response: invalid field number 0 at byte 0");
    expect(render(decodeHex("12 02 02 00"))).toBe("error: rate limit response: invalid field number 0 at byte 2");
    expect(render(decodeHex("80 80 80 80 10 00"))).toBe("error: rate limit response: invalid field number 536870912 at byte 0");
  });

  it("truncated fixed-width fields", () => {
    expect(render(decodeHex("09 01 02 03"))).toBe("error: rate limit response: truncated fixed64 at byte 0");
    expect(render(decodeHex("0d 01"))).toBe("error: rate limit response: truncated fixed32 at byte 0");
    expect(render(decodeHex("12 03 25 01 02 03 04"))).toBe("error: rate limit response: truncated fixed32 at byte 2");
  });

  it("every prefix and many single-byte mutations of a valid response decode without trapping", () => {
    const good = fullResponse(true);
    let errors = 0;
    for (let n = 0; n <= good.length; n++) {
      const r = decodeRateLimitResponse(good, 0, n);
      if (!r.ok) errors++;
    }
    expect(errors).toBeGreaterThan(0);
    expect(decodeRateLimitResponse(good).ok).toBe(true);
    const values: u8[] = [0x00, 0x01, 0x07, 0x0b, 0x0f, 0x12, 0x7f, 0x80, 0xff];
    for (let i = 0; i < good.length; i++) {
      for (let j = 0; j < values.length; j++) {
        const m = new Uint8Array(good.length);
        m.set(good);
        m[i] = values[j];
        decodeRateLimitResponse(m); // must return (any result) rather than trap
      }
    }
  });
});

// ------------------------------------------------------------------------------------------------
// Round trip: a test-side RateLimitResponse encoder, optionally interleaving unknown fields of
// every skippable wire type (and known field numbers with the wrong wire type) at every level.

function lenField(out: ByteBuilder, field: u32, body: ByteBuilder): void {
  writeTag(out, field, 2);
  writeVarint(out, <u64>body.len);
  out.bytes(body.buf, 0, body.len);
}

function strField(out: ByteBuilder, field: u32, s: string): void {
  const b = new ByteBuilder();
  b.str(s);
  lenField(out, field, b);
}

function varField(out: ByteBuilder, field: u32, v: u64): void { writeTag(out, field, 0); writeVarint(out, v); }

function junk(out: ByteBuilder, on: bool, seed: u32): void {
  if (!on) return;
  varField(out, 90 + seed, 0xdeadbeef);                                        // unknown varint
  writeTag(out, 91 + seed, 1); for (let i = 0; i < 8; i++) out.byte(<u8>(i + 1)); // fixed64
  writeTag(out, 92 + seed, 5); for (let i = 0; i < 4; i++) out.byte(0xff);      // fixed32
  strField(out, 536870911, "unknown \x00 bytes");                              // max field number
}

function header(out: ByteBuilder, field: u32, k: string, v: string, unknown: bool): void {
  const h = new ByteBuilder();
  junk(h, unknown, 0);
  strField(h, 1, k);
  junk(h, unknown, 1);
  strField(h, 2, v);
  lenField(out, field, h);
}

function status(out: ByteBuilder, code: i32, rpu: u32, unit: i32, name: string, remaining: u32, reset: i64, unknown: bool): void {
  const s = new ByteBuilder();
  junk(s, unknown, 0);
  varField(s, 1, <u64>code);
  if (rpu != 0) {
    const l = new ByteBuilder();
    junk(l, unknown, 1);
    varField(l, 1, <u64>rpu);
    varField(l, 2, <u64>unit);
    if (unknown) { writeTag(l, 1, 5); l.byte(9); l.byte(9); l.byte(9); l.byte(9); } // field 1 as fixed32: skipped
    strField(l, 3, name);
    lenField(s, 2, l);
  }
  junk(s, unknown, 2);
  if (remaining != 0) varField(s, 3, <u64>remaining);
  if (reset >= 0) {
    const d = new ByteBuilder();
    junk(d, unknown, 3);
    varField(d, 1, <u64>reset);
    lenField(s, 4, d);
  }
  if (unknown) {
    const q = new ByteBuilder();
    varField(q, 1, 77);
    strField(q, 3, "quota-id");
    lenField(s, 5, q); // quota (hidden field 5)
  }
  lenField(out, 2, s);
}

function fullResponse(unknown: bool): Uint8Array {
  const out = new ByteBuilder();
  junk(out, unknown, 0);
  varField(out, 1, CODE_OVER_LIMIT);
  status(out, CODE_OK, 1000000, UNIT_WEEK, "weekly", 250000, 3600, unknown);
  junk(out, unknown, 1);
  status(out, CODE_OVER_LIMIT, 100, UNIT_SECOND, "", 0, 1, unknown);
  status(out, CODE_OK, 0, 0, "", 0, -1, unknown); // no limit configured
  if (unknown) {
    strField(out, 5, "raw body");                              // raw_body
    const st = new ByteBuilder();                              // dynamic_metadata Struct {fields {key "k" value {string_value "v"}}}
    const entry = new ByteBuilder();
    strField(entry, 1, "k");
    const val = new ByteBuilder();
    strField(val, 3, "v");
    lenField(entry, 2, val);
    lenField(st, 1, entry);
    lenField(out, 6, st);
    writeTag(out, 2, 0); writeVarint(out, 5);                 // field 2 with wire type 0: skipped
  }
  header(out, 3, "RateLimit-Limit", "100", unknown);
  junk(out, unknown, 2);
  header(out, 3, "RateLimit-Remaining", "0", unknown);
  header(out, 4, "x-tenant", "acme", unknown);
  return out.toBytes();
}

describe("RateLimitResponse round trip", () => {
  it("decodes the same response with and without unknown fields interleaved", () => {
    const want = "overall=2 [1 limit=1000000/7 'weekly' rem=250000 reset=3600s] [2 limit=100/1 rem=0 reset=1s] [1 rem=0]" +
      " >RateLimit-Limit=100 >RateLimit-Remaining=0 <x-tenant=acme";
    const plain = fullResponse(false);
    const noisy = fullResponse(true);
    expect(noisy.length).toBeGreaterThan(plain.length + 100);
    expect(render(decodeRateLimitResponse(plain))).toBe(want);
    expect(render(decodeRateLimitResponse(noisy))).toBe(want);
    const r = decodeRateLimitResponse(noisy);
    expect(r.overLimit).toBe(true);
    expect(r.statuses[1].exhausted()).toBe(true);
    expect(r.statuses[2].exhausted()).toBe(false);
  });
});
