// Test-only AssemblyScript entry: exposes the filter's own RLS encoder and decoder
// (assembly/limits/rls.ts) to Node, so that the integration test against the real rate limit
// service (tests/limits/rls-service.test.ts) sends and reads exactly the bytes the filter would.
// Built by that test with asc's raw bindings (strings and arrays cross the boundary).

import { RlsRequest, RlsDescriptor, RlsResponse, encodeRateLimitRequest, decodeRateLimitResponse } from "../../../assembly/limits/rls";
import { ByteBuilder } from "../../../assembly/util/bytes";

/**
 * Descriptor i has entryCounts[i] entries taken in order from keys/values; hits[i] < 0 leaves its
 * hits_addend wrapper out, otherwise the wrapper carries hits[i] (0 included). Returns the
 * RateLimitRequest bytes, or an empty array when the encoder refuses the request.
 */
export function encodeRequest(domain: string, keys: string[], values: string[], entryCounts: i32[], hits: i64[], requestHits: u32): Uint8Array {
  const req = new RlsRequest(domain);
  req.hitsAddend = requestHits;
  let k = 0;
  for (let i = 0; i < entryCounts.length; i++) {
    const d = new RlsDescriptor();
    for (let j = 0; j < entryCounts[i] && k < keys.length && k < values.length; j++, k++) d.entry(keys[k], values[k]);
    if (i < hits.length && hits[i] >= 0) d.hits(<u64>hits[i]); else d.noHits();
    req.add(d);
  }
  const out = new ByteBuilder();
  if (encodeRateLimitRequest(req, out).length) return new Uint8Array(0);
  return out.toBytes();
}

/** The decoded response as JSON: {error, overall, statuses[{code, limit{rpu,unit,name}|null,
 *  remaining, reset|null, exhausted}], responseHeaders[[k,v]], requestHeaders[[k,v]]}. */
export function decodeResponse(bytes: Uint8Array): string {
  const r = decodeRateLimitResponse(bytes);
  const b = new ByteBuilder();
  b.str("{\"error\":"); b.jsonString(r.error);
  b.str(",\"overall\":"); b.int(r.overallCode);
  b.str(",\"statuses\":[");
  for (let i = 0; i < r.statuses.length; i++) {
    const st = r.statuses[i];
    if (i) b.byte(0x2c);
    b.str("{\"code\":"); b.int(st.code);
    b.str(",\"limit\":");
    const lim = st.currentLimit;
    if (lim == null) b.str("null");
    else {
      b.str("{\"rpu\":"); b.int(lim.requestsPerUnit);
      b.str(",\"unit\":"); b.int(lim.unit);
      b.str(",\"name\":"); b.jsonString(lim.name);
      b.byte(0x7d);
    }
    b.str(",\"remaining\":"); b.int(st.limitRemaining);
    b.str(",\"reset\":");
    if (st.hasDurationUntilReset) b.int(st.resetSeconds); else b.str("null");
    b.str(",\"exhausted\":"); b.str(st.exhausted() ? "true" : "false");
    b.byte(0x7d);
  }
  b.str("],\"responseHeaders\":"); headers(b, r.responseHeaders);
  b.str(",\"requestHeaders\":"); headers(b, r.requestHeaders);
  b.byte(0x7d);
  return b.toString();
}

function headers(b: ByteBuilder, h: string[]): void {
  b.byte(0x5b);
  for (let i = 0; i + 1 < h.length; i += 2) {
    if (i) b.byte(0x2c);
    b.byte(0x5b); b.jsonString(h[i]); b.byte(0x2c); b.jsonString(h[i + 1]); b.byte(0x5d);
  }
  b.byte(0x5d);
}
