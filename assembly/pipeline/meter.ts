// Response stage 2, meter: what the answer cost so far, and what the client stream may still
// carry. Reads the usage the response handler reports. A re-framed chat stream is metered per
// chunk the handler writes (filter/budget.ts StreamBudget: cut at the output budget,
// limits.stream_edge "cut"; usage comment before [DONE], limits.usage_event); a Responses stream
// reports its own output and is cut here (responsesBudget).

import { LimitsConfig } from "../config/config";
import { costOf } from "../limits/policy";
import { ClientRequest, ResponseHandler } from "../providers/provider";
import { ResponsesEvents } from "../providers/responses_out";
import { writeChunkUsage } from "../providers/openai_out";
import { StreamBudget } from "../filter/budget";
import { Usage } from "../usage";
import { ByteBuilder } from "../util/bytes";
import { Admit } from "./admit";

export class Meter {
  /** Upstream response body bytes seen. */
  responseBytes: i64 = 0;
  /** Bytes of delta text sent to the client so far (content, arguments, reasoning). */
  outputTextBytes: i64 = 0;
  /** A Responses stream was ended at its budget: later upstream bytes are not forwarded. */
  cut: bool = false;
  /** The per-chunk meter of a re-framed chat stream (null: none). */
  budget: StreamBudget | null = null;
  /** A Responses stream ended and got its usage comment. */
  private usageCommented: bool = false;

  constructor(private lc: LimitsConfig | null, private admit: Admit, private req: ClientRequest) {}

  private get bytesPerToken(): i64 { const lc = this.lc; return lc !== null ? lc.bytesPerToken : 4; }

  /** Estimated output tokens sent so far (delta text bytes / bytes_per_token). */
  outputTokens(): i64 {
    const b = this.budget;
    if (b !== null) return b.outputTokens();
    const bpt = this.bytesPerToken;
    return (this.outputTextBytes + bpt - 1) / bpt;
  }

  /** Delta text bytes sent so far, however they were counted. */
  private sentTextBytes(): i64 { const b = this.budget; return b !== null ? b.textBytes : this.outputTextBytes; }

  /** Usage of this request as far as known (reported, else input estimate + streamed output). */
  usageSoFar(handler: ResponseHandler | null): Usage {
    if (handler !== null && handler.usage.final) return handler.usage;
    const u = new Usage();
    const est = this.admit.estimated;
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

  /**
   * What this request cost: reported usage, else (abort, broken stream) an estimate, else nothing.
   * `streamed`: a 2xx answer from upstream was flowing to the client.
   */
  actualUsage(handler: ResponseHandler | null, streamed: bool): Usage {
    if (handler !== null && handler.usage.final) return handler.usage;
    const u = new Usage();
    const est = this.admit.estimated;
    // No final usage: the provider never answered (or refused): nothing was spent upstream,
    // unless a response was streaming when it stopped (client abort, broken stream); then count
    // the input and what was streamed, never less than what the provider reported so far.
    if (est !== null && streamed && this.responseBytes > 0) {
      const bpt = this.bytesPerToken;
      u.input = est.input;
      // Counted delta text when the stream was re-framed; otherwise every streamed byte (an over-estimate).
      u.output = this.sentTextBytes() > 0 ? this.outputTokens() : (this.responseBytes + bpt - 1) / bpt;
      if (handler !== null && handler.usage.reported) {
        const r = handler.usage;
        if (r.input > 0) { u.input = r.input; u.cachedInput = r.cachedInput; u.cacheWrite = r.cacheWrite; }
        if (r.output > u.output) u.output = r.output;
      }
      u.total = u.input + u.output;
    }
    return u;
  }

  /**
   * Output accounting on a re-framed Responses stream (chat streams are metered per chunk by
   * `budget`). Returns true when this call ended the stream at its budget.
   */
  streamBudget(out: ByteBuilder, handler: ResponseHandler): bool {
    if (handler instanceof ResponsesEvents) return this.responsesBudget(changetype<ResponsesEvents>(handler), out);
    return false;
  }

  /**
   * The same on a Responses stream: the handler counts the output text it emits; over the budget
   * it ends the stream with response.incomplete; the usage comment follows the stream's terminal
   * event (SSE comments are ignored by clients, wherever they are).
   */
  private responsesBudget(h: ResponsesEvents, out: ByteBuilder): bool {
    this.outputTextBytes = h.deltaBytes;
    const lc = this.lc;
    const budget = this.admit.outputBudget;
    if (!h.terminated && budget >= 0 && this.outputTokens() > budget) {
      h.endAtBudget(out, this.usageSoFar(h));
      this.cut = true;
      if (lc !== null && lc.usageEvent) this.usageComment(out, h);
      return true;
    }
    if (h.terminated && !this.usageCommented && lc !== null && lc.usageEvent) this.usageComment(out, h);
    if (h.terminated) this.usageCommented = true;
    return false;
  }

  /** `: ai-gateway-usage {...}` SSE comment: this request's usage and the remaining budget. */
  private usageComment(out: ByteBuilder, handler: ResponseHandler): void {
    const u = this.usageSoFar(handler);
    out.str(": ai-gateway-usage {\"usage\":");
    writeChunkUsage(out, u);
    const adm = this.admit.admission;
    if (adm !== null && adm.rule !== null) {
      let remaining = adm.remaining - costOf(adm.rule!.cost, u);
      for (let i = 0; i < adm.reservations.length; i++) if (adm.reservations[i].rule === adm.rule) remaining += adm.reservations[i].amount;
      out.str(",\"rule\":"); out.jsonString(adm.rule!.name);
      out.str(",\"remaining_tokens\":"); out.int(remaining > 0 ? remaining : 0);
    }
    out.str("}\n\n");
  }
}
