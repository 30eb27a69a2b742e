// OpenAI-style error answers: {"error":{"message","type","param","code"}}, the shape every
// OpenAI client library parses (ErrorResponse in the OpenAI spec).

import { ByteBuilder } from "./util/bytes";

export class ApiError {
  constructor(
    public status: i32,
    public type: string,
    public code: string,
    public message: string,
    public param: string = "",
  ) {}

  body(): ArrayBuffer {
    const b = new ByteBuilder(96 + this.message.length);
    b.str("{\"error\":{\"message\":");
    b.jsonString(this.message);
    b.str(",\"type\":");
    b.jsonString(this.type);
    b.str(",\"param\":");
    if (this.param.length) b.jsonString(this.param); else b.str("null");
    b.str(",\"code\":");
    if (this.code.length) b.jsonString(this.code); else b.str("null");
    b.str("}}");
    return b.toArrayBuffer();
  }

  /**
   * The same error in the Anthropic Messages API envelope (`{"type":"error","error":{type,
   * message}}`, providers.md §4.7), for clients of /v1/messages: the type follows the status.
   */
  anthropicBody(): ArrayBuffer {
    const b = new ByteBuilder(64 + this.message.length);
    b.str("{\"type\":\"error\",\"error\":{\"type\":");
    b.jsonString(anthropicErrorType(this.status));
    b.str(",\"message\":");
    b.jsonString(this.message);
    b.str("}}");
    return b.toArrayBuffer();
  }

  /** The body in the client's format: Anthropic's envelope for Messages API clients, else OpenAI's. */
  render(anthropic: bool): ArrayBuffer { return anthropic ? this.anthropicBody() : this.body(); }
}

/** Anthropic's error type for an HTTP status (the documented pairs; other 4xx → invalid_request_error). */
export function anthropicErrorType(status: i32): string {
  if (status == 401) return "authentication_error";
  if (status == 402) return "billing_error";
  if (status == 403) return "permission_error";
  if (status == 404) return "not_found_error";
  if (status == 413) return "request_too_large";
  if (status == 429) return "rate_limit_error";
  if (status == 504) return "timeout_error";
  if (status == 529) return "overloaded_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

export function badRequest(code: string, message: string, param: string = ""): ApiError {
  return new ApiError(400, "invalid_request_error", code, message, param);
}

/**
 * The text of an error body that is not JSON (a plain-text answer from the provider's front end
 * or a proxy in front of it), when it is short enough to be a message and not markup: trimmed,
 * else "".
 */
export function plainErrorText(body: Uint8Array): string {
  if (body.length == 0 || body.length > 512) return "";
  const text = String.UTF8.decodeUnsafe(body.dataStart, body.length).trim();
  return text.startsWith("<") ? "" : text; // an HTML page is not a message

}
