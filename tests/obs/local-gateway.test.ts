// `npm start` as a user runs it: a child process (npm → build check → scripts/local-gateway.ts) on
// a free port, a request with the official openai client, the printed per-request line, then
// Ctrl-C (SIGINT to the process group, as a terminal sends it) and a clean stop.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect } from "node:net";
import OpenAI from "openai";
import { ROOT } from "../e2e/harness.ts";

const KEY = "sk-local-test-key-0123456789";

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

class Output {
  text = "";
  private waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  feed(s: string): void {
    this.text += s;
    this.waiters = this.waiters.filter((w) => { const m = this.text.match(w.re); if (m) w.resolve(m); return !m; });
  }
  wait(re: RegExp, ms: number, what: string): Promise<RegExpMatchArray> {
    const m = this.text.match(re);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}; output so far:\n${this.text}`)), ms);
      this.waiters.push({ re, resolve: (x) => { clearTimeout(t); resolve(x); } });
    });
  }
}

test("npm start: local gateway on a free port, one printed line per request, Ctrl-C stops it", { timeout: 180000 }, async () => {
  const port = await freePort();
  const adminPort = await freePort();
  // Mock mode must not depend on the developer's environment: no provider keys for the child.
  const env = { ...process.env };
  for (const k of ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY"]) delete env[k];
  const child: ChildProcess = spawn("npm", ["start", "--", "--port", String(port), "--admin-port", String(adminPort), "--key", KEY, "--workers", "1"],
    { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const out = new Output();
  child.stdout!.on("data", (d) => out.feed(String(d)));
  child.stderr!.on("data", (d) => out.feed(String(d)));
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.on("exit", (code, signal) => r({ code, signal })));
  try {
    // Building may be needed when the sources are newer than build/ai-gateway.wasm.
    await out.wait(new RegExp(`listening on http://127\\.0\\.0\\.1:${port}\\b`), 150000, "the listening line");
    await out.wait(/Ctrl-C stops/, 10000, "the end of the banner");
    assert.match(out.text, /gpt-\*\s+→ openai\s+mock provider at http:\/\/127\.0\.0\.1:\d+/);
    assert.match(out.text, /claude-sonnet\s+→ anthropic \(as claude-sonnet-4-5\)\s+mock provider/);
    assert.match(out.text, /deepseek-\*\s+→ deepseek\s+mock provider/);
    assert.ok(out.text.includes(`gateway key (client "local-dev"): ${KEY}`));

    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: KEY, maxRetries: 0 });
    const r = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] });
    assert.equal(r.object, "chat.completion");
    assert.deepEqual([r.usage?.prompt_tokens, r.usage?.completion_tokens], [19, 10], "the mock's fixture usage");
    const line = await out.wait(/^\d\d:\d\d:\d\d client=local-dev model=gpt-4o-mini backend=openai input_tokens=19 output_tokens=10 status=200 latency_ms=(\d+) stream=false$/m,
      10000, "the request line");
    assert.ok(Number(line[1]) >= 0);

    // Translated (Anthropic) and refused (wrong key) requests get their line too.
    const t = await client.chat.completions.create({ model: "claude-sonnet", messages: [{ role: "user", content: "Hello" }] });
    assert.equal(t.choices[0].message.content, "Hello! How can I help you today?");
    await out.wait(/client=local-dev model=claude-sonnet backend=anthropic input_tokens=12 output_tokens=12 status=200 latency_ms=\d+ stream=false/m, 10000, "the Anthropic line");
    const bad = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "sk-wrong", maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "x" }] }), (e: { status?: number }) => e.status === 401);
    await out.wait(/client=- model=- backend=- input_tokens=- output_tokens=- status=401 latency_ms=\d+/m, 10000, "the 401 line");

    // The admin listener: Prometheus text with the stats_tags applied.
    assert.ok(out.text.includes(`metrics: http://127.0.0.1:${adminPort}/stats/prometheus`));
    const prom = await (await fetch(`http://127.0.0.1:${adminPort}/stats/prometheus`)).text();
    assert.ok(prom.includes('ai_gateway_requests{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o-mini",' +
      'ai_gateway_backend="openai",ai_gateway_client="local-dev"} 1\n'), prom);
    assert.ok(prom.includes('gen_ai_client_inference_usage_input_tokens{gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",' +
      'gen_ai_request_model="claude-sonnet",ai_gateway_backend="anthropic",ai_gateway_client="local-dev"} 12\n'), prom);
  } finally {
    process.kill(-child.pid!, "SIGINT");
  }
  const { signal, code } = await exited;
  assert.ok(signal === "SIGINT" || code === 0, `npm ended by Ctrl-C (code ${code}, signal ${signal})`);
  await out.wait(/^stopped\.$/m, 10000, "the stop line");
  // The port is free again.
  await assert.rejects(new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    s.on("connect", () => { s.destroy(); resolve(undefined); });
    s.on("error", reject);
  }));
});
