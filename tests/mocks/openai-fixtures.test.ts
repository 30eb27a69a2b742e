// The OpenAI fixtures are the ground truth the e2e tests compare the gateway against, so they are
// checked against OpenAI's published schema and the streaming rules in providers.md §1.6 here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { loadFixtures, fixtureBytes } from "../../dev/mock-provider.ts";
import { assertChatCompletion, assertChatCompletionChunk, assertErrorResponse } from "../support/openai-schema.ts";
import { parseOpenAISse } from "../support/sse.ts";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "openai");
const fixtures = loadFixtures(dir);

test("the OpenAI fixture folder has the fixtures the e2e tests use", () => {
  for (const name of ["chat-completion-reasoning-usage", "chat-completion-gpt-4o-mini", "chat-completion-after-tools", "chat-stream-include-usage",
    "chat-stream-tool-calls", "error-401-invalid-api-key", "error-429-rate-limit-exceeded", "error-500-server-error"])
    assert.ok(fixtures.has(name), name);
});

for (const [name, fx] of fixtures) {
  test(`fixture ${name} matches the OpenAI schema`, () => {
    const text = fixtureBytes(fx).toString("utf8");
    if (fx.status >= 400) {
      assertErrorResponse(JSON.parse(text), name);
      // OpenAI error bodies are pretty-printed with 4 spaces and a trailing newline.
      assert.ok(text.startsWith('{\n    "error": {') && text.endsWith("}\n"), `${name} keeps OpenAI's error formatting`);
    } else if (fx.streamed) {
      assert.match(String(fx.headers["content-type"]), /^text\/event-stream/);
      const s = parseOpenAISse(text);
      assert.ok(s.done, "ends with [DONE]");
      s.chunks.forEach((c, i) => assertChatCompletionChunk(c, `${name} chunk ${i}`));
      assert.equal(new Set(s.chunks.map((c) => `${c.id}/${c.created}/${c.model}`)).size, 1, "one id, created and model for all chunks");
    } else {
      assert.equal(fx.headers["content-type"], "application/json");
      const body = JSON.parse(text);
      assertChatCompletion(body, name);
      assert.ok(body.usage, "non-streaming responses carry usage");
    }
  });
}

// Streams recorded with include_usage=true: every chunk but the last has "usage":null, the last has
// "choices":[] and the usage (providers.md §1.6). The `.as-without-include-usage.sse` twin is what
// OpenAI sends for the same completion when the client did not ask: the same chunks, no usage key,
// no usage chunk. The gateway must turn the first into the second.
for (const file of readdirSync(dir).filter((f) => f.endsWith(".sse") && !f.includes(".as-without-include-usage."))) {
  test(`${file}: include_usage shape, and its without-usage twin is the same stream minus usage`, () => {
    const withUsage = parseOpenAISse(readFileSync(join(dir, file), "utf8"));
    const last = withUsage.chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.equal(typeof last.usage.prompt_tokens, "number");
    for (const c of withUsage.chunks.slice(0, -1)) assert.equal(c.usage, null, "usage:null on content chunks");
    assert.equal(withUsage.chunks.at(-2).choices[0].finish_reason !== null, true, "usage chunk follows the finish chunk");

    const twin = parseOpenAISse(readFileSync(join(dir, file.replace(/\.sse$/, ".as-without-include-usage.sse")), "utf8"));
    assert.ok(twin.done);
    assert.equal(twin.chunks.length, withUsage.chunks.length - 1);
    twin.chunks.forEach((c, i) => {
      assert.equal("usage" in c, false, `twin chunk ${i} has no usage key`);
      const { usage, ...rest } = withUsage.chunks[i];
      assert.deepEqual(c, rest);
      // Byte level too: only the `,"usage":null` text differs, key order is OpenAI's.
      assert.equal(twin.payloads[i], withUsage.payloads[i].replace(',"usage":null', ""));
    });
  });
}
