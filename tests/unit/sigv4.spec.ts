// SigV4 signing: table-driven over the official AWS SigV4 test suite (botocore and aws-c-auth
// copies, tests/fixtures/sigv4) and two Bedrock Converse requests whose expectations come from the
// Node reference in tests/fixtures/sigv4/gen.mjs (itself checked against the official vectors, and
// the Bedrock signatures re-checked with botocore's SigV4Auth). The remaining tests pin behaviour the
// suite does not cover: signer reuse, the signing-key cache, refusal of bad input, query decoding.

import {
  SigV4Signer, SigV4Request, SigV4Credentials, SigV4Result,
} from "../../assembly/auth/sigv4";
import { sha256 } from "../../assembly/util/sha256";
import { hexEncode } from "../../assembly/util/hex";
import { bytesOf } from "../../assembly/util/bytes";
import { SIGV4_TABLE, SIGV4_FIELDS } from "./sigv4-vectors";

/** One row of the generated table (field order: see the include's header comment). */
class SigV4Vector {
  name: string = ""; method: string = ""; path: string = ""; query: string = "";
  headers: string[] = []; body: string = "";
  region: string = ""; service: string = ""; amzDate: string = "";
  akid: string = ""; secret: string = ""; token: string = "";
  normalize: bool = true; addContentSha256: bool = false; signSessionToken: bool = true;
  creq: string = ""; sts: string = ""; authz: string = "";
  /** [name, value, …] the signer must hand back to set; empty when the suite does not publish it. */
  expectHeaders: string[] = [];
}

function pairs(s: string): string[] {
  return s.length == 0 ? [] : s.split("\0");
}

function sigv4Vectors(): SigV4Vector[] {
  const t = SIGV4_TABLE;
  const out = new Array<SigV4Vector>();
  for (let r = 0; r + SIGV4_FIELDS <= t.length; r += SIGV4_FIELDS) {
    const v = new SigV4Vector();
    v.name = t[r]; v.method = t[r + 1]; v.path = t[r + 2]; v.query = t[r + 3];
    v.headers = pairs(t[r + 4]); v.body = t[r + 5];
    v.region = t[r + 6]; v.service = t[r + 7]; v.amzDate = t[r + 8];
    v.akid = t[r + 9]; v.secret = t[r + 10]; v.token = t[r + 11];
    const flags = t[r + 12];
    v.normalize = flags.charAt(0) == "1";
    v.addContentSha256 = flags.charAt(1) == "1";
    v.signSessionToken = flags.charAt(2) == "1";
    v.creq = t[r + 13]; v.sts = t[r + 14]; v.authz = t[r + 15];
    v.expectHeaders = pairs(t[r + 16]);
    out.push(v);
  }
  return out;
}

function requestOf(v: SigV4Vector): SigV4Request {
  const r = new SigV4Request();
  r.method = v.method;
  r.path = v.path;
  r.query = v.query;
  for (let i = 0; i + 1 < v.headers.length; i += 2) r.header(v.headers[i], v.headers[i + 1]);
  r.setBody(bytesOf(v.body));
  r.region = v.region;
  r.service = v.service;
  r.amzDate = v.amzDate;
  r.normalizePath = v.normalize;
  r.addContentSha256 = v.addContentSha256;
  r.signSessionToken = v.signSessionToken;
  return r;
}

function credsOf(v: SigV4Vector): SigV4Credentials {
  return new SigV4Credentials(v.akid, v.secret, v.token);
}

/** Value of a header in a flattened [name, value, …] list, or "<absent>". */
function headerIn(list: string[], name: string): string {
  for (let i = 0; i + 1 < list.length; i += 2) if (list[i] == name) return list[i + 1];
  return "<absent>";
}

/** Signs every vector whose name starts with prefix; returns how many were checked. */
function runVectors(prefix: string): i32 {
  const vs = sigv4Vectors();
  const signer = new SigV4Signer();
  let n = 0;
  for (let i = 0; i < vs.length; i++) {
    const v = vs[i];
    if (!v.name.startsWith(prefix)) continue;
    n++;
    const r = signer.sign(requestOf(v), credsOf(v));
    expect(r.ok).toBe(true, v.name + ": " + r.error);
    expect(signer.lastCanonicalRequest()).toBe(v.creq, v.name + " canonical request");
    expect(signer.lastStringToSign()).toBe(v.sts, v.name + " string to sign");
    expect(r.authorization).toBe(v.authz, v.name + " authorization");
    expect(headerIn(r.headersToSet, "authorization")).toBe(v.authz, v.name + " authorization header");
    expect(headerIn(r.headersToSet, "x-amz-date")).toBe(v.amzDate, v.name + " x-amz-date");
    // Where the suite publishes the signed request, the added headers must be exactly those.
    const eh = v.expectHeaders;
    if (eh.length > 0) {
      expect(r.headersToSet.length).toBe(eh.length, v.name + " number of headers to set");
      for (let j = 0; j + 1 < eh.length; j += 2) {
        expect(headerIn(r.headersToSet, eh[j])).toBe(eh[j + 1], v.name + " header " + eh[j]);
      }
    }
  }
  return n;
}

function vector(name: string): SigV4Vector {
  const vs = sigv4Vectors();
  for (let i = 0; i < vs.length; i++) if (vs[i].name == name) return vs[i];
  return new SigV4Vector();
}

describe("SigV4 official test suite", () => {
  it("matches every botocore aws4_testsuite vector (canonical request, string to sign, authorization)", () => {
    expect(runVectors("aws4_testsuite/")).toBe(34);
  });

  it("matches every aws-c-auth v4 vector, incl. unnormalized paths, signed body and late session token", () => {
    expect(runVectors("aws-c-auth-v4/")).toBe(38);
  });
});

describe("SigV4 Bedrock Converse", () => {
  it("signs Converse / ConverseStream requests like botocore", () => {
    expect(runVectors("bedrock/")).toBe(2);
  });

  it("double-encodes the escaped model id in the canonical URI only", () => {
    const v = vector("bedrock/bedrock-converse");
    const signer = new SigV4Signer();
    const r = signer.sign(requestOf(v), credsOf(v));
    expect(r.ok).toBe(true);
    const lines = signer.lastCanonicalRequest().split("\n");
    expect(lines[1]).toBe("/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse");
    expect(r.payloadHash).toBe(hexEncode(sha256(bytesOf(v.body))));
    expect(headerIn(r.headersToSet, "x-amz-content-sha256")).toBe(r.payloadHash);
    expect(headerIn(r.headersToSet, "x-amz-security-token")).toBe("<absent>");
  });

  it("hashes only the body span it is given", () => {
    const v = vector("bedrock/bedrock-converse");
    const framed = bytesOf("xx" + v.body + "yyy");
    const req = requestOf(v);
    req.setBody(framed, 2, framed.length - 3);
    const r = new SigV4Signer().sign(req, credsOf(v));
    expect(r.authorization).toBe(v.authz);
  });
});

describe("SigV4 signer state", () => {
  it("gives identical results when one signer is reused across different requests", () => {
    const vs = sigv4Vectors();
    const shared = new SigV4Signer();
    // Sign everything twice in opposite orders with one signer; each must match a fresh signer.
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < vs.length; k++) {
        const v = vs[pass == 0 ? k : vs.length - 1 - k];
        const a = shared.sign(requestOf(v), credsOf(v));
        expect(a.authorization).toBe(v.authz, v.name);
      }
    }
  });

  it("derives the signing key once per (secret, day, region, service)", () => {
    const v = vector("bedrock/bedrock-converse");
    const s = new SigV4Signer();
    const req = requestOf(v);
    const creds = credsOf(v);
    s.sign(req, creds);
    expect(s.keyDerivations).toBe(1);
    req.amzDate = "20250101T235959Z"; // same day, later time: cached
    s.sign(req, creds);
    expect(s.keyDerivations).toBe(1);
    req.amzDate = "20250102T000000Z"; // next day: new key
    s.sign(req, creds);
    expect(s.keyDerivations).toBe(2);
    req.region = "us-west-2";
    s.sign(req, creds);
    expect(s.keyDerivations).toBe(3);
    const other = new SigV4Credentials(creds.accessKeyId, creds.secretAccessKey + "x");
    s.sign(req, other);
    expect(s.keyDerivations).toBe(4);
    // Back to the very first combination: still cached (four entries), and still correct.
    req.amzDate = v.amzDate;
    req.region = v.region;
    const r = s.sign(req, creds);
    expect(s.keyDerivations).toBe(4);
    expect(r.authorization).toBe(v.authz);
    expect(s.cachedKeyCount()).toBe(4);
    // A fifth combination evicts the oldest entry (the first one): the cache stays bounded, the
    // first combination is derived again, and results stay correct.
    req.service = "bedrock-agent";
    s.sign(req, creds);
    expect(s.keyDerivations).toBe(5);
    expect(s.cachedKeyCount()).toBe(4);
    req.service = v.service;
    for (let i = 0; i < 3; i++) expect(s.sign(req, creds).authorization).toBe(v.authz);
    expect(s.keyDerivations).toBe(6);
  });
});

describe("SigV4 refuses bad input without trapping", () => {
  it("rejects malformed dates, missing host, missing credentials", () => {
    const v = vector("bedrock/bedrock-converse");
    const s = new SigV4Signer();
    const bad = ["", "20250101", "20250101T000000", "2025-01-01T00:00:00Z", "20250101X000000Z", "2025010aT000000Z", "20250101T000000z"];
    for (let i = 0; i < bad.length; i++) {
      const req = requestOf(v);
      req.amzDate = bad[i];
      const r = s.sign(req, credsOf(v));
      expect(r.ok).toBe(false, bad[i]);
      expect(r.authorization).toBe("");
    }
    const noHost = requestOf(v);
    noHost.headers = ["content-type", "application/json"];
    expect(s.sign(noHost, credsOf(v)).ok).toBe(false);
    expect(s.sign(requestOf(v), new SigV4Credentials("", "secret")).ok).toBe(false);
    expect(s.sign(requestOf(v), new SigV4Credentials("AKID", "")).ok).toBe(false);
    const noRegion = requestOf(v);
    noRegion.region = "";
    expect(s.sign(noRegion, credsOf(v)).ok).toBe(false);
    // An odd trailing header name without a value is ignored rather than read out of bounds.
    const odd = requestOf(v);
    odd.headers.push("x-dangling");
    expect(s.sign(odd, credsOf(v)).authorization).toBe(v.authz);
  });
});

/** Canonical query line for a wire query string (other request fields fixed). */
function canonicalQuery(q: string): string {
  const r = new SigV4Request();
  r.method = "GET";
  r.path = "/";
  r.query = q;
  r.header("host", "example.amazonaws.com");
  r.region = "us-east-1";
  r.service = "service";
  r.amzDate = "20150830T123600Z";
  const s = new SigV4Signer();
  const res: SigV4Result = s.sign(r, new SigV4Credentials("AKIDEXAMPLE", "secret"));
  expect(res.ok).toBe(true);
  return s.lastCanonicalRequest().split("\n")[2];
}

/** Canonical URI line for a wire path. */
function canonicalPath(p: string, normalize: bool): string {
  const r = new SigV4Request();
  r.method = "GET";
  r.path = p;
  r.normalizePath = normalize;
  r.header("host", "example.amazonaws.com");
  r.region = "us-east-1";
  r.service = "service";
  r.amzDate = "20150830T123600Z";
  const s = new SigV4Signer();
  s.sign(r, new SigV4Credentials("AKIDEXAMPLE", "secret"));
  return s.lastCanonicalRequest().split("\n")[1];
}

describe("SigV4 canonical headers", () => {
  it("trims and collapses whitespace in non-ASCII values too, and signs them as UTF-8", () => {
    const r = new SigV4Request();
    r.method = "GET";
    r.header("Host", "example.amazonaws.com");
    r.header("X-Note", " \t caf\u00e9 \n  au   lait  ");
    r.header("X-Plain", "  a \t b  ");
    r.addContentSha256 = false;
    r.region = "us-east-1";
    r.service = "service";
    r.amzDate = "20150830T123600Z";
    const s = new SigV4Signer();
    expect(s.sign(r, new SigV4Credentials("AKIDEXAMPLE", "secret")).ok).toBe(true);
    const lines = s.lastCanonicalRequest().split("\n");
    expect(lines[5]).toBe("x-note:caf\u00e9 au lait");
    expect(lines[6]).toBe("x-plain:a b");
    expect(lines[8]).toBe("host;x-amz-date;x-note;x-plain");
  });
});

describe("SigV4 canonical query and path edge cases", () => {
  it("decodes then re-encodes names and values with the RFC 3986 unreserved set", () => {
    // Expected strings follow the spec's UriEncode: unreserved kept, all else %XX uppercase.
    expect(canonicalQuery("b=2&a=1")).toBe("a=1&b=2");
    expect(canonicalQuery("a=x+y")).toBe("a=x%20y");          // '+' is a space in a query
    expect(canonicalQuery("a=%7e%41")).toBe("a=~A");          // escaped unreserved chars are decoded
    expect(canonicalQuery("a=%2f%3A")).toBe("a=%2F%3A");      // lower-case escapes come out upper-case
    expect(canonicalQuery("a=b=c")).toBe("a=b%3Dc");          // only the first '=' separates
    expect(canonicalQuery("flag")).toBe("flag=");             // no '=' → empty value
    expect(canonicalQuery("a=1&&b=2&")).toBe("a=1&b=2");      // empty pieces are not parameters
    expect(canonicalQuery("a=%zz%4")).toBe("a=%25zz%254");    // malformed escapes stay literal
    expect(canonicalQuery("a=2&a=10&A=3")).toBe("A=3&a=10&a=2"); // byte order, then value order
    expect(canonicalQuery("k=/path")).toBe("k=%2Fpath");      // '/' is encoded in the query
  });

  it("normalises and encodes paths (normalize on / off)", () => {
    expect(canonicalPath("", true)).toBe("/");
    expect(canonicalPath("/a/./b/../c/", true)).toBe("/a/c/");
    expect(canonicalPath("/../..", true)).toBe("/");
    expect(canonicalPath("/a%2Fb", true)).toBe("/a%252Fb");   // an escaped slash stays one segment
    expect(canonicalPath("/a b+c", false)).toBe("/a%20b%2Bc");
    expect(canonicalPath("/a//b", false)).toBe("/a//b");
    expect(canonicalPath("rel", false)).toBe("/rel");
  });
});
