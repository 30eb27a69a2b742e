// Strict reader for OpenAI chat-completion SSE: every event is exactly `data: <payload>\n\n`,
// the stream ends with `data: [DONE]\n\n` and nothing after it. Stricter than the SDK on purpose:
// the gateway re-frames streams, and framing mistakes (a lost blank line, CRLF, a stray comment,
// a split JSON payload) must show up here even where a lenient client would cope.

export interface OpenAISseStream {
  /** Parsed JSON payload of each event before [DONE], in order. */
  chunks: any[];
  /** Raw payload text of each of those events (after `data: `). */
  payloads: string[];
  /** True when the stream ended with the [DONE] event. */
  done: boolean;
}

export interface ParseOptions {
  /** Accept SSE comment lines (`: ping`), which SSE clients ignore; they are dropped. Default false. */
  allowComments?: boolean;
}

export function parseOpenAISse(text: string, opts: ParseOptions = {}): OpenAISseStream {
  if (text.includes("\r")) throw new Error("OpenAI SSE uses LF line endings; found CR");
  const events = text.split("\n\n");
  const tail = events.pop();
  if (tail !== "") throw new Error(`stream does not end with a blank line; trailing text: ${JSON.stringify(tail!.slice(0, 200))}`);
  const out: OpenAISseStream = { chunks: [], payloads: [], done: false };
  events.forEach((raw, i) => {
    const ev = opts.allowComments ? raw.split("\n").filter((l) => !l.startsWith(":")).join("\n") : raw;
    if (opts.allowComments && ev === "") return; // a comment-only event (keep-alive)
    if (out.done) throw new Error(`event ${i} after [DONE]: ${JSON.stringify(ev.slice(0, 200))}`);
    if (!ev.startsWith("data: ") || ev.includes("\n")) throw new Error(`event ${i} is not a single 'data: ' line: ${JSON.stringify(ev.slice(0, 200))}`);
    const payload = ev.slice("data: ".length);
    if (payload === "[DONE]") { out.done = true; return; }
    try { out.chunks.push(JSON.parse(payload)); } catch (e) { throw new Error(`event ${i} payload is not JSON: ${(e as Error).message}: ${payload.slice(0, 200)}`); }
    out.payloads.push(payload);
  });
  return out;
}
