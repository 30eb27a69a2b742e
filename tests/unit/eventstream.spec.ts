// AWS eventstream decoder (Bedrock ConverseStream / InvokeModelWithResponseStream). Frames and
// expected renderings come from tests/fixtures/eventstream/gen.mjs (an independent Node encoder that
// reproduces the botocore-verified vector of sources: AWS event stream encoding). Every stream is also fed split at
// every byte position and byte by byte: the messages must not depend on where chunks were cut.

import {
  EventStreamReader, EventStreamMessage, crc32, EVENTSTREAM_DEFAULT_MAX,
  HEADER_STRING, HEADER_UUID,
} from "../../assembly/streams/eventstream";
import { base64DecodeString } from "../../assembly/util/base64";
import { bytesOf } from "../../assembly/util/bytes";
import { utf8 } from "./helpers";
import {
  REFERENCE_HEX, REFERENCE_PAYLOAD, VALID, VALID_FIELDS, BAD, BAD_FIELDS,
  TRUNCATED_HEX, TRUNCATED_PRELUDE_HEX, SMALL_FRAME_HEX, ANTHROPIC_EVENT,
} from "./eventstream-vectors";

function hexNibble(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return c - 0x41 + 10;
}

/** Contiguous hex → bytes. */
function unhex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) {
    out[i] = <u8>((hexNibble(s.charCodeAt(2 * i)) << 4) | hexNibble(s.charCodeAt(2 * i + 1)));
  }
  return out;
}

function slice(b: Uint8Array, start: i32, end: i32): Uint8Array {
  const out = new Uint8Array(end - start);
  for (let i = start; i < end; i++) out[i - start] = b[i];
  return out;
}

/** Same rendering as gen.mjs: name(type)=value;... => payload. */
function renderOne(m: EventStreamMessage): string {
  let s = "";
  for (let i = 0; i < m.names.length; i++) {
    if (i > 0) s += ";";
    const t = m.types[i];
    let v = "";
    if (t == HEADER_STRING) v = m.strings[i];
    else if (t != HEADER_UUID) v = m.ints[i].toString();
    s += m.names[i] + "(" + (<i32>t).toString() + ")=" + v;
  }
  return s + " => " + utf8(m.payload);
}

function render(ms: EventStreamMessage[]): string {
  let s = "";
  for (let i = 0; i < ms.length; i++) {
    if (i > 0) s += " | ";
    s += renderOne(ms[i]);
  }
  return s;
}

class Result {
  constructor(public rendered: string, public count: i32, public error: string, public clean: bool) {}
}

/** Feeds the chunks in order (draining after each feed, as the filter does) then finish(). */
function readChunks(chunks: Uint8Array[], max: i32 = EVENTSTREAM_DEFAULT_MAX): Result {
  const r = new EventStreamReader(max);
  const all: EventStreamMessage[] = [];
  for (let i = 0; i < chunks.length; i++) {
    r.feed(chunks[i]);
    for (let j = 0; j < r.messages.length; j++) all.push(r.messages[j]);
    r.messages.length = 0;
  }
  const clean = r.finish();
  for (let j = 0; j < r.messages.length; j++) all.push(r.messages[j]);
  return new Result(render(all), all.length, r.error, clean);
}

function oneChunk(b: Uint8Array, max: i32 = EVENTSTREAM_DEFAULT_MAX): Result {
  const chunks: Uint8Array[] = [b];
  return readChunks(chunks, max);
}

function bytewise(b: Uint8Array): Result {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < b.length; i++) chunks.push(slice(b, i, i + 1));
  return readChunks(chunks);
}

function splitAt(b: Uint8Array, k: i32): Result {
  const chunks: Uint8Array[] = [slice(b, 0, k), slice(b, k, b.length)];
  return readChunks(chunks);
}

describe("crc32", () => {
  it("matches the IEEE check value and the sources: AWS event stream encoding vector's CRCs", () => {
    expect(crc32(bytesOf("123456789"))).toBe(0xcbf43926);
    expect(crc32(bytesOf(""))).toBe(0);
    const ref = unhex(REFERENCE_HEX);
    expect(crc32(ref, 0, 8)).toBe(0xb4ab9aee);
    expect(crc32(ref, 0, ref.length - 4)).toBe(0x1f944657);
    // Continuing from the prelude CRC over the rest gives the same value (botocore's method).
    expect(crc32(ref, 8, ref.length - 4, 0xb4ab9aee)).toBe(0x1f944657);
  });
});

describe("EventStreamReader", () => {
  it("decodes sources: AWS event stream encoding reference frame", () => {
    const r = new EventStreamReader();
    r.feed(unhex(REFERENCE_HEX));
    expect(r.error).toBe("");
    expect(r.messages.length).toBe(1);
    const m = r.messages[0];
    expect(m.eventType).toBe("contentBlockDelta");
    expect(m.messageType).toBe("event");
    expect(m.contentType).toBe("application/json");
    expect(m.exceptionType).toBe("");
    expect(m.header(":event-type")).toBe("contentBlockDelta");
    expect(m.header(":nope")).toBeNull();
    expect(utf8(m.payload)).toBe(REFERENCE_PAYLOAD);
    expect(r.pendingBytes).toBe(0);
    expect(r.finish()).toBe(true);
  });

  it("decodes each stream in one chunk (several frames per chunk)", () => {
    for (let i = 0; i < VALID.length; i += VALID_FIELDS) {
      const res = oneChunk(unhex(VALID[i + 1]));
      expect(res.error).toBe("", VALID[i]);
      expect(res.clean).toBe(true, VALID[i]);
      expect(res.rendered).toBe(VALID[i + 2], VALID[i]);
    }
  });

  it("gives identical messages for every split into two chunks", () => {
    for (let i = 0; i < VALID.length; i += VALID_FIELDS) {
      const b = unhex(VALID[i + 1]);
      for (let k = 0; k <= b.length; k++) {
        const res = splitAt(b, k);
        expect(res.error).toBe("", VALID[i] + " split at " + k.toString());
        expect(res.rendered).toBe(VALID[i + 2], VALID[i] + " split at " + k.toString());
      }
    }
  });

  it("gives identical messages byte by byte", () => {
    for (let i = 0; i < VALID.length; i += VALID_FIELDS) {
      const res = bytewise(unhex(VALID[i + 1]));
      expect(res.error).toBe("", VALID[i]);
      expect(res.clean).toBe(true, VALID[i]);
      expect(res.rendered).toBe(VALID[i + 2], VALID[i]);
    }
  });

  it("exposes the exception headers", () => {
    const r = new EventStreamReader();
    r.feed(unhex(VALID[VALID_FIELDS + 1]));
    expect(r.messages.length).toBe(2);
    const m = r.messages[1];
    expect(m.messageType).toBe("exception");
    expect(m.exceptionType).toBe("throttlingException");
    expect(m.eventType).toBe("");
    expect(utf8(m.payload)).toBe("{\"message\":\"Too many tokens, please wait before trying again.\"}");
  });

  it("carries an InvokeModel chunk whose bytes decode to the Anthropic event", () => {
    const r = new EventStreamReader();
    r.feed(unhex(VALID[2 * VALID_FIELDS + 1]));
    expect(r.messages.length).toBe(1);
    const m = r.messages[0];
    expect(m.eventType).toBe("chunk");
    const p = utf8(m.payload);
    const start = p.indexOf("\"bytes\":\"") + 9;
    const end = p.indexOf("\"", start);
    const decoded = base64DecodeString(p.substring(start, end));
    expect(decoded).not.toBeNull();
    expect(utf8(decoded!)).toBe(ANTHROPIC_EVENT);
  });

  it("parses every header value type", () => {
    const r = new EventStreamReader();
    r.feed(unhex(VALID[3 * VALID_FIELDS + 1]));
    expect(r.error).toBe("");
    expect(r.messages.length).toBe(3);
    const m = r.messages[0];
    expect(m.names.length).toBe(13);
    for (let t = 0; t < 10; t++) expect(<i32>m.types[t]).toBe(t);
    expect(m.ints[0]).toBe(1);            // true
    expect(m.ints[1]).toBe(0);            // false
    expect(m.ints[2]).toBe(-5);           // byte
    expect(m.ints[3]).toBe(-300);         // short
    expect(m.ints[4]).toBe(-70000);       // int
    expect(m.ints[5]).toBe(-5000000000);  // long
    expect(m.ints[6]).toBe(5);            // bytes length
    expect(m.strings[7]).toBe("sé");
    expect(m.ints[8]).toBe(1735689600123); // timestamp ms
    expect(m.eventType).toBe("after-all-types");
    expect(m.header("int")).toBeNull(); // not a string header
    expect(m.has("int")).toBe(true);
    expect(m.payload.length).toBe(0);
    expect(r.messages[1].names.length).toBe(0);
    expect(r.messages[2].ints[3]).toBe(i64.MIN_VALUE);
  });

  it("fails on malformed frames without trapping, keeping earlier messages", () => {
    for (let i = 0; i < BAD.length; i += BAD_FIELDS) {
      const name = BAD[i];
      const b = unhex(BAD[i + 1]);
      const want = I32.parseInt(BAD[i + 2]);
      const res = oneChunk(b);
      expect(res.count).toBe(want, name);
      expect(res.error.includes(BAD[i + 3])).toBe(true, name + ": " + res.error);
      expect(res.clean).toBe(false, name);
      const bw = bytewise(b);
      expect(bw.count).toBe(want, name + " (byte by byte)");
      expect(bw.error.includes(BAD[i + 3])).toBe(true, name + " (byte by byte): " + bw.error);
    }
  });

  it("ignores input after an error", () => {
    const r = new EventStreamReader();
    const bad = unhex(BAD[1]); // good frame + frame with corrupted prelude CRC
    r.feed(bad);
    expect(r.messages.length).toBe(1);
    const err = r.error;
    expect(r.failed).toBe(true);
    r.messages.length = 0;
    r.feed(unhex(REFERENCE_HEX));
    expect(r.messages.length).toBe(0);
    expect(r.error).toBe(err);
    expect(r.pendingBytes).toBe(0);
    expect(r.finish()).toBe(false);
  });

  it("reports an incomplete frame at finish", () => {
    let res = oneChunk(unhex(TRUNCATED_HEX));
    expect(res.count).toBe(1);
    expect(res.clean).toBe(false);
    expect(res.error).toBe("incomplete frame at end of stream: 50 bytes pending");
    res = bytewise(unhex(TRUNCATED_PRELUDE_HEX));
    expect(res.count).toBe(1);
    expect(res.clean).toBe(false);
    expect(res.error).toBe("incomplete frame at end of stream: 5 bytes pending");
    const r = new EventStreamReader();
    r.feed(unhex(TRUNCATED_HEX));
    expect(r.pendingBytes).toBe(50);
    expect(r.error).toBe(""); // not an error until the body ends
  });

  it("honours a configured maximum length", () => {
    const b = unhex(SMALL_FRAME_HEX);
    expect(b.length).toBe(64);
    let res = oneChunk(b, 64);
    expect(res.count).toBe(1);
    expect(res.error).toBe("");
    res = oneChunk(b, 63);
    expect(res.count).toBe(0);
    expect(res.error).toBe("total_length 64 exceeds maximum 63");
  });

  it("respects the len argument of feed", () => {
    const ref = unhex(REFERENCE_HEX);
    const big = new Uint8Array(ref.length + 10);
    for (let i = 0; i < ref.length; i++) big[i] = ref[i];
    for (let i = ref.length; i < big.length; i++) big[i] = 0xff; // garbage past len
    const r = new EventStreamReader();
    r.feed(big, ref.length);
    expect(r.messages.length).toBe(1);
    expect(r.finish()).toBe(true);
  });
});
