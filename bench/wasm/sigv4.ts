// AssemblyScript bench entry for the SigV4 signer (assembly/auth/sigv4.ts), used by bench/run.ts
// scenario "s". Pure: it imports nothing from the host (the build's `--use abort=abort_proc_exit`
// resolves to the abort below, which traps instead of calling proxy-wasm/WASI), so plain
// `WebAssembly.instantiate(bytes, {})` runs it.
//   node scripts/build.mjs --entry bench/wasm/sigv4.ts --out build/bench-sigv4.wasm
//
// Protocol (all strings/bytes UTF-8 through one scratch buffer in linear memory):
//   p = scratch(len); write len bytes at p; setParam(i)   parameters, indexes below
//   p = scratch(len); write the body at p; setBody()       the request body (copied)
//   sign()                                                 one request signed as the filter would:
//                                                          a fresh SigV4Request, the per-worker signer
//   authorizationPtr()/authorizationLen()                  the last authorization header value

import { SigV4Credentials, SigV4Request, SigV4Signer } from "../../assembly/auth/sigv4";

// @ts-ignore: decorator
@global
export function abort_proc_exit(message: string | null, fileName: string | null, lineNumber: u32, columnNumber: u32): void {
  unreachable();
}

const P_AKID = 0, P_SECRET = 1, P_TOKEN = 2, P_REGION = 3, P_SERVICE = 4, P_DATE = 5,
  P_METHOD = 6, P_PATH = 7, P_HOST = 8, P_CONTENT_TYPE = 9, P_COUNT = 10;

const params = new Array<string>(P_COUNT).fill("");
let scratchBuf = new Uint8Array(0);
let body = new Uint8Array(0);
const signer = new SigV4Signer();
let creds = new SigV4Credentials("", "", "");
let authz = new Uint8Array(0);

/** A buffer of len bytes for the caller to fill; valid until the next scratch() call. */
export function scratch(len: i32): usize {
  scratchBuf = new Uint8Array(len);
  return scratchBuf.dataStart;
}

export function setParam(i: i32): void {
  if (i < 0 || i >= P_COUNT) unreachable();
  params[i] = String.UTF8.decodeUnsafe(scratchBuf.dataStart, <usize>scratchBuf.length);
  creds = new SigV4Credentials(params[P_AKID], params[P_SECRET], params[P_TOKEN]);
}

export function setBody(): void {
  body = scratchBuf.slice(0);
}

/** Signs one request; returns 1 when the signer accepted it. */
export function sign(): i32 {
  const req = new SigV4Request();
  req.method = params[P_METHOD];
  req.setPathAndQuery(params[P_PATH]);
  req.header("content-type", params[P_CONTENT_TYPE]).header("host", params[P_HOST]);
  req.setBody(body);
  req.region = params[P_REGION];
  req.service = params[P_SERVICE];
  req.amzDate = params[P_DATE];
  const r = signer.sign(req, creds);
  if (!r.ok) return 0;
  authz = Uint8Array.wrap(String.UTF8.encode(r.authorization));
  return 1;
}

export function authorizationPtr(): usize { return authz.dataStart; }
export function authorizationLen(): i32 { return authz.length; }
/** Signing-key derivations so far (the signer caches the derived key per secret/day/region/service). */
export function keyDerivations(): i32 { return signer.keyDerivations; }
