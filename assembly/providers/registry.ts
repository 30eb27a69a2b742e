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
