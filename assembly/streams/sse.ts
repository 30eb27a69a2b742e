// Incremental Server-Sent Events reader and writer (WHATWG HTML §9.2 "event stream" parsing).
//
// feed() takes body chunks as they arrive; an event may be split anywhere, including between the
// \r and \n of a line ending. Complete lines inside a chunk are parsed in place; only the trailing
// partial line is copied and carried to the next chunk, so per-chunk cost does not depend on how
// much of the stream came before.

import { ByteBuilder } from "../util/bytes";

export class SseEvent {
  /** The `event:` field, "" when absent (i.e. "message"). */
  name: string = "";
  /** The joined `data:` lines (without the final newline). */
  data: Uint8Array;
  constructor(name: string, data: Uint8Array) { this.name = name; this.data = data; }

  dataIs(lit: string): bool {
    const d = this.data;
    if (d.length != lit.length) return false;
    for (let i = 0; i < d.length; i++) if (<u32>unchecked(d[i]) != <u32>lit.charCodeAt(i)) return false;
    return true;
  }
}

/**
 * Most bytes one event (its unfinished line plus the data gathered so far) may hold: the default
 * max_response_bytes. Without a bound, a provider sending an endless line makes the VM's memory
 * grow until it traps (linear memory never shrinks, and growth is several times the line).
 */
export const SSE_MAX_EVENT_BYTES: i32 = 8 * 1024 * 1024;

export class SseReader {
  /** Completed events; the caller drains (reads then clears) this after each feed(). */
  events: SseEvent[] = [];
  /** An event outgrew the limit: the reader dropped what it held and ignores all further input. */
  overflow: bool = false;
  constructor(public maxEventBytes: i32 = SSE_MAX_EVENT_BYTES) {}
  private partial: ByteBuilder = new ByteBuilder(256);
  private data: ByteBuilder = new ByteBuilder(256);
  private hasData: bool = false;
  private name: string = "";
  private skipLF: bool = false;
  private atStart: bool = true;
  /** Bytes held in the carried partial line (bounded by the caller's limits). */
  get pendingBytes(): i32 { return this.partial.len + this.data.len; }

  feed(chunk: Uint8Array, len: i32 = -1): void {
    if (this.overflow) return;
    const end = len < 0 || len > chunk.length ? chunk.length : len;
    let p = 0;
    if (this.atStart && end > 0) {
      // A UTF-8 byte order mark at the very start of the stream is ignored (WHATWG §9.2.6).
      // (A BOM split across the first chunks is not handled: no provider sends one that way.)
      if (end >= 3 && unchecked(chunk[0]) == 0xef && unchecked(chunk[1]) == 0xbb && unchecked(chunk[2]) == 0xbf) p = 3;
      this.atStart = false;
    }
    if (this.skipLF && p < end) {
      if (unchecked(chunk[p]) == 0x0a) p++;
      this.skipLF = false;
    }
    let lineStart = p;
    const base = chunk.dataStart;
    while (p < end) {
      const c = load<u8>(base + <usize>p); // p < end <= chunk.length
      if (c != 0x0a && c != 0x0d) { p++; continue; }
      if (this.partial.len > 0) {
        this.partial.bytes(chunk, lineStart, p);
        this.line(this.partial.buf, 0, this.partial.len);
        this.partial.reset();
      } else {
        this.line(chunk, lineStart, p);
      }
      if (this.overflow) return;
      p++;
      if (c == 0x0d) {
        if (p < end) { if (unchecked(chunk[p]) == 0x0a) p++; }
        else this.skipLF = true;
      }
      lineStart = p;
    }
    if (lineStart < end) {
      if (this.partial.len + this.data.len + (end - lineStart) > this.maxEventBytes) { this.overflowed(); return; }
      this.partial.bytes(chunk, lineStart, end);
    }
  }

  private overflowed(): void {
    this.overflow = true;
    // Let the oversize buffers go now rather than when the stream ends.
    this.partial = new ByteBuilder(16);
    this.data = new ByteBuilder(16);
    this.hasData = false;
  }

  /** End of stream: a final event not terminated by a blank line is still delivered (lenient). */
  finish(): void {
    if (this.overflow) return;
    if (this.partial.len > 0) {
      this.line(this.partial.buf, 0, this.partial.len);
      this.partial.reset();
    }
    this.dispatch();
  }

  private line(s: Uint8Array, start: i32, end: i32): void {
    if (start == end) { this.dispatch(); return; }
    if (unchecked(s[start]) == 0x3a) return; // comment
    let colon = start;
    while (colon < end && unchecked(s[colon]) != 0x3a) colon++;
    let vStart = colon < end ? colon + 1 : end;
    if (vStart < end && unchecked(s[vStart]) == 0x20) vStart++;
    const fLen = colon - start;
    if (fLen == 4 && unchecked(s[start]) == 0x64 && unchecked(s[start + 1]) == 0x61 && unchecked(s[start + 2]) == 0x74 && unchecked(s[start + 3]) == 0x61) {
      if (this.data.len + (end - vStart) + 1 > this.maxEventBytes) { this.overflowed(); return; }
      if (this.hasData) this.data.byte(0x0a);
      this.data.bytes(s, vStart, end);
      this.hasData = true;
    } else if (fLen == 5 && unchecked(s[start]) == 0x65 && unchecked(s[start + 1]) == 0x76 && unchecked(s[start + 2]) == 0x65 && unchecked(s[start + 3]) == 0x6e && unchecked(s[start + 4]) == 0x74) {
      this.name = String.UTF8.decodeUnsafe(s.dataStart + <usize>vStart, <usize>(end - vStart));
    }
    // id and retry are not used by any provider stream we translate.
  }

  private dispatch(): void {
    if (this.hasData) this.events.push(new SseEvent(this.name, this.data.toBytes()));
    this.data.reset();
    this.hasData = false;
    this.name = "";
  }
}

/** Writes one SSE event: optional `event:` line, `data:` line(s), blank line. */
export function writeSse(out: ByteBuilder, name: string, data: Uint8Array, start: i32 = 0, end: i32 = -1): void {
  if (end < 0) end = data.length;
  if (name.length > 0) { out.str("event: "); out.str(name); out.byte(0x0a); }
  out.str("data: ");
  // A newline inside data must become a new data: line to keep the framing intact.
  if (end > data.length) end = data.length;
  let run = start;
  const base = data.dataStart;
  for (let i = start; i < end; i++) {
    if (load<u8>(base + <usize>i) == 0x0a) { out.bytes(data, run, i); out.str("\ndata: "); run = i + 1; }
  }
  out.bytes(data, run, end);
  out.byte(0x0a);
  out.byte(0x0a);
}
