// Stage 5, authorize: the headers that send the translated request to the chosen backend with
// that backend's own credential — :path (with a query key), :authority, the route header,
// content-length, the provider's headers, then the credential: an API key (rotating away from
// keys answered with 401/403), a SigV4 signature over the exact bytes and path that go upstream,
// or an OAuth access token (GCP service account, Azure Entra).
//
// Like translate, it takes only the translated request and the chosen backend, so it can run
// once per upstream attempt in Envoy's upstream filter chain as well as downstream.

import { Backend } from "../config/config";
import { AuthKind } from "../config/auth";
import { ApiError } from "../errors";
import { UpstreamRequest } from "../providers/provider";
import { BackendCredentials } from "../filter/credentials";
import { uriEncode } from "../util/hex";

export class Authorized {
  /** Request headers to set, in order, as name, value, … */
  headers: string[] = [];
  /** Index of the backend API key used, for 401/403 penalties (-1: none). */
  keyIndex: i32 = -1;
  /** OAuth backends: no valid token yet, the request must wait for one. */
  waitForToken: bool = false;
  /** OAuth backends: the token is valid but near expiry; fetch the next one now. */
  refreshToken: bool = false;
  error: ApiError | null = null;
}

/**
 * Authorizes `up` for `backend`. `body` is the exact upstream body (`length` bytes), which SigV4
 * signs; `clusterHeader` is the request header the Envoy route reads the cluster from.
 */
export function authorize(backend: Backend, creds: BackendCredentials, up: UpstreamRequest, body: Uint8Array, length: i32,
                          clusterHeader: string, now: i64): Authorized {
  const a = new Authorized();
  const auth = backend.auth;
  const h = a.headers;
  let path = up.path;
  let secretIdx = -1;
  if (auth.rotates) secretIdx = creds.pickKey(now);
  if (auth.kind == AuthKind.Query && secretIdx >= 0) {
    path += (path.includes("?") ? "&" : "?") + auth.param + "=" + uriEncode(auth.secrets[secretIdx], true);
  }
  h.push(":path"); h.push(path);
  h.push(":authority"); h.push(backend.host);
  h.push(clusterHeader); h.push(backend.cluster);
  h.push("content-length"); h.push(length.toString());
  for (let i = 0; i + 1 < up.headers.length; i += 2) { h.push(up.headers[i]); h.push(up.headers[i + 1]); }
  a.keyIndex = secretIdx;
  if ((auth.kind == AuthKind.Bearer || auth.kind == AuthKind.Header) && secretIdx >= 0) { h.push(auth.header); h.push(auth.secrets[secretIdx]); }
  else if (auth.kind == AuthKind.AwsSigV4) {
    // Signed last, over the exact bytes and path that go upstream.
    const signed = creds.sign("POST", path, backend.host, body, length, now);
    if (signed === null) {
      a.error = new ApiError(500, "server_error", "signing_failed", "The gateway could not sign the request for backend " + backend.name + ".");
      return a;
    }
    const set = signed.headersToSet;
    for (let i = 0; i + 1 < set.length; i += 2) { h.push(set[i]); h.push(set[i + 1]); }
  }
  if (auth.usesTokens) {
    const token = creds.currentToken(now);
    if (token.length > 0) {
      h.push("authorization"); h.push("Bearer " + token);
      a.refreshToken = creds.wantsRefresh(now);
    } else a.waitForToken = true;
  }
  return a;
}

/** What a 401/403 from the backend says about the credential that was used. */
export function credentialRefused(backend: Backend, creds: BackendCredentials, keyIndex: i32, now: i64): void {
  if (keyIndex >= 0) creds.markBad(keyIndex, now);
  if (backend.auth.usesTokens) creds.dropToken();
}
