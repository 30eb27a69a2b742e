// Several API keys for one backend: used in turn (round robin), skipping a key the provider
// recently answered with 401/403 until its penalty expires. Pure: the filter persists the
// penalties in shared data so every worker skips the same key (see filter/credentials.ts).

export class KeyRing {
  private next: i32 = 0;
  /** Unix seconds until which each key is skipped (0 = usable). */
  badUntil: i64[];

  constructor(public size: i32) {
    this.badUntil = new Array<i64>(size);
  }

  /** The key to use now, or -1 when there are none. If every key is penalized, the one whose penalty ends first. */
  pick(now: i64): i32 {
    const n = this.size;
    if (n <= 0) return -1;
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n;
      if (unchecked(this.badUntil[i]) <= now) { this.next = (i + 1) % n; return i; }
    }
    let best = 0;
    for (let i = 1; i < n; i++) if (unchecked(this.badUntil[i]) < unchecked(this.badUntil[best])) best = i;
    return best;
  }

  markBad(i: i32, until: i64): void {
    if (i < 0 || i >= this.size) return;
    if (unchecked(this.badUntil[i]) < until) unchecked((this.badUntil[i] = until));
  }

  /** Serialized penalties ("t0,t1,…"), the form kept in shared data. */
  encode(): string {
    let s = "";
    for (let i = 0; i < this.size; i++) { if (i) s += ","; s += unchecked(this.badUntil[i]).toString(); }
    return s;
  }

  /** Merges penalties from their serialized form (keeps the later expiry of each key). */
  merge(s: string): void {
    const parts = s.split(",");
    for (let i = 0; i < parts.length && i < this.size; i++) {
      const v = I64.parseInt(parts[i]);
      if (v > unchecked(this.badUntil[i])) unchecked((this.badUntil[i] = v));
    }
  }
}
