// Provider stream framings the fuzzer knows how to corrupt, chosen by the upstream response's
// content type. Adding a framing (a provider that streams in another wire format) is one entry in
// FRAMINGS: how to cut the body into events, the data payloads the events carry (for the
// pass-through oracle), and framing-aware corruptions. Everything else (truncation at every byte,
// splits at every byte, byte flips) is framing-independent and lives in the targets.

import { crc32 } from "node:zlib";
import type { Rng } from "./prng.ts";
import { mutateBytes, mutateJson, randomJson, serialize, type Mutant } from "./mutate.ts";

export interface Framing {
  name: string;
  matches(contentType: string): boolean;
  /** The body cut into whole events (each with its own framing bytes); a trailing partial event is the last item. */
  events(body: Buffer): Buffer[];
  /** The data payloads of the events (what a pass-through filter may forward verbatim). */
  payloads(body: Buffer): string[];
  /** One random framing-aware corruption. */
  mutate(rng: Rng, body: Buffer, opts: { maxResponseBytes: number }): Mutant;
}

// ------------------------------------------------------------------------------------------ SSE

/** Events of an SSE body, each ending after its blank line (LF, CRLF or CR line endings). */
export function sseEvents(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0, i = 0;
  const n = body.length;
  let lineEmpty = true; // at the start of a line that has no characters yet
  while (i < n) {
    const c = body[i];
    if (c === 0x0a || c === 0x0d) {
      const len = c === 0x0d && body[i + 1] === 0x0a ? 2 : 1;
      i += len;
      if (lineEmpty) { out.push(body.subarray(start, i)); start = i; }
      lineEmpty = true;
    } else { lineEmpty = false; i++; }
  }
  if (start < n) out.push(body.subarray(start));
  return out;
}

/** WHATWG event-stream parsing: the data of each dispatched event, and whether a partial event was left. */
export function sseParse(text: string): { events: { name: string; data: string }[]; comments: number; partial: string } {
  const events: { name: string; data: string }[] = [];
  let comments = 0;
  let data: string[] | null = null, name = "";
  let pos = 0;
  if (text.charCodeAt(0) === 0xfeff) pos = 1;
  let lastDispatch = pos;
  while (pos < text.length) {
    let eol = pos;
    while (eol < text.length && text[eol] !== "\n" && text[eol] !== "\r") eol++;
    if (eol >= text.length) break; // unterminated line
    const line = text.slice(pos, eol);
    pos = eol + (text[eol] === "\r" && text[eol + 1] === "\n" ? 2 : 1);
    if (line === "") {
      if (data !== null) events.push({ name, data: data.join("\n") });
      data = null; name = "";
      lastDispatch = pos;
      continue;
    }
    if (line.startsWith(":")) { comments++; continue; }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") (data ??= []).push(value);
    else if (field === "event") name = value;
  }
  return { events, comments, partial: text.slice(lastDispatch) };
}

export const SSE_GARBAGE = [
  "data: {}\n\n", "data: []\n\n", "data: null\n\n", "data: 1e400\n\n", "data: \n\n", "data\n\n", "data:{\"x\":1}\n\n", ": keep-alive\n\n",
  "retry: 10\n\n", "id: 7\n\n", "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"boom\"}}\n\n",
  "event: error\ndata: not json\n\n", "data: {\"error\":{\"message\":\"upstream failed\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n",
  "data: {\"error\":\"plain\"}\n\n", "data: {\"object\":\"error\",\"message\":\"vllm style\",\"code\":500}\n\n", "data: [DONE]\n\n",
  "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", "event: ping\ndata: {\"type\": \"ping\"}\n\n",
  "data: {\"type\":\"message_start\",\"message\":{\"id\":7,\"model\":[],\"usage\":\"x\"}}\n\n",
  "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":1,\"name\":{}}}\n\n",
  "data: {\"type\":\"content_block_delta\",\"index\":99999999999,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n",
  "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":7},\"usage\":{\"output_tokens\":-5}}\n\n",
  "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"eos\"}],\"usage\":{\"prompt_tokens\":\"a\"}}\n\n",
  "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1e400,\"completion_tokens\":-1,\"total_tokens\":null}}\n\n",
  "\n\n\n", "\r\n", "data: x\r\rdata: y\r\r",
];

function sseMutate(rng: Rng, body: Buffer, opts: { maxResponseBytes: number }): Mutant {
  const evs = sseEvents(body);
  const k = rng.int(evs.length);
  const join = (xs: Buffer[]) => Buffer.concat(xs);
  const op = rng.weighted([
    [3, "drop"], [2, "duplicate"], [2, "swap"], [4, "garbage"], [6, "event-json"], [2, "crlf"], [1, "cr"], [1, "nospace"],
    [1, "multiline"], [1, "bom"], [1, "oversize-line"], [1, "many-comments"], [1, "done-early"], [3, "bytes"], [1, "random-event"],
  ] as const);
  switch (op) {
    case "drop": return { label: `drop SSE event ${k}/${evs.length}`, bytes: join(evs.filter((_, i) => i !== k)) };
    case "duplicate": return { label: `duplicate SSE event ${k}`, bytes: join([...evs.slice(0, k + 1), ...evs.slice(k)]) };
    case "swap": {
      if (evs.length < 2) return sseMutate(rng, body, opts);
      const j = Math.min(k + 1, evs.length - 1), i = j - 1;
      const c = [...evs]; [c[i], c[j]] = [c[j], c[i]];
      return { label: `swap SSE events ${i},${j}`, bytes: join(c) };
    }
    case "garbage": {
      const g = rng.bool(0.8) ? Buffer.from(rng.pick(SSE_GARBAGE)) : Buffer.concat([Buffer.from("data: "), rng.bytes(rng.range(1, 64)), Buffer.from("\n\n")]);
      return { label: `insert ${JSON.stringify(g.toString("latin1").slice(0, 60))} before event ${k}`, bytes: join([...evs.slice(0, k), g, ...evs.slice(k)]) };
    }
    case "event-json": {
      const ev = evs[k].toString("utf8");
      const m = /^((?:event:[^\n]*\n)?)data: ?(.*?)(\r?\n\r?\n|\r\r)?$/s.exec(ev);
      let parsed: unknown;
      try { parsed = m ? JSON.parse(m[2]) : undefined; } catch { parsed = undefined; }
      if (!m || parsed === undefined) return { ...mutateBytes(rng, evs[k]), label: `bytes of event ${k}` };
      const mj = mutateJson(rng, parsed as any, { hugeBytes: 64 * 1024 });
      const ev2 = Buffer.concat([Buffer.from(m[1] + "data: "), Buffer.from(mj.bytes.toString("utf8").replace(/\n/g, "\ndata: "), "utf8"), Buffer.from(m[3] ?? "\n\n")]);
      // Keep invalid UTF-8 bytes as they are (toString would replace them).
      const bytes = mj.bytes.includes(0x0a) ? ev2 : Buffer.concat([Buffer.from(m[1] + "data: "), mj.bytes, Buffer.from(m[3] ?? "\n\n")]);
      return { label: `event ${k}: ${mj.label}`, bytes: join([...evs.slice(0, k), bytes, ...evs.slice(k + 1)]) };
    }
    case "crlf": return { label: "CRLF line endings", bytes: Buffer.from(body.toString("latin1").replace(/\r?\n/g, "\r\n"), "latin1") };
    case "cr": return { label: "CR line endings", bytes: Buffer.from(body.toString("latin1").replace(/\r?\n/g, "\r"), "latin1") };
    case "nospace": return { label: "data: without the space", bytes: Buffer.from(body.toString("latin1").replace(/^data: /gm, "data:"), "latin1") };
    case "multiline": {
      // A JSON payload spread over several data: lines (joined with \n, which is JSON whitespace).
      return { label: "payloads split over several data: lines", bytes: Buffer.from(body.toString("latin1").replace(/^data: (\{"[^"\n]*":)/gm, "data: $1\ndata: "), "latin1") };
    }
    case "bom": return { label: "UTF-8 BOM first", bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]) };
    case "oversize-line": {
      const n = rng.pick([1 << 20, opts.maxResponseBytes + 1024]);
      const line = Buffer.alloc(n, 0x61);
      const withData = rng.bool() ? Buffer.concat([Buffer.from('data: {"x":"'), line]) : line; // never terminated
      return { label: `unterminated ${n}-byte line after event ${k}`, bytes: join([...evs.slice(0, k + 1), withData]) };
    }
    case "many-comments": return { label: "10000 comment events", bytes: join([...evs.slice(0, k), Buffer.from(": c\n\n".repeat(10000)), ...evs.slice(k)]) };
    case "done-early": return { label: `[DONE] before event ${k}`, bytes: join([...evs.slice(0, k), Buffer.from("data: [DONE]\n\n"), ...evs.slice(k)]) };
    case "bytes": return mutateBytes(rng, body);
    case "random-event": {
      const j = serialize(randomJson(rng));
      return { label: `random JSON event before ${k}`, bytes: join([...evs.slice(0, k), Buffer.from("data: "), j, Buffer.from("\n\n"), ...evs.slice(k)]) };
    }
  }
}

export const SSE: Framing = {
  name: "sse",
  matches: (ct) => ct.toLowerCase().startsWith("text/event-stream"),
  events: sseEvents,
  // Including a trailing partial event: a pass-through filter forwards its bytes before it knows.
  payloads: (body) => { const p = sseParse(body.toString("utf8")); return [...p.events.map((e) => e.data), ...sseParse(p.partial + "\n\n").events.map((e) => e.data)]; },
  mutate: sseMutate,
};

// ------------------------------------------------------------------------- AWS eventstream

/** One frame with correct CRCs (headers already encoded). */
export function esFrame(headers: Buffer, payload: Buffer, o: { total?: number; hlen?: number } = {}): Buffer {
  const total = o.total ?? 16 + headers.length + payload.length;
  const prelude = Buffer.alloc(8);
  prelude.writeUInt32BE(total >>> 0, 0);
  prelude.writeUInt32BE((o.hlen ?? headers.length) >>> 0, 4);
  const pc = Buffer.alloc(4); pc.writeUInt32BE(crc32(prelude) >>> 0);
  const head = Buffer.concat([prelude, pc, headers, payload]);
  const mc = Buffer.alloc(4); mc.writeUInt32BE(crc32(head) >>> 0);
  return Buffer.concat([head, mc]);
}

/** String headers (type 7) in eventstream encoding. */
export function esHeaders(h: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(h)) {
    const kb = Buffer.from(k), vb = Buffer.from(v);
    const len = Buffer.alloc(2); len.writeUInt16BE(vb.length);
    parts.push(Buffer.from([kb.length]), kb, Buffer.from([7]), len, vb);
  }
  return Buffer.concat(parts);
}

/** Frames by their length prefix; an impossible length ends the walk (the rest is one item). */
export function esFrames(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 4 <= body.length) {
    const total = body.readUInt32BE(at);
    if (total < 16 || at + total > body.length) break;
    out.push(body.subarray(at, at + total));
    at += total;
  }
  if (at < body.length) out.push(body.subarray(at));
  return out;
}

export function esParts(f: Buffer): { headers: Buffer; payload: Buffer } | null {
  if (f.length < 16) return null;
  const total = f.readUInt32BE(0), hlen = f.readUInt32BE(4);
  if (total !== f.length || 12 + hlen + 4 > total) return null;
  return { headers: f.subarray(12, 12 + hlen), payload: f.subarray(12 + hlen, total - 4) };
}

function esMutate(rng: Rng, body: Buffer, opts: { maxResponseBytes: number }): Mutant {
  const fs = esFrames(body);
  const k = rng.int(fs.length);
  const f = fs[k] ?? Buffer.alloc(0);
  const parts = esParts(f);
  const put = (x: Buffer | Buffer[]) => Buffer.concat([...fs.slice(0, k), ...(Array.isArray(x) ? x : [x]), ...fs.slice(k + 1)]);
  const op = rng.weighted([
    [2, "prelude-flip"], [2, "message-flip"], [3, "flip-fixed-crc"], [2, "oversize-total"], [1, "tiny-total"], [1, "hlen-overflow"],
    [2, "garbage-frame"], [2, "drop"], [1, "duplicate"], [4, "payload-json"], [2, "bytes"],
  ] as const);
  switch (op) {
    case "prelude-flip": { const c = Buffer.from(f); if (c.length >= 12) c[rng.int(12)] ^= 1 << rng.int(8); return { label: `frame ${k}: prelude bit flip (prelude CRC fails)`, bytes: put(c) }; }
    case "message-flip": { const c = Buffer.from(f); if (c.length > 16) c[12 + rng.int(c.length - 16)] ^= 1 << rng.int(8); return { label: `frame ${k}: body bit flip (message CRC fails)`, bytes: put(c) }; }
    case "flip-fixed-crc": {
      if (!parts) return esMutate(rng, body, opts);
      const h = Buffer.from(parts.headers), p = Buffer.from(parts.payload);
      const target = rng.bool() && h.length ? h : p;
      if (target.length) target[rng.int(target.length)] ^= 1 << rng.int(8);
      return { label: `frame ${k}: ${target === h ? "header" : "payload"} bit flip with valid CRCs`, bytes: put(esFrame(h, p)) };
    }
    case "oversize-total": {
      const total = rng.pick([0xffffffff, 0x80000000, opts.maxResponseBytes + 1, 16 * 1024 * 1024 + 1]);
      const h = parts?.headers ?? Buffer.alloc(0), p = parts?.payload ?? Buffer.alloc(0);
      return { label: `frame ${k}: total_length ${total} with a valid prelude CRC`, bytes: put(esFrame(h, p, { total })) };
    }
    case "tiny-total": {
      const total = rng.pick([0, 1, 12, 15]);
      return { label: `frame ${k}: total_length ${total}`, bytes: put(esFrame(parts?.headers ?? Buffer.alloc(0), parts?.payload ?? Buffer.alloc(0), { total })) };
    }
    case "hlen-overflow": {
      const h = parts?.headers ?? Buffer.alloc(0), p = parts?.payload ?? Buffer.alloc(0);
      return { label: `frame ${k}: headers_length beyond the frame`, bytes: put(esFrame(h, p, { hlen: h.length + p.length + 1 + rng.int(1000) })) };
    }
    case "garbage-frame": {
      const g = rng.bool() ? rng.bytes(rng.range(1, 64)) : esFrame(rng.bytes(rng.int(24)), rng.bytes(rng.int(48)));
      return { label: `garbage frame (${g.length} bytes) before frame ${k}`, bytes: Buffer.concat([...fs.slice(0, k), g, ...fs.slice(k)]) };
    }
    case "drop": return { label: `drop frame ${k}`, bytes: put([]) };
    case "duplicate": return { label: `duplicate frame ${k}`, bytes: put([f, f]) };
    case "payload-json": {
      let parsed: unknown;
      try { parsed = parts ? JSON.parse(parts.payload.toString("utf8")) : undefined; } catch { parsed = undefined; }
      if (!parts || parsed === undefined) return esMutate(rng, body, opts);
      const mj = mutateJson(rng, parsed as any, { hugeBytes: 64 * 1024 });
      return { label: `frame ${k} payload: ${mj.label} (valid CRCs)`, bytes: put(esFrame(parts.headers, mj.bytes)) };
    }
    case "bytes": return mutateBytes(rng, body);
  }
}

export const AWS_EVENTSTREAM: Framing = {
  name: "aws-eventstream",
  matches: (ct) => ct.toLowerCase().startsWith("application/vnd.amazon.eventstream"),
  events: esFrames,
  payloads: (body) => esFrames(body).map((f) => esParts(f)?.payload.toString("utf8") ?? ""),
  mutate: esMutate,
};

/** Every stream framing the fuzzer can corrupt; first match wins. */
export const FRAMINGS: Framing[] = [SSE, AWS_EVENTSTREAM];

export function framingFor(contentType: string): Framing | null {
  return FRAMINGS.find((f) => f.matches(contentType)) ?? null;
}
