// Incremental decoder for AWS `application/vnd.amazon.eventstream` (Bedrock ConverseStream and
// InvokeModelWithResponseStream bodies). Reference: sources: AWS event stream encoding and botocore eventstream.py.
//
// Frame (all integers big-endian):
//   u32 total_length | u32 headers_length | u32 prelude_crc = CRC32(bytes[0..8))
//   headers (headers_length bytes) | payload (total_length - headers_length - 16 bytes)
//   u32 message_crc = CRC32(bytes[0..total_length-4))
// Header, repeated: u8 name_len, name, u8 type, value. Types: 0 true, 1 false (no value), 2 int8,
// 3 int16, 4 int32, 5 int64, 6 bytes (u16 len + bytes), 7 string (u16 len + UTF-8),
// 8 timestamp (int64 ms), 9 uuid (16 bytes).
//
// feed() takes body chunks as they arrive: a frame may be split anywhere and a chunk may carry
// several frames. When no partial frame is carried, complete frames are decoded straight from the
// chunk and only the tail is copied. Any malformed input (bad CRC, impossible lengths, bad header
// block) puts the reader into a terminal error state: `error` says why and further input is
// ignored. Nothing here throws or aborts.
//
// Bounds: every load is preceded by an explicit check against the end of the span, then uses raw
// load<u8> on dataStart.

import { ByteBuilder } from "../util/bytes";

export const EVENTSTREAM_DEFAULT_MAX: i32 = 16 * 1024 * 1024;

/** Prelude (12) + message CRC (4). */
const MIN_FRAME: i32 = 16;

export const HEADER_TRUE: u8 = 0;
export const HEADER_FALSE: u8 = 1;
export const HEADER_BYTE: u8 = 2;
export const HEADER_SHORT: u8 = 3;
export const HEADER_INT: u8 = 4;
export const HEADER_LONG: u8 = 5;
export const HEADER_BYTES: u8 = 6;
export const HEADER_STRING: u8 = 7;
export const HEADER_TIMESTAMP: u8 = 8;
export const HEADER_UUID: u8 = 9;

// ---- CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib) ----

const CRC_TABLE = new StaticArray<u32>(256);
for (let n: u32 = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  unchecked((CRC_TABLE[n] = c));
}

/** CRC-32 over n bytes at ptr, continuing from crc (0 to start). Callers check the span. */
function crc32Raw(crc: u32, ptr: usize, n: i32): u32 {
  let c = ~crc;
  for (let i = 0; i < n; i++) {
    c = unchecked(CRC_TABLE[(c ^ <u32>load<u8>(ptr + <usize>i)) & 0xff]) ^ (c >>> 8);
  }
  return ~c;
}

/** CRC-32 of src[start, end) (bounds clamped), continuing from crc. */
export function crc32(src: Uint8Array, start: i32 = 0, end: i32 = -1, crc: u32 = 0): u32 {
  if (end < 0 || end > src.length) end = src.length;
  if (start < 0) start = 0;
  if (end <= start) return crc;
  return crc32Raw(crc, src.dataStart + <usize>start, end - start);
}

@inline function readU32BE(p: usize): u32 {
  return (<u32>load<u8>(p) << 24) | (<u32>load<u8>(p + 1) << 16) | (<u32>load<u8>(p + 2) << 8) | <u32>load<u8>(p + 3);
}

@inline function readU16BE(p: usize): i32 {
  return (<i32>load<u8>(p) << 8) | <i32>load<u8>(p + 1);
}

function readI64BE(p: usize): i64 {
  let v: u64 = 0;
  for (let i: usize = 0; i < 8; i++) v = (v << 8) | <u64>load<u8>(p + i);
  return <i64>v;
}

// ---- messages ----

export class EventStreamMessage {
  /** Header names, in frame order. */
  names: string[] = [];
  /** Header value types (HEADER_*), parallel to names. */
  types: u8[] = [];
  /** String values for type 7; "" for every other type. */
  strings: string[] = [];
  /**
   * Numeric values: 1/0 for bool, the signed value for byte/short/int/long, milliseconds for
   * timestamp, the value length for bytes; 0 for string and uuid.
   */
  ints: i64[] = [];
  payload: Uint8Array = new Uint8Array(0);

  /** `:message-type` (event | exception | error), "" if absent. */
  messageType: string = "";
  /** `:event-type` (messageStart, contentBlockDelta, …, chunk), "" if absent. */
  eventType: string = "";
  /** `:exception-type` for modeled exceptions, "" if absent. */
  exceptionType: string = "";
  /** `:content-type`, "" if absent. */
  contentType: string = "";

  /** Index of the header called name, or -1. */
  indexOf(name: string): i32 {
    const names = this.names;
    for (let i = 0, n = names.length; i < n; i++) if (unchecked(names[i]) == name) return i;
    return -1;
  }

  has(name: string): bool { return this.indexOf(name) >= 0; }

  /** String value of a type-7 header, or null when absent or of another type. */
  header(name: string): string | null {
    const i = this.indexOf(name);
    if (i < 0 || unchecked(this.types[i]) != HEADER_STRING) return null;
    return unchecked(this.strings[i]);
  }
}

export class EventStreamReader {
  /** Completed messages; the caller drains (reads then clears) this after each feed(). */
  messages: EventStreamMessage[] = [];
  /** "" while healthy; the reason once the reader has failed (terminal). */
  error: string = "";
  readonly maxMessageLength: i32;
  private pending: ByteBuilder = new ByteBuilder(256);

  /** maxMessageLength bounds total_length (clamped to [16, 16 MiB default]). */
  constructor(maxMessageLength: i32 = EVENTSTREAM_DEFAULT_MAX) {
    this.maxMessageLength = maxMessageLength < MIN_FRAME ? MIN_FRAME : maxMessageLength;
  }

  get failed(): bool { return this.error.length > 0; }

  /** Bytes of an incomplete frame carried to the next feed(). */
  get pendingBytes(): i32 { return this.pending.len; }

  feed(chunk: Uint8Array, len: i32 = -1): void {
    if (this.error.length > 0) return;
    const end = len < 0 || len > chunk.length ? chunk.length : len;
    if (end <= 0) return;
    if (this.pending.len == 0) {
      const used = this.decode(chunk, end);
      if (this.error.length == 0 && used < end) this.pending.bytes(chunk, used, end);
      return;
    }
    this.pending.bytes(chunk, 0, end);
    const p = this.pending;
    const used = this.decode(p.buf, p.len);
    if (this.error.length > 0) { p.reset(); return; }
    if (used > 0) {
      const rest = p.len - used;
      if (rest > 0) memory.copy(p.buf.dataStart, p.buf.dataStart + <usize>used, <usize>rest);
      p.len = rest;
    }
  }

  /**
   * End of the body. Returns true when the stream ended cleanly on a frame boundary; otherwise the
   * reader fails with "incomplete frame" (unless it had already failed) and returns false.
   */
  finish(): bool {
    if (this.error.length > 0) return false;
    if (this.pending.len > 0) {
      this.fail("incomplete frame at end of stream: " + this.pending.len.toString() + " bytes pending");
      return false;
    }
    return true;
  }

  private fail(msg: string): void {
    if (this.error.length == 0) this.error = msg;
    this.pending.reset();
  }

  /** Decodes complete frames from src[0, end); returns the offset after the last one consumed. */
  private decode(src: Uint8Array, end: i32): i32 {
    const base = src.dataStart;
    let pos = 0;
    while (end - pos >= 12) {
      const p = base + <usize>pos;
      const total = readU32BE(p);
      const headersLen = readU32BE(p + 4);
      const preludeCrc = readU32BE(p + 8);
      if (crc32Raw(0, p, 8) != preludeCrc) { this.fail("prelude CRC mismatch"); return pos; }
      if (total < <u32>MIN_FRAME) { this.fail("total_length " + total.toString() + " below 16"); return pos; }
      if (total > <u32>this.maxMessageLength) {
        this.fail("total_length " + total.toString() + " exceeds maximum " + this.maxMessageLength.toString());
        return pos;
      }
      if (headersLen > total - <u32>MIN_FRAME) {
        this.fail("headers_length " + headersLen.toString() + " exceeds total_length - 16");
        return pos;
      }
      const n = <i32>total;
      if (end - pos < n) break; // wait for the rest of this frame
      const msgCrc = readU32BE(p + <usize>(n - 4));
      if (crc32Raw(preludeCrc, p + 8, n - 12) != msgCrc) { this.fail("message CRC mismatch"); return pos; }
      const msg = this.parseMessage(src, pos + 12, pos + 12 + <i32>headersLen, pos + n - 4);
      if (msg == null) return pos; // fail() already called
      this.messages.push(msg);
      pos += n;
    }
    return pos;
  }

  /** Headers in src[hStart, hEnd), payload in src[hEnd, pEnd). All in range (checked by decode). */
  private parseMessage(src: Uint8Array, hStart: i32, hEnd: i32, pEnd: i32): EventStreamMessage | null {
    const m = new EventStreamMessage();
    const base = src.dataStart;
    let i = hStart;
    while (i < hEnd) {
      const nameLen = <i32>load<u8>(base + <usize>i);
      i++;
      if (hEnd - i < nameLen + 1) { this.fail("header name runs past the header block"); return null; }
      const name = String.UTF8.decodeUnsafe(base + <usize>i, <usize>nameLen);
      i += nameLen;
      const type = load<u8>(base + <usize>i);
      i++;
      let str = "";
      let num: i64 = 0;
      let size = 0; // bytes of value after the type byte
      if (type == HEADER_TRUE) num = 1;
      else if (type == HEADER_FALSE) num = 0;
      else if (type == HEADER_BYTE) size = 1;
      else if (type == HEADER_SHORT) size = 2;
      else if (type == HEADER_INT) size = 4;
      else if (type == HEADER_LONG || type == HEADER_TIMESTAMP) size = 8;
      else if (type == HEADER_UUID) size = 16;
      else if (type == HEADER_BYTES || type == HEADER_STRING) {
        if (hEnd - i < 2) { this.fail("header value length runs past the header block"); return null; }
        size = readU16BE(base + <usize>i);
        i += 2;
      } else {
        this.fail("unknown header value type " + (<i32>type).toString());
        return null;
      }
      if (hEnd - i < size) { this.fail("header value runs past the header block"); return null; }
      const v = base + <usize>i;
      if (type == HEADER_BYTE) num = <i64><i8>load<u8>(v);
      else if (type == HEADER_SHORT) num = <i64><i16>readU16BE(v);
      else if (type == HEADER_INT) num = <i64><i32>readU32BE(v);
      else if (type == HEADER_LONG || type == HEADER_TIMESTAMP) num = readI64BE(v);
      else if (type == HEADER_BYTES) num = size;
      else if (type == HEADER_STRING) str = String.UTF8.decodeUnsafe(v, <usize>size);
      i += size;
      if (m.indexOf(name) >= 0) { this.fail("duplicate header " + name); return null; }
      m.names.push(name);
      m.types.push(type);
      m.strings.push(str);
      m.ints.push(num);
      if (type == HEADER_STRING) {
        if (name == ":message-type") m.messageType = str;
        else if (name == ":event-type") m.eventType = str;
        else if (name == ":exception-type") m.exceptionType = str;
        else if (name == ":content-type") m.contentType = str;
      }
    }
    const plen = pEnd - hEnd;
    const payload = new Uint8Array(plen);
    if (plen > 0) memory.copy(payload.dataStart, base + <usize>hEnd, <usize>plen);
    m.payload = payload;
    return m;
  }
}
