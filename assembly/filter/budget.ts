// Output accounting on a chat stream as the client receives it (limits.stream_edge "cut",
// limits.usage_event): the response handlers report each chat.completion.chunk they write and
// the delta text it carries (openai_out ChunkMeter), so the decision is taken per event, wherever
// Envoy's body callbacks happen to split the stream (one socket read may hold the whole stream).

import { log, LogLevelValues } from "@solo-io/proxy-runtime/assembly";
import { ChunkMeter, ChunkWriter, writeChunkUsage } from "../providers/openai_out";
import { ResponseHandler } from "../providers/provider";
import { costOf } from "../limits/policy";
import { Usage } from "../usage";
import { ByteBuilder } from "../util/bytes";
import { Admission } from "./limits";

export class StreamBudget extends ChunkMeter {
  /** Bytes of delta text the client was sent (content, arguments, reasoning), as reported. */
  textBytes: i64 = 0;
  /** The handler whose chunks this meters (its usage report refines the estimate). */
  handler: ResponseHandler | null = null;

  /**
   * outputBudget: output tokens the stream may produce before it is cut (-1: never cut).
   * estimated: the admission estimate (its input side stands until the provider reports usage).
   */
  constructor(
    private outputBudget: i64, private bytesPerToken: i64, private usageEvent: bool, private wantUsage: bool,
    private estimated: Usage | null, private admission: Admission | null, private client: string,
  ) { super(); }

  /** Estimated output tokens sent so far (delta text bytes / bytes_per_token, rounded up). */
  outputTokens(): i64 { return (this.textBytes + this.bytesPerToken - 1) / this.bytesPerToken; }

  chunk(out: ByteBuilder, chunks: ChunkWriter, textBytes: i64): void {
    this.textBytes += textBytes;
    if (this.outputBudget >= 0 && this.outputTokens() > this.outputBudget) this.cut(out, chunks);
  }

  beforeDone(out: ByteBuilder): void {
    if (this.usageEvent) this.usageComment(out);
  }

  /**
   * Ends the client's stream right after the chunk that used up the budget, in the client's
   * format: a finish_reason "length" chunk, the usage chunk if the client asked for it, the usage
   * comment if configured, [DONE]. The handler goes on reading the provider's stream (its usage
   * is what gets committed) but nothing more reaches the client (ResponseHandler.body).
   */
  private cut(out: ByteBuilder, chunks: ChunkWriter): void {
    chunks.lengthFinish(out, this.wantUsage);
    if (this.wantUsage) chunks.usage(out, this.usageSoFar());
    if (this.usageEvent) this.usageComment(out);
    out.str("data: [DONE]\n\n");
    this.ended = true;
    this.endAt = out.len;
    log(LogLevelValues.info, "ai-gateway: stream for client=" + this.client + " cut at its token budget (" + this.outputBudget.toString() + " output tokens)");
  }

  /** Usage of this request as far as known (reported, else input estimate + streamed output). */
  usageSoFar(): Usage {
    const handler = this.handler;
    if (handler !== null && handler.usage.final) return handler.usage;
    const u = new Usage();
    const est = this.estimated;
    if (est !== null) u.input = est.input;
    u.output = this.outputTokens();
    // A partial report (Anthropic's message_start, Gemini's running usageMetadata) knows the input
    // exactly but its output lags behind what was streamed.
    if (handler !== null && handler.usage.reported) {
      const r = handler.usage;
      if (r.input > 0) { u.input = r.input; u.cachedInput = r.cachedInput; u.cacheWrite = r.cacheWrite; }
      if (r.output > u.output) { u.output = r.output; u.reasoning = r.reasoning; }
    }
    u.total = u.input + u.output;
    return u;
  }

  /** `: ai-gateway-usage {...}` SSE comment: this request's usage and the remaining budget. */
  private usageComment(out: ByteBuilder): void {
    const u = this.usageSoFar();
    out.str(": ai-gateway-usage {\"usage\":");
    writeChunkUsage(out, u);
    const adm = this.admission;
    if (adm !== null && adm.rule !== null) {
      let remaining = adm.remaining - costOf(adm.rule!.cost, u);
      for (let i = 0; i < adm.reservations.length; i++) if (adm.reservations[i].rule === adm.rule) remaining += adm.reservations[i].amount;
      out.str(",\"rule\":"); out.jsonString(adm.rule!.name);
      out.str(",\"remaining_tokens\":"); out.int(remaining > 0 ? remaining : 0);
    }
    out.str("}\n\n");
  }
}
