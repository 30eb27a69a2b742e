// The one view of HTTP headers the stages need. The filter glue implements it over the host's
// header maps (filter/host_headers.ts); unit tests implement it over an array. Stages never call
// the host themselves, so each can run wherever the filter places it (downstream, or in Envoy's
// upstream filter chain once per attempt).

export abstract class HeaderMap {
  /** The value of a header ("" when absent). */
  abstract get(name: string): string;
  abstract replace(name: string, value: string): void;
  abstract remove(name: string): void;
  /** Every header as name, value, name, value… (names as the host gives them). */
  abstract pairs(): string[];
}

/** Headers in memory (unit tests; anything that is not the host). */
export class ListHeaders extends HeaderMap {
  list: string[] = [];
  get(name: string): string {
    for (let i = 0; i + 1 < this.list.length; i += 2) if (this.list[i] == name) return this.list[i + 1];
    return "";
  }
  replace(name: string, value: string): void {
    for (let i = 0; i + 1 < this.list.length; i += 2) if (this.list[i] == name) { this.list[i + 1] = value; return; }
    this.list.push(name); this.list.push(value);
  }
  remove(name: string): void {
    const out = new Array<string>();
    for (let i = 0; i + 1 < this.list.length; i += 2) if (this.list[i] != name) { out.push(this.list[i]); out.push(this.list[i + 1]); }
    this.list = out;
  }
  pairs(): string[] { return this.list; }
}
