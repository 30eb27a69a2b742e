// Model → backend routing. Exact names win over patterns; patterns ('*' matches any run of
// characters, several allowed) are tried in configuration order. Built once per configuration.

import { Config, ModelRule } from "../config/config";

export class Router {
  private exact: Map<string, ModelRule> = new Map();
  private patterns: ModelRule[] = [];

  constructor(cfg: Config) {
    for (let i = 0; i < cfg.models.length; i++) {
      const r = cfg.models[i];
      if (r.parts.length == 1) {
        if (!this.exact.has(r.pattern)) this.exact.set(r.pattern, r);
      } else this.patterns.push(r);
    }
  }

  find(model: string): ModelRule | null {
    if (this.exact.has(model)) return this.exact.get(model);
    for (let i = 0; i < this.patterns.length; i++) {
      const r = unchecked(this.patterns[i]);
      if (globMatch(r.parts, model)) return r;
    }
    return null;
  }

  /** Model ids a client can list: the exact names (patterns are not enumerable). */
  listable(): string[] { return this.exact.keys(); }
}

/** parts = pattern.split("*"): s starts with the first part, ends with the last, holds the rest in order. */
export function globMatch(parts: string[], s: string): bool {
  const n = parts.length;
  if (n == 1) return s == parts[0];
  const first = parts[0], last = parts[n - 1];
  if (s.length < first.length + last.length) return false;
  if (!s.startsWith(first) || !s.endsWith(last)) return false;
  let pos = first.length;
  const limit = s.length - last.length;
  for (let i = 1; i < n - 1; i++) {
    const p = parts[i];
    if (p.length == 0) continue;
    const at = s.indexOf(p, pos);
    if (at < 0 || at + p.length > limit) return false;
    pos = at + p.length;
  }
  return true;
}
