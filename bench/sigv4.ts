// The two SigV4 signers bench/run.ts compares (scenario "s"):
//   WasmSigV4   assembly/auth/sigv4.ts compiled alone (bench/wasm/sigv4.ts, build/bench-sigv4.wasm)
//               and run through plain WebAssembly instantiation: no proxy-wasm host involved
//   NodeSigV4   the same signature with node:crypto (OpenSSL SHA-256/HMAC), written from the AWS
//               algorithm (canonical request → string to sign → HMAC chain), not from the wasm
//               signer; `cacheKey` keeps the derived signing key per (secret, day, region,
//               service) as the wasm signer does, so both do the same work per request
// Both sign the same request shape the filter will send to bedrock-runtime: content-type and host
// signed, plus the signer-owned x-amz-date and x-amz-content-sha256.

import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";

export interface SigV4Input {
  method: string;
  /** Wire ":path" (already percent-encoded), may carry a query. */
  path: string;
  host: string;
  contentType: string;
  body: Uint8Array;
  region: string;
  service: string;
  /** YYYYMMDDTHHMMSSZ */
  amzDate: string;
  accessKeyId: string;
  secretAccessKey: string;
}

// ------------------------------------------------------------------------------------ node:crypto

const isUnreserved = (b: number) => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;

/** SigV4 UriEncode of a string's UTF-8 bytes ('/' encoded too). */
function uriEncode(s: string): string {
  let out = "";
  for (const b of Buffer.from(s, "utf8")) out += isUnreserved(b) ? String.fromCharCode(b) : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  return out;
}

/** Non-S3 canonical URI: dot and empty segments removed, each segment encoded once more. */
function canonicalUri(path: string): string {
  const kept: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") kept.pop(); else kept.push(seg);
  }
  return "/" + kept.map(uriEncode).join("/") + (kept.length > 0 && path.endsWith("/") ? "/" : "");
}

function canonicalQuery(query: string): string {
  if (!query) return "";
  const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, " "));
  const pairs = query.split("&").filter((kv) => kv).map((kv) => {
    const i = kv.indexOf("=");
    return [uriEncode(dec(i < 0 ? kv : kv.slice(0, i))), uriEncode(dec(i < 0 ? "" : kv.slice(i + 1)))];
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();
const trimValue = (v: string) => v.trim().replace(/\s+/g, " ");

export class NodeSigV4 {
  private keys = new Map<string, Buffer>();
  keyDerivations = 0;
  constructor(readonly cacheKey: boolean) {}

  private signingKey(secret: string, day: string, region: string, service: string): Buffer {
    const id = `${secret}\n${day}\n${region}\n${service}`;
    let k = this.cacheKey ? this.keys.get(id) : undefined;
    if (!k) {
      k = hmac(hmac(hmac(hmac("AWS4" + secret, day), region), service), "aws4_request");
      this.keyDerivations++;
      if (this.cacheKey) this.keys.set(id, k);
    }
    return k;
  }

  /** The authorization header value. */
  sign(r: SigV4Input): string {
    const payloadHash = createHash("sha256").update(r.body).digest("hex");
    const q = r.path.indexOf("?");
    const path = q < 0 ? r.path : r.path.slice(0, q), query = q < 0 ? "" : r.path.slice(q + 1);
    const headers: [string, string][] = [
      ["content-type", trimValue(r.contentType)], ["host", trimValue(r.host)],
      ["x-amz-content-sha256", payloadHash], ["x-amz-date", r.amzDate],
    ];
    headers.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const signedHeaders = headers.map(([n]) => n).join(";");
    const creq = `${r.method}\n${canonicalUri(path)}\n${canonicalQuery(query)}\n${headers.map(([n, v]) => `${n}:${v}\n`).join("")}\n${signedHeaders}\n${payloadHash}`;
    const day = r.amzDate.slice(0, 8);
    const scope = `${day}/${r.region}/${r.service}/aws4_request`;
    const sts = `AWS4-HMAC-SHA256\n${r.amzDate}\n${scope}\n${createHash("sha256").update(creq).digest("hex")}`;
    const signature = createHmac("sha256", this.signingKey(r.secretAccessKey, day, r.region, r.service)).update(sts).digest("hex");
    return `AWS4-HMAC-SHA256 Credential=${r.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  }
}

// ------------------------------------------------------------------------------------ wasm

interface SigV4Exports {
  memory: WebAssembly.Memory;
  _initialize(): void;
  scratch(len: number): number;
  setParam(i: number): void;
  setBody(): void;
  sign(): number;
  authorizationPtr(): number;
  authorizationLen(): number;
  keyDerivations(): number;
}

/** Parameter indexes of bench/wasm/sigv4.ts. */
const P = { akid: 0, secret: 1, token: 2, region: 3, service: 4, date: 5, method: 6, path: 7, host: 8, contentType: 9 };

export class WasmSigV4 {
  private constructor(private x: SigV4Exports) {}

  static async load(wasm: string): Promise<WasmSigV4> {
    const module = await WebAssembly.compile(readFileSync(wasm));
    const imports = WebAssembly.Module.imports(module);
    if (imports.length) throw new Error(`${wasm} imports ${imports.map((i) => `${i.module}.${i.name}`).join(", ")}: the bench entry must be pure`);
    const instance = await WebAssembly.instantiate(module, {});
    const x = instance.exports as unknown as SigV4Exports;
    x._initialize();
    return new WasmSigV4(x);
  }

  private put(bytes: Uint8Array): void {
    const p = this.x.scratch(bytes.length);
    new Uint8Array(this.x.memory.buffer, p, bytes.length).set(bytes);
  }

  setRequest(r: SigV4Input): void {
    const s = (i: number, v: string) => { this.put(Buffer.from(v, "utf8")); this.x.setParam(i); };
    s(P.akid, r.accessKeyId); s(P.secret, r.secretAccessKey); s(P.token, ""); s(P.region, r.region); s(P.service, r.service);
    s(P.date, r.amzDate); s(P.method, r.method); s(P.path, r.path); s(P.host, r.host); s(P.contentType, r.contentType);
    this.put(r.body);
    this.x.setBody();
  }

  /** Signs the current request (a fresh SigV4Request inside, the one signer reused). */
  sign(): void {
    if (this.x.sign() !== 1) throw new Error("the wasm signer refused the request");
  }

  authorization(): string {
    return Buffer.from(new Uint8Array(this.x.memory.buffer, this.x.authorizationPtr(), this.x.authorizationLen())).toString("utf8");
  }

  get keyDerivations(): number { return this.x.keyDerivations(); }
}
