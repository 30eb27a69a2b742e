// The Bedrock service-model validator (tests/support/bedrock-schema.ts) that every translated
// Converse / InvokeModel request goes through: it accepts the bodies Bedrock documents and refuses
// each kind of mistake a translator can make, so a passing fixture means something.

import { test } from "node:test";
import assert from "node:assert/strict";
import { bedrockRequestErrors, shapeErrors, operationFor } from "../support/bedrock-schema.ts";

const ok = {
  messages: [
    { role: "user", content: [{ text: "What is in this image?" }, { image: { format: "png", source: { bytes: "iVBORw0KGgo=" } } }] },
    { role: "assistant", content: [{ toolUse: { toolUseId: "tooluse_1", name: "get_weather", input: { city: "Paris", nested: [1, null, { a: true }] } } }] },
    { role: "user", content: [{ toolResult: { toolUseId: "tooluse_1", content: [{ text: "18C" }, { json: { t: 18 } }], status: "success" } }, { cachePoint: { type: "default" } }] },
  ],
  system: [{ text: "You are terse." }, { cachePoint: { type: "default", ttl: "1h" } }],
  inferenceConfig: { maxTokens: 1024, temperature: 0.5, topP: 0.9, stopSequences: ["END"] },
  toolConfig: { tools: [{ toolSpec: { name: "get_weather", description: "Weather", inputSchema: { json: { type: "object" } }, strict: true } }], toolChoice: { tool: { name: "get_weather" } } },
  outputConfig: { textFormat: { type: "json_schema", structure: { jsonSchema: { schema: "{\"type\":\"object\"}", name: "x" } } }, effort: "high" },
  additionalModelRequestFields: { top_k: 50 },
  serviceTier: { type: "flex" },
};
const CONVERSE = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse";

function errorsFor(mutate: (b: any) => void, path = CONVERSE): string[] {
  const b = structuredClone(ok);
  mutate(b);
  return bedrockRequestErrors("POST", path, Buffer.from(JSON.stringify(b)));
}

test("a documented Converse body (every block kind the translator writes) is valid, on both /converse and /converse-stream", () => {
  assert.deepEqual(errorsFor(() => {}), []);
  assert.deepEqual(errorsFor(() => {}, CONVERSE.replace("/converse", "/converse-stream")), []);
});

const bad: [string, (b: any) => void, RegExp][] = [
  ["unknown top-level member", (b) => { b.temperature = 0.5; }, /unknown member "temperature" of ConverseRequest/],
  ["a URI member in the body", (b) => { b.modelId = "x"; }, /"modelId" of ConverseRequest belongs in the uri/],
  ["null member", (b) => { b.system = null; }, /null/],
  ["content block union with two members", (b) => { b.messages[0].content[0].image = b.messages[0].content[1].image; }, /ContentBlock is a union: exactly one member must be set, got 2/],
  ["content block union with no member", (b) => { b.messages[0].content[0] = {}; }, /exactly one member must be set, got 0/],
  ["unknown member inside a block", (b) => { b.messages[0].content[0] = { type: "text", text: "x" }; }, /unknown member "type" of ContentBlock/],
  ["message without role", (b) => { delete b.messages[0].role; }, /Message requires "role"/],
  ["role outside the enum", (b) => { b.messages[1].role = "model"; }, /"model" is not one of user, assistant, system/],
  ["image format outside the enum", (b) => { b.messages[0].content[1].image.format = "bmp"; }, /"bmp" is not one of png, jpeg, gif, webp/],
  ["image bytes not base64", (b) => { b.messages[0].content[1].image.source.bytes = "not base64!"; }, /expected base64/],
  ["empty image bytes (blob min 1)", (b) => { b.messages[0].content[1].image.source.bytes = ""; }, /decoded length 0 is below the minimum 1/],
  ["temperature above 1", (b) => { b.inferenceConfig.temperature = 1.5; }, /value 1.5 is above the maximum 1/],
  ["maxTokens 0", (b) => { b.inferenceConfig.maxTokens = 0; }, /value 0 is below the minimum 1/],
  ["maxTokens not an integer", (b) => { b.inferenceConfig.maxTokens = 1.5; }, /expected an integer/],
  ["stop sequence empty (NonEmptyString)", (b) => { b.inferenceConfig.stopSequences = [""]; }, /length 0 is below the minimum 1/],
  ["empty system text", (b) => { b.system[0].text = ""; }, /length 0 is below the minimum 1/],
  ["tools list empty (min 1)", (b) => { b.toolConfig.tools = []; }, /item count 0 is below the minimum 1/],
  ["toolConfig without tools", (b) => { delete b.toolConfig.tools; }, /ToolConfiguration requires "tools"/],
  ["tool name with no allowed character", (b) => { b.toolConfig.tools[0].toolSpec.name = "@@@"; }, /does not match the pattern of ToolName/],
  ["tool name over 64 characters", (b) => { b.toolConfig.tools[0].toolSpec.name = "a".repeat(65); }, /length 65 is above the maximum 64/],
  ["toolChoice with two choices", (b) => { b.toolConfig.toolChoice = { auto: {}, any: {} }; }, /ToolChoice is a union/],
  ["toolUse input missing (Document required)", (b) => { delete b.messages[1].content[0].toolUse.input; }, /ToolUseBlock requires "input"/],
  ["toolResult status outside the enum", (b) => { b.messages[2].content[0].toolResult.status = "ok"; }, /"ok" is not one of success, error/],
  ["cachePoint type outside the enum", (b) => { b.system[1].cachePoint.type = "ephemeral"; }, /"ephemeral" is not one of default/],
  ["json schema as an object instead of a string", (b) => { b.outputConfig.textFormat.structure.jsonSchema.schema = { type: "object" }; }, /expected a string \(String\)/],
  ["textFormat type outside the enum", (b) => { b.outputConfig.textFormat.type = "json_object"; }, /is not one of json_schema/],
  ["boolean as a string", (b) => { b.toolConfig.tools[0].toolSpec.strict = "true"; }, /expected a boolean/],
  ["messages not a list", (b) => { b.messages = { role: "user" }; }, /expected an array \(Messages\)/],
];
for (const [name, mutate, want] of bad) {
  test(`refused: ${name}`, () => {
    const errs = errorsFor(mutate);
    assert.ok(errs.some((e) => want.test(e)), `expected an error matching ${want}, got ${JSON.stringify(errs)}`);
  });
}

test("paths: the operation comes from the requestUri template; labels are percent-decoded and checked against their shape", () => {
  assert.equal(operationFor("POST", CONVERSE)?.op.name, "Converse");
  assert.equal(operationFor("POST", CONVERSE)?.labels.modelId, "anthropic.claude-3-5-sonnet-20240620-v1:0");
  assert.equal(operationFor("POST", "/model/x/invoke-with-response-stream")?.op.name, "InvokeModelWithResponseStream");
  assert.match(bedrockRequestErrors("POST", "/model/x/chat", Buffer.from("{}"))[0], /no Bedrock Runtime operation/);
  assert.match(bedrockRequestErrors("GET", CONVERSE, Buffer.from("{}"))[0], /no Bedrock Runtime operation/);
  const long = "/model/" + "a".repeat(2049) + "/converse";
  assert.ok(bedrockRequestErrors("POST", long, Buffer.from(JSON.stringify(ok))).some((e) => /uri.modelId: length 2049 is above the maximum 2048/.test(e)));
});

test("InvokeModel: the body is the blob payload (any bytes within 25,000,000), not checked as JSON members", () => {
  assert.deepEqual(bedrockRequestErrors("POST", "/model/amazon.titan-embed-text-v2%3A0/invoke", Buffer.from("{\"inputText\":\"x\"}")), []);
  assert.deepEqual(bedrockRequestErrors("POST", "/model/amazon.titan-embed-text-v2%3A0/invoke", Buffer.from("not json at all")), []);
  const big = Buffer.alloc(25_000_001, 0x20);
  assert.match(bedrockRequestErrors("POST", "/model/m/invoke", big).join(), /body length 25000001 is above the maximum 25000000/);
});

test("document members take any JSON; maps check their keys and entry counts", () => {
  assert.deepEqual(shapeErrors("Document", [1, "two", { three: null }]), []);
  assert.match(shapeErrors("RequestMetadata", {}).join(), /entry count 0 is below the minimum 1/);
});
