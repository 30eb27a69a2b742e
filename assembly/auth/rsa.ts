// RSA private keys from PEM, and RSASSA-PKCS1-v1_5 signatures with SHA-256 (RFC 8017 §8.2.1,
// "RS256" in JWT terms), for the Google service-account JWT (auth/jwt.ts).
//
// Why in AssemblyScript: Envoy's `sign` foreign function only exists from 1.37 and we support 1.35,
// and proxy-wasm has no other crypto host call. Signing runs about once an hour per worker (the
// OAuth token it buys is cached), so clarity wins over speed; it still takes a few milliseconds.
//
// Keys: "-----BEGIN PRIVATE KEY-----" (PKCS#8 PrivateKeyInfo, RFC 5208 / 5958, what Google puts in
// a service-account JSON) and "-----BEGIN RSA PRIVATE KEY-----" (PKCS#1 RSAPrivateKey, RFC 8017
// A.1.2). They are read with a minimal DER reader that checks every length against its enclosing
// element, so a truncated or corrupted key becomes an error value, never an out-of-range access.
// The key is then checked for internal consistency (n = p·q, e·dp ≡ 1 mod p-1, …), because a
// wrong-but-parseable key would otherwise only surface as "invalid_grant" from Google.
//
// Signing uses the CRT (two half-size exponentiations) and then verifies s^e mod n == m before
// releasing s: a fault in one CRT half would otherwise yield a signature from which the key can
// be factored (Boneh–DeMillo–Lipton), and the check costs one short exponentiation.
//
// Error strings name the problem and never contain key bytes.

import { BigNat, Montgomery, add, sub, mul, mod, cmp } from "../util/bigint";
import { base64Decode } from "../util/base64";
import { ByteBuilder, bytesOf, spanEquals } from "../util/bytes";
import { Sha256 } from "../util/sha256";

/** RFC 7518 §3.3: RS256 keys MUST be at least 2048 bits. The upper bound caps the work. */
export const RSA_MIN_BITS: i32 = 2048;
export const RSA_MAX_BITS: i32 = 16384;

// DER tags (X.690 §8): universal, primitive unless noted.
const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30; // constructed

/** Content octets of OID 1.2.840.113549.1.1.1 (rsaEncryption, RFC 8017 A.1). */
const OID_RSA_ENCRYPTION: StaticArray<u8> = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/** DER of DigestInfo { sha256, NULL } up to the digest (RFC 8017 §9.2 note 1). */
const SHA256_DIGEST_INFO: StaticArray<u8> = [
  0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
  0x00, 0x04, 0x20,
];

export class RsaPrivateKey {
  // The RSAPrivateKey fields (RFC 8017 A.1.2). Treat them as read-only: the Montgomery contexts
  // below were built from n, p and q. (They are mutable only so tests can corrupt a CRT value
  // and watch the fault check refuse to release the signature.)
  n: BigNat; e: BigNat; d: BigNat;
  p: BigNat; q: BigNat;
  dp: BigNat; dq: BigNat; qinv: BigNat;
  /** Modulus size in bits, and in bytes (= signature length). */
  bits: i32;
  size: i32;
  private ctxN: Montgomery;
  private ctxP: Montgomery;
  private ctxQ: Montgomery;
  private hasher: Sha256 = new Sha256();

  constructor(
    n: BigNat, e: BigNat, d: BigNat, p: BigNat, q: BigNat, dp: BigNat, dq: BigNat, qinv: BigNat,
    ctxN: Montgomery, ctxP: Montgomery, ctxQ: Montgomery,
  ) {
    this.n = n; this.e = e; this.d = d; this.p = p; this.q = q;
    this.dp = dp; this.dq = dq; this.qinv = qinv;
    this.ctxN = ctxN; this.ctxP = ctxP; this.ctxQ = ctxQ;
    const bits = n.bitLength();
    this.bits = bits;
    this.size = (bits + 7) >> 3;
  }

  /**
   * RSASSA-PKCS1-v1_5-SIGN with SHA-256 over msg[start, end) (bounds clamped). The result holds
   * the size-byte signature, or an error if the CRT result failed verification.
   */
  signSha256(msg: Uint8Array, start: i32 = 0, end: i32 = -1): RsaSignResult {
    const digest = this.hasher.update(msg, start, end).digest();
    return this.signSha256Digest(digest);
  }

  /** As signSha256, for a precomputed 32-byte SHA-256 digest. */
  signSha256Digest(digest: Uint8Array): RsaSignResult {
    if (digest.length != 32) return new RsaSignResult(null, "SHA-256 digest must be 32 bytes");
    const k = this.size;
    // EMSA-PKCS1-v1_5 (RFC 8017 §9.2): 00 01 FF…FF 00 DigestInfo H. k >= 256 here (>= 2048-bit
    // keys), far above the 11 + 51 bytes the encoding needs.
    const tLen = SHA256_DIGEST_INFO.length + 32;
    const em = new Uint8Array(k);
    const d = em.dataStart;
    store<u8>(d + 1, 0x01);
    memory.fill(d + 2, 0xff, <usize>(k - tLen - 3));
    memory.copy(d + <usize>(k - tLen), changetype<usize>(SHA256_DIGEST_INFO), <usize>SHA256_DIGEST_INFO.length);
    memory.copy(d + <usize>(k - 32), digest.dataStart, 32);
    const m = BigNat.fromBytesBE(em);

    // RSASP1 with the CRT (RFC 8017 §5.1.2 2.b): m1 = m^dp mod p, m2 = m^dq mod q,
    // h = qinv·(m1 - m2) mod p, s = m2 + q·h. m2 may exceed p when q > p, hence m2 mod p; adding
    // p first keeps the difference non-negative.
    const m1 = this.ctxP.pow(m, this.dp);
    const m2 = this.ctxQ.pow(m, this.dq);
    const diff = sub(add(m1, this.p), this.ctxP.reduce(m2)); // never null: m2 mod p < p <= m1 + p
    const s = diff === null ? m : add(m2, mul(this.q, this.ctxP.mulMod(this.qinv, diff)));

    // Fault check: only a correct signature leaves this function.
    if (diff === null || cmp(s, this.n) >= 0 || !this.ctxN.pow(s, this.e).equals(m)) {
      return new RsaSignResult(null, "RSA signature failed its verification (fault or inconsistent key); discarded");
    }
    const sig = s.toBytesBE(k); // s < n, so it fits in k bytes
    return sig === null ? new RsaSignResult(null, "RSA signature does not fit the modulus size") : new RsaSignResult(sig, "");
  }
}

export class RsaSignResult {
  constructor(public signature: Uint8Array | null, public error: string) {}
  get ok(): bool { return this.signature !== null; }
}

export class RsaKeyResult {
  constructor(public key: RsaPrivateKey | null, public error: string) {}
  get ok(): bool { return this.key !== null; }
}

@inline function keyError(msg: string): RsaKeyResult { return new RsaKeyResult(null, msg); }

// ------------------------------------------------------------------------------------------ DER

/**
 * Reads consecutive TLVs in buf[pos, end). After a successful next(), [cs, ce) is the content of
 * the element just read and pos is past it. Lengths are definite BER lengths of up to 4 bytes;
 * minimal encoding is not insisted on (nothing is signed over the key's encoding).
 */
class Der {
  cs: i32 = 0;
  ce: i32 = 0;
  error: string = "";
  constructor(public buf: Uint8Array, public pos: i32, public end: i32) {}

  get atEnd(): bool { return this.pos >= this.end; }

  /** Tag of the next element, or -1 at the end. */
  peek(): i32 { return this.pos < this.end ? <i32>unchecked(this.buf[this.pos]) : -1; }

  next(tag: u8, what: string): bool {
    let p = this.pos;
    const end = this.end;
    if (p >= end) return this.fail(what + " is missing (truncated key)");
    if (unchecked(this.buf[p]) != tag) return this.fail(what + " has the wrong ASN.1 type");
    p++;
    if (p >= end) return this.fail(what + " is truncated");
    let len = <i32>unchecked(this.buf[p++]);
    if (len >= 0x80) {
      const nb = len & 0x7f;
      if (nb == 0) return this.fail(what + " uses an indefinite length (not DER)");
      if (nb > 3) return this.fail(what + " is too long");
      if (p + nb > end) return this.fail(what + " is truncated");
      len = 0;
      for (let i = 0; i < nb; i++) len = (len << 8) | <i32>unchecked(this.buf[p++]);
    }
    if (len > end - p) return this.fail(what + " is truncated");
    this.cs = p;
    this.ce = p + len;
    this.pos = this.ce;
    return true;
  }

  /** A reader over the content of the element just read. */
  inner(): Der { return new Der(this.buf, this.cs, this.ce); }

  /** A non-negative INTEGER. */
  integer(what: string): BigNat | null {
    if (!this.next(TAG_INTEGER, what)) return null;
    if (this.ce == this.cs) { this.fail(what + " is an empty INTEGER"); return null; }
    if ((unchecked(this.buf[this.cs]) & 0x80) != 0) { this.fail(what + " is negative"); return null; }
    return BigNat.fromBytesBE(this.buf, this.cs, this.ce);
  }

  /** A small non-negative INTEGER (version fields), or -1 with error set. */
  smallInt(what: string): i32 {
    const v = this.integer(what);
    if (v === null) return -1;
    if (v.size > 1 || (v.size == 1 && unchecked(v.limbs[0]) > 0xffff)) { this.fail(what + " is out of range"); return -1; }
    return v.size == 0 ? 0 : <i32>unchecked(v.limbs[0]);
  }

  fail(msg: string): bool {
    if (this.error.length == 0) this.error = msg;
    return false;
  }
}

// ------------------------------------------------------------------------------------ key parsing

/** PKCS#1 RSAPrivateKey DER (the body of "-----BEGIN RSA PRIVATE KEY-----"). */
export function parsePkcs1Der(der: Uint8Array, start: i32 = 0, end: i32 = -1): RsaKeyResult {
  if (end < 0 || end > der.length) end = der.length;
  if (start < 0 || start > end) start = end;
  const top = new Der(der, start, end);
  if (!top.next(TAG_SEQUENCE, "RSAPrivateKey")) return keyError(top.error);
  if (!top.atEnd) return keyError("unexpected data after RSAPrivateKey");
  const r = top.inner();
  const version = r.smallInt("RSAPrivateKey version");
  if (version < 0) return keyError(r.error);
  if (version == 1) return keyError("multi-prime RSA keys are not supported");
  if (version != 0) return keyError("RSAPrivateKey version is not 0");
  const n = r.integer("modulus");
  const e = r.integer("publicExponent");
  const d = r.integer("privateExponent");
  const p = r.integer("prime1");
  const q = r.integer("prime2");
  const dp = r.integer("exponent1");
  const dq = r.integer("exponent2");
  const qinv = r.integer("coefficient");
  if (n === null || e === null || d === null || p === null || q === null || dp === null || dq === null || qinv === null) {
    return keyError(r.error);
  }
  if (!r.atEnd) return keyError("unexpected data after RSAPrivateKey coefficient");
  return checkedKey(n, e, d, p, q, dp, dq, qinv);
}

/** PKCS#8 PrivateKeyInfo / OneAsymmetricKey DER (the body of "-----BEGIN PRIVATE KEY-----"). */
export function parsePkcs8Der(der: Uint8Array, start: i32 = 0, end: i32 = -1): RsaKeyResult {
  if (end < 0 || end > der.length) end = der.length;
  if (start < 0 || start > end) start = end;
  const top = new Der(der, start, end);
  if (!top.next(TAG_SEQUENCE, "PrivateKeyInfo")) return keyError(top.error);
  if (!top.atEnd) return keyError("unexpected data after PrivateKeyInfo");
  const r = top.inner();
  const version = r.smallInt("PrivateKeyInfo version");
  if (version < 0) return keyError(r.error);
  if (version > 1) return keyError("PrivateKeyInfo version is not 0 or 1"); // 1: RFC 5958 v2
  if (!r.next(TAG_SEQUENCE, "privateKeyAlgorithm")) return keyError(r.error);
  const alg = r.inner();
  if (!alg.next(TAG_OID, "privateKeyAlgorithm OID")) return keyError(alg.error);
  if (!spanIs(der, alg.cs, alg.ce, OID_RSA_ENCRYPTION)) {
    return keyError("private key algorithm is not rsaEncryption (1.2.840.113549.1.1.1)");
  }
  // Parameters: NULL per RFC 8017 A.1; some encoders omit them.
  if (!alg.atEnd) {
    if (!alg.next(TAG_NULL, "rsaEncryption parameters") || alg.ce != alg.cs) return keyError("rsaEncryption parameters are not NULL");
    if (!alg.atEnd) return keyError("unexpected data in privateKeyAlgorithm");
  }
  if (!r.next(TAG_OCTET_STRING, "privateKey")) return keyError(r.error);
  const ks = r.cs, ke = r.ce;
  // Optional [0] attributes and [1] publicKey (RFC 5958) may follow. They are not needed, but
  // anything else there means the structure was misread, so it is rejected.
  while (!r.atEnd) {
    const tag = r.peek();
    if (tag != 0xa0 && tag != 0x81 && tag != 0xa1) return keyError("unexpected data in PrivateKeyInfo");
    if (!r.next(<u8>tag, "PrivateKeyInfo attributes/publicKey")) return keyError(r.error);
  }
  return parsePkcs1Der(der, ks, ke);
}

/** Accepts the parsed integers after the consistency checks, building the Montgomery contexts. */
function checkedKey(n: BigNat, e: BigNat, d: BigNat, p: BigNat, q: BigNat, dp: BigNat, dq: BigNat, qinv: BigNat): RsaKeyResult {
  const bits = n.bitLength();
  if (bits < RSA_MIN_BITS) return keyError("RSA modulus is " + bits.toString() + " bits; RS256 needs at least 2048");
  if (bits > RSA_MAX_BITS) return keyError("RSA modulus is " + bits.toString() + " bits; at most 16384 are supported");
  const one = BigNat.fromU32(1);
  if (!e.isOdd || e.bitLength() < 2 || cmp(e, n) >= 0) return keyError("RSA public exponent is invalid");
  if (!p.isOdd || !q.isOdd || p.bitLength() < 2 || q.bitLength() < 2) return keyError("RSA primes are invalid");
  if (!mul(p, q).equals(n)) return keyError("RSA key is inconsistent: modulus != prime1 × prime2");
  if (cmp(d, n) >= 0 || cmp(dp, p) >= 0 || cmp(dq, q) >= 0 || cmp(qinv, p) >= 0) {
    return keyError("RSA key is inconsistent: a private value is out of range");
  }
  const p1 = sub(p, one), q1 = sub(q, one);
  if (p1 === null || q1 === null) return keyError("RSA primes are invalid"); // p, q >= 3: unreachable
  // dp, dq must invert e modulo p-1, q-1 (else the CRT halves are not e-th roots) and agree with
  // d; qinv must invert q modulo p (else the recombination is wrong).
  if (!modIs(mul(e, dp), p1, one) || !modIs(mul(e, dq), q1, one)) {
    return keyError("RSA key is inconsistent: exponent1/exponent2 do not invert the public exponent");
  }
  if (!modIs(d, p1, dp) || !modIs(d, q1, dq)) {
    return keyError("RSA key is inconsistent: privateExponent does not match exponent1/exponent2");
  }
  if (!modIs(mul(q, qinv), p, one)) return keyError("RSA key is inconsistent: coefficient is not prime2^-1 mod prime1");
  const ctxN = Montgomery.create(n), ctxP = Montgomery.create(p), ctxQ = Montgomery.create(q);
  if (ctxN === null || ctxP === null || ctxQ === null) return keyError("RSA primes are invalid"); // odd, > 1: unreachable
  return new RsaKeyResult(new RsaPrivateKey(n, e, d, p, q, dp, dq, qinv, ctxN, ctxP, ctxQ), "");
}

/** x mod m == v (false for m == 0). */
function modIs(x: BigNat, m: BigNat, v: BigNat): bool {
  const r = mod(x, m);
  return r !== null && r.equals(v);
}

function spanIs(buf: Uint8Array, start: i32, end: i32, lit: StaticArray<u8>): bool {
  const n = lit.length;
  if (end - start != n || start < 0 || end > buf.length) return false;
  for (let i = 0; i < n; i++) if (unchecked(buf[start + i]) != unchecked(lit[i])) return false;
  return true;
}

// ------------------------------------------------------------------------------------------ PEM

const BEGIN = "-----BEGIN ";
const DASHES = "-----";

/** First index >= from where src[i, i + lit.length) == lit, or -1. */
function find(src: Uint8Array, from: i32, end: i32, lit: string): i32 {
  const n = lit.length;
  for (let i = from; i + n <= end; i++) if (spanEquals(src, i, i + n, lit)) return i;
  return -1;
}

/**
 * An RSA private key from PEM text in src[start, end): the first "-----BEGIN …-----" block must be
 * PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY (PKCS#1). Besides real line breaks, the body may carry
 * literal two-character "\n" / "\r" escapes, as keys copied out of JSON into environment variables
 * or YAML often do.
 */
export function parseRsaPrivateKeyPemBytes(src: Uint8Array, start: i32 = 0, end: i32 = -1): RsaKeyResult {
  if (end < 0 || end > src.length) end = src.length;
  if (start < 0 || start > end) start = end;
  const b = find(src, start, end, BEGIN);
  if (b < 0) return keyError("no PEM \"-----BEGIN\" line found");
  const labelStart = b + BEGIN.length;
  const labelEnd = find(src, labelStart, end, DASHES);
  if (labelEnd < 0) return keyError("PEM BEGIN line is not terminated");
  let pkcs8 = false;
  if (spanEquals(src, labelStart, labelEnd, "PRIVATE KEY")) pkcs8 = true;
  else if (spanEquals(src, labelStart, labelEnd, "RSA PRIVATE KEY")) pkcs8 = false;
  else if (spanEquals(src, labelStart, labelEnd, "ENCRYPTED PRIVATE KEY")) return keyError("encrypted private keys are not supported");
  else return keyError("PEM block is not a PRIVATE KEY or RSA PRIVATE KEY");
  const bodyStart = labelEnd + DASHES.length;
  const endLine = "-----END " + (pkcs8 ? "PRIVATE KEY" : "RSA PRIVATE KEY") + DASHES;
  const bodyEnd = find(src, bodyStart, end, endLine);
  if (bodyEnd < 0) return keyError("PEM END line is missing");

  // Copy the body without literal \n / \r escapes; base64Decode skips real whitespace itself.
  const body = new ByteBuilder(bodyEnd - bodyStart);
  for (let i = bodyStart; i < bodyEnd; i++) {
    const c = unchecked(src[i]);
    if (c == 0x5c && i + 1 < bodyEnd) {
      const nx = unchecked(src[i + 1]);
      if (nx == 0x6e || nx == 0x72) { i++; continue; }
    }
    // RFC 1421 headers ("Proc-Type: 4,ENCRYPTED", "DEK-Info: …") only occur in encrypted PKCS#1.
    if (c == 0x3a) return keyError("PEM headers are not supported (encrypted key?)");
    body.byte(c);
  }
  const der = base64Decode(body.buf, 0, body.len);
  if (der === null) return keyError("PEM body is not valid base64");
  return pkcs8 ? parsePkcs8Der(der) : parsePkcs1Der(der);
}

export function parseRsaPrivateKeyPem(pem: string): RsaKeyResult {
  const src = bytesOf(pem);
  return parseRsaPrivateKeyPemBytes(src, 0, src.length);
}
