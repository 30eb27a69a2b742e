// Request extensions to the OpenAI Chat Completions body that peers accept (LiteLLM, Envoy AI
// Gateway, OpenRouter) and that the translating providers map onto their own controls:
//  - `cache_control: {"type": "ephemeral"[, "ttl": "5m" | "1h"]}` on a content part, a message or
//    a tool: Anthropic's prompt-caching marker, carried on the OpenAI shapes. The project's older
//    `prompt_cache_breakpoint` marker on a content part means the same (a 5-minute breakpoint).
//  - `thinking: {"type": "enabled", "budget_tokens": N}` (or `"disabled"`): Anthropic's extended
//    thinking control, sent by Anthropic-minded OpenAI clients.
//  - `thinking_blocks` on an assistant message: the signed thinking blocks the provider returned
//    (as this gateway emits them, and as LiteLLM does), sent back so tool use with thinking works
//    across turns.

import { JNode, JsonDoc, Kind } from "../json/json";
import { ApiError, badRequest } from "../errors";

/**
 * The caching marker on `node` (a part, message or tool): its `cache_control` object when that
 * says `ephemeral`, else a `prompt_cache_breakpoint` object; null when there is none.
 */
export function cacheMark(doc: JsonDoc, node: JNode | null): JNode | null {
  if (node === null || node.kind != Kind.Obj) return null;
  const cc = doc.get(node, "cache_control");
  if (cc !== null && cc.kind == Kind.Obj && doc.strIs(doc.get(cc, "type"), "ephemeral")) return cc;
  const b = doc.get(node, "prompt_cache_breakpoint");
  if (b !== null && b.kind == Kind.Obj) return b;
  return null;
}

/** A marker's `ttl` when it is one providers know ("5m", "1h"); "" otherwise. */
export function cacheTtl(doc: JsonDoc, mark: JNode): string {
  const t = doc.get(mark, "ttl");
  if (doc.strIs(t, "5m") || doc.strIs(t, "1h")) return doc.str(t);
  return "";
}

/** A `cache_control` whose type is not `ephemeral`: the client asked for something no provider has. */
export function badCacheControl(doc: JsonDoc, node: JNode | null, path: string): ApiError | null {
  if (node === null || node.kind != Kind.Obj) return null;
  const cc = doc.get(node, "cache_control");
  if (cc === null || cc.kind == Kind.Null) return null;
  if (cc.kind != Kind.Obj || !doc.strIs(doc.get(cc, "type"), "ephemeral")) {
    return badRequest("invalid_value", path + ".cache_control must be {\"type\": \"ephemeral\"} (optionally with ttl 5m or 1h).", "cache_control");
  }
  const ttl = doc.get(cc, "ttl");
  if (ttl !== null && ttl.kind != Kind.Null && !doc.strIs(ttl, "5m") && !doc.strIs(ttl, "1h")) {
    return badRequest("invalid_value", path + ".cache_control.ttl must be 5m or 1h.", "cache_control");
  }
  return null;
}

/** The `thinking` extension, validated. */
export class Thinking {
  /** 0 absent, 1 enabled, 2 disabled, 3 adaptive. */
  mode: i32 = 0;
  budget: i64 = 0;
  node: JNode | null = null;
  error: ApiError | null = null;
  get enabled(): bool { return this.mode == 1 || this.mode == 3; }
}

export function readThinking(doc: JsonDoc, root: JNode): Thinking {
  const t = new Thinking();
  const n = doc.get(root, "thinking");
  if (n === null || n.kind == Kind.Null) return t;
  t.node = n;
  const type = doc.get(n, "type");
  if (n.kind != Kind.Obj) t.error = badRequest("invalid_value", "thinking must be an object such as {\"type\": \"enabled\", \"budget_tokens\": 2048}.", "thinking");
  else if (doc.strIs(type, "disabled")) t.mode = 2;
  else if (doc.strIs(type, "adaptive")) t.mode = 3;
  else if (doc.strIs(type, "enabled")) {
    const bt = doc.get(n, "budget_tokens");
    if (bt === null || bt.kind != Kind.Num || bt.num < 1 || bt.num != Math.floor(bt.num) || bt.num > 2147483647) {
      t.error = badRequest("invalid_value", "thinking.budget_tokens must be a positive integer.", "thinking");
    } else { t.mode = 1; t.budget = doc.int(bt); }
  } else t.error = badRequest("invalid_value", "thinking.type must be enabled, disabled or adaptive.", "thinking");
  if (t.error === null) {
    const effort = doc.get(root, "reasoning_effort");
    if (effort !== null && effort.kind != Kind.Null) {
      t.error = badRequest("invalid_value", "Send either reasoning_effort or thinking, not both.", "thinking");
    }
  }
  return t;
}

/** An assistant message's `thinking_blocks` array (null when absent or empty). */
export function thinkingBlocks(doc: JsonDoc, m: JNode, path: string, err: ApiError[]): JNode | null {
  const tb = doc.get(m, "thinking_blocks");
  if (tb === null || tb.kind == Kind.Null) return null;
  if (tb.kind != Kind.Arr) { err.push(badRequest("invalid_value", path + ".thinking_blocks must be an array.", "messages")); return null; }
  for (let i = 0; i < tb.length; i++) {
    const b = tb.items![i];
    const bp = path + ".thinking_blocks[" + i.toString() + "]";
    const type = doc.get(b, "type");
    if (doc.strIs(type, "thinking")) {
      const text = doc.get(b, "thinking"), sig = doc.get(b, "signature");
      if (text === null || text.kind != Kind.Str || sig === null || sig.kind != Kind.Str) {
        err.push(badRequest("invalid_value", bp + " needs thinking and signature strings.", "messages"));
        return null;
      }
    } else if (doc.strIs(type, "redacted_thinking")) {
      const data = doc.get(b, "data");
      if (data === null || data.kind != Kind.Str) { err.push(badRequest("invalid_value", bp + ".data must be a string.", "messages")); return null; }
    } else { err.push(badRequest("invalid_value", bp + ".type must be thinking or redacted_thinking.", "messages")); return null; }
  }
  return tb.length > 0 ? tb : null;
}

/**
 * The text of a thinking block to send back: its own, or — for a block assembled from stream
 * deltas, whose text travelled as `reasoning_content` and whose signature came alone — the
 * message's `reasoning_content` when the message holds exactly one thinking block.
 */
export function thinkingText(doc: JsonDoc, m: JNode, blocks: JNode, b: JNode): JNode | null {
  const text = doc.get(b, "thinking");
  if (text !== null && text.kind == Kind.Str && text.end - text.start > 2) return text;
  let n = 0;
  for (let i = 0; i < blocks.length; i++) if (doc.strIs(doc.get(blocks.items![i], "type"), "thinking")) n++;
  const rc = doc.get(m, "reasoning_content");
  if (n == 1 && rc !== null && rc.kind == Kind.Str) return rc;
  return text;
}
