// Response stage 2, meter: what the answer cost so far, and what the client stream may still
// carry. Reads the usage the response handler reports; on a re-framed client stream it counts
// the delta text sent, cuts the stream at its output budget (limits.stream_edge "cut") and adds
// the usage comment before [DONE] (limits.usage_event).

import { LimitsConfig } from "../config/config";
import { costOf } from "../limits/policy";
import { ClientRequest, ResponseHandler } from "../providers/provider";
import { ResponsesEvents } from "../providers/responses_out";
import { writeChunkUsage } from "../providers/openai_out";
import { deltaTextBytes, lastChunkHead } from "../streams/budget";
import { Usage } from "../usage";
import { ByteBuilder, bytesOf, indexOfBytes } from "../util/bytes";
import { Admit } from "./admit";

const DONE_LINE = bytesOf("data: [DONE]");

export class Meter {
  /** Upstream response body bytes seen. */
  responseBytes: i64 = 0;
  /** Bytes of delta text sent to the client so far (content, arguments, reasoning). */
  outputTextBytes: i64 = 0;
  /** The stream was ended at its budget: later upstream bytes are not forwarded. */
  cut: bool = false;
  /** Head of the last client chunk (id, object, created, model), for gateway-made chunks. */
  private lastHead: Uint8Array | null = null;
  /** A Responses stream ended and got its usage comment. */
  private usageCommented: bool = false;

  constructor(private lc: LimitsConfig | null, private admit: Admit, private req: ClientRequest) {}

  private get bytesPerToken(): i64 { const lc = this.lc; return lc !== null ? lc.bytesPerToken : 4; }

  /** Estimated output tokens sent so far (delta text bytes / bytes_per_token). */
  outputTokens(): i64 {
    const bpt = this.bytesPerToken;
    return (this.outputTextBytes + bpt - 1) / bpt;
  }

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
      u.output = this.outputTextBytes > 0 ? this.outputTokens() : (this.responseBytes + bpt - 1) / bpt;
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
   * Output accounting on a re-framed client stream: cut at the budget, usage comment before
   * [DONE]. Returns true when this call ended the stream at its budget.
   */
  streamBudget(out: ByteBuilder, handler: ResponseHandler): bool {
    if (handler instanceof ResponsesEvents) return this.responsesBudget(changetype<ResponsesEvents>(handler), out);
    const head = lastChunkHead(out.buf, out.len);
    if (head !== null) this.lastHead = head;
    const done = indexOfBytes(out.buf, DONE_LINE, 0, out.len);
    this.outputTextBytes += deltaTextBytes(out.buf, 0, done >= 0 ? done : out.len);
    const lc = this.lc;
    const budget = this.admit.outputBudget;
    if (done < 0 && budget >= 0 && this.outputTokens() > budget) { this.endAtBudget(out, handler); return true; }
    if (done >= 0 && lc !== null && lc.usageEvent) {
      // Insert the usage comment before [DONE].
      const tail = new ByteBuilder(out.len - done + 16);
      tail.bytes(out.buf, done, out.len);
      out.len = done;
      this.usageComment(out, handler);
      out.bytes(tail.buf, 0, tail.len);
    }
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

  /** Ends the client stream at its budget, in the client's format: finish "length", usage if asked, [DONE]. */
  private endAtBudget(out: ByteBuilder, handler: ResponseHandler): void {
    const head = this.lastHead;
    const req = this.req;
    if (head !== null) {
      out.str("data: "); out.all(head);
      // With include_usage every chunk before the usage chunk carries "usage": null (sources: OpenAI Chat Completions: streaming).
      out.str(req.clientWantsUsage() ? "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}],\"usage\":null}\n\n"
        : "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n");
      if (req.clientWantsUsage()) {
        out.str("data: "); out.all(head);
        out.str("\"choices\":[],\"usage\":");
        writeChunkUsage(out, this.usageSoFar(handler));
        out.str("}\n\n");
      }
    }
    const lc = this.lc;
    if (lc !== null && lc.usageEvent) this.usageComment(out, handler);
    out.str("data: [DONE]\n\n");
    this.cut = true;
  }
}
