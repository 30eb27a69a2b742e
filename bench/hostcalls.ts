// Host calls per request and per stream event: the proxy-wasm imports the filter calls, counted
// in the test host (tests/host) over the same traffic as `npm run bench` (a: OpenAI passthrough,
// d: OpenAI → Anthropic, JSON; b/e: their streams with a short and a long stream, the difference
// divided by the extra events = calls per event). In real Envoy every host call crosses from V8
// into C++ and most touch Envoy's header maps or buffers, so this count is a first-order cost.
//
//   node --import tsx bench/hostcalls.ts [--wasm build/ai-gateway.wasm]

import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { PluginHost } from "../tests/host/plugin-host.ts";
import { hostCallCounts } from "../tests/host/vm.ts";
import { chatRequest, chatResponse, sseStream, anthropicChatRequest, anthropicMessage, anthropicSseStream } from "./bodies.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const wasm = args.includes("--wasm") ? args[args.indexOf("--wasm") + 1] : join(ROOT, "build", "ai-gateway.wasm");
const config = JSON.stringify({
  backends: [
    { name: "openai", schema: "openai", cluster: "openai", host: "api.openai.test", auth: { type: "bearer", key: "sk-upstream-secret" } },
    { name: "claude", schema: "anthropic", cluster: "anthropic", host: "api.anthropic.com", auth: { type: "header", header: "x-api-key", key: "sk-ant" } },
  ],
  models: [{ match: "gpt-*", backend: "openai" }, { match: "claude-*", backend: "claude" }],
  max_request_bytes: 1048576,
});
const host = await PluginHost.load({ wasm, plugin: { rootId: "ai_gateway", configuration: config }, workers: 1 });
const worker = host.worker(0);
const reqHeaders = (len: number): [string, string][] => [
  [":method", "POST"], [":path", "/v1/chat/completions"], [":authority", "gateway.local"], [":scheme", "http"],
  ["content-type", "application/json"], ["content-length", String(len)], ["authorization", "Bearer sk-client"],
  ["user-agent", "OpenAI/JS 6.49.0"], ["accept", "application/json"],
];
const json = (len: number): [string, string][] => [[":status", "200"], ["content-type", "application/json"], ["content-length", String(len)]];
const sse: [string, string][] = [[":status", "200"], ["content-type", "text/event-stream; charset=utf-8"]];

function count(request: Uint8Array, answer: Uint8Array | Uint8Array[]): Map<string, number> {
  hostCallCounts.map = new Map();
  const s = worker.newStream({ record: false });
  s.requestHeaders(reqHeaders(request.length)).requestBody(request, true);
  if (answer instanceof Uint8Array) s.responseHeaders(json(answer.length)).responseBody(answer, true);
  else { s.responseHeaders(sse); answer.forEach((e, i) => s.responseBody(e, i === answer.length - 1)); }
  s.complete();
  const m = hostCallCounts.map;
  hostCallCounts.map = null;
  return m;
}
const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const show = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k.replace(/^env\./, "")}=${v}`).join(" ");

for (let i = 0; i < 3; i++) count(chatRequest(2048, false), chatResponse(1024)); // warm caches (metric ids)
const a = count(chatRequest(2048, false), chatResponse(1024));
const d = count(anthropicChatRequest(2048, false), anthropicMessage(1024));
console.log(`a) OpenAI passthrough, per request: ${total(a)} host calls: ${show(a)}`);
console.log(`d) OpenAI → Anthropic, per request: ${total(d)} host calls: ${show(d)}`);
for (const [name, req, make] of [["b) OpenAI stream", chatRequest(2048, true), (n: number) => sseStream(n).events],
  ["e) Anthropic → OpenAI stream", anthropicChatRequest(2048, true), (n: number) => anthropicSseStream(n).events]] as const) {
  const short = count(req, make(20)), long = count(req, make(220));
  const per = new Map<string, number>();
  for (const [k, v] of long) { const x = (v - (short.get(k) ?? 0)) / 200; if (x) per.set(k, x); }
  console.log(`${name}, per event (one event per read): ${total(per).toFixed(2)} host calls: ${show(per)}`);
}
host.close();
