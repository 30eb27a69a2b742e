// Claude on Bedrock (schema `bedrock-anthropic`, sources: Claude on Bedrock and Vertex AI): the Anthropic translator with
// its Bedrock dialect (no `model` and no `stream` in the body, `anthropic_version:
// bedrock-2023-05-31`) sent to InvokeModel (`/model/{id}/invoke`) or InvokeModelWithResponseStream
// (`/model/{id}/invoke-with-response-stream`). Non-stream answers are Messages JSON (the Anthropic
// JSON handler); streams are AWS eventstream frames whose `chunk` events carry
// `{"bytes":"<base64 of one Messages stream event>"}`, decoded here and handed to any
// AnthropicEventSink (chat.completion.chunk SSE today; a Messages-SSE sink for Anthropic-API
// clients can use the same framing). Errors are Bedrock's, not Anthropic's envelope.

import { Kind, parseJson } from "../json/json";
import { ByteBuilder } from "../util/bytes";
import { base64Decode } from "../util/base64";
import { EventStreamMessage, EventStreamReader } from "../streams/eventstream";
import { AnthropicDialect, AnthropicEventSink, AnthropicJson, AnthropicProvider, AnthropicStream } from "./anthropic";
import { ClientRequest, ResponseHandler, UpstreamRequest } from "./provider";
import { ChunkMeter } from "./openai_out";
import { MessagesEvents } from "./anthropic_native";
import { BEDROCK_RESPONSE_HEADERS, BedrockError, StreamException } from "./bedrock_common";

export class BedrockAnthropicProvider extends AnthropicProvider {
  constructor() { super(AnthropicDialect.Bedrock); }

  target(req: ClientRequest, out: UpstreamRequest): void {
    super.target(req, out);
    // InvokeModel takes the MIME type of the model's answer from Accept (streams: X-Amzn-Bedrock-Accept).
    if (req.stream) { out.headers.push("x-amzn-bedrock-accept"); out.headers.push("application/json"); }
    else { out.headers.push("accept"); out.headers.push("application/json"); }
  }

  response(req: ClientRequest, status: i32, contentType: string): ResponseHandler {
    if (status < 200 || status >= 300) return new BedrockError(req, status);
    if (contentType.startsWith("application/vnd.amazon.eventstream")) return new BedrockInvokeStream(new AnthropicStream(req));
    return new AnthropicJson(req);
  }

  /**
   * Messages API clients: the same eventstream framing, but the events are re-emitted as
   * Messages SSE instead of translated. JSON answers and errors are the native handlers'.
   */
  messagesResponse(req: ClientRequest, status: i32, contentType: string): ResponseHandler | null {
    if (status >= 200 && status < 300 && contentType.startsWith("application/vnd.amazon.eventstream")) {
      return new BedrockInvokeStream(new MessagesEvents(true));
    }
    return super.messagesResponse(req, status, contentType);
  }

  responseHeaderNames(): string[] { return BEDROCK_RESPONSE_HEADERS; }
}

/**
 * InvokeModelWithResponseStream framing: eventstream frames → Messages stream events for a sink.
 * Exception frames and undecodable streams reach the sink as a Messages `error` event, so every
 * sink reports them in its own format.
 */
export class BedrockInvokeStream extends ResponseHandler {
  private reader: EventStreamReader = new EventStreamReader();
  private err: ByteBuilder = new ByteBuilder(256);

  constructor(public sink: AnthropicEventSink) {
    super();
    this.usage = sink.usage; // the sink reads usage from the events; the filter reads it here
    this.rewrites = true;
    this.contentType = "text/event-stream";
  }

  /** Hands the sink `{"type":"error","error":{"type":…,"message":…}}` (sources: Anthropic streaming). */
  private error(type: string, message: string, out: ByteBuilder): void {
    const b = this.err;
    b.reset();
    b.str("{\"type\":\"error\",\"error\":{\"type\":"); b.jsonString(type);
    b.str(",\"message\":"); b.jsonString(message); b.str("}}");
    const doc = parseJson(b.toBytes());
    if (doc.root !== null) this.sink.onEvent(doc, doc.root!, out);
  }

  private onMessage(msg: EventStreamMessage, out: ByteBuilder): void {
    if (msg.messageType == "exception" || msg.messageType == "error") {
      const e = StreamException.of(msg);
      this.error(e.anthropicType(), e.message, out);
      return;
    }
    if (msg.messageType != "event" || msg.eventType != "chunk") return;
    const doc = parseJson(msg.payload);
    const bytes = doc.get(doc.root, "bytes");
    if (bytes === null || bytes.kind != Kind.Str) { this.error("api_error", "A Bedrock stream chunk has no bytes member.", out); return; }
    const span = doc.strSpan(bytes);
    const raw = base64Decode(span.buf, span.start, span.end);
    if (raw === null) { this.error("api_error", "A Bedrock stream chunk is not valid base64.", out); return; }
    const ev = parseJson(raw);
    const root = ev.root;
    if (root === null || root.kind != Kind.Obj) { this.error("api_error", "A Bedrock stream chunk does not hold a JSON event.", out); return; }
    this.sink.onEvent(ev, root, out);
  }

  /** The sink writes the chunks: it reports them; this handler's body() applies the meter's end. */
  meterWith(m: ChunkMeter): bool {
    if (!this.sink.meterWith(m)) return false;
    this.meter = m;
    return true;
  }

  onBody(data: Uint8Array, eos: bool, out: ByteBuilder): bool {
    const reader = this.reader;
    reader.feed(data);
    if (eos) reader.finish();
    const msgs = reader.messages;
    for (let i = 0; i < msgs.length && !this.sink.done; i++) this.onMessage(unchecked(msgs[i]), out);
    msgs.length = 0;
    if (reader.failed && !this.sink.done) this.error("api_error", "The Bedrock stream could not be decoded: " + reader.error + ".", out);
    if (eos) this.sink.onEnd(out);
    return true;
  }
}
