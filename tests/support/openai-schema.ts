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
