// Writers for the OpenAI response pieces that every translating provider emits.

import { JsonWriter } from "../json/writer";
import { ByteBuilder } from "../util/bytes";
import { Usage } from "../usage";

/** CompletionUsage: prompt includes cached, completion includes reasoning (providers.md §1.5). */
export function writeChunkUsage(b: ByteBuilder, u: Usage): void {
  b.str("{\"prompt_tokens\":"); b.int(u.input);
  b.str(",\"completion_tokens\":"); b.int(u.output);
  b.str(",\"total_tokens\":"); b.int(u.input + u.output);
  b.str(",\"prompt_tokens_details\":{\"cached_tokens\":"); b.int(u.cachedInput);
  if (u.cacheWrite > 0) { b.str(",\"cache_write_tokens\":"); b.int(u.cacheWrite); }
  b.str("},\"completion_tokens_details\":{\"reasoning_tokens\":"); b.int(u.reasoning);
  b.str("}}");
}

export function writeUsage(w: JsonWriter, u: Usage): void {
  const b = new ByteBuilder(160);
  writeChunkUsage(b, u);
  w.rawBytes(b.buf, 0, b.len);
}
