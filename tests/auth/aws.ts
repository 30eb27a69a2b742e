// AWS's side of SigV4 (header-based, AWS4-HMAC-SHA256) for the provider mocks: recomputes the
// signature of a received request with node:crypto, independently of the filter's signer.

import { createHash, createHmac } from "node:crypto";
import { headerValues, type Seen } from "./support.ts";

export interface AwsCreds { accessKey: string; secretKey: string; sessionToken?: string }

/** RFC 3986 unreserved characters stay, everything else is %XX (upper-case), as SigV4 requires. */
function awsEncode(s: string): string {
  return [...Buffer.from(s, "utf8")].map((b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9\-_.~]/.test(c) ? c : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }).join("");
}

export interface SigCheck { ok: boolean; why: string; signedHeaders: string[]; canonical: string }

/**
 * AWS's side of SigV4 for a non-S3 service, written from the specification independently of the
 * filter: the canonical URI re-encodes each segment of the path as received (double encoding),
 * the canonical query sorts the decoded-then-encoded pairs, header values are trimmed with inner
 * whitespace collapsed.
 */
export function verifySigV4(r: Seen, creds: AwsCreds, region: string, service: string, nowMs = Date.now()): SigCheck {
  const fail = (why: string): SigCheck => ({ ok: false, why, signedHeaders: [], canonical: "" });
  const auth = headerValues(r, "authorization");
  if (auth.length !== 1) return fail(`expected one authorization header, got ${auth.length}`);
  const m = /^AWS4-HMAC-SHA256 Credential=([^/,]+)\/(\d{8})\/([^/,]+)\/([^/,]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth[0]);
  if (!m) return fail(`malformed authorization: ${auth[0]}`);
  const [, akid, day, reg, svc, signedList, signature] = m;
  if (akid !== creds.accessKey) return fail(`unknown access key ${akid}`);
  if (reg !== region || svc !== service) return fail(`credential scope ${reg}/${svc}`);
  const amzDate = headerValues(r, "x-amz-date");
  if (amzDate.length !== 1 || !/^\d{8}T\d{6}Z$/.test(amzDate[0])) return fail(`bad x-amz-date ${amzDate}`);
  if (amzDate[0].slice(0, 8) !== day) return fail("credential date differs from x-amz-date");
  const t = Date.UTC(+amzDate[0].slice(0, 4), +amzDate[0].slice(4, 6) - 1, +amzDate[0].slice(6, 8), +amzDate[0].slice(9, 11), +amzDate[0].slice(11, 13), +amzDate[0].slice(13, 15));
  if (Math.abs(t - nowMs) > 5 * 60_000) return fail(`request time ${amzDate[0]} is more than 5 minutes off`);
  const signed = signedList.split(";");
  if ([...signed].sort().join(";") !== signedList) return fail("SignedHeaders not sorted");
  for (const need of ["host", "x-amz-date"]) if (!signed.includes(need)) return fail(`${need} is not signed`);
  // AWS rejects a security token it cannot tie to the signature.
  if (headerValues(r, "x-amz-security-token").length && !signed.includes("x-amz-security-token")) return fail("x-amz-security-token present but not signed");
  const payloadHash = createHash("sha256").update(r.body).digest("hex");
  const claimed = headerValues(r, "x-amz-content-sha256");
  if (claimed.length && claimed[0] !== payloadHash) return fail("x-amz-content-sha256 does not match the body received");
  const canonicalUri = r.path.split("/").map(awsEncode).join("/") || "/";
  const pairs = [...r.query.entries()].map(([k, v]) => [awsEncode(k), awsEncode(v)]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const canonicalQuery = pairs.map(([k, v]) => `${k}=${v}`).join("&");
  const canonicalHeaders = signed.map((n) => {
    const vals = headerValues(r, n);
    if (!vals.length) throw new Error(`signed header ${n} missing`);
    return `${n}:${vals.map((v) => v.trim().replace(/\s+/g, " ")).join(",")}\n`;
  }).join("");
  const canonical = [r.method, canonicalUri, canonicalQuery, canonicalHeaders, signedList, payloadHash].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const sts = ["AWS4-HMAC-SHA256", amzDate[0], scope, createHash("sha256").update(canonical).digest("hex")].join("\n");
  const hmac = (k: Buffer | string, d: string) => createHmac("sha256", k).update(d).digest();
  const kSigning = hmac(hmac(hmac(hmac("AWS4" + creds.secretKey, day), region), service), "aws4_request");
  const expected = createHmac("sha256", kSigning).update(sts).digest("hex");
  if (expected !== signature) return { ok: false, why: `signature mismatch; canonical request:\n${canonical}`, signedHeaders: signed, canonical };
  if (creds.sessionToken !== undefined && headerValues(r, "x-amz-security-token").join() !== creds.sessionToken) return fail("missing or wrong session token");
  return { ok: true, why: "", signedHeaders: signed, canonical };
}
