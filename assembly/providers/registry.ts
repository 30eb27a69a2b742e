// Schema name (backends[].schema) → provider module. The only place that lists providers.

import { Provider } from "./provider";
import { OpenAIProvider } from "./openai";

const openai = new OpenAIProvider();

export function providerFor(schema: string): Provider | null {
  if (schema == "openai") return openai;
  return null;
}
