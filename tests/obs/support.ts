// Shared by the observability tests: the stats_tags list shipped in envoy/stats-tags.yaml, the
// tag encoding of the filter's metric names (assembly/filter/metrics.ts) written out
// independently, and a small request helper.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { parse } from "yaml";
import type { TagSpecifier } from "../host/tags.ts";
import { ROOT } from "../e2e/harness.ts";

export const STATS_TAGS_FILE = join(ROOT, "envoy", "stats-tags.yaml");

export function statsTags(): TagSpecifier[] {
  const list = parse(readFileSync(STATS_TAGS_FILE, "utf8")) as TagSpecifier[];
  if (!Array.isArray(list)) throw new Error(`${STATS_TAGS_FILE}: expected a YAML list`);
  return list;
}

export const sha256hex = (s: string) => createHash("sha256").update(s).digest("hex");

/** The labels every gateway metric carries, in the order the filter writes them. */
export interface Labels { provider: string; model: string; backend: string; client: string; op?: string }

/** `wasmcustom.<base><extra>;gen_ai.provider.name=…;…;gen_ai.operation.name=<op>` */
export function statName(base: string, l: Labels, extra: [string, string][] = []): string {
  let s = `wasmcustom.${base}`;
  for (const [k, v] of extra) s += `;${k}=${v}`;
  s += `;gen_ai.provider.name=${l.provider};gen_ai.request.model=${l.model};ai_gateway.backend=${l.backend}`;
  s += `;ai_gateway.client=${l.client};gen_ai.operation.name=${l.op ?? "chat"}`;
  return s;
}

export async function chat(url: string, body: Record<string, unknown>, key?: string): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: "POST", headers,
    body: JSON.stringify({ messages: [{ role: "user", content: "Hello" }], ...body }),
  });
  return { status: r.status, text: await r.text() };
}
