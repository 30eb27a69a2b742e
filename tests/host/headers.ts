// An ordered header map with Envoy `HeaderMapImpl` semantics the filter can observe:
// - keys are lower-cased on every operation (Envoy `LowerCaseString`, sources: proxy-wasm C++ host: header pairs "Keys ... lower-cased");
// - pseudo-headers (":xxx") stay ahead of regular headers (HeaderMapImpl inserts them before the
//   first regular header);
// - `get` returns the first value only (sources: Envoy wasm context), `set` replaces every value (remove + add),
//   `byteSize` is the sum of key and value lengths (HeaderMapImpl::byteSize, sources: proxy-wasm ABI v0.2.1 note).
// Names and values are latin1 strings (one char per byte), see pairs.ts.

import type { Pair } from "./pairs.ts";

export class HeaderMap {
  private list: Pair[] = [];

  static from(pairs: Iterable<readonly [string, string]>): HeaderMap {
    const m = new HeaderMap();
    for (const [k, v] of pairs) m.add(k, v);
    return m;
  }

  get size(): number { return this.list.length; }

  byteSize(): number {
    let n = 0;
    for (const [k, v] of this.list) n += k.length + v.length;
    return n;
  }

  get(key: string): string | undefined {
    const k = lower(key);
    for (const p of this.list) if (p[0] === k) return p[1];
    return undefined;
  }

  getAll(key: string): string[] {
    const k = lower(key);
    const out: string[] = [];
    for (const p of this.list) if (p[0] === k) out.push(p[1]);
    return out;
  }

  has(key: string): boolean { return this.get(key) !== undefined; }

  add(key: string, value: string): void {
    const k = lower(key);
    if (k.startsWith(":")) {
      let i = 0;
      while (i < this.list.length && this.list[i][0].startsWith(":")) i++;
      this.list.splice(i, 0, [k, value]);
    } else {
      this.list.push([k, value]);
    }
  }

  set(key: string, value: string): void {
    this.remove(key);
    this.add(key, value);
  }

  remove(key: string): void {
    const k = lower(key);
    let w = 0;
    for (let r = 0; r < this.list.length; r++) if (this.list[r][0] !== k) this.list[w++] = this.list[r];
    this.list.length = w;
  }

  clear(): void { this.list.length = 0; }

  /** The live entries in order (do not mutate). */
  pairs(): readonly Pair[] { return this.list; }

  copy(): HeaderMap {
    const m = new HeaderMap();
    m.list = this.list.map((p) => [p[0], p[1]] as Pair);
    return m;
  }

  /** Plain object for assertions; repeated keys are joined with "," like Node does. */
  toObject(): Record<string, string> {
    const o: Record<string, string> = {};
    for (const [k, v] of this.list) o[k] = k in o ? `${o[k]},${v}` : v;
    return o;
  }
}

function lower(s: string): string {
  // Fast path: most keys are already lower-case ASCII.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.toLowerCase();
  }
  return s;
}
