// The proto3-JSON validator for Gemini bodies (tests/support/gemini-schema.ts): it parses the
// published protos completely, accepts what the JSON mapping accepts, and rejects each kind of
// violation. Also: every Gemini answer the provider fixtures replay is a valid
// GenerateContentResponse / EmbedContentResponse / BatchEmbedContentsResponse (or a
// google.rpc.Status error), so the fixtures look like what Gemini sends.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { loadProtos, geminiErrors, geminiRequestMessage, jsonNameOf } from "./gemini-schema.ts";
import { PROVIDER_FIXTURES, loadCase, nonEmpty } from "../providers/fixture-case.ts";

test("the protos parse completely: every field type resolves, the messages the gateway uses are there", () => {
  const reg = loadProtos();
  assert.deepEqual(reg.unresolved, [], "unresolved type references");
  for (const m of ["GenerateContentRequest", "GenerateContentResponse", "Content", "Part", "Tool", "FunctionDeclaration", "ToolConfig",
    "FunctionCallingConfig", "GenerationConfig", "ThinkingConfig", "Candidate", "EmbedContentRequest", "BatchEmbedContentsRequest",
    "EmbedContentResponse", "BatchEmbedContentsResponse", "Schema"]) {
    assert.ok(reg.message(m).fields.length > 0, m);
  }
  assert.ok(reg.enums.get("google.ai.generativelanguage.v1beta.Candidate.FinishReason")!.values.has("MALFORMED_FUNCTION_CALL"));
  assert.equal(jsonNameOf("response_json_schema_ordered"), "responseJsonSchemaOrdered");
});

test("json_name: GenerationConfig.responseJsonSchema is response_json_schema_ordered (the proto's json_name quirk)", () => {
  const gc = loadProtos().message("GenerationConfig");
  assert.equal(gc.byKey.get("responseJsonSchema")!.name, "response_json_schema_ordered");
  assert.equal(gc.byKey.get("_responseJsonSchema")!.name, "response_json_schema");
  assert.deepEqual(geminiErrors("GenerationConfig", { responseJsonSchema: { type: "object", properties: {} } }), []);
});

// The reference's GenerateContentRequest (sources: Gemini API), with real base64 for the blobs.
const VALID = {
  systemInstruction: { parts: [{ text: "You are terse." }] },
  contents: [
    { role: "user", parts: [{ text: "Weather in Paris?" }, { inlineData: { mimeType: "image/png", data: "iVBORw0KGgo=" } }] },
    { role: "model", parts: [{ functionCall: { name: "get_weather", args: { city: "Paris" } }, thoughtSignature: "skip_thought_signature_validator" }] },
    { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { output: "18C" } } }] },
  ],
  tools: [{ functionDeclarations: [{ name: "get_weather", description: "…", parametersJsonSchema: { type: "object", properties: { city: { type: "string" } } } }] }],
  toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["get_weather"] } },
  safetySettings: [{ category: "HARM_CATEGORY_HARASSMENT", threshold: "BLOCK_ONLY_HIGH" }],
  generationConfig: {
    temperature: 0.7, topP: 0.95, topK: 40, maxOutputTokens: 1024, stopSequences: ["END"], candidateCount: 1, seed: 7,
    presencePenalty: 0, frequencyPenalty: 0, responseLogprobs: true, logprobs: 5, responseMimeType: "application/json",
    responseJsonSchema: { type: "object" }, thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 },
  },
  cachedContent: "cachedContents/abc",
};

test("a full GenerateContentRequest (sources: Gemini API) is valid, also with proto field names and nulls", () => {
  assert.deepEqual(geminiErrors("GenerateContentRequest", VALID), []);
  assert.deepEqual(geminiErrors("GenerateContentRequest", {
    system_instruction: { parts: [{ text: "x" }] }, contents: [{ role: "user", parts: [{ text: "hi", file_data: null }] }],
    generation_config: { max_output_tokens: "64", temperature: "NaN", candidate_count: 2 }, tools: null,
  }), []);
});

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v));

const INVALID: [string, (r: any) => void, RegExp][] = [
  ["an unknown member", (r) => { r.generationConfig.maxTokens = 5; }, /generationConfig\.maxTokens: unknown field/],
  ["an unknown top-level member", (r) => { r.model_name = "x"; }, /\$\.model_name: unknown field/],
  ["two members of oneof data in one Part", (r) => { r.contents[0].parts[0].inlineData = { mimeType: "image/png", data: "AA==" }; }, /oneof data already set/],
  ["a bad enum name", (r) => { r.toolConfig.functionCallingConfig.mode = "REQUIRED"; }, /"REQUIRED" is not a value of enum .*FunctionCallingConfig\.Mode/],
  ["an enum of the wrong (nested) enum type", (r) => { r.safetySettings[0].threshold = "SAFETY"; }, /not a value of enum .*HarmBlockThreshold/],
  ["a string for a float", (r) => { r.generationConfig.temperature = "warm"; }, /temperature: float must be a number/],
  ["a fraction for an int32", (r) => { r.generationConfig.maxOutputTokens = 10.5; }, /maxOutputTokens: int32 must be an integer/],
  ["an int32 out of range", (r) => { r.generationConfig.seed = 2 ** 31; }, /seed: int32 out of range/],
  ["a number for a string", (r) => { r.contents[0].role = 1; }, /role: string expected/],
  ["a string for a bool", (r) => { r.generationConfig.responseLogprobs = "true"; }, /bool must be true or false/],
  ["invalid base64 for bytes", (r) => { r.contents[0].parts[1].inlineData.data = "not base64!"; }, /data: bytes must be base64/],
  ["an object for a repeated field", (r) => { r.contents = r.contents[0]; }, /contents: repeated field must be an array/],
  ["a null element in a repeated field", (r) => { r.contents.push(null); }, /contents\[3\]: null element/],
  ["an array for a message", (r) => { r.toolConfig = []; }, /toolConfig: .*must be a JSON object/],
  ["an array for a Struct", (r) => { r.contents[1].parts[0].functionCall.args = [1, 2]; }, /args: Struct must be a JSON object/],
  ["the same field under both names", (r) => { r.generation_config = {}; }, /field generation_config given twice/],
  ["a non-number for an int64 (inside a map value)", (r) => { r.tools = [{ functionDeclarations: [{ name: "f", parameters: { type: "OBJECT", properties: { a: { type: "STRING", maxItems: "x" } } } }] }]; }, /maxItems: int64 must be an integer/],
  ["a bad Schema.type enum in a map value", (r) => { r.tools = [{ functionDeclarations: [{ name: "f", parameters: { type: "OBJECT", properties: { a: { type: "string" } } } }] }]; }, /properties\["a"\]\.type: "string" is not a value of enum .*Type/],
];

for (const [what, mutate, expected] of INVALID) {
  test(`rejected: ${what}`, () => {
    const r = clone(VALID);
    mutate(r);
    const errors = geminiErrors("GenerateContentRequest", r);
    assert.ok(errors.some((e) => expected.test(e)), `expected an error matching ${expected}, got ${JSON.stringify(errors)}`);
  });
}

test("a body that is not an object is rejected", () => {
  assert.match(geminiErrors("GenerateContentRequest", [VALID]).join(), /must be a JSON object/);
});

test("request messages by path: generate/stream/embed/batch; Vertex :predict and Claude's :rawPredict are not in these protos", () => {
  assert.equal(geminiRequestMessage("/v1beta/models/m:generateContent"), "GenerateContentRequest");
  assert.equal(geminiRequestMessage("/v1beta/models/m:streamGenerateContent?alt=sse"), "GenerateContentRequest");
  assert.equal(geminiRequestMessage("/v1beta/models/m:embedContent"), "EmbedContentRequest");
  assert.equal(geminiRequestMessage("/v1beta/models/m:batchEmbedContents"), "BatchEmbedContentsRequest");
  assert.equal(geminiRequestMessage("/v1/projects/p/locations/l/publishers/google/models/m:predict"), undefined);
  assert.equal(geminiRequestMessage("/v1/projects/p/locations/l/publishers/anthropic/models/m:rawPredict"), undefined);
});

// ---------------------------------------------------------------------------------------------
// The fixtures' provider answers

/** The google.rpc.Status JSON shape (not in these protos): {error: {code, message, status, details?}}. */
function statusProblems(v: any): string[] {
  const e = v?.error;
  if (!e || typeof e !== "object" || Object.keys(v).length !== 1) return ["not {error: {...}}"];
  const out: string[] = [];
  if (!Number.isInteger(e.code)) out.push("error.code must be an integer");
  if (typeof e.message !== "string") out.push("error.message must be a string");
  if (typeof e.status !== "string") out.push("error.status must be a string");
  for (const k of Object.keys(e)) if (!["code", "message", "status", "details"].includes(k)) out.push(`error.${k}: unknown`);
  return out;
}

/** The `data:` payloads of an SSE body (events separated by a blank line, LF or CRLF). */
function sseData(text: string): string[] {
  return text.split(/\r?\n\r?\n/).map((ev) => ev.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n")).filter((d) => d.length > 0);
}

function responseMessage(path: string): string | undefined {
  if (/:(stream)?[gG]enerateContent/.test(path)) return "GenerateContentResponse";
  if (path.includes(":embedContent")) return "EmbedContentResponse";
  if (path.includes(":batchEmbedContents")) return "BatchEmbedContentsResponse";
  return undefined;
}

/**
 * Vertex answers carry a few fields the Developer API protos lack (createTime; usageMetadata
 * trafficType; sources: Vertex AI REST reference): they are removed before validating Vertex answers against these protos.
 */
function withoutVertexExtras(v: any): any {
  const c = JSON.parse(JSON.stringify(v));
  if (c && typeof c === "object") { delete c.createTime; if (c.usageMetadata) delete c.usageMetadata.trafficType; }
  return c;
}

const geminiCases = nonEmpty(["gemini", "vertex-gemini"].flatMap((p) => readdirSync(join(PROVIDER_FIXTURES, p)).filter((n) => !n.startsWith("_")).map((n) => join(PROVIDER_FIXTURES, p, n))), "gemini / vertex-gemini fixtures");

test(`every Gemini answer replayed by the ${geminiCases.length} gemini / vertex-gemini fixtures is valid proto3 JSON (or a google.rpc.Status)`, () => {
  let checked = 0;
  const problems: string[] = [];
  for (const dir of geminiCases) {
    if (!existsSync(join(dir, "upstream-request.json"))) continue;
    const c = loadCase(dir);
    const msg = responseMessage(c.upstream!.path);
    const vertex = c.id.startsWith("vertex-");
    // A provider error that is not JSON (a proxy's or load balancer's text) is no Gemini answer.
    if (!c.response!.isStream && c.response!.status >= 400 && !c.response!.body.toString("utf8").trimStart().startsWith("{")) continue;
    const bodies: unknown[] = c.response!.isStream ? sseData(c.response!.body.toString("utf8")).map((d) => JSON.parse(d)) : [JSON.parse(c.response!.body.toString("utf8"))];
    for (const [i, b] of bodies.entries()) {
      checked++;
      const isError = b && typeof b === "object" && "error" in (b as object);
      const errs = isError ? statusProblems(b) : msg ? geminiErrors(msg, vertex ? withoutVertexExtras(b) : b) : vertex ? [] : [`no message for ${c.upstream!.path}`];
      for (const e of errs) problems.push(`${c.id} body ${i}: ${e}`);
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(checked >= 40, `checked ${checked} answers`);
});

test("the fixture check would notice an invalid answer (a finishReason Gemini does not have)", () => {
  const bad = JSON.parse(readFileSync(join(PROVIDER_FIXTURES, "gemini", "plain-chat", "upstream-response.json"), "utf8"));
  bad.candidates[0].finishReason = "END_TURN";
  assert.match(geminiErrors("GenerateContentResponse", bad).join(), /"END_TURN" is not a value of enum .*FinishReason/);
});
