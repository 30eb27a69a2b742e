// The benchmark's traffic: generated, deterministic, shaped like real provider traffic.
//   chatRequest(~2 KB)      a chat request with a system prompt and a short conversation
//   chatResponse(~1 KB)     a non-streaming completion with usage
//   sseStream(n)            n content chunks as OpenAI streams them with include_usage=true
//                           ("usage":null on each, then the finish chunk, the usage chunk, [DONE])
//   anthropic*              the OpenAI request for a Claude model and Anthropic's answers (below)
//   converseBody(~2 KB)     a Bedrock Converse body, for the SigV4 signer

const enc = new TextEncoder();

/** Repeats `seed` words until the text is `len` characters long. */
function prose(len: number, seed = "the gateway routes each request by model and reads token usage from the response "): string {
  let s = "";
  while (s.length < len) s += seed;
  return s.slice(0, len);
}

/** A chat completions request body of exactly `bytes` bytes (ASCII). */
export function chatRequest(bytes: number, stream: boolean): Uint8Array {
  const build = (fill: number) => JSON.stringify({
    model: "gpt-4o-mini",
    messages: [
      { role: "system", content: "You are a concise assistant for an infrastructure team. " + prose(fill) },
      { role: "user", content: "Summarise how the proxy handles a streamed response." },
      { role: "assistant", content: "It forwards each chunk as it arrives and keeps a running usage count." },
      { role: "user", content: "And when the client did not ask for usage?" },
    ],
    temperature: 0.2,
    max_completion_tokens: 512,
    ...(stream ? { stream: true } : {}),
  });
  const fill = bytes - build(0).length;
  if (fill < 0) throw new Error(`chatRequest: ${bytes} bytes is below the minimum ${build(0).length}`);
  const out = enc.encode(build(fill));
  if (out.length !== bytes) throw new Error(`chatRequest: built ${out.length} bytes, wanted ${bytes}`);
  return out;
}

/** A non-streaming chat completion body of exactly `bytes` bytes. */
export function chatResponse(bytes: number): Uint8Array {
  const build = (fill: number) => JSON.stringify({
    id: "chatcmpl-CAc3mR8wT1kV6pN4yQ2xL9hJ7sBdZ", object: "chat.completion", created: 1756316240, model: "gpt-4o-mini-2024-07-18",
    choices: [{ index: 0, message: { role: "assistant", content: prose(fill), refusal: null, annotations: [] }, logprobs: null, finish_reason: "stop" }],
    usage: { prompt_tokens: 512, completion_tokens: 230, total_tokens: 742, prompt_tokens_details: { cached_tokens: 384, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } },
    service_tier: "default", system_fingerprint: "fp_560af6e559",
  }, null, 2);
  const fill = bytes - build(0).length;
  if (fill < 0) throw new Error(`chatResponse: ${bytes} bytes is below the minimum ${build(0).length}`);
  return enc.encode(build(fill));
}

export interface SseStream {
  /** One Uint8Array per upstream write: one SSE event each. */
  events: Uint8Array[];
  /** The JSON payload text of each event (the part after `data: `), [DONE] excluded. */
  payloads: string[];
}

/** `contentChunks` content chunks + role chunk + finish chunk + usage chunk + [DONE]. */
export function sseStream(contentChunks: number): SseStream {
  const base = { id: "chatcmpl-CAbZkPq8fXw1uN0rJ7sVdE3hT9yLm", object: "chat.completion.chunk", created: 1756315657, model: "gpt-4o-mini-2024-07-18", service_tier: "default", system_fingerprint: "fp_560af6e559" };
  const words = prose(4000).split(" ");
  const payloads: string[] = [];
  const chunk = (delta: object, finish: string | null) => JSON.stringify({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null, obfuscation: "x".repeat(3 + (payloads.length % 7)) });
  payloads.push(chunk({ role: "assistant", content: "", refusal: null }, null));
  for (let i = 0; i < contentChunks; i++) payloads.push(chunk({ content: " " + words[i % words.length] }, null));
  payloads.push(chunk({}, "stop"));
  payloads.push(JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: 512, completion_tokens: contentChunks, total_tokens: 512 + contentChunks, prompt_tokens_details: { cached_tokens: 384, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } }, obfuscation: "abc" }));
  const events = [...payloads, "[DONE]"].map((p) => enc.encode(`data: ${p}\n\n`));
  return { events, payloads };
}

// ------------------------------------------------------------------------------------ Anthropic
//   anthropicChatRequest(~2 KB)   an OpenAI chat request for a Claude model: system prompt, a
//                                 multi-turn conversation with one tool call and its result, one
//                                 tool definition
//   anthropicMessage(~1 KB)       a non-streaming Anthropic Messages response (text, usage with
//                                 cache reads), compact as Anthropic sends it
//   anthropicSseStream(n)         n Anthropic SSE events: message_start, content_block_start,
//                                 n-5 text deltas, content_block_stop, message_delta, message_stop

export const ANTHROPIC_TOOL = {
  type: "function" as const,
  function: {
    name: "get_weather", description: "Current weather for a city, with temperature, sky and wind",
    parameters: { type: "object", properties: { city: { type: "string", description: "City name, e.g. Paris" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } }, required: ["city"] },
  },
};
export const ANTHROPIC_TOOL_CALL_ID = "toolu_01D7FLrfh4GYq7yT1ULFeyMV";

/** The conversation of anthropicChatRequest; `system` is the system prompt's text. */
export function anthropicConversation(system: string) {
  return [
    { role: "system", content: system },
    { role: "user", content: "What is the weather in Paris right now? I am deciding whether to cycle to the office." },
    { role: "assistant", content: null, tool_calls: [{ id: ANTHROPIC_TOOL_CALL_ID, type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\",\"unit\":\"celsius\"}" } }] },
    { role: "tool", tool_call_id: ANTHROPIC_TOOL_CALL_ID, content: "{\"temp_c\":18,\"sky\":\"sunny\",\"wind_kph\":9}" },
    { role: "assistant", content: "It is 18 C and sunny in Paris with a light breeze: a good morning to cycle." },
    { role: "user", content: "And what should I wear for the ride back this evening?" },
  ];
}

/** An OpenAI chat request routed to an Anthropic backend, exactly `bytes` bytes (ASCII). */
export function anthropicChatRequest(bytes: number, stream: boolean): Uint8Array {
  const build = (fill: number) => JSON.stringify({
    model: "claude-sonnet-4-5",
    messages: anthropicConversation("You are a concise assistant for a cycling commuter. " + prose(fill)),
    tools: [ANTHROPIC_TOOL],
    tool_choice: "auto",
    temperature: 0.2,
    max_completion_tokens: 512,
    ...(stream ? { stream: true } : {}),
  });
  const fill = bytes - build(0).length;
  if (fill < 0) throw new Error(`anthropicChatRequest: ${bytes} bytes is below the minimum ${build(0).length}`);
  const out = enc.encode(build(fill));
  if (out.length !== bytes) throw new Error(`anthropicChatRequest: built ${out.length} bytes, wanted ${bytes}`);
  return out;
}

export const ANTHROPIC_USAGE = { input_tokens: 412, cache_creation_input_tokens: 0, cache_read_input_tokens: 1536, output_tokens: 230 };

/** A non-streaming Anthropic Messages response of exactly `bytes` bytes (ASCII). */
export function anthropicMessage(bytes: number): Uint8Array {
  const build = (fill: number) => JSON.stringify({
    id: "msg_01Kq5mXzT7wPvb3RrJ9fNcD2", type: "message", role: "assistant", model: "claude-sonnet-4-5-20250929",
    content: [{ type: "text", text: prose(fill, "wear a light waterproof jacket and gloves because the evening will be cooler and windy ") }],
    stop_reason: "end_turn", stop_sequence: null,
    usage: { ...ANTHROPIC_USAGE, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 }, service_tier: "standard" },
  });
  const fill = bytes - build(0).length;
  if (fill < 0) throw new Error(`anthropicMessage: ${bytes} bytes is below the minimum ${build(0).length}`);
  const out = enc.encode(build(fill));
  if (out.length !== bytes) throw new Error(`anthropicMessage: built ${out.length} bytes, wanted ${bytes}`);
  return out;
}

export interface AnthropicSse extends SseStream {
  /** The text of every text_delta, in order (what the client's content must add up to). */
  texts: string[];
}

/** `events` Anthropic SSE events (≥ 6), one `event:` + `data:` block per write. */
export function anthropicSseStream(events: number): AnthropicSse {
  if (events < 6) throw new Error("anthropicSseStream: at least 6 events");
  const words = prose(4000, "wear a light waterproof jacket and gloves because the evening will be cooler and windy ").split(" ");
  const out: [string, object][] = [];
  out.push(["message_start", { type: "message_start", message: { id: "msg_01Hn8k2RPzYwq7TbVa4Ct9Lm", type: "message", role: "assistant", model: "claude-sonnet-4-5-20250929", content: [], stop_reason: null, stop_sequence: null,
    usage: { input_tokens: ANTHROPIC_USAGE.input_tokens, cache_creation_input_tokens: 0, cache_read_input_tokens: ANTHROPIC_USAGE.cache_read_input_tokens, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 }, output_tokens: 1, service_tier: "standard" } } }]);
  out.push(["content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }]);
  const texts: string[] = [];
  for (let i = 0; i < events - 5; i++) {
    const text = (i === 0 ? "" : " ") + words[i % words.length];
    texts.push(text);
    out.push(["content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } }]);
  }
  out.push(["content_block_stop", { type: "content_block_stop", index: 0 }]);
  out.push(["message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: events - 5 } }]);
  out.push(["message_stop", { type: "message_stop" }]);
  const payloads = out.map(([, data]) => JSON.stringify(data));
  return { events: out.map(([name], i) => enc.encode(`event: ${name}\ndata: ${payloads[i]}\n\n`)), payloads, texts };
}

// ------------------------------------------------------------------------------------ Bedrock
/** A Bedrock Converse request body (camelCase, as the gateway would send it) of exactly `bytes` bytes. */
export function converseBody(bytes: number): Uint8Array {
  const build = (fill: number) => JSON.stringify({
    system: [{ text: "You are a concise assistant for an infrastructure team. " + prose(fill) }],
    messages: [
      { role: "user", content: [{ text: "Summarise how the proxy handles a streamed response." }] },
      { role: "assistant", content: [{ text: "It forwards each chunk as it arrives and keeps a running usage count." }] },
      { role: "user", content: [{ text: "And when the client did not ask for usage?" }] },
    ],
    inferenceConfig: { maxTokens: 512, temperature: 0.2 },
  });
  const fill = bytes - build(0).length;
  if (fill < 0) throw new Error(`converseBody: ${bytes} bytes is below the minimum ${build(0).length}`);
  const out = enc.encode(build(fill));
  if (out.length !== bytes) throw new Error(`converseBody: built ${out.length} bytes, wanted ${bytes}`);
  return out;
}
