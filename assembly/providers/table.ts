// The provider table: one row per backend schema (`backends[].schema`). Everything else that
// depends on the schema reads its row: the config parser (accepted fields, default host, base
// path and API version), the filter (the provider module, fixed at configure time), metrics
// (gen_ai.provider.name). Adding a provider is its module plus one row here; the JSON Schema's
// enums and the fuzz oracle's BACKEND_TRAITS are checked against this table by
// tests/deploy/config-schema.test.ts and tests/robust/fuzz.test.ts.

import { Provider } from "./provider";
import { OpenAIProvider } from "./openai";
import { AnthropicProvider, AnthropicDialect } from "./anthropic";
import { BedrockConverseProvider } from "./bedrock";
import { BedrockAnthropicProvider } from "./bedrock_anthropic";
import { GeminiProvider } from "./gemini";

/** Backend schemas, in table order (the value is the row's index). */
export const enum Schema {
  OpenAI = 0, AzureOpenAI = 1, Anthropic = 2, BedrockConverse = 3, BedrockAnthropic = 4,
  Gemini = 5, VertexGemini = 6, VertexAnthropic = 7,
}

/** Where a backend's `host` comes from when the configuration gives none. */
export const enum HostFrom {
  /** `host` is required (unless a preset names one). */
  Required = 0,
  /** The row's fixed host. */
  Fixed = 1,
  /** `bedrock-runtime.<region>.amazonaws.com` from `region` (AWS Bedrock). */
  AwsRegion = 2,
  /** `<location>-aiplatform.googleapis.com` (or the global / multi-region host) from `location`. */
  VertexLocation = 3,
}

/** Backend fields only some schemas accept (bit set). */
export const FIELD_PRESET: u32 = 1;   // preset: an OpenAI-compatible vendor's defaults
export const FIELD_REGION: u32 = 2;   // region: AWS region (auth aws-sigv4 or a Bedrock API key)
export const FIELD_VERTEX: u32 = 4;   // project, location: Vertex AI URL path segments

export class ProviderRow {
  constructor(
    public schema: Schema,
    /** `backends[].schema` in the configuration. */
    public name: string,
    /** The module that translates requests and responses for this wire format. */
    public provider: Provider,
    /**
     * `gen_ai.provider.name` (OpenTelemetry GenAI semantic conventions,
     * https://opentelemetry.io/docs/specs/semconv/registry/attributes/gen-ai/): the wire format's
     * owner; a preset may name its vendor instead (config.ts PRESETS).
     */
    public semconv: string,
    public hostFrom: HostFrom,
    /** Default `host` when hostFrom is Fixed. */
    public host: string,
    /** Default `base_path`. */
    public basePath: string,
    /** Default `api_version` (Azure's api-version query, Anthropic's anthropic-version header). */
    public apiVersion: string,
    /** Schema-specific fields the backend accepts (FIELD_*). */
    public fields: u32,
  ) {}
  has(field: u32): bool { return (this.fields & field) != 0; }
}

export const PROVIDERS: ProviderRow[] = [
  new ProviderRow(Schema.OpenAI, "openai", new OpenAIProvider(false), "openai", HostFrom.Required, "", "/v1", "", FIELD_PRESET),
  new ProviderRow(Schema.AzureOpenAI, "azure-openai", new OpenAIProvider(true), "azure.ai.openai", HostFrom.Required, "", "/openai", "2024-10-21", 0),
  new ProviderRow(Schema.Anthropic, "anthropic", new AnthropicProvider(), "anthropic", HostFrom.Required, "", "/v1", "2023-06-01", 0),
  new ProviderRow(Schema.BedrockConverse, "bedrock-converse", new BedrockConverseProvider(), "aws.bedrock", HostFrom.AwsRegion, "", "", "", FIELD_REGION),
  new ProviderRow(Schema.BedrockAnthropic, "bedrock-anthropic", new BedrockAnthropicProvider(), "aws.bedrock", HostFrom.AwsRegion, "", "", "", FIELD_REGION),
  new ProviderRow(Schema.Gemini, "gemini", new GeminiProvider(false), "gcp.gemini", HostFrom.Fixed, "generativelanguage.googleapis.com", "/v1beta", "", 0),
  new ProviderRow(Schema.VertexGemini, "vertex-gemini", new GeminiProvider(true), "gcp.vertex_ai", HostFrom.VertexLocation, "", "/v1", "", FIELD_VERTEX),
  new ProviderRow(Schema.VertexAnthropic, "vertex-anthropic", new AnthropicProvider(AnthropicDialect.Vertex), "gcp.vertex_ai", HostFrom.VertexLocation, "", "/v1", "", FIELD_VERTEX),
];

/** The row of a schema name, or null when no provider speaks it. */
export function providerRow(name: string): ProviderRow | null {
  for (let i = 0; i < PROVIDERS.length; i++) if (unchecked(PROVIDERS[i]).name == name) return unchecked(PROVIDERS[i]);
  return null;
}

/** Schema names in table order (error messages list them). */
export function schemaNames(): string[] {
  const out = new Array<string>(PROVIDERS.length);
  for (let i = 0; i < PROVIDERS.length; i++) out[i] = PROVIDERS[i].name;
  return out;
}

/** Names of the schemas that accept a field (error messages name them). */
export function schemasWith(field: u32): string {
  let s = "";
  for (let i = 0; i < PROVIDERS.length; i++) {
    if (!PROVIDERS[i].has(field)) continue;
    s += (s.length ? " and " : "") + PROVIDERS[i].name;
  }
  return s;
}
