// AWS `application/vnd.amazon.eventstream` encoder for tests (sources: AWS event stream encoding), written
// independently of assembly/streams/eventstream.ts: its own table-driven CRC-32 (IEEE, as zlib;
// Node 20 has no zlib.crc32). On load it must reproduce the botocore-verified vector of sources: AWS event stream encoding byte
// for byte, so a fixture encoded here is what Bedrock would send.
//
// Fixture format (`upstream-response.eventstream.json`): either an array of frames or
// `{"frames": [...], "truncate_bytes": n, "flip_byte": k}` (the last n bytes of the encoded stream
// are cut off, a connection that died mid-frame; the lowest bit of byte k of the stream is
// flipped, a frame corrupted in transit whose CRC no longer matches). A frame is `{"headers": {name: string value, ...}, "payload":
// <JSON value, serialized with JSON.stringify> | "payload_text": "<exact payload text>" |
// "chunk": <Anthropic Messages event>}`; `chunk` is InvokeModelWithResponseStream's payload
// `{"bytes": base64(JSON.stringify(event)), "p": padding}` (sources: Claude on Bedrock and Vertex AI).
// Bedrock's headers are all strings (type 7); every other header type is covered by the decoder's
// unit vectors (tests/fixtures/eventstream/gen.mjs).

import { readFileSync } from "node:fs";

const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c >>> 0;
}

export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface EventFrame {
  headers: Record<string, string>;
  payload?: unknown;
  payload_text?: string;
  chunk?: unknown;
}

export interface EventStreamFile { frames: EventFrame[]; truncate_bytes?: number; flip_byte?: number }

function stringHeaders(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const nb = Buffer.from(name, "utf8");
    const vb = Buffer.from(value, "utf8");
    if (nb.length > 255 || vb.length > 65535) throw new Error(`header ${name} too long`);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(vb.length);
    parts.push(Buffer.from([nb.length]), nb, Buffer.from([7]), len, vb);
  }
  return Buffer.concat(parts);
}

/** One frame: prelude (total, headers length, prelude CRC), headers, payload, message CRC. */
export function encodeFrame(headers: Record<string, string>, payload: Buffer | string): Buffer {
  const h = stringHeaders(headers);
  const p = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const prelude = Buffer.alloc(8);
  prelude.writeUInt32BE(16 + h.length + p.length, 0);
  prelude.writeUInt32BE(h.length, 4);
  const pc = Buffer.alloc(4);
  pc.writeUInt32BE(crc32(prelude));
  const body = Buffer.concat([prelude, pc, h, p]);
  const mc = Buffer.alloc(4);
  mc.writeUInt32BE(crc32(body));
  return Buffer.concat([body, mc]);
}

// The sources: AWS event stream encoding vector (verified with botocore's EventStreamBuffer): the encoder must reproduce it.
const REF_HEX = "0000009400000057b4ab9aee0b3a6576656e742d74797065070011636f6e74656e74426c6f636b44656c74610d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22636f6e74656e74426c6f636b496e646578223a302c2264656c7461223a7b2274657874223a224869227d7d1f944657";
{
  const ref = encodeFrame({ ":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event" }, '{"contentBlockIndex":0,"delta":{"text":"Hi"}}');
  if (ref.toString("hex") !== REF_HEX) throw new Error("tests/support/eventstream.ts: the encoder does not reproduce sources: AWS event stream encoding vector");
  if (crc32(Buffer.from("123456789")).toString(16) !== "cbf43926") throw new Error("CRC-32 check value");
}

export function framePayload(f: EventFrame): Buffer {
  if (f.payload_text !== undefined) return Buffer.from(f.payload_text, "utf8");
  if (f.chunk !== undefined) return Buffer.from(chunkPayload(f.chunk), "utf8");
  return Buffer.from(JSON.stringify(f.payload ?? {}), "utf8");
}

/** The frames of a fixture file, each encoded, plus how many trailing bytes to drop. */
export function encodeEventStreamFile(file: EventStreamFile | EventFrame[]): { frames: Buffer[]; truncate: number } {
  const spec: EventStreamFile = Array.isArray(file) ? { frames: file } : file;
  return { frames: spec.frames.map((f) => encodeFrame(f.headers, framePayload(f))), truncate: spec.truncate_bytes ?? 0 };
}

/**
 * The bytes Bedrock would write, cut into one write per frame (the last write shortened when the
 * stream is truncated, and dropped if nothing of it is left).
 */
export function eventStreamWrites(file: EventStreamFile | EventFrame[]): Buffer[] {
  const { frames, truncate } = encodeEventStreamFile(file);
  let cut = truncate;
  const out = frames.map((f) => Buffer.from(f));
  const flip = Array.isArray(file) ? undefined : file.flip_byte;
  if (flip !== undefined) {
    let at = flip;
    const frame = out.find((f) => (at < f.length ? true : ((at -= f.length), false)));
    if (!frame) throw new Error(`flip_byte ${flip} is past the end of the stream`);
    frame[at] ^= 0x01;
  }
  while (cut > 0 && out.length) {
    const last = out[out.length - 1];
    if (last.length <= cut) { cut -= last.length; out.pop(); }
    else { out[out.length - 1] = last.subarray(0, last.length - cut); cut = 0; }
  }
  return out;
}

export function loadEventStreamFile(path: string): Buffer[] {
  return eventStreamWrites(JSON.parse(readFileSync(path, "utf8")));
}

/** Headers of a ConverseStream / InvokeModel stream event frame. */
export function eventHeaders(eventType: string): Record<string, string> {
  return { ":event-type": eventType, ":content-type": "application/json", ":message-type": "event" };
}

/** An InvokeModelWithResponseStream `chunk` payload: the Messages event, base64, with padding. */
export function chunkPayload(event: unknown, padding = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"): string {
  return JSON.stringify({ bytes: Buffer.from(JSON.stringify(event), "utf8").toString("base64"), p: padding });
}

/** Decodes a stream (for tests that inspect what a mock sent); throws on any CRC or length error. */
export function decodeEventStream(buf: Buffer): { headers: Record<string, string>; payload: Buffer }[] {
  const out: { headers: Record<string, string>; payload: Buffer }[] = [];
  let at = 0;
  while (at < buf.length) {
    const total = buf.readUInt32BE(at), hlen = buf.readUInt32BE(at + 4);
    if (crc32(buf.subarray(at, at + 8)) !== buf.readUInt32BE(at + 8)) throw new Error("prelude CRC");
    if (crc32(buf.subarray(at, at + total - 4)) !== buf.readUInt32BE(at + total - 4)) throw new Error("message CRC");
    const headers: Record<string, string> = {};
    let i = at + 12;
    while (i < at + 12 + hlen) {
      const nl = buf[i++];
      const name = buf.subarray(i, i + nl).toString("utf8"); i += nl;
      const type = buf[i++];
      if (type !== 7) throw new Error(`header type ${type}`);
      const vl = buf.readUInt16BE(i); i += 2;
      headers[name] = buf.subarray(i, i + vl).toString("utf8"); i += vl;
    }
    out.push({ headers, payload: buf.subarray(at + 12 + hlen, at + total - 4) });
    at += total;
  }
  return out;
}
