// Validates JSON against OpenAI's published chat schemas: a JSON Schema 2020-12 bundle derived
// from openai/openai-openapi's openapi.yaml (sources: Provider API specifications), read from
// OPENAI_CHAT_SCHEMA or a specs directory beside the checkout (CHAT_SCHEMA_PATH below).
// Every client-facing body and stream chunk in the e2e tests goes through here, so a gateway that
// emits something a strict OpenAI client would reject fails the test even when the SDK is lenient.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { ErrorObject, ValidateFunction } from "ajv";

// ajv ships CommonJS; createRequire sidesteps default-export interop differences under tsx/ESM.
const require = createRequire(import.meta.url);
const Ajv2020 = require("ajv/dist/2020") as typeof import("ajv/dist/2020.js").default;
const addFormats = require("ajv-formats") as typeof import("ajv-formats").default;

/** Where the bundle lives; OPENAI_CHAT_SCHEMA overrides it (e.g. on a machine with another layout). */
// shared/ sits beside the repository checkout (also in CI).
export const CHAT_SCHEMA_PATH = process.env.OPENAI_CHAT_SCHEMA ??
  fileURLToPath(new URL("../../../shared/specs/openai/chat.schema.json", import.meta.url));
const BUNDLE_ID = "urn:openai-openapi:chat-bundle";

export type OpenAISchemaName =
  | "CreateChatCompletionRequest"
  | "CreateChatCompletionResponse"
  | "CreateChatCompletionStreamResponse"
  | "ErrorResponse"
  | "CreateEmbeddingResponse";

let validators: Map<OpenAISchemaName, ValidateFunction> | undefined;

function compile(): Map<OpenAISchemaName, ValidateFunction> {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat("unixtime", true); // OpenAI's custom format; any integer the type allows is fine
  ajv.addSchema(JSON.parse(readFileSync(CHAT_SCHEMA_PATH, "utf8")));
  const out = new Map<OpenAISchemaName, ValidateFunction>();
  for (const name of ["CreateChatCompletionRequest", "CreateChatCompletionResponse", "CreateChatCompletionStreamResponse", "ErrorResponse", "CreateEmbeddingResponse"] as const) {
    const v = ajv.getSchema(`${BUNDLE_ID}#/$defs/${name}`);
    if (!v) throw new Error(`${CHAT_SCHEMA_PATH} has no $defs/${name}`);
    out.set(name, v);
  }
  return out;
}

function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || "(root)"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`).join("; ");
}

/** Returns the list of schema violations (empty when valid). */
export function schemaErrors(name: OpenAISchemaName, value: unknown): string[] {
  validators ??= compile();
  const v = validators.get(name)!;
  return v(value) ? [] : describe(v.errors).split("; ");
}

/** Throws an Error naming every violation when `value` is not a valid `name`. */
export function assertMatchesSchema(name: OpenAISchemaName, value: unknown, what: string = name): void {
  const errs = schemaErrors(name, value);
  if (errs.length) throw new Error(`${what} does not match OpenAI ${name}: ${errs.join("; ")}\n  value: ${JSON.stringify(value).slice(0, 2000)}`);
}

export const assertChatCompletion = (v: unknown, what?: string) => assertMatchesSchema("CreateChatCompletionResponse", v, what);
export const assertChatCompletionChunk = (v: unknown, what?: string) => assertMatchesSchema("CreateChatCompletionStreamResponse", v, what);
export const assertErrorResponse = (v: unknown, what?: string) => assertMatchesSchema("ErrorResponse", v, what);
export const assertEmbeddingResponse = (v: unknown, what?: string) => assertMatchesSchema("CreateEmbeddingResponse", v, what);
export const assertChatCompletionRequest = (v: unknown, what?: string) => assertMatchesSchema("CreateChatCompletionRequest", v, what);

// ---------------------------------------------------------------------------------------------
// The Responses API. Its schemas are many (313 definitions reached from the roots), so they are
// kept in the repository as data: tests/support/openai-responses.schema.json, derived from the
// same openai/openai-openapi openapi.yaml by tools/derive-responses-schema.mjs (provenance in the
// bundle's x-source).

export const RESPONSES_SCHEMA_PATH = fileURLToPath(new URL("./openai-responses.schema.json", import.meta.url));
const RESPONSES_BUNDLE_ID = "urn:openai-openapi:responses-bundle";

export type ResponsesSchemaName = "CreateResponse" | "Response" | "ResponseStreamEvent" | "ErrorResponse";

let responsesValidators: Map<ResponsesSchemaName, ValidateFunction> | undefined;

function compileResponses(): Map<ResponsesSchemaName, ValidateFunction> {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat("unixtime", true);
  ajv.addSchema(JSON.parse(readFileSync(RESPONSES_SCHEMA_PATH, "utf8")));
  const out = new Map<ResponsesSchemaName, ValidateFunction>();
  for (const name of ["CreateResponse", "Response", "ResponseStreamEvent", "ErrorResponse"] as const) {
    const v = ajv.getSchema(`${RESPONSES_BUNDLE_ID}#/$defs/${name}`);
    if (!v) throw new Error(`${RESPONSES_SCHEMA_PATH} has no $defs/${name}`);
    out.set(name, v);
  }
  return out;
}

/**
 * Violations of a Responses schema (empty when valid). A stream event is checked against the
 * member of the ResponseStreamEvent union its `type` names, so the errors say what is wrong with
 * it rather than with every other event type.
 */
export function responsesSchemaErrors(name: ResponsesSchemaName, value: unknown): string[] {
  responsesValidators ??= compileResponses();
  const v = responsesValidators.get(name)!;
  if (v(value)) return [];
  const errs = v.errors ?? [];
  if (name === "ResponseStreamEvent") {
    // Keep the errors of the union branch whose `type` const matched (the others only say "type").
    const relevant = errs.filter((e) => !(e.keyword === "enum" && e.instancePath === "/type") && e.keyword !== "oneOf" && e.keyword !== "anyOf" && !(e.keyword === "required" && (e.params as any).missingProperty !== undefined && !(value as any)?.hasOwnProperty("type")));
    const mine = relevant.length ? relevant : errs;
    return describe(mine.slice(0, 20)).split("; ");
  }
  return describe(errs).split("; ");
}

export function assertResponsesSchema(name: ResponsesSchemaName, value: unknown, what: string = name): void {
  const errs = responsesSchemaErrors(name, value);
  if (errs.length) throw new Error(`${what} does not match OpenAI ${name}: ${errs.join("; ")}\n  value: ${JSON.stringify(value).slice(0, 2000)}`);
}
