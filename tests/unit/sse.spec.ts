// Incremental SSE reader and writer. Expected events follow the WHATWG HTML "event stream"
// interpretation rules (sources: OpenAI-compatible vendors): lines end in LF, CRLF or CR; a blank line dispatches; lines
// starting with ':' are comments; one leading space after the colon is dropped; data lines join
// with LF; the event name resets after each dispatch; unknown fields are ignored. One deliberate
// deviation, documented in sse.ts: finish() still delivers a final event with no blank line.
//
// Upstream bodies arrive in arbitrary chunks, so every stream is also fed split at every byte
// position and byte by byte; the events must not depend on where the chunks were cut.

import { SseReader, SseEvent, writeSse } from "../../assembly/streams/sse";
import { ByteBuilder, bytesOf } from "../../assembly/util/bytes";
import { utf8 } from "./helpers";

/** "{name}data" per event, joined by " | ": a readable form to compare whole event lists. */
function render(events: SseEvent[]): string {
  let s = "";
  for (let i = 0; i < events.length; i++) {
    if (i > 0) s += " | ";
    s += "{" + events[i].name + "}" + utf8(events[i].data);
  }
  return s;
}

/** Feeds the chunks in order (draining after each feed, as the filter does) then finish(). */
function readChunks(chunks: Uint8Array[]): string {
  const r = new SseReader();
  const all: SseEvent[] = [];
  for (let i = 0; i < chunks.length; i++) {
    r.feed(chunks[i]);
    for (let j = 0; j < r.events.length; j++) all.push(r.events[j]);
    r.events.length = 0;
  }
  r.finish();
  for (let j = 0; j < r.events.length; j++) all.push(r.events[j]);
  return render(all);
}

// [description, raw stream, expected events]
const CASES: string[][] = [
  ["LF endings", "data: a\n\ndata: b\n\n", "{}a | {}b"],
  ["CRLF endings", "data: a\r\n\r\ndata: b\r\n\r\n", "{}a | {}b"],
  ["CR endings", "data: a\r\rdata: b\r\r", "{}a | {}b"],
  ["mixed endings", "data: a\r\n\ndata: b\r\r\ndata: c\n\r\n", "{}a | {}b | {}c"],
  ["CR CR is two line ends, not one", "data: a\r\r\r\rdata: b\r\n\r\n", "{}a | {}b"],
  ["comments are ignored", ": keep-alive\n\ndata: x\n: OPENROUTER PROCESSING\n\n:\n\n", "{}x"],
  ["multi-line data joins with LF", "data: a\ndata: b\ndata:\n\n", "{}a\nb\n"],
  ["event names, reset after dispatch", "event: ping\ndata: {}\n\ndata: x\n\n", "{ping}{} | {}x"],
  ["event without data dispatches nothing and resets the name", "event: ping\n\ndata: x\n\n", "{}x"],
  ["last event: line wins", "event: a\nevent: b\ndata: 1\n\n", "{b}1"],
  ["no space after colon", "data:x\n\nevent:e\ndata:y\n\n", "{}x | {e}y"],
  ["only one leading space is removed", "data:  two\n\ndata:\tt\n\n", "{} two | {}\tt"],
  ["field without colon is an empty value", "data\n\n", "{}"],
  ["empty data still dispatches", "data:\n\n", "{}"],
  ["colon inside the value", "data: a:b: c\n\n", "{}a:b: c"],
  ["unknown fields and id/retry are ignored", "id: 1\nretry: 500\nfoo: bar\ndata: x\n\n", "{}x"],
  ["field names are case-sensitive", "Data: x\n\nDATA: y\n\n", ""],
  ["a leading space makes a different field", " data: x\n\n", ""],
  ["blank lines between events add nothing", "\n\n\ndata: a\n\n\n\ndata: b\n\n", "{}a | {}b"],
  ["trailing event without blank line (finish)", "data: a\n\ndata: b", "{}a | {}b"],
  ["trailing event ended by one newline (finish)", "data: a\n\nevent: e\ndata: b\n", "{}a | {e}b"],
  ["trailing event ended by CR (finish)", "data: b\r", "{}b"],
  ["trailing comment only", "data: a\n\n: bye", "{}a"],
  ["empty stream", "", ""],
  ["non-ASCII data and names", "event: ünï\ndata: é😀\n\n", "{ünï}é😀"],
  ["OpenAI chat stream", "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n" +
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5}}\n\ndata: [DONE]\n\n",
    "{}{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null} | {}{\"choices\":[],\"usage\":{\"prompt_tokens\":5}} | {}[DONE]"],
  ["Anthropic-style named events with CRLF", "event: message_start\r\ndata: {\"type\":\"message_start\"}\r\n\r\n" +
    "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n",
    "{message_start}{\"type\":\"message_start\"} | {ping}{\"type\": \"ping\"}"],
];

describe("SseReader", () => {
  it("parses each stream in one chunk", () => {
    for (let i = 0; i < CASES.length; i++) {
      const c = CASES[i];
      const chunks: Uint8Array[] = [bytesOf(c[1])];
      expect(readChunks(chunks)).toBe(c[2], c[0]);
    }
  });

  it("gives the same events for a split at every byte position", () => {
    for (let i = 0; i < CASES.length; i++) {
      const c = CASES[i];
      const src = bytesOf(c[1]);
      for (let k = 0; k <= src.length; k++) {
        const chunks: Uint8Array[] = [src.slice(0, k), src.slice(k)];
        expect(readChunks(chunks)).toBe(c[2], c[0] + " split at " + k.toString());
        // An empty chunk between the halves (Envoy can deliver one) must not change anything,
        // in particular not lose a pending "\r then \n" across it.
        const withEmpty: Uint8Array[] = [src.slice(0, k), new Uint8Array(0), src.slice(k)];
        expect(readChunks(withEmpty)).toBe(c[2], c[0] + " split at " + k.toString() + " with empty chunk");
      }
    }
  });

  it("gives the same events when fed byte by byte", () => {
    for (let i = 0; i < CASES.length; i++) {
      const c = CASES[i];
      const src = bytesOf(c[1]);
      const chunks: Uint8Array[] = [];
      for (let k = 0; k < src.length; k++) chunks.push(src.slice(k, k + 1));
      expect(readChunks(chunks)).toBe(c[2], c[0] + " byte by byte");
    }
  });

  it("dispatches events as soon as their blank line arrives, not at finish", () => {
    const r = new SseReader();
    r.feed(bytesOf("data: a\n"));
    expect(r.events.length).toBe(0);
    r.feed(bytesOf("\r"));
    expect(r.events.length).toBe(1, "CR alone ends the blank line");
    r.feed(bytesOf("\ndata: b\n\n"));
    expect(render(r.events)).toBe("{}a | {}b", "the LF after the CR is not another blank line");
  });

  it("honours len and reports the carried partial line", () => {
    const r = new SseReader();
    r.feed(bytesOf("data: abc\n\nIGNORED"), 11);
    expect(render(r.events)).toBe("{}abc");
    r.events.length = 0;
    r.feed(bytesOf("data: xy"));
    expect(r.pendingBytes).toBe(8);
    r.finish();
    expect(render(r.events)).toBe("{}xy");
    expect(r.pendingBytes).toBe(0);
  });

  it("dataIs compares the whole data", () => {
    const ev = new SseEvent("", bytesOf("[DONE]"));
    expect(ev.dataIs("[DONE]")).toBe(true);
    expect(ev.dataIs("[DONE")).toBe(false);
    expect(ev.dataIs("[DONE] ")).toBe(false);
    expect(ev.dataIs("[done]")).toBe(false);
  });
});

describe("writeSse", () => {
  it("frames events: optional event line, data lines, blank line", () => {
    // [name, data, expected bytes]
    const cases: string[][] = [
      ["", "x", "data: x\n\n"],
      ["", "", "data: \n\n"],
      ["ping", "{}", "event: ping\ndata: {}\n\n"],
      ["", "a\nb", "data: a\ndata: b\n\n"],          // a newline in data starts a new data line
      ["", "a\n", "data: a\ndata: \n\n"],
      ["", "\n\n", "data: \ndata: \ndata: \n\n"],
      ["e", "l1\nl2\nl3", "event: e\ndata: l1\ndata: l2\ndata: l3\n\n"],
    ];
    for (let i = 0; i < cases.length; i++) {
      const b = new ByteBuilder(4);
      writeSse(b, cases[i][0], bytesOf(cases[i][1]));
      expect(b.toString()).toBe(cases[i][2], "case #" + i.toString());
      // Differential: reading back what we wrote gives the original event.
      const chunks: Uint8Array[] = [b.toBytes()];
      expect(readChunks(chunks)).toBe("{" + cases[i][0] + "}" + cases[i][1], "read back #" + i.toString());
    }
  });

  it("writes only data[start, end)", () => {
    const b = new ByteBuilder();
    writeSse(b, "", bytesOf("xxa\nbyy"), 2, 5);
    expect(b.toString()).toBe("data: a\ndata: b\n\n");
  });
});

// Found by the fuzzer (docs/robustness.md): an endless line grew the VM's memory without bound.
describe("SseReader event size bound", () => {
  it("an unfinished line longer than the bound sets overflow, drops what it held and ignores the rest", () => {
    const r = new SseReader(64);
    r.feed(bytesOf("data: {\"a\":1}\n\n"));
    expect(r.events.length).toBe(1, "events before the bound are delivered");
    r.events.length = 0;
    let line = "data: ";
    for (let i = 0; i < 70; i++) line += "x";
    r.feed(bytesOf(line.substring(0, 40)));
    expect(r.overflow).toBe(false);
    r.feed(bytesOf(line.substring(40)));
    expect(r.overflow).toBe(true);
    expect(r.pendingBytes).toBe(0, "the held bytes are released");
    r.feed(bytesOf("\n\ndata: {\"b\":2}\n\n"));
    r.finish();
    expect(r.events.length).toBe(0, "nothing after the overflow");
  });

  it("many data: lines of one event count towards the bound too", () => {
    const r = new SseReader(64);
    let s = "";
    for (let i = 0; i < 20; i++) s += "data: 0123456789\n";
    r.feed(bytesOf(s));
    expect(r.overflow).toBe(true);
  });

  it("an event just under the bound is delivered", () => {
    const r = new SseReader(64);
    let data = "";
    for (let i = 0; i < 60; i++) data += "y";
    r.feed(bytesOf("data: " + data + "\n\n"));
    expect(r.overflow).toBe(false);
    expect(r.events.length).toBe(1);
  });
});
