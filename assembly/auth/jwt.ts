// Google service-account credentials and the signed JWT that buys an OAuth access token for
// Vertex AI ("Using OAuth 2.0 for Server to Server Applications"; the JWT bearer grant of
// RFC 7523 §2.1). The caller POSTs
//   grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<token>
// to the account's token_uri with the host's http_call and caches the access token it gets back;
// this module only parses the key file and builds the assertion, with no host calls.
//
// The token is base64url(header) "." base64url(claims) "." base64url(RS256 signature), where
//   header = {"alg":"RS256","typ":"JWT","kid":private_key_id}
//   claims = {"iss":client_email,"scope":scopes,"aud":token_uri,"iat":now,"exp":now+3600}
// in exactly that member order (RS256 is deterministic, so the tests pin whole tokens). Google
// accepts at most one hour between iat and exp.
//
// Errors never quote the key file's values: the private key is a secret, and the other values
// are not needed to diagnose a wrong field.

import { parseJson, JNode, Kind } from "../json/json";
import { ByteBuilder, bytesOf } from "../util/bytes";
import { appendBase64 } from "../util/base64";
import { RsaPrivateKey, parseRsaPrivateKeyPemBytes } from "./rsa";

export const GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token";
/** Scope for Vertex AI (and every other Google Cloud API). */
export const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";
/** exp - iat: Google's maximum. */
export const JWT_LIFETIME_SECONDS: i64 = 3600;
/** The grant_type to send along with the assertion (RFC 7523 §2.1). */
export const JWT_BEARER_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer";

export class ServiceAccount {
  clientEmail: string = "";
  /** "" when the key file has none; the JWT header then carries no kid. */
  privateKeyId: string = "";
  tokenUri: string = GOOGLE_TOKEN_URI;
  /** "" when absent; Vertex AI URLs need it, so it is kept for the caller. */
  projectId: string = "";
  key: RsaPrivateKey;
  /** base64url of the JWT header: the same for every assertion of this account. */
  headerB64: string = "";

  constructor(key: RsaPrivateKey) { this.key = key; }
}

export class ServiceAccountResult {
  constructor(public account: ServiceAccount | null, public error: string) {}
  get ok(): bool { return this.account !== null; }
}

export class JwtResult {
  constructor(public token: string, public error: string) {}
  get ok(): bool { return this.error.length == 0; }
}

@inline function saError(msg: string): ServiceAccountResult { return new ServiceAccountResult(null, msg); }

/**
 * A service-account key file (the JSON downloaded from IAM). Requires "type": "service_account",
 * "client_email" and an RSA "private_key"; "private_key_id", "project_id" and "token_uri"
 * (default https://oauth2.googleapis.com/token) are optional. Other members are ignored.
 */
export function parseServiceAccountJson(src: Uint8Array): ServiceAccountResult {
  const doc = parseJson(src);
  if (!doc.ok) return saError("service account JSON is invalid: " + doc.error + " at byte " + doc.errorAt.toString());
  const root = doc.root;
  if (root === null || root.kind != Kind.Obj) return saError("service account JSON is not an object");
  if (!doc.strIs(doc.get(root, "type"), "service_account")) {
    return saError("\"type\" is not \"service_account\" (only service-account keys are supported)");
  }
  const email = doc.get(root, "client_email");
  if (!nonEmptyString(email)) return saError("\"client_email\" is missing or not a non-empty string");
  const pk = doc.get(root, "private_key");
  if (pk === null || !nonEmptyString(pk)) return saError("\"private_key\" is missing or not a non-empty string");
  const kid = doc.get(root, "private_key_id");
  if (kid !== null && kid.kind != Kind.Str) return saError("\"private_key_id\" is not a string");
  const uri = doc.get(root, "token_uri");
  if (uri !== null && uri.kind != Kind.Str) return saError("\"token_uri\" is not a string");
  const project = doc.get(root, "project_id");
  if (project !== null && project.kind != Kind.Str) return saError("\"project_id\" is not a string");

  // The JSON string is decoded first (its "\n" escapes become line breaks) straight into bytes.
  const pem = doc.strSpan(pk);
  const parsed = parseRsaPrivateKeyPemBytes(pem.buf, pem.start, pem.end);
  const key = parsed.key;
  if (key === null) return saError("\"private_key\": " + parsed.error);

  const sa = new ServiceAccount(key);
  sa.clientEmail = doc.str(email);
  sa.privateKeyId = doc.str(kid);
  const tokenUri = doc.str(uri);
  if (tokenUri.length > 0) sa.tokenUri = tokenUri;
  sa.projectId = doc.str(project);

  const h = new ByteBuilder(96);
  h.str("{\"alg\":\"RS256\",\"typ\":\"JWT\"");
  if (sa.privateKeyId.length > 0) { h.str(",\"kid\":"); h.jsonString(sa.privateKeyId); }
  h.byte(0x7d);
  const hb = new ByteBuilder(128);
  appendBase64(hb, h.buf, 0, h.len, true);
  sa.headerB64 = hb.toString();
  return new ServiceAccountResult(sa, "");
}

export function parseServiceAccount(json: string): ServiceAccountResult {
  return parseServiceAccountJson(bytesOf(json));
}

function nonEmptyString(n: JNode | null): bool { return n !== null && n.kind == Kind.Str && n.end - n.start > 2; }

/**
 * The signed assertion for `scope` (space-separated scopes, e.g. CLOUD_PLATFORM_SCOPE) issued at
 * unix time `now` (seconds) and valid for JWT_LIFETIME_SECONDS.
 */
export function buildJwtAssertion(sa: ServiceAccount, scope: string, now: i64): JwtResult {
  if (scope.length == 0) return new JwtResult("", "scope is empty");
  if (now < 0) return new JwtResult("", "issue time is negative");
  const claims = new ByteBuilder(256);
  claims.str("{\"iss\":"); claims.jsonString(sa.clientEmail);
  claims.str(",\"scope\":"); claims.jsonString(scope);
  claims.str(",\"aud\":"); claims.jsonString(sa.tokenUri);
  claims.str(",\"iat\":"); claims.int(now);
  claims.str(",\"exp\":"); claims.int(now + JWT_LIFETIME_SECONDS);
  claims.byte(0x7d);

  const out = new ByteBuilder(sa.headerB64.length + (claims.len << 1) + sa.key.size * 2);
  out.str(sa.headerB64);
  out.byte(0x2e);
  appendBase64(out, claims.buf, 0, claims.len, true);
  // The signing input is everything so far (RFC 7515 §5.1: ASCII(header "." payload)).
  const sig = sa.key.signSha256(out.buf, 0, out.len);
  const s = sig.signature;
  if (s === null) return new JwtResult("", sig.error);
  out.byte(0x2e);
  appendBase64(out, s, 0, s.length, true);
  return new JwtResult(out.toString(), "");
}
