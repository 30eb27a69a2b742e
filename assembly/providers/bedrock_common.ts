// Pieces every AWS Bedrock schema shares (reference providers.md §5): the model-scoped request
// path, the response headers the handlers read, and Bedrock errors — HTTP error answers
// (`{"message":…}` with the type in `x-amzn-ErrorType`) and in-band eventstream exception frames —
// turned into the OpenAI error envelope.

import { Kind, parseJson } from "../json/json";
import { ApiError, plainErrorText } from "../errors";
import { ByteBuilder } from "../util/bytes";
import { uriEncode } from "../util/hex";
import { EventStreamMessage } from "../streams/eventstream";
import { ClientRequest, ResponseHandler } from "./provider";

/** Upstream response headers the Bedrock handlers read (lower case, as the host gives them). */
export const BEDROCK_RESPONSE_HEADERS: string[] = ["x-amzn-requestid", "x-amzn-errortype", "x-amzn-bedrock-input-token-count"];

/**
 * `<base_path>/model/<modelId>/<op>`. The model id is one path segment, percent-encoded (§5.1):
 * `anthropic.claude-3-5-sonnet-20240620-v1:0` → `…-v1%3A0`, an ARN's `/` → `%2F`. SigV4 then
 * encodes this wire path once more for its canonical URI (auth/sigv4.ts).
 */
export function bedrockModelPath(req: ClientRequest, op: string): string {
  return req.backend.basePath + "/model/" + uriEncode(req.upstreamModel, true) + "/" + op;
}

/** `ValidationException:http://internal.amazon.com/…` → `ValidationException`; `aws#Foo` → `Foo`. */
function errorTypeName(raw: string): string {
  let s = raw;
  const colon = s.indexOf(":");
  if (colon >= 0) s = s.substring(0, colon);
  const hash = s.lastIndexOf("#");
  if (hash >= 0) s = s.substring(hash + 1);
  return s.trim();
}

/** OpenAI error `type` for a status (the spelling the OpenAI-format providers use). */
function openaiErrorType(status: i32): string {
  if (status == 429) return "rate_limit_exceeded";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/**
 * Client-facing status for a Bedrock status: 424 (ModelErrorException: the model failed) is a bad
 * gateway for an OpenAI client, 408 (ModelTimeoutException) a gateway timeout; others unchanged.
 */
function clientStatus(status: i32): i32 {
  if (status == 424) return 502;
  if (status == 408) return 504;
  return status;
}

/** A non-2xx Bedrock answer → OpenAI error envelope; `code` carries the AWS error type. */
export class BedrockError extends ResponseHandler {
  constructor(private req: ClientRequest, private upstreamStatus: i32) {
    super();
    this.wholeBody = true;
    this.rewrites = true;
    const s = clientStatus(upstreamStatus);
    this.status = s != upstreamStatus ? s : 0;
  }

  onBody(chunk: Uint8Array, eos: bool, out: ByteBuilder): bool {
    if (!eos) return false;
    const doc = parseJson(chunk);
    const root = doc.root;
    let message = "";
    let type = errorTypeName(this.req.responseHeader("x-amzn-errortype"));
    if (root !== null && root.kind == Kind.Obj) {
      let m = doc.get(root, "message");
      if (m === null || m.kind != Kind.Str) m = doc.get(root, "Message");
      if (m !== null && m.kind == Kind.Str) message = doc.str(m);
      if (type.length == 0) {
        let t = doc.get(root, "__type");
        if (t === null || t.kind != Kind.Str) t = doc.get(root, "code");
        if (t !== null && t.kind == Kind.Str) type = errorTypeName(doc.str(t));
      }
    } else if (root === null) {
      // A proxy in front of Bedrock may answer in plain text; short text is still a useful message.
      message = plainErrorText(chunk);
    }
    if (message.length == 0) message = "The Bedrock backend answered with HTTP " + this.upstreamStatus.toString() + (type.length ? " (" + type + ")." : ".");
    const status = clientStatus(this.upstreamStatus);
    out.all(Uint8Array.wrap(new ApiError(status, openaiErrorType(status), type, message).body()));
    this.contentType = "application/json";
    return true;
  }
}

/** HTTP status a modeled stream exception would have had (botocore service model). */
function exceptionStatus(t: string): i32 {
  if (t == "validationException") return 400;
  if (t == "throttlingException") return 429;
  if (t == "modelStreamErrorException") return 424;
  if (t == "modelTimeoutException") return 408;
  if (t == "serviceUnavailableException") return 503;
  return 500; // internalServerException and anything unknown
}

/**
 * An eventstream frame with `:message-type` exception (modeled: `:exception-type` + JSON payload
 * `{"message":…}`) or error (unmodeled: `:error-code` / `:error-message` headers) as an error:
 * status, the AWS type name (`code`) and the provider's message.
 */
export class StreamException {
  status: i32 = 500;
  code: string = "";
  message: string = "";

  static of(msg: EventStreamMessage): StreamException {
    const e = new StreamException();
    if (msg.messageType == "exception") {
      e.code = msg.exceptionType.length ? msg.exceptionType : "exception";
      e.status = exceptionStatus(msg.exceptionType);
      const doc = parseJson(msg.payload);
      const m = doc.get(doc.root, "message");
      if (m !== null && m.kind == Kind.Str) e.message = doc.str(m);
      const om = doc.get(doc.root, "originalMessage");
      const osc = doc.get(doc.root, "originalStatusCode");
      if (om !== null && om.kind == Kind.Str && om.end - om.start > 2) {
        e.message += (e.message.length ? " " : "") + "(model said" + (osc !== null && osc.kind == Kind.Num ? " " + doc.int(osc).toString() : "") + ": " + doc.str(om) + ")";
      }
    } else {
      const code = msg.header(":error-code");
      const m = msg.header(":error-message");
      e.code = code !== null ? code : "error";
      if (m !== null) e.message = m;
    }
    if (e.message.length == 0) e.message = "The Bedrock stream failed with " + e.code + ".";
    return e;
  }

  /** The OpenAI error envelope for a mid-stream error event. */
  toApiError(): ApiError {
    const s = clientStatus(this.status);
    return new ApiError(s, openaiErrorType(s), this.code, this.message);
  }

  /** Anthropic error type for the same failure (for Messages-event sinks, §4.7). */
  anthropicType(): string {
    if (this.status == 400) return "invalid_request_error";
    if (this.status == 429) return "rate_limit_error";
    if (this.status == 408) return "timeout_error";
    if (this.status == 503) return "overloaded_error";
    return "api_error";
  }
}

let idCounter: u32 = 0;

/**
 * Chat completion id: Bedrock's request id (x-amzn-RequestId, §11.3), else one made from the
 * gateway clock and a per-VM counter (unique within a worker; ids need not be globally unique).
 */
export function bedrockResponseId(req: ClientRequest): string {
  const rid = req.responseHeader("x-amzn-requestid");
  if (rid.length > 0 && rid.length <= 128) return rid;
  idCounter++;
  return "chatcmpl-bedrock-" + req.nowSeconds.toString() + "-" + idCounter.toString();
}
