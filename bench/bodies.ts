// The benchmark's traffic: generated, deterministic, shaped like real OpenAI traffic.
//   chatRequest(~2 KB)      a chat request with a system prompt and a short conversation
//   chatResponse(~1 KB)     a non-streaming completion with usage
//   sseStream(n)            n content chunks as OpenAI streams them with include_usage=true
//                           ("usage":null on each, then the finish chunk, the usage chunk, [DONE])

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
