// Mock LLM providers for the docker compose demo (and anything else that wants a provider
// without keys): one HTTP server that answers OpenAI, Groq (OpenAI-compatible) and Anthropic
// paths with the recorded fixtures of tests/fixtures, byte for byte, streams included.
// It is the test suite's MockProvider (dev/mock-provider.ts) with fixtures registered by path
// and stream flag, so any model name gets an answer.
//
//   node --import tsx scripts/mock-providers.ts [--host 127.0.0.1] [--port 8080]
//
// Logs one line per request: which fixture answered and which credential header the gateway
// sent (name and a short fingerprint, never the value), so the demo shows the provider key added
// by the gateway and the client's gateway key gone.

import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { MockProvider, loadFixture, fixtureFromSpec, type Fixture, type FixtureFile, type RecordedRequest } from "../dev/mock-provider.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const FIX = join(ROOT, "tests", "fixtures");

/** One answer per (path, stream) the demo needs; the model is not matched. */
function demoFixtures(): Fixture[] {
  const withMatch = (f: Fixture, path: string, stream: boolean): Fixture => ({ ...f, name: `${f.name} (${path}${stream ? ", stream" : ""})`, match: { path, stream } });
  const openaiJson = loadFixture(join(FIX, "openai", "chat-completion-gpt-4o-mini.fixture.json"));
  const openaiSse = loadFixture(join(FIX, "openai", "chat-stream-include-usage.fixture.json"));
  const anthropic = join(FIX, "providers", "anthropic");
  const fromCase = (name: string, body: string, meta: string, streamed: boolean): Fixture => {
    const m = JSON.parse(readFileSync(meta, "utf8")) as { status: number; headers: Record<string, string> };
    const spec: FixtureFile = streamed
      ? { status: m.status, headers: m.headers, streamFile: body, split: "sse-events", chunkDelayMs: 20 }
      : { status: m.status, headers: m.headers, bodyFile: body };
    return fixtureFromSpec(name, spec, "/");
  };
  const claudeJson = fromCase("anthropic-message-text", join(anthropic, "_shared", "message-text.json"), join(anthropic, "_shared", "message-text.meta.json"), false);
  const claudeSse = fromCase("anthropic-stream-text", join(anthropic, "stream-text", "upstream-response.sse"), join(anthropic, "stream-text", "upstream-response.meta.json"), true);
  const azure = join(FIX, "providers", "azure", "embeddings");
  const embeddings = fromCase("openai-embeddings", join(azure, "upstream-response.json"), join(azure, "upstream-response.meta.json"), false);
  return [
    withMatch(openaiJson, "/v1/chat/completions", false),
    withMatch(openaiSse, "/v1/chat/completions", true),
    withMatch(embeddings, "/v1/embeddings", false),
    withMatch(openaiJson, "/openai/v1/chat/completions", false),   // groq preset base path
    withMatch(openaiSse, "/openai/v1/chat/completions", true),
    withMatch(claudeJson, "/v1/messages", false),
    withMatch(claudeSse, "/v1/messages", true),
  ];
}

const CREDENTIAL_HEADERS = ["authorization", "x-api-key", "api-key", "x-goog-api-key"];

/** "authorization=Bearer sk-m… (22 chars)": enough to recognise a key, not to use it. */
export function describeCredentials(r: RecordedRequest): string {
  const found = CREDENTIAL_HEADERS.filter((h) => typeof r.headers[h] === "string").map((h) => {
    const v = r.headers[h] as string;
    const shown = v.startsWith("Bearer ") ? "Bearer " + v.slice(7, 11) : v.slice(0, 4);
    return `${h}=${shown}… (${v.length} chars)`;
  });
  return found.length ? found.join(" ") : "none";
}

export interface MockProviders {
  mock: MockProvider;
  url: string;
  stop(): Promise<void>;
}

export async function startMockProviders(opts: { host?: string; port?: number; log?: (line: string) => void } = {}): Promise<MockProviders> {
  const mock = await MockProvider.start({ host: opts.host ?? "127.0.0.1", port: opts.port ?? 8080 });
  mock.register(...demoFixtures());
  const log = opts.log;
  if (log) {
    mock.onRequest = (r) => {
      const model = r.json && typeof r.json === "object" ? r.json.model : undefined;
      log(`${r.method} ${r.url} host=${r.headers.host ?? "-"} model=${model ?? "-"} stream=${r.json?.stream === true} ` +
        `credentials: ${describeCredentials(r)} → ${r.fixture ?? "no fixture (501)"}`);
    };
  }
  return { mock, url: mock.url, stop: () => mock.stop() };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const host = arg("--host") ?? "127.0.0.1";
  const port = Number(arg("--port") ?? 8080);
  const log = (line: string) => console.log(`mock-providers: ${line}`);
  const p = await startMockProviders({ host, port, log });
  log(`listening on ${host}:${p.mock.port} (OpenAI /v1/chat/completions, /v1/embeddings; Groq /openai/v1/chat/completions; Anthropic /v1/messages)`);
  const quit = () => { void p.stop().then(() => process.exit(0)); };
  process.on("SIGINT", quit);
  process.on("SIGTERM", quit);
}
