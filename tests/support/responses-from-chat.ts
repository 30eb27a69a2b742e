// The OpenAI Responses API request equivalent to a chat completion request, for the chat fixture
// cases (tests/fixtures/providers): the same conversation, tools and options spoken as a Responses
// client speaks them. The e2e tests send it with the openai SDK and expect the chat case's upstream
// request and answer; the fuzz targets derive Responses cases from the chat cases with it, so the
// provider answers of every translated chat case exercise the Responses translation too.

import type { ProviderCase } from "../providers/fixture-case.ts";

/** The Responses request equivalent to a chat case's request (the subset these cases use). */
export function responsesRequest(chat: any): any {
  const r: any = { model: chat.model };
  const input: any[] = [];
  for (const m of chat.messages) {
    if ((m.role === "system" || m.role === "developer") && input.length === 0 && r.instructions === undefined && typeof m.content === "string") { r.instructions = m.content; continue; }
    if (m.role === "tool") {
      const output = typeof m.content === "string" ? m.content : m.content.map((p: any) => ({ type: "input_text", text: p.text }));
      input.push({ type: "function_call_output", call_id: m.tool_call_id, output });
      continue;
    }
    if (m.role === "assistant") {
      const text = typeof m.content === "string" ? m.content : Array.isArray(m.content) ? m.content.map((p: any) => p.text ?? "").join("") : "";
      if (text) input.push({ role: "assistant", content: text });
      for (const tc of m.tool_calls ?? []) input.push({ type: "function_call", call_id: tc.id, name: tc.function.name, arguments: tc.function.arguments });
      continue;
    }
    const content = typeof m.content === "string" ? m.content : m.content.map((p: any) =>
      p.type === "text" ? { type: "input_text", text: p.text } : { type: "input_image", image_url: p.image_url.url, ...(p.image_url.detail ? { detail: p.image_url.detail } : {}) });
    input.push({ role: m.role === "developer" ? "developer" : m.role, content });
  }
  r.input = input;
  const mt = chat.max_completion_tokens ?? chat.max_tokens;
  if (mt !== undefined) r.max_output_tokens = mt;
  for (const k of ["temperature", "top_p", "parallel_tool_calls", "service_tier", "user", "safety_identifier"]) if (chat[k] !== undefined) r[k] = chat[k];
  if (chat.tools) r.tools = chat.tools.map((t: any) => ({ type: "function", name: t.function.name, description: t.function.description, ...(t.function.parameters !== undefined ? { parameters: t.function.parameters } : {}), ...(t.function.strict !== undefined ? { strict: t.function.strict } : {}) }));
  if (chat.tool_choice !== undefined) r.tool_choice = typeof chat.tool_choice === "string" ? chat.tool_choice : { type: "function", name: chat.tool_choice.function.name };
  if (chat.response_format?.type === "json_schema") {
    const js = chat.response_format.json_schema;
    r.text = { format: { type: "json_schema", name: js.name, schema: js.schema, ...(js.description !== undefined ? { description: js.description } : {}), ...(js.strict !== undefined ? { strict: js.strict } : {}) } };
  }
  if (chat.reasoning_effort) r.reasoning = { effort: chat.reasoning_effort };
  return r;
}

/** Chat parameters the conversion has no Responses spelling for: a case using one is not derived. */
const NO_RESPONSES_EQUIVALENT = ["stop", "n", "logprobs", "top_logprobs", "logit_bias", "presence_penalty", "frequency_penalty", "seed", "audio", "modalities", "prediction", "web_search_options", "functions", "stream_options"];

/** Backends that speak the Responses API themselves (their answers would be Responses, not chat). */
const NATIVE_RESPONSES = (b: any) => b.schema === "azure-openai" || ((b.schema ?? "openai") === "openai" && (!b.preset || b.preset === "openai"));

/**
 * A Responses client's version of a chat case whose backend gets it translated: same config and
 * provider answer, the request converted, no client-side expectations (the oracle judges the
 * answer). null when the case is not a chat case, has no provider answer, goes to a backend that
 * speaks Responses natively, or uses a chat parameter without a Responses equivalent.
 */
export function responsesCaseOf(c: ProviderCase): ProviderCase | null {
  if (c.endpoint !== "/v1/chat/completions" || !c.response || !c.request || typeof c.request !== "object") return null;
  const backend = (c.config.backends ?? []).find((b: any) => b.name === c.backendName);
  if (!backend || NATIVE_RESPONSES(backend)) return null;
  if (NO_RESPONSES_EQUIVALENT.some((k) => k in c.request) || !Array.isArray(c.request.messages)) return null;
  let request: any;
  try { request = responsesRequest(c.request); } catch { return null; }
  if (c.request.stream) request.stream = true;
  const requestBytes = Buffer.from(JSON.stringify(request));
  return { ...c, id: `${c.id}@responses`, endpoint: "/v1/responses", request, requestBytes, upstream: undefined, clientResponse: undefined, clientStream: undefined, passthrough: false };
}

/** The cases plus a Responses-client case derived from each chat case that has one. */
export function withResponsesCases(cases: ProviderCase[]): ProviderCase[] {
  return [...cases, ...cases.map(responsesCaseOf).filter((c): c is ProviderCase => c !== null)];
}
