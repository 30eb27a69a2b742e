// Envoy global rate limit service (RLS) wire format, by hand: the RateLimitRequest the filter sends
// with proxy_grpc_call (service `envoy.service.ratelimit.v3.RateLimitService`, method
// `ShouldRateLimit`, bare protobuf: the host adds the 5-byte gRPC frame) and the RateLimitResponse
// it gets back. Pure: no host calls.
//
// Messages (envoy/service/ratelimit/v3/rls.proto, envoy/extensions/common/ratelimit/v3/ratelimit.proto):
//   RateLimitRequest    1 domain string, 2 descriptors repeated RateLimitDescriptor, 3 hits_addend uint32
//   RateLimitDescriptor 1 entries repeated Entry{1 key, 2 value}, 2 limit RateLimitOverride
//                       {1 requests_per_unit uint32, 2 unit enum}, 3 hits_addend google.protobuf.UInt64Value{1 value}
//   RateLimitResponse   1 overall_code enum, 2 statuses repeated DescriptorStatus,
//                       3 response_headers_to_add / 4 request_headers_to_add repeated HeaderValue
//                       {1 key, 2 value, 3 raw_value bytes}, 5..7 skipped
//   DescriptorStatus    1 code, 2 current_limit RateLimit{1 requests_per_unit, 2 unit, 3 name},
//                       3 limit_remaining uint32, 4 duration_until_reset Duration{1 seconds int64, 2 nanos int32}
//
// Check before, debit after: a check sends the per-descriptor hits_addend wrapper with value 0
// (encoded as the empty message `1a 00`); envoyproxy/ratelimit (built after 2024-12-27) then
// counts 0. Without the wrapper it falls back to the request-level hits_addend, where 0 counts as 1.
//
// The decoder never traps: every read is bounds-checked against the enclosing message, varints
// are limited to 10 bytes / 64 bits, unknown fields are skipped by wire type (0, 1, 2, 5), and
// anything else (groups 3/4, wire types 6/7, field number 0, truncation, a length past the end)
// gives a response whose `error` says why.

import { ByteBuilder } from "../util/bytes";

export const RLS_SERVICE = "envoy.service.ratelimit.v3.RateLimitService";
export const RLS_METHOD = "ShouldRateLimit";

// RateLimitResponse.Code
export const CODE_UNKNOWN: i32 = 0;
export const CODE_OK: i32 = 1;
export const CODE_OVER_LIMIT: i32 = 2;

// RateLimitResponse.RateLimit.Unit. envoy.type.v3.RateLimitUnit (the request's limit override)
// has the same values from 0 to 6 but no WEEK.
export const UNIT_UNKNOWN: i32 = 0;
export const UNIT_SECOND: i32 = 1;
export const UNIT_MINUTE: i32 = 2;
export const UNIT_HOUR: i32 = 3;
export const UNIT_DAY: i32 = 4;
export const UNIT_MONTH: i32 = 5;
export const UNIT_YEAR: i32 = 6;
export const UNIT_WEEK: i32 = 7;

/** Largest request the encoder produces; a bigger one is refused rather than risking i32 overflow. */
export const MAX_REQUEST_BYTES: i64 = 16 << 20;

const WT_VARINT: u32 = 0;
const WT_FIXED64: u32 = 1;
const WT_LEN: u32 = 2;
const WT_FIXED32: u32 = 5;

// ------------------------------------------------------------------------------------------------
// Protobuf primitives (exported for tests that build messages by hand)

export function varintSize(v: u64): i32 {
  let n = 1;
  while (v >= 0x80) { v >>= 7; n++; }
  return n;
}

export function writeVarint(out: ByteBuilder, v: u64): void {
  while (v >= 0x80) { out.byte(<u8>((v & 0x7f) | 0x80)); v >>= 7; }
  out.byte(<u8>v);
}

export function writeTag(out: ByteBuilder, field: u32, wireType: u32): void {
  writeVarint(out, (<u64>field << 3) | <u64>wireType);
}

/** Field `field` as a length-delimited UTF-8 string whose byte length is `byteLen`. */
function writeStringField(out: ByteBuilder, field: u32, s: string, byteLen: i32): void {
  writeTag(out, field, WT_LEN);
  writeVarint(out, <u64>byteLen);
  out.str(s);
}

/** Size of a length-delimited field with a one-byte tag and a body of n bytes. */
@inline function lenFieldSize(n: i64): i64 { return 1 + <i64>varintSize(<u64>n) + n; }

/** Enum values are int32 on the wire: negatives are sign-extended to 10-byte varints. */
@inline function enumBits(v: i32): u64 { return <u64><i64>v; }

// ------------------------------------------------------------------------------------------------
// Request

export class RlsDescriptor {
  /** Entry keys and values, in order (same length; keys must not be empty). */
  keys: string[] = [];
  values: string[] = [];
  /** Per-descriptor hits_addend (UInt64Value wrapper, field 3), sent whenever hasHitsAddend is set,
   *  also for 0: 0 checks without consuming. */
  hitsAddend: u64 = 0;
  hasHitsAddend: bool = true;
  /** Optional limit override (field 2); unit is an envoy.type.v3.RateLimitUnit (1..6, no WEEK). */
  hasLimitOverride: bool = false;
  overrideRequestsPerUnit: u32 = 0;
  overrideUnit: i32 = UNIT_UNKNOWN;

  entry(key: string, value: string): RlsDescriptor {
    this.keys.push(key);
    this.values.push(value);
    return this;
  }

  hits(n: u64): RlsDescriptor {
    this.hitsAddend = n;
    this.hasHitsAddend = true;
    return this;
  }

  /** Leaves the wrapper out: the service then uses the request-level hits_addend (0 counts as 1). */
  noHits(): RlsDescriptor {
    this.hitsAddend = 0;
    this.hasHitsAddend = false;
    return this;
  }

  limitOverride(requestsPerUnit: u32, unit: i32): RlsDescriptor {
    this.hasLimitOverride = true;
    this.overrideRequestsPerUnit = requestsPerUnit;
    this.overrideUnit = unit;
    return this;
  }
}

export class RlsRequest {
  domain: string = "";
  descriptors: RlsDescriptor[] = [];
  /** Request-level hits_addend (uint32, field 3): 0 is not sent (proto3), and the service reads
   *  an absent value as 1. Per-descriptor wrappers override it. */
  hitsAddend: u32 = 0;

  constructor(domain: string = "") { this.domain = domain; }

  add(d: RlsDescriptor): RlsRequest {
    this.descriptors.push(d);
    return this;
  }
}

function entrySize(d: RlsDescriptor, i: i32): i64 {
  const k = <i64>String.UTF8.byteLength(unchecked(d.keys[i]));
  const v = <i64>String.UTF8.byteLength(unchecked(d.values[i]));
  return lenFieldSize(k) + (v > 0 ? lenFieldSize(v) : 0);
}

function overrideSize(d: RlsDescriptor): i64 {
  let n: i64 = 0;
  if (d.overrideRequestsPerUnit != 0) n += 1 + varintSize(<u64>d.overrideRequestsPerUnit);
  if (d.overrideUnit != 0) n += 1 + varintSize(enumBits(d.overrideUnit));
  return n;
}

@inline function wrapperSize(d: RlsDescriptor): i64 {
  return d.hitsAddend == 0 ? 0 : 1 + <i64>varintSize(d.hitsAddend);
}

function descriptorSize(d: RlsDescriptor): i64 {
  let n: i64 = 0;
  for (let i = 0, c = d.keys.length; i < c; i++) n += lenFieldSize(entrySize(d, i));
  if (d.hasLimitOverride) n += lenFieldSize(overrideSize(d));
  if (d.hasHitsAddend) n += lenFieldSize(wrapperSize(d));
  return n;
}

/** Why `req` cannot be sent ("" when it can): the service rejects these with a gRPC error. */
export function validateRequest(req: RlsRequest): string {
  if (req.domain.length == 0) return "rate limit request: empty domain";
  const ds = req.descriptors;
  if (ds.length == 0) return "rate limit request: no descriptors";
  for (let i = 0, n = ds.length; i < n; i++) {
    const d = unchecked(ds[i]);
    if (d.keys.length == 0) return "rate limit request: descriptor " + i.toString() + " has no entries";
    if (d.keys.length != d.values.length) return "rate limit request: descriptor " + i.toString() + " has unpaired keys and values";
    for (let j = 0, m = d.keys.length; j < m; j++) {
      if (unchecked(d.keys[j]).length == 0) return "rate limit request: descriptor " + i.toString() + " entry " + j.toString() + " has an empty key";
    }
  }
  return "";
}

/** Appends the RateLimitRequest encoding of `req` to `out`. Returns "" on success, otherwise why
 *  the request is invalid (and nothing is appended). */
export function encodeRateLimitRequest(req: RlsRequest, out: ByteBuilder): string {
  const invalid = validateRequest(req);
  if (invalid.length) return invalid;
  const ds = req.descriptors;
  const domainLen = String.UTF8.byteLength(req.domain);
  let total: i64 = lenFieldSize(<i64>domainLen);
  for (let i = 0, n = ds.length; i < n; i++) total += lenFieldSize(descriptorSize(unchecked(ds[i])));
  if (req.hitsAddend != 0) total += 1 + varintSize(<u64>req.hitsAddend);
  if (total > MAX_REQUEST_BYTES) return "rate limit request: larger than " + MAX_REQUEST_BYTES.toString() + " bytes";

  out.ensure(<i32>total);
  writeStringField(out, 1, req.domain, domainLen);
  for (let i = 0, n = ds.length; i < n; i++) {
    const d = unchecked(ds[i]);
    writeTag(out, 2, WT_LEN);
    writeVarint(out, <u64>descriptorSize(d));
    for (let j = 0, m = d.keys.length; j < m; j++) {
      writeTag(out, 1, WT_LEN);
      writeVarint(out, <u64>entrySize(d, j));
      const key = unchecked(d.keys[j]), value = unchecked(d.values[j]);
      writeStringField(out, 1, key, String.UTF8.byteLength(key));
      const vl = String.UTF8.byteLength(value);
      if (vl > 0) writeStringField(out, 2, value, vl);
    }
    if (d.hasLimitOverride) {
      writeTag(out, 2, WT_LEN);
      writeVarint(out, <u64>overrideSize(d));
      if (d.overrideRequestsPerUnit != 0) { writeTag(out, 1, WT_VARINT); writeVarint(out, <u64>d.overrideRequestsPerUnit); }
      if (d.overrideUnit != 0) { writeTag(out, 2, WT_VARINT); writeVarint(out, enumBits(d.overrideUnit)); }
    }
    if (d.hasHitsAddend) {
      writeTag(out, 3, WT_LEN);
      writeVarint(out, <u64>wrapperSize(d));
      if (d.hitsAddend != 0) { writeTag(out, 1, WT_VARINT); writeVarint(out, d.hitsAddend); }
    }
  }
  if (req.hitsAddend != 0) { writeTag(out, 3, WT_VARINT); writeVarint(out, <u64>req.hitsAddend); }
  return "";
}

/** The encoding of `req` as fresh bytes, or null when it is invalid (see validateRequest). */
export function rateLimitRequestBytes(req: RlsRequest): Uint8Array | null {
  const out = new ByteBuilder(64);
  if (encodeRateLimitRequest(req, out).length) return null;
  return out.toBytes();
}

// ------------------------------------------------------------------------------------------------
// Response

export class RlsRateLimit {
  requestsPerUnit: u32 = 0;
  unit: i32 = UNIT_UNKNOWN;
  name: string = "";
}

export class RlsStatus {
  code: i32 = CODE_UNKNOWN;
  /** Absent when the descriptor matched no configured limit (then limitRemaining is 0 and means nothing). */
  currentLimit: RlsRateLimit | null = null;
  limitRemaining: u32 = 0;
  hasDurationUntilReset: bool = false;
  resetSeconds: i64 = 0;
  resetNanos: i32 = 0;

  /** A configured limit with nothing left. A check with hits 0 still answers OK when used == limit. */
  exhausted(): bool { return this.currentLimit != null && this.limitRemaining == 0; }
}

export class RlsResponse {
  /** "" when the bytes decoded; otherwise why not, and every other field keeps its default. */
  error: string = "";
  overallCode: i32 = CODE_UNKNOWN;
  statuses: RlsStatus[] = [];
  /** response_headers_to_add and request_headers_to_add as name, value, name, value, … */
  responseHeaders: string[] = [];
  requestHeaders: string[] = [];

  @inline get ok(): bool { return this.error.length == 0; }
  @inline get overLimit(): bool { return this.overallCode == CODE_OVER_LIMIT; }
}

/** Bounds-checked protobuf reader over [pos, end) of a byte array. `end` is the current message's. */
class Reader {
  base: usize;
  pos: i32;
  end: i32;
  start: i32;
  error: string = "";

  constructor(src: Uint8Array, start: i32, end: i32) {
    this.base = src.dataStart;
    this.start = start;
    this.pos = start;
    this.end = end;
  }

  @inline get ok(): bool { return this.error.length == 0; }

  fail(why: string, at: i32): void {
    if (this.error.length == 0) this.error = "rate limit response: " + why + " at byte " + (at - this.start).toString();
    this.pos = this.end; // stop every loop
  }

  varint(): u64 {
    const at = this.pos;
    let v: u64 = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) { this.fail("truncated varint", at); return 0; }
      const b = <u64>load<u8>(this.base + <usize>this.pos);
      this.pos++;
      if (i == 9 && b > 1) { this.fail("varint longer than 64 bits", at); return 0; }
      v |= (b & 0x7f) << (<u64>(7 * i));
      if ((b & 0x80) == 0) return v;
    }
    this.fail("varint longer than 64 bits", at); // not reached: the 10th byte has no continuation bit
    return 0;
  }

  /** A field tag (field << 3 | wire type), 0 when it is invalid (error set). */
  tag(): u64 {
    const at = this.pos;
    const t = this.varint();
    if (!this.ok) return 0;
    const field = t >> 3;
    if (field == 0 || field > 536870911) { this.fail("invalid field number " + field.toString(), at); return 0; }
    return t;
  }

  /** A length prefix that fits in the current message; -1 when it does not (error set). */
  length(): i32 {
    const at = this.pos;
    const n = this.varint();
    if (!this.ok) return -1;
    if (n > <u64>(this.end - this.pos)) { this.fail("length " + n.toString() + " past the end", at); return -1; }
    return <i32>n;
  }

  skip(wireType: u32, at: i32): void {
    if (wireType == WT_VARINT) { this.varint(); return; }
    if (wireType == WT_LEN) { const n = this.length(); if (n >= 0) this.pos += n; return; }
    const n = wireType == WT_FIXED64 ? 8 : wireType == WT_FIXED32 ? 4 : -1;
    if (n < 0) { this.fail("unsupported wire type " + wireType.toString(), at); return; }
    if (this.end - this.pos < n) { this.fail("truncated fixed" + (n * 8).toString(), at); return; }
    this.pos += n;
  }

  /** Enters a length-delimited sub-message; returns the outer end to pass to leave(), or -1. */
  enter(): i32 {
    const n = this.length();
    if (n < 0) return -1;
    const outer = this.end;
    this.end = this.pos + n;
    return outer;
  }

  @inline leave(outer: i32): void {
    if (this.ok) this.pos = this.end;
    this.end = outer;
    if (!this.ok) this.pos = outer;
  }

  /** A length-delimited UTF-8 string (invalid UTF-8 is decoded leniently, never trapping). */
  string(): string {
    const n = this.length();
    if (n <= 0) return "";
    const s = String.UTF8.decodeUnsafe(this.base + <usize>this.pos, <usize>n);
    this.pos += n;
    return s;
  }
}

function readRateLimit(r: Reader, out: RlsRateLimit): void {
  while (r.pos < r.end) {
    const at = r.pos;
    const t = r.tag();
    if (!r.ok) return;
    const f = <u32>(t >> 3), wt = <u32>(t & 7);
    if (f == 1 && wt == WT_VARINT) out.requestsPerUnit = <u32>r.varint();
    else if (f == 2 && wt == WT_VARINT) out.unit = <i32>r.varint();
    else if (f == 3 && wt == WT_LEN) out.name = r.string();
    else r.skip(wt, at);
  }
}

function readDuration(r: Reader, st: RlsStatus): void {
  st.hasDurationUntilReset = true;
  while (r.pos < r.end) {
    const at = r.pos;
    const t = r.tag();
    if (!r.ok) return;
    const f = <u32>(t >> 3), wt = <u32>(t & 7);
    if (f == 1 && wt == WT_VARINT) st.resetSeconds = <i64>r.varint();
    else if (f == 2 && wt == WT_VARINT) st.resetNanos = <i32>r.varint();
    else r.skip(wt, at);
  }
}

function readStatus(r: Reader, st: RlsStatus): void {
  while (r.pos < r.end) {
    const at = r.pos;
    const t = r.tag();
    if (!r.ok) return;
    const f = <u32>(t >> 3), wt = <u32>(t & 7);
    if (f == 1 && wt == WT_VARINT) st.code = <i32>r.varint();
    else if (f == 2 && wt == WT_LEN) {
      const outer = r.enter();
      if (outer < 0) return;
      let lim = st.currentLimit;
      if (lim == null) { lim = new RlsRateLimit(); st.currentLimit = lim; } // repeated occurrences merge
      readRateLimit(r, lim);
      r.leave(outer);
    } else if (f == 3 && wt == WT_VARINT) st.limitRemaining = <u32>r.varint();
    else if (f == 4 && wt == WT_LEN) {
      const outer = r.enter();
      if (outer < 0) return;
      readDuration(r, st);
      r.leave(outer);
    } else r.skip(wt, at);
  }
}

function readHeader(r: Reader, out: string[]): void {
  let key = "", value = "", raw = "";
  let hasValue = false;
  while (r.pos < r.end) {
    const at = r.pos;
    const t = r.tag();
    if (!r.ok) return;
    const f = <u32>(t >> 3), wt = <u32>(t & 7);
    if (f == 1 && wt == WT_LEN) key = r.string();
    else if (f == 2 && wt == WT_LEN) { value = r.string(); hasValue = true; }
    else if (f == 3 && wt == WT_LEN) raw = r.string();
    else r.skip(wt, at);
  }
  out.push(key);
  out.push(hasValue || raw.length == 0 ? value : raw); // one of value / raw_value is set
}

/** Decodes a RateLimitResponse from src[start, end) (end -1: to the end). Never traps: check `error`. */
export function decodeRateLimitResponse(src: Uint8Array, start: i32 = 0, end: i32 = -1): RlsResponse {
  const res = new RlsResponse();
  if (end < 0 || end > src.length) end = src.length;
  if (start < 0 || start > end) { res.error = "rate limit response: invalid range"; return res; }
  const r = new Reader(src, start, end);
  while (r.pos < r.end) {
    const at = r.pos;
    const t = r.tag();
    if (!r.ok) break;
    const f = <u32>(t >> 3), wt = <u32>(t & 7);
    if (f == 1 && wt == WT_VARINT) res.overallCode = <i32>r.varint();
    else if (f == 2 && wt == WT_LEN) {
      const outer = r.enter();
      if (outer < 0) break;
      const st = new RlsStatus();
      readStatus(r, st);
      r.leave(outer);
      res.statuses.push(st);
    } else if ((f == 3 || f == 4) && wt == WT_LEN) {
      const outer = r.enter();
      if (outer < 0) break;
      readHeader(r, f == 3 ? res.responseHeaders : res.requestHeaders);
      r.leave(outer);
    } else r.skip(wt, at);
  }
  if (r.ok) return res;
  const bad = new RlsResponse(); // nothing half-decoded leaks out
  bad.error = r.error;
  return bad;
}
