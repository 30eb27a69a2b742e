// OpenAI provider. Request side: the body goes upstream byte-identical except for the model
// rename and, for streaming chat, stream_options.include_usage (OpenAI only reports stream usage
// when asked — sources: OpenAI Chat Completions: streaming — and token limits need it). Response side: usage is read from
// the JSON body or the `choices: []` usage chunk (sources: OpenAI Chat Completions: response; OpenAI Chat Completions: streaming); when the gateway injected
// include_usage, the client must see exactly the stream it would have got without it: no usage
// chunk and no `"usage":null` member in the other chunks.

import { parseJson } from "../../assembly/json/json";
import { Backend, ModelRule } from "../../assembly/config/config";
import { ClientRequest, Endpoint, UpstreamRequest, ResponseHandler } from "../../assembly/providers/provider";
import { OpenAIProvider } from "../../assembly/providers/openai";
import { ByteBuilder, bytesOf } from "../../assembly/util/bytes";
import { utf8 } from "./helpers";

const provider = new OpenAIProvider();

/** A client request as the filter builds it: model and stream read from the parsed body. */
function request(body: string, endpoint: Endpoint, upstreamModel: string = "", basePath: string = "/v1"): ClientRequest {
  const doc = parseJson(bytesOf(body));
  assert(doc.ok, "test body must be valid JSON: " + body);
  const backend = new Backend();
  backend.name = "oa";
  backend.basePath = basePath;
  const rule = new ModelRule(backend);
  rule.upstreamModel = upstreamModel;
  const req = new ClientRequest(doc, doc.root!, rule);
  req.endpoint = endpoint;
  req.model = doc.str(doc.get(doc.root, "model"));
  const s = doc.get(doc.root, "stream");
  req.stream = s !== null && s.isBool && s.flag;
  return req;
}

/** What goes upstream: the rewritten body, or the client's bytes when body is null. */
function upstreamBody(req: ClientRequest, out: UpstreamRequest): string {
  const b = out.body;
  return b === null ? utf8(req.doc.src) : b.toString();
}

describe("OpenAIProvider.prepare: path", () => {
  it("is base_path + the endpoint", () => {
    // [base path, endpoint ("chat"/"emb"), expected path]
    const cases: string[][] = [
      ["/v1", "chat", "/v1/chat/completions"],
      ["/v1", "emb", "/v1/embeddings"],
      ["", "chat", "/chat/completions"],
      ["/openai/v1", "chat", "/openai/v1/chat/completions"],
      ["/api/v1", "emb", "/api/v1/embeddings"],
    ];
    for (let i = 0; i < cases.length; i++) {
      const ep = cases[i][1] == "chat" ? Endpoint.ChatCompletions : Endpoint.Embeddings;
      const req = request('{"model":"m","input":"x"}', ep, "", cases[i][0]);
      const out = new UpstreamRequest();
      expect(provider.prepare(req, out) === null).toBe(true, "no error");
      expect(out.path).toBe(cases[i][2]);
    }
  });
});

describe("OpenAIProvider.prepare: model rename", () => {
  it("renames only when upstream_model is set and different, leaving every other byte alone", () => {
    // [client body, upstream_model, expected upstream body]
    const cases: string[][] = [
      ['{"model":"gpt-4o","messages":[]}', "", '{"model":"gpt-4o","messages":[]}'],
      ['{"model":"gpt-4o","messages":[]}', "gpt-4o", '{"model":"gpt-4o","messages":[]}'],
      ['{"model":"fast","messages":[]}', "gpt-4o-mini", '{"model":"gpt-4o-mini","messages":[]}'],
      // whitespace, member order and a "model" inside content are untouched
      ['{ "messages" : [{"role":"user","content":"model"}],\n  "model" :  "fast" , "n":1 }', "gpt-4o",
        '{ "messages" : [{"role":"user","content":"model"}],\n  "model" :  "gpt-4o" , "n":1 }'],
      // the client's model may be written with escapes; it is replaced as a whole
      ['{"model":"f\\u0061st","temperature":0.5}', "gpt-4o", '{"model":"gpt-4o","temperature":0.5}'],
      // the upstream name is JSON-escaped
      ['{"model":"m"}', "we\"ird", '{"model":"we\\"ird"}'],
      // duplicate keys: the last one is the model (JSON.parse semantics), so it is the one renamed
      ['{"model":"x","model":"fast"}', "gpt-4o", '{"model":"x","model":"gpt-4o"}'],
      ['{"model":"fast","input":["a","b"]}', "text-embedding-3-small", '{"model":"text-embedding-3-small","input":["a","b"]}'],
    ];
    for (let i = 0; i < cases.length; i++) {
      const ep = cases[i][0].includes("input") ? Endpoint.Embeddings : Endpoint.ChatCompletions;
      const req = request(cases[i][0], ep, cases[i][1]);
      const out = new UpstreamRequest();
      provider.prepare(req, out);
      expect(upstreamBody(req, out)).toBe(cases[i][2], cases[i][0]);
      // Nothing to change → the client's bytes go as they are (no copy).
      expect(out.body === null).toBe(cases[i][0] == cases[i][2], "body replaced only when edited: " + cases[i][0]);
    }
  });
});

describe("OpenAIProvider.prepare: drop_fields", () => {
  it("BUG: dropping two adjacent fields, the second being the last, drops both", () => {
    // Edits.removeMember for the last member takes the preceding comma, so its span overlaps the
    // previous removal and apply() ignores it: "metadata" is still sent upstream.
    const req = request('{"model":"m","messages":[],"store":true,"metadata":{"a":"b"}}', Endpoint.ChatCompletions);
    req.backend.dropFields = ["store", "metadata"];
    const out = new UpstreamRequest();
    provider.prepare(req, out);
    expect(upstreamBody(req, out)).toBe('{"model":"m","messages":[]}');
  });
  it("drops non-adjacent fields", () => {
    const req = request('{"store":true,"model":"m","metadata":{},"messages":[]}', Endpoint.ChatCompletions);
    req.backend.dropFields = ["store", "metadata", "absent"];
    const out = new UpstreamRequest();
    provider.prepare(req, out);
    expect(upstreamBody(req, out)).toBe('{"model":"m","messages":[]}');
  });
});

describe("OpenAIProvider.prepare: stream_options.include_usage", () => {
  it("injects include_usage for streaming chat when the client did not ask for it", () => {
    // [client body, expected upstream body ("" = unchanged), "1" if usage was injected]
    const cases: string[][] = [
      ['{"model":"m","stream":true,"messages":[]}',
        '{"model":"m","stream":true,"messages":[],"stream_options":{"include_usage":true}}', "1"],
      ['{"model":"m","stream":true,"stream_options":null,"messages":[]}',
        '{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}', "1"],
      ['{"model":"m","stream":true,"stream_options":{}}',
        '{"model":"m","stream":true,"stream_options":{"include_usage":true}}', "1"],
      ['{"stream_options":{"include_obfuscation":false},"model":"m","stream":true}',
        '{"stream_options":{"include_obfuscation":false,"include_usage":true},"model":"m","stream":true}', "1"],
      ['{"model":"m","stream":true,"stream_options":{"include_usage":false}}',
        '{"model":"m","stream":true,"stream_options":{"include_usage":true}}', "1"],
      ['{"model":"m","stream":true,"stream_options":{"include_usage":null,"include_obfuscation":true}}',
        '{"model":"m","stream":true,"stream_options":{"include_usage":true,"include_obfuscation":true}}', "1"],
      // the client asked: nothing to inject, nothing to hide later
      ['{"model":"m","stream":true,"stream_options":{"include_usage":true}}', "", "0"],
      ['{"model":"m","stream":true,"stream_options":{"include_usage": true }}', "", "0"],
      // not streaming: non-stream responses always carry usage
      ['{"model":"m","stream":false,"messages":[]}', "", "0"],
      ['{"model":"m","messages":[]}', "", "0"],
      ['{"model":"m","stream":false,"stream_options":null}', "", "0"],
      ['{"model":"m","stream":"true"}', "", "0"],   // not a boolean: the filter does not treat it as a stream
    ];
    for (let i = 0; i < cases.length; i++) {
      const req = request(cases[i][0], Endpoint.ChatCompletions);
      const out = new UpstreamRequest();
      provider.prepare(req, out);
      const want = cases[i][1].length ? cases[i][1] : cases[i][0];
      expect(upstreamBody(req, out)).toBe(want, cases[i][0]);
      expect(req.usageInjected).toBe(cases[i][2] == "1", "usageInjected for " + cases[i][0]);
      expect(parseJson(bytesOf(upstreamBody(req, out))).ok).toBe(true, "upstream body is JSON");
    }
  });

  it("does not touch embeddings, even with stream:true", () => {
    const req = request('{"model":"e","input":"x","stream":true}', Endpoint.Embeddings);
    const out = new UpstreamRequest();
    provider.prepare(req, out);
    expect(out.body === null).toBe(true);
    expect(req.usageInjected).toBe(false);
  });

  it("combines the rename with the injection", () => {
    const req = request('{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}', Endpoint.ChatCompletions, "gpt-4o-mini");
    const out = new UpstreamRequest();
    provider.prepare(req, out);
    expect(upstreamBody(req, out)).toBe('{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}');
    expect(req.usageInjected).toBe(true);
  });
});

/** Runs a whole body through a handler in one call; returns the client bytes ("=" when passed through). */
function runWhole(h: ResponseHandler, body: string): string {
  const out = new ByteBuilder();
  return h.onBody(bytesOf(body), true, out) ? out.toString() : "=";
}

function usageOf(h: ResponseHandler): string {
  const u = h.usage;
  if (!u.reported) return "none";
  return u.input.toString() + "/" + u.output.toString() + "/" + u.total.toString() + " cached " + u.cachedInput.toString() +
    " reasoning " + u.reasoning.toString();
}

describe("OpenAIProvider non-stream responses", () => {
  it("passes the body through and reads usage (prompt/completion/total/cached/reasoning)", () => {
    // [body, expected usage as input/output/total cached c reasoning r]
    const cases: string[][] = [
      ['{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],' +
        '"usage":{"prompt_tokens":50,"completion_tokens":17,"total_tokens":67,"prompt_tokens_details":{"cached_tokens":32,"audio_tokens":0},' +
        '"completion_tokens_details":{"reasoning_tokens":8,"audio_tokens":0}}}', "50/17/67 cached 32 reasoning 8"],
      // embeddings: no completion tokens
      ['{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"e","usage":{"prompt_tokens":8,"total_tokens":8}}',
        "8/0/8 cached 0 reasoning 0"],
      // total missing: input + output
      ['{"usage":{"prompt_tokens":3,"completion_tokens":4}}', "3/4/7 cached 0 reasoning 0"],
      // details present but null
      ['{"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":null,"completion_tokens_details":null}}',
        "1/2/3 cached 0 reasoning 0"],
      ['{"usage":null}', "none"],
      ['{"choices":[]}', "none"],
    ];
    for (let i = 0; i < cases.length; i++) {
      const req = request('{"model":"m"}', Endpoint.ChatCompletions);
      const h = provider.response(req, 200, "application/json");
      expect(h.wholeBody).toBe(true, "usage is read from the whole body");
      expect(h.rewrites).toBe(false);
      expect(runWhole(h, cases[i][0])).toBe("=", "body passes through");
      expect(usageOf(h)).toBe(cases[i][1], cases[i][0]);
    }
  });

  it("a 2xx body that is not a JSON object (truncated, not JSON, an array) becomes 502 with the OpenAI error envelope", () => {
    const bodies: string[] = ['{"usage":{"prompt_tokens":1', "not json", "", "[1,2]", "null", '"text"'];
    for (let i = 0; i < bodies.length; i++) {
      const req = request('{"model":"m"}', Endpoint.ChatCompletions);
      const h = provider.response(req, 200, "application/json");
      expect(runWhole(h, bodies[i])).toBe('{"error":{"message":"The backend returned a response that is not a JSON object.","type":"upstream_error","param":null,"code":"bad_upstream_response"}}', bodies[i]);
      expect(h.status).toBe(502, bodies[i]);
      expect(h.contentType).toBe("application/json");
      expect(usageOf(h)).toBe("none");
    }
  });

  it("a JSON object labelled with another content type is relabelled application/json, bytes unchanged", () => {
    const types: string[] = ["text/html", "", "text/plain; charset=utf-8", "application/vnd.amazon.eventstream"];
    for (let i = 0; i < types.length; i++) {
      const h = provider.response(request('{"model":"m"}', Endpoint.ChatCompletions), 200, types[i]);
      expect(runWhole(h, '{"id":"x","choices":[]}')).toBe("=", types[i]);
      expect(h.contentType).toBe("application/json", types[i]);
    }
    const h = provider.response(request('{"model":"m"}', Endpoint.ChatCompletions), 200, "application/json; charset=utf-8");
    expect(runWhole(h, '{"id":"x","choices":[]}')).toBe("=");
    expect(h.contentType).toBe("", "a JSON label is kept as the provider sent it");
  });

  it("error statuses: always the OpenAI error envelope (kept when already right), no usage parsing, even for an event-stream content type", () => {
    const statuses: i32[] = [400, 401, 404, 429, 500, 503, 199, 300];
    // [upstream body, client body ("=" when passed through)]
    const cases: string[][] = [
      ['{"error":{"message":"x","type":"invalid_request_error","param":null,"code":null},"usage":{"prompt_tokens":9,"completion_tokens":9}}', "="],
      ['{"error":{"message":"x","type":"invalid_request_error"},"usage":{"prompt_tokens":9,"completion_tokens":9}}',
        '{"error":{"message":"x","type":"invalid_request_error","param":null,"code":null}}'],
      // Wrong types in an envelope-looking body: rebuilt, the message kept only when it is a string.
      ['{"error":{"message":7,"type":"t","param":null,"code":null}}', '{"error":{"message":"The backend answered with HTTP 400.","type":"t","param":null,"code":null}}'],
      ['<html>bad gateway</html>', '{"error":{"message":"<html>bad gateway</html>","type":"invalid_request_error","param":null,"code":null}}'],
    ];
    for (let i = 0; i < statuses.length; i++) {
      const req = request('{"model":"m","stream":true}', Endpoint.ChatCompletions);
      req.usageInjected = true;
      const types: string[] = ["application/json", "text/event-stream"];
      for (let t = 0; t < types.length; t++) {
        for (let c = 0; c < cases.length; c++) {
          const h = provider.response(req, statuses[i], types[t]);
          expect(h.wholeBody).toBe(true, "errors are buffered to be checked");
          const want = cases[c][1].replace("HTTP 400", "HTTP " + statuses[i].toString());
          const type = statuses[i] == 429 ? "rate_limit_exceeded" : statuses[i] >= 500 ? "server_error" : "invalid_request_error";
          expect(runWhole(h, cases[c][0])).toBe(c == 3 ? want.replace("invalid_request_error", type) : want, statuses[i].toString() + " case " + c.toString());
          expect(usageOf(h)).toBe("none", statuses[i].toString() + " " + types[t]);
        }
      }
    }
  });
});

// A realistic OpenAI chat stream with include_usage (sources: OpenAI Chat Completions: streaming): `"usage":null` on every
// chunk (in the middle of the object when OpenAI adds `obfuscation` after it), then the
// `choices: []` usage chunk, then [DONE]. Pairs: [upstream data, data the client must get
// ("" = event dropped)]. The client-side data is the same JSON without the usage member.
const STREAM: string[][] = [
  ['{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"Zq"}',
   '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"obfuscation":"Zq"}'],
  ['{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hé \\"q\\" 😀\\n"},"logprobs":null,"finish_reason":null}],"usage":null}',
   '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hé \\"q\\" 😀\\n"},"logprobs":null,"finish_reason":null}]}'],
  ['{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"usage"},"logprobs":null,"finish_reason":null}],"usage":null}',
   '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"usage"},"logprobs":null,"finish_reason":null}]}'],
  ['{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}',
   '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}'],
  ['{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":17,"total_tokens":67,"prompt_tokens_details":{"cached_tokens":32,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":8,"audio_tokens":0}},"obfuscation":"k"}',
   ""],
  ["[DONE]", "[DONE]"],
];
const STREAM_USAGE = "50/17/67 cached 32 reasoning 8";
const TRUNCATED_EVENT = 'data: {"error":{"message":"The provider\'s stream ended before the answer was complete.","type":"upstream_error","param":null,"code":"upstream_stream_truncated"}}\n\n';

function upstreamStream(): string {
  let s = "";
  for (let i = 0; i < STREAM.length; i++) s += "data: " + STREAM[i][0] + "\n\n";
  return s;
}
function clientStream(): string {
  let s = "";
  for (let i = 0; i < STREAM.length; i++) if (STREAM[i][1].length) s += "data: " + STREAM[i][1] + "\n\n";
  return s;
}

class StreamRun {
  out: string = "";
  /** "=" for a chunk passed through, "w" for a chunk replaced by the handler's bytes. */
  returns: string = "";
  usage: string = "";
}

/** Feeds the upstream stream to a fresh handler in the given chunks (last one with eos). */
function runStream(injected: bool, chunks: Uint8Array[]): StreamRun {
  const req = request('{"model":"gpt-4o-mini","stream":true}', Endpoint.ChatCompletions);
  req.usageInjected = injected;
  const h = provider.response(req, 200, "text/event-stream; charset=utf-8");
  const run = new StreamRun();
  const all = new ByteBuilder();
  for (let i = 0; i < chunks.length; i++) {
    const out = new ByteBuilder();
    const replaced = h.onBody(chunks[i], i == chunks.length - 1, out);
    run.returns += replaced ? "w" : "=";
    if (replaced) all.bytes(out.buf, 0, out.len); else all.all(chunks[i]);
  }
  run.out = all.toString();
  run.usage = usageOf(h);
  return run;
}

describe("OpenAIProvider stream responses", () => {
  it("client asked for usage (strip=false): passes every chunk through and reads usage", () => {
    const src = bytesOf(upstreamStream());
    for (let k = 0; k <= src.length; k++) {
      const run = runStream(false, [src.slice(0, k), src.slice(k)]);
      expect(run.returns).toBe("==", "split at " + k.toString());
      expect(run.out).toBe(upstreamStream(), "split at " + k.toString());
      expect(run.usage).toBe(STREAM_USAGE, "split at " + k.toString());
    }
    const req = request('{"model":"m","stream":true}', Endpoint.ChatCompletions);
    // Passed through, yet the end of a cut stream gets bytes (docs/robustness.md): no content-length.
    expect(provider.response(req, 200, "text/event-stream").rewrites).toBe(true, "content-length must go");
  });

  it("usage injected (strip=true): the client gets the stream without usage, for every split point", () => {
    const src = bytesOf(upstreamStream());
    const want = clientStream();
    // The expected stream must really differ from the input (the test would be vacuous otherwise).
    expect(want == upstreamStream()).toBe(false);
    expect(want.includes("usage\":")).toBe(false);
    for (let k = 0; k <= src.length; k++) {
      const run = runStream(true, [src.slice(0, k), src.slice(k)]);
      expect(run.returns).toBe("ww", "split at " + k.toString());
      expect(run.out).toBe(want, "split at " + k.toString());
      expect(run.usage).toBe(STREAM_USAGE, "split at " + k.toString());
    }
    const req = request('{"model":"m","stream":true}', Endpoint.ChatCompletions);
    req.usageInjected = true;
    expect(provider.response(req, 200, "text/event-stream").rewrites).toBe(true, "content-length must go");
  });

  it("client asked for usage on a re-framing (normalize) backend: the usage chunk is kept", () => {
    // normalize makes the handler re-frame every event; the usage the client asked for must
    // survive that, byte for byte (the sample stream has nothing to normalize).
    const req = request('{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true}}', Endpoint.ChatCompletions);
    req.backend.normalize = true;
    provider.prepare(req, new UpstreamRequest());
    expect(req.usageInjected).toBe(false);
    const h = provider.response(req, 200, "text/event-stream");
    const out = new ByteBuilder();
    expect(h.onBody(bytesOf(upstreamStream()), true, out)).toBe(true, "re-framed");
    expect(out.toString()).toBe(upstreamStream());
    expect(usageOf(h)).toBe(STREAM_USAGE);
  });

  it("usage injected: byte-by-byte chunks give the same client stream", () => {
    const src = bytesOf(upstreamStream());
    const chunks: Uint8Array[] = [];
    for (let k = 0; k < src.length; k++) chunks.push(src.slice(k, k + 1));
    chunks.push(new Uint8Array(0)); // end of stream arrives as an empty chunk
    const run = runStream(true, chunks);
    expect(run.out).toBe(clientStream());
    expect(run.usage).toBe(STREAM_USAGE);
  });

  it("usage injected, end-to-end from prepare(): the flag set by prepare drives the stripping", () => {
    const req = request('{"model":"gpt-4o-mini","stream":true,"messages":[]}', Endpoint.ChatCompletions);
    provider.prepare(req, new UpstreamRequest());
    expect(req.usageInjected).toBe(true);
    const h = provider.response(req, 200, "text/event-stream");
    const out = new ByteBuilder();
    expect(h.onBody(bytesOf(upstreamStream()), true, out)).toBe(true);
    expect(out.toString()).toBe(clientStream());
  });

  it("usage injected: stream cut before the finish chunk → still stripped, no usage, and an error event ends it", () => {
    let s = "";
    for (let i = 0; i < 3; i++) s += "data: " + STREAM[i][0] + "\n\n";
    let want = "";
    for (let i = 0; i < 3; i++) want += "data: " + STREAM[i][1] + "\n\n";
    want += TRUNCATED_EVENT;
    const chunks: Uint8Array[] = [bytesOf(s)];
    const run = runStream(true, chunks);
    expect(run.out).toBe(want);
    expect(run.usage).toBe("none");
  });

  it("usage injected: a stream closed without a final blank line still yields its last event, and gets its [DONE]", () => {
    // Some OpenAI-compatible servers close the connection right after the usage chunk, without
    // [DONE] and without the blank line; the usage must still be read (finish() at eos), and
    // the finished answer ends with the [DONE] the client waits for.
    let s = "";
    for (let i = 0; i < 5; i++) s += "data: " + STREAM[i][0] + (i < 4 ? "\n\n" : "");
    let want = "";
    for (let i = 0; i < 4; i++) want += "data: " + STREAM[i][1] + "\n\n";
    want += "data: [DONE]\n\n";
    const src = bytesOf(s);
    for (let k = 0; k <= src.length; k += 7) {
      const run = runStream(true, [src.slice(0, k), src.slice(k)]);
      expect(run.out).toBe(want, "split at " + k.toString());
      expect(run.usage).toBe(STREAM_USAGE, "split at " + k.toString());
    }
  });

  it("usage injected: non-JSON and error events pass through unchanged", () => {
    // (The error event comes last: a re-framed stream drops what follows an error event.)
    const s = "data: not json\n\nevent: x\ndata: [1]\n\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\ndata: [DONE]\n\n";
    const chunks: Uint8Array[] = [bytesOf(s)];
    const run = runStream(true, chunks);
    expect(run.out).toBe(s);
    expect(run.usage).toBe("none");
  });
});

// Found by the fuzzer (tests/robust, docs/robustness.md): how a stream that does not end properly
// reaches the client.
const FIRST = 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}\n\n';
const FINISH = 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n';

/** A pass-through stream (client asked for nothing the provider must change) fed in these chunks. */
function passThrough(chunks: string[]): string {
  const h = provider.response(request('{"model":"m","stream":true}', Endpoint.ChatCompletions), 200, "text/event-stream");
  // Bytes may be added at the end (below), so the provider's content-length must not reach the client.
  expect(h.rewrites).toBe(true);
  const all = new ByteBuilder();
  for (let i = 0; i < chunks.length; i++) {
    const out = new ByteBuilder();
    const c = bytesOf(chunks[i]);
    if (h.onBody(c, i == chunks.length - 1, out)) all.bytes(out.buf, 0, out.len); else all.all(c);
  }
  return all.toString();
}

describe("OpenAIProvider stream endings", () => {
  it("pass-through: a stream cut inside an event gets the event closed and an error event", () => {
    const cut = FIRST + FINISH.substring(0, 40);
    expect(passThrough([cut, ""])).toBe(cut + "\n\n" + TRUNCATED_EVENT);
    expect(passThrough([cut])).toBe(cut + "\n\n" + TRUNCATED_EVENT);
  });

  it("pass-through: a finished stream without [DONE] gets [DONE]; with [DONE] nothing is added", () => {
    expect(passThrough([FIRST + FINISH, ""])).toBe(FIRST + FINISH + "data: [DONE]\n\n");
    expect(passThrough([FIRST + FINISH + "data: [DONE]\n\n", ""])).toBe(FIRST + FINISH + "data: [DONE]\n\n");
    expect(passThrough([FIRST + FINISH + "data: [DONE]", ""])).toBe(FIRST + FINISH + "data: [DONE]\n\n", "a [DONE] line without its blank line is closed");
  });

  it("pass-through: a provider's error event ends the stream without an added event", () => {
    const err = 'data: {"error":{"message":"boom","type":"server_error","param":null,"code":null}}\n\n';
    expect(passThrough([FIRST + err, ""])).toBe(FIRST + err);
  });

  it("re-framed (usage injected): events after [DONE] or after an error event are dropped", () => {
    const afterDone = FIRST + FINISH + "data: [DONE]\n\n" + FIRST;
    expect(runStream(true, [bytesOf(afterDone)]).out).toBe(FIRST + FINISH + "data: [DONE]\n\n");
    const err = 'data: {"error":{"message":"boom","type":"server_error","param":null,"code":null}}\n\n';
    expect(runStream(true, [bytesOf(FIRST + err + FIRST + "data: [DONE]\n\n")]).out).toBe(FIRST + err + "data: [DONE]\n\n");
  });
});
