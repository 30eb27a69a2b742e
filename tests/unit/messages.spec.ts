// The Anthropic Messages API as the client's format: the error envelope (sources: Anthropic errors), the
// native request edits per dialect (sources: Claude on Bedrock and Vertex AI: Bedrock and Vertex are not reachable from a
// configuration on this branch, so they are pinned here), the MessagesEvents sink that other
// framings (Bedrock's eventstream) feed event by event, and the translated path's refusals of
// malformed bodies (every one an error value, never a trap).

import { parseJson } from "../../assembly/json/json";
import { Backend, ModelRule } from "../../assembly/config/config";
import { providerRow } from "../../assembly/providers/table";
import { ApiError, anthropicErrorType } from "../../assembly/errors";
import { ClientRequest, Endpoint, UpstreamRequest } from "../../assembly/providers/provider";
import { AnthropicDialect, AnthropicProvider } from "../../assembly/providers/anthropic";
import { allowedBetas, MessagesEvents } from "../../assembly/providers/anthropic_native";
import { checkMessagesRequest, messagesToChat } from "../../assembly/providers/messages_in";
import { ByteBuilder, bytesOf } from "../../assembly/util/bytes";
import { utf8 } from "./helpers";

function request(body: string, schema: string = "anthropic", upstreamModel: string = "", apiVersion: string = ""): ClientRequest {
  const doc = parseJson(bytesOf(body));
  assert(doc.ok, "test body must be valid JSON: " + body);
  const backend = new Backend();
  backend.name = "b";
  backend.row = providerRow(schema)!;
  backend.apiVersion = apiVersion;
  const rule = new ModelRule(backend);
  rule.upstreamModel = upstreamModel;
  const req = new ClientRequest(doc, doc.root!, rule);
  req.endpoint = Endpoint.Messages;
  req.model = doc.str(doc.get(doc.root, "model"));
  const s = doc.get(doc.root, "stream");
  req.stream = s !== null && s.isBool && s.flag;
  return req;
}

function bodyOf(req: ClientRequest, out: UpstreamRequest): string {
  const b = out.body;
  return b === null ? utf8(req.doc.src) : b.toString();
}

function header(out: UpstreamRequest, name: string): string {
  for (let i = 0; i + 1 < out.headers.length; i += 2) if (out.headers[i] == name) return out.headers[i + 1];
  return "(absent)";
}

describe("ApiError in Anthropic's envelope", () => {
  it("takes the documented type for each status (other 4xx: invalid_request_error)", () => {
    const cases: string[][] = [
      ["400", "invalid_request_error"], ["401", "authentication_error"], ["402", "billing_error"], ["403", "permission_error"],
      ["404", "not_found_error"], ["405", "invalid_request_error"], ["413", "request_too_large"], ["415", "invalid_request_error"],
      ["422", "invalid_request_error"], ["429", "rate_limit_error"], ["500", "api_error"], ["502", "api_error"], ["503", "api_error"],
      ["504", "timeout_error"], ["529", "overloaded_error"],
    ];
    for (let i = 0; i < cases.length; i++) expect(anthropicErrorType(I32.parseInt(cases[i][0]))).toBe(cases[i][1], cases[i][0]);
  });
  it("renders {type: error, error: {type, message}} with the message escaped; OpenAI's shape otherwise", () => {
    const e = new ApiError(404, "invalid_request_error", "model_not_found", "The model `a\"b` does not exist.", "model");
    expect(String.UTF8.decode(e.render(true))).toBe('{"type":"error","error":{"type":"not_found_error","message":"The model `a\\"b` does not exist."}}');
    expect(String.UTF8.decode(e.render(false))).toBe(String.UTF8.decode(e.body()));
  });
});

describe("allowedBetas", () => {
  it("keeps well-formed names once, drops oauth-* betas, malformed entries and empties", () => {
    expect(allowedBetas(" a-2025-01-01 ,oauth-2025-04-20,, b.c_d ,a-2025-01-01,bad beta,x\r\ny,é").join("|")).toBe("a-2025-01-01|b.c_d");
    expect(allowedBetas("").length).toBe(0);
  });
});

const BODY = '{"model":"claude-x","max_tokens":10,"stream":true,"anthropic_beta":["client-set"],"messages":[{"role":"user","content":"Hi"}]}';

describe("native Messages request per dialect", () => {
  it("direct: the model is renamed, a body anthropic_beta removed; anthropic-version and the filtered betas as headers", () => {
    const req = request(BODY, "anthropic", "claude-x-20250101", "2023-06-01");
    req.anthropicBeta = "b1-2025-01-01,oauth-2025-04-20";
    const out = new UpstreamRequest();
    expect(new AnthropicProvider(AnthropicDialect.Direct).prepareMessages(req, out) === null).toBe(true);
    expect(bodyOf(req, out)).toBe('{"model":"claude-x-20250101","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"Hi"}]}');
    expect(out.path).toBe("/v1/messages");
    expect(header(out, "anthropic-version")).toBe("2023-06-01");
    expect(header(out, "anthropic-beta")).toBe("b1-2025-01-01");
  });
  it("direct without a rename: the client's bytes go upstream unchanged (body null)", () => {
    const req = request('{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}', "anthropic", "", "2023-06-01");
    const out = new UpstreamRequest();
    expect(new AnthropicProvider(AnthropicDialect.Direct).prepareMessages(req, out) === null).toBe(true);
    expect(out.body === null).toBe(true);
    expect(header(out, "anthropic-beta")).toBe("(absent)");
  });
  it("bedrock: model and stream removed, anthropic_version added, betas (the header's only) in the body", () => {
    const req = request(BODY, "bedrock-anthropic");
    req.anthropicBeta = "b1-2025-01-01";
    const out = new UpstreamRequest();
    expect(new AnthropicProvider(AnthropicDialect.Bedrock).prepareMessages(req, out) === null).toBe(true);
    expect(bodyOf(req, out)).toBe('{"max_tokens":10,"messages":[{"role":"user","content":"Hi"}],"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["b1-2025-01-01"]}');
    expect(header(out, "anthropic-beta")).toBe("(absent)");
    expect(header(out, "anthropic-version")).toBe("(absent)");
  });
  it("vertex: model removed, stream kept, anthropic_version added (configured api_version wins), betas as the header", () => {
    const req = request(BODY, "vertex-anthropic", "", "vertex-2099-01-01");
    req.anthropicBeta = "b1-2025-01-01";
    const out = new UpstreamRequest();
    expect(new AnthropicProvider(AnthropicDialect.Vertex).prepareMessages(req, out) === null).toBe(true);
    expect(bodyOf(req, out)).toBe('{"max_tokens":10,"stream":true,"messages":[{"role":"user","content":"Hi"}],"anthropic_version":"vertex-2099-01-01"}');
    expect(header(out, "anthropic-beta")).toBe("b1-2025-01-01");
  });
});

function feed(sink: MessagesEvents, json: string, out: ByteBuilder): void {
  const doc = parseJson(bytesOf(json));
  assert(doc.ok, json);
  sink.onEvent(doc, doc.root!, out);
}

describe("MessagesEvents fed event by event (another framing, e.g. Bedrock's eventstream)", () => {
  it("re-emits each event as `event: <type>` + `data: <json>` SSE and reads usage (start: input side, delta: final)", () => {
    const sink = new MessagesEvents(true);
    expect(sink.contentType).toBe("text/event-stream");
    const out = new ByteBuilder(512);
    feed(sink, '{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":1}}}', out);
    expect(sink.usage.input).toBe(15);
    expect(sink.usage.final).toBe(false);
    feed(sink, '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\\nb"}}', out);
    feed(sink, '{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}', out);
    expect(sink.usage.output).toBe(7);
    expect(sink.usage.final).toBe(true);
    expect(sink.done).toBe(false);
    feed(sink, '{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":15}}', out);
    expect(sink.done).toBe(true);
    sink.onEnd(out);
    expect(out.toString()).toBe(
      'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":1}}}\n\n' +
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\\nb"}}\n\n' +
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}\n\n' +
      'event: message_stop\ndata: {"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":15}}\n\n');
  });
  it("a stream cut before message_stop ends with an error event", () => {
    const sink = new MessagesEvents(true);
    const out = new ByteBuilder(256);
    feed(sink, '{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":1,"output_tokens":1}}}', out);
    out.reset();
    sink.onEnd(out);
    expect(out.toString()).toBe('event: error\ndata: {"type":"error","error":{"type":"api_error","message":"The backend\'s stream ended before message_stop."}}\n\n');
  });
  it("fed SSE it passes the bytes through (returns false) and still reads usage, events split anywhere", () => {
    const sse = 'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}\n\n' +
      'event: message_delta\ndata: {"type":"message_delta","delta":{},"usage":{"output_tokens":9}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n';
    const all = bytesOf(sse);
    for (let cut = 1; cut < all.length; cut++) {
      const sink = new MessagesEvents(false);
      const out = new ByteBuilder(64);
      expect(sink.onBody(all.subarray(0, cut), false, out)).toBe(false);
      expect(sink.onBody(all.subarray(cut), true, out)).toBe(false);
      expect(out.len).toBe(0);
      expect(sink.usage.input).toBe(3);
      expect(sink.usage.output).toBe(9);
      expect(sink.done).toBe(true);
    }
  });
});

// Found by the fuzzer (tests/robust, docs/robustness.md): a passed-through Messages stream that
// does not end properly must not look like a finished message to the client.
function passThrough(chunks: string[]): string {
  const sink = new MessagesEvents(false);
  const all = new ByteBuilder();
  for (let i = 0; i < chunks.length; i++) {
    const out = new ByteBuilder();
    const c = bytesOf(chunks[i]);
    if (sink.onBody(c, i == chunks.length - 1, out)) all.bytes(out.buf, 0, out.len); else all.all(c);
  }
  return all.toString();
}
const M_START = 'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}\n\n';
const M_CUT = 'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"The backend\'s stream ended before message_stop."}}\n\n';

describe("MessagesEvents passing through: stream endings", () => {
  it("a stream cut inside an event gets the event closed and an error event, wherever the body is split", () => {
    const src = M_START + 'event: content_block_delta\ndata: {"type":"content_block_de';
    for (let k = 0; k <= src.length; k++) {
      expect(passThrough([src.slice(0, k), src.slice(k)])).toBe(src + "\n\n" + M_CUT, "split at " + k.toString());
    }
  });
  it("a stream that stops between events without message_stop gets an error event", () => {
    expect(passThrough([M_START])).toBe(M_START + M_CUT);
  });
  it("message_stop or the provider's own error event ends it: nothing is added", () => {
    const stop = M_START + 'event: message_stop\ndata: {"type":"message_stop"}\n\n';
    expect(passThrough([stop, ""])).toBe(stop);
    const err = M_START + 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n';
    expect(passThrough([err])).toBe(err);
  });
});

describe("Messages → chat request: malformed bodies are refused with a 400, never a trap", () => {
  it("checks max_tokens, messages and stream before anything else", () => {
    const bad: string[] = [
      '{"model":"m","messages":[]}', '{"model":"m","max_tokens":0,"messages":[]}', '{"model":"m","max_tokens":1.5,"messages":[]}',
      '{"model":"m","max_tokens":"10","messages":[]}', '{"model":"m","max_tokens":10}', '{"model":"m","max_tokens":10,"messages":{}}',
      '{"model":"m","max_tokens":10,"messages":[],"stream":"yes"}',
    ];
    for (let i = 0; i < bad.length; i++) {
      const req = request(bad[i], "openai");
      const e = checkMessagesRequest(req.doc, req.root);
      expect(e !== null && e.status == 400).toBe(true, bad[i]);
    }
    const ok = request('{"model":"m","max_tokens":10,"messages":[]}', "openai");
    expect(checkMessagesRequest(ok.doc, ok.root) === null).toBe(true);
  });
  it("refuses what an OpenAI-format backend cannot take, naming the field", () => {
    const M = '"model":"m","max_tokens":10,';
    const cases: string[][] = [
      ['{' + M + '"messages":[1]}', "messages.0"],
      ['{' + M + '"messages":[{"role":"system","content":"x"}]}', "messages.0.role"],
      ['{' + M + '"messages":[{"role":"user","content":5}]}', "messages.0.content"],
      ['{' + M + '"messages":[{"role":"user"}]}', "messages.0.content"],
      ['{' + M + '"messages":[{"role":"user","content":[{"type":"text","text":7}]}]}', "messages.0.content.0.text"],
      ['{' + M + '"messages":[{"role":"user","content":[{"type":"search_result"}]}]}', "messages.0.content.0.type"],
      ['{' + M + '"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}', "source.type"],
      ['{' + M + '"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"x"}}]}]}', "source"],
      ['{' + M + '"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"text/csv","data":"x"}}]}]}', "media_type"],
      ['{' + M + '"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}', "tool_use_id"],
      ['{' + M + '"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"search_result"}]}]}]}', "tool results"],
      ['{' + M + '"messages":[{"role":"assistant","content":[{"type":"tool_use","name":"f","input":{}}]}]}', "tool_use"],
      ['{' + M + '"messages":[{"role":"assistant","content":[{"type":"server_tool_use","id":"s","name":"web_search"}]}]}', "server_tool_use"],
      ['{' + M + '"system":[{"type":"image"}],"messages":[]}', "system.0"],
      ['{' + M + '"system":5,"messages":[]}', "system"],
      ['{' + M + '"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[]}', "server tool"],
      ['{' + M + '"tools":[{"input_schema":{}}],"messages":[]}', "tools.0.name"],
      ['{' + M + '"tools":[{"name":"f"}],"tool_choice":{"type":"sometimes"},"messages":[]}', "tool_choice.type"],
      ['{' + M + '"tools":[{"name":"f"}],"tool_choice":{"type":"tool"},"messages":[]}', "tool_choice.name"],
      ['{' + M + '"stop_sequences":[1],"messages":[]}', "stop_sequences"],
      ['{' + M + '"top_k":3,"messages":[]}', "top_k"],
      ['{' + M + '"thinking":{"type":"enabled"},"messages":[]}', "thinking.budget_tokens"],
      ['{' + M + '"output_config":{"format":{"type":"json_schema"}},"messages":[]}', "output_config.format.schema"],
      ['{' + M + '"mcp_servers":[{"url":"https://x"}],"messages":[]}', "mcp_servers"],
    ];
    for (let i = 0; i < cases.length; i++) {
      const req = request(cases[i][0], "openai");
      const e = messagesToChat(req, new ByteBuilder(256));
      expect(e !== null).toBe(true, cases[i][0]);
      if (e !== null) {
        expect(e.status).toBe(400, cases[i][0]);
        expect(e.message.includes(cases[i][1])).toBe(true, e.message + " should name " + cases[i][1]);
      }
    }
  });
  it("vendors get max_tokens and no user; OpenAI and translating providers get max_completion_tokens and user", () => {
    const body = '{"model":"m","max_tokens":10,"metadata":{"user_id":"u1"},"output_config":{"effort":"max"},"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"}]},{"role":"user","content":"x"}]}';
    const cases: string[][] = [
      ["openai", "", '{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":10,"user":"u1","reasoning_effort":"high"}'],
      ["openai", "openai", '{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":10,"user":"u1","reasoning_effort":"high"}'],
      ["openai", "groq", '{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":10,"reasoning_effort":"high"}'],
      ["gemini", "", '{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":10,"user":"u1","reasoning_effort":"high"}'],
    ];
    for (let i = 0; i < cases.length; i++) {
      const req = request(body, cases[i][0]);
      req.backend.preset = cases[i][1];
      const b = new ByteBuilder(256);
      expect(messagesToChat(req, b) === null).toBe(true);
      expect(b.toString()).toBe(cases[i][2], cases[i][0] + "/" + cases[i][1]);
    }
  });
});
