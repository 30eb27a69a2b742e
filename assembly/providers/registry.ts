// Schema name (backends[].schema) → provider module. The only place that lists providers.

import { Provider } from "./provider";
import { OpenAIProvider } from "./openai";
import { AnthropicProvider, AnthropicDialect } from "./anthropic";
import { BedrockConverseProvider } from "./bedrock";
import { BedrockAnthropicProvider } from "./bedrock_anthropic";
import { GeminiProvider } from "./gemini";

const openai = new OpenAIProvider(false);
const azure = new OpenAIProvider(true);
const anthropic = new AnthropicProvider();
const bedrockConverse = new BedrockConverseProvider();
const bedrockAnthropic = new BedrockAnthropicProvider();
const gemini = new GeminiProvider(false);
const vertexGemini = new GeminiProvider(true);
const vertexAnthropic = new AnthropicProvider(AnthropicDialect.Vertex);

export function providerFor(schema: string): Provider | null {
  if (schema == "openai") return openai;
  if (schema == "azure-openai") return azure;
  if (schema == "anthropic") return anthropic;
  if (schema == "bedrock-converse") return bedrockConverse;
  if (schema == "bedrock-anthropic") return bedrockAnthropic;
  if (schema == "gemini") return gemini;
  if (schema == "vertex-gemini") return vertexGemini;
  if (schema == "vertex-anthropic") return vertexAnthropic;
  return null;
}

/**
 * `gen_ai.provider.name` (OpenTelemetry GenAI semantic conventions, well-known values) for a
 * backend: the wire format's owner, or the OpenAI-compatible vendor of a preset. Schemas and
 * presets without a well-known value report their own name (a custom value is allowed).
 */
export function semconvProviderName(schema: string, preset: string): string {
  if (schema == "openai") {
    if (preset.length == 0 || preset == "openai") return "openai";
    if (preset == "mistral") return "mistral_ai";
    if (preset == "xai") return "x_ai";
    return preset; // groq, deepseek are well-known as is; others are custom values
  }
  if (schema == "azure-openai") return "azure.ai.openai";
  if (schema == "anthropic") return "anthropic";
  if (schema == "bedrock-converse" || schema == "bedrock-anthropic") return "aws.bedrock";
  if (schema == "gemini") return "gcp.gemini";
  if (schema == "vertex-gemini" || schema == "vertex-anthropic") return "gcp.vertex_ai";
  return schema;
}
