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
}

export function badRequest(code: string, message: string, param: string = ""): ApiError {
  return new ApiError(400, "invalid_request_error", code, message, param);
}
