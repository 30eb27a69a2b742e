// Schema name (backends[].schema) → provider module. The only place that lists providers.

import { Provider } from "./provider";
import { OpenAIProvider } from "./openai";
import { AnthropicProvider } from "./anthropic";

const openai = new OpenAIProvider(false);
const azure = new OpenAIProvider(true);
const anthropic = new AnthropicProvider();

export function providerFor(schema: string): Provider | null {
  if (schema == "openai") return openai;
  if (schema == "azure-openai") return azure;
  if (schema == "anthropic") return anthropic;
  return null;
}
