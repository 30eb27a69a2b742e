// One pass over the request's headers (proxy_get_header_map_pairs) instead of one host call per
// header the filter reads or might remove. In Envoy every proxy_get/remove_header_map_value
// crosses from V8 into C++, builds a lower-cased key and searches the header map; the pass reads
// the values the filter needs and notes which headers are present, so only those present are
// removed (usually one or two instead of a dozen). Names are compared as ASCII bytes,
// case-insensitively, without decoding or lower-casing each name into a new string.

import { Headers } from "@solo-io/proxy-runtime/assembly";

/** `key` (ASCII bytes) equals `name` ignoring ASCII case. */
export function keyIs(key: ArrayBuffer, name: string): bool {
  const n = name.length;
  if (key.byteLength != n) return false;
  const p = changetype<usize>(key);
  for (let i = 0; i < n; i++) {
    let c = <i32>load<u8>(p + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    let d = name.charCodeAt(i);
    if (d >= 0x41 && d <= 0x5a) d += 0x20;
    if (c != d) return false;
  }
  return true;
}

/** `key` starts with `prefix` (lower-case ASCII) ignoring ASCII case. */
function keyStartsWith(key: ArrayBuffer, prefix: string): bool {
  const n = prefix.length;
  if (key.byteLength < n) return false;
  const p = changetype<usize>(key);
  for (let i = 0; i < n; i++) {
    let c = <i32>load<u8>(p + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c != prefix.charCodeAt(i)) return false;
  }
  return true;
}

/** What the request-headers phase needs from the headers, read in one pass. */
export class RequestHeaderScan {
  method: string = "";
  path: string = "";
  contentType: string = "";
  contentLength: string = "";
  authorization: string = "";
  xApiKey: string = "";
  apiKey: string = "";
  /** Value of the configured client header ("" when absent or not configured). */
  client: string = "";
  /** The client's anthropic-beta values, joined with ",". */
  anthropicBeta: string = "";
  /** Names of the present headers to drop before the request goes upstream: client credentials, anthropic-*, the client header. */
  drop: string[] = [];
  clusterHeaderPresent: bool = false;
  acceptEncodingPresent: bool = false;

  /**
   * `credentials`: the client credential header names (lower case); `clientHeader` and
   * `clusterHeader`: configured names ("" = none). The first value of a repeated header wins, as
   * with proxy_get_header_map_value.
   */
  constructor(pairs: Headers, credentials: string[], clientHeader: string, clusterHeader: string) {
    for (let i = 0; i < pairs.length; i++) {
      const key = unchecked(pairs[i]).key;
      const len = key.byteLength;
      if (len == 0) continue;
      const first = load<u8>(changetype<usize>(key));
      if (first == 0x3a) { // pseudo-headers
        if (this.method.length == 0 && keyIs(key, ":method")) this.method = String.UTF8.decode(unchecked(pairs[i]).value);
        else if (this.path.length == 0 && keyIs(key, ":path")) this.path = String.UTF8.decode(unchecked(pairs[i]).value);
        continue;
      }
      if (clientHeader.length && keyIs(key, clientHeader)) {
        if (this.client.length == 0) this.client = String.UTF8.decode(unchecked(pairs[i]).value);
        this.dropName(key);
        continue;
      }
      if (clusterHeader.length && keyIs(key, clusterHeader)) { this.clusterHeaderPresent = true; continue; }
      if (keyIs(key, "content-type")) { if (this.contentType.length == 0) this.contentType = String.UTF8.decode(unchecked(pairs[i]).value); continue; }
      if (keyIs(key, "content-length")) { if (this.contentLength.length == 0) this.contentLength = String.UTF8.decode(unchecked(pairs[i]).value); continue; }
      if (keyIs(key, "accept-encoding")) { this.acceptEncodingPresent = true; continue; }
      if (keyStartsWith(key, "anthropic-")) {
        if (keyIs(key, "anthropic-beta")) {
          const v = String.UTF8.decode(unchecked(pairs[i]).value);
          this.anthropicBeta = this.anthropicBeta.length ? this.anthropicBeta + "," + v : v;
        }
        this.dropName(key);
        continue;
      }
      for (let j = 0; j < credentials.length; j++) {
        const name = unchecked(credentials[j]);
        if (!keyIs(key, name)) continue;
        if (name == "authorization" && this.authorization.length == 0) this.authorization = String.UTF8.decode(unchecked(pairs[i]).value);
        else if (name == "x-api-key" && this.xApiKey.length == 0) this.xApiKey = String.UTF8.decode(unchecked(pairs[i]).value);
        else if (name == "api-key" && this.apiKey.length == 0) this.apiKey = String.UTF8.decode(unchecked(pairs[i]).value);
        this.dropName(key);
        break;
      }
    }
  }

  private dropName(key: ArrayBuffer): void {
    const name = String.UTF8.decode(key);
    for (let i = 0; i < this.drop.length; i++) if (unchecked(this.drop[i]) == name) return; // repeated header: one remove drops all
    this.drop.push(name);
  }
}
