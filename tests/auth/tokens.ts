// OAuth token endpoints for the token-based backends, on 127.0.0.1, behaving like the real ones
// for what the gateway sends: Google's (JWT bearer grant, RFC 7523; the assertion's RS256
// signature is verified with node:crypto against the public half of a key pair generated here)
// and Microsoft Entra's (client credentials grant). Each endpoint counts fetches, can be made to
// delay, fail with 500, answer without a token, or hang, and hands out random tokens that a
// provider mock can check with `valid()`.

import { generateKeyPairSync, verify, randomBytes, type KeyObject } from "node:crypto";
import { Upstream, sleep, type Reply, type Seen } from "./support.ts";

export type TokenMode = "ok" | "500" | "hang" | "no-token";

export interface IssuedToken { token: string; expiresIn: number; at: number }

abstract class TokenEndpoint {
  mode: TokenMode = "ok";
  delayMs = 0;
  /** expires_in of the next tokens, consumed in order; the last one repeats. */
  expiresIn: number[] = [3599];
  readonly issued: IssuedToken[] = [];
  /** Requests the endpoint refused (what the gateway got wrong), with the reason. */
  readonly rejected: string[] = [];
  private revoked = new Set<string>();
  up!: Upstream;

  get port(): number { return this.up.port; }
  /** Token requests received (whatever the answer). */
  get fetches(): number { return this.up.requests.length; }
  get tokens(): string[] { return this.issued.map((t) => t.token); }
  valid(token: string): boolean { return this.issued.some((t) => t.token === token) && !this.revoked.has(token); }
  revoke(token: string): void { this.revoked.add(token); }
  stop(): Promise<void> { return this.up.stop(); }

  protected abstract check(r: Seen): string | null;
  protected abstract prefix: string;

  protected async init(): Promise<this> {
    this.up = await Upstream.start((r) => this.answer(r));
    return this;
  }

  /** The delay runs first: a token counts as issued when it is sent. */
  private async answer(r: Seen): Promise<Reply | "hang"> {
    if (this.mode === "hang") return "hang";
    if (this.delayMs) await sleep(this.delayMs);
    if (this.mode === "500") return { status: 500, body: { error: "internal_failure", error_description: "token service unavailable" } };
    const why = this.check(r);
    if (why) { this.rejected.push(why); return { status: 400, body: { error: "invalid_grant", error_description: why } }; }
    if (this.mode === "no-token") return { status: 200, body: { token_type: "Bearer", expires_in: 3599 } };
    const expiresIn = this.expiresIn.length > 1 ? this.expiresIn.shift()! : this.expiresIn[0];
    const token = `${this.prefix}${randomBytes(24).toString("base64url")}`;
    this.issued.push({ token, expiresIn, at: Date.now() });
    return { status: 200, body: { access_token: token, expires_in: expiresIn, token_type: "Bearer" } };
  }
}

export interface ServiceAccountKey {
  type: "service_account"; project_id: string; private_key_id: string; private_key: string; client_email: string;
  client_id: string; token_uri: string;
}

const b64json = (s: string) => JSON.parse(Buffer.from(s, "base64url").toString("utf8"));

/** Google's token endpoint (token_uri https://oauth2.googleapis.com/token). */
export class GoogleTokenEndpoint extends TokenEndpoint {
  protected prefix = "ya29.";
  readonly key: ServiceAccountKey;
  private publicKey: KeyObject;
  /** Assertions that verified, decoded. */
  readonly claims: any[] = [];

  private constructor(public scope: string) {
    super();
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    this.publicKey = publicKey;
    this.key = {
      type: "service_account", project_id: "auth-test-project", private_key_id: randomBytes(20).toString("hex"),
      private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      client_email: "gateway@auth-test-project.iam.gserviceaccount.com", client_id: "1234567890", token_uri: "https://oauth2.googleapis.com/token",
    };
  }

  static start(scope = "https://www.googleapis.com/auth/cloud-platform"): Promise<GoogleTokenEndpoint> { return new GoogleTokenEndpoint(scope).init(); }

  protected check(r: Seen): string | null {
    if (r.method !== "POST" || r.path !== "/token") return `unexpected ${r.method} ${r.url}`;
    if (r.headers.host !== "oauth2.googleapis.com") return `host ${r.headers.host}`;
    if (!String(r.headers["content-type"]).startsWith("application/x-www-form-urlencoded")) return `content-type ${r.headers["content-type"]}`;
    const form = new URLSearchParams(r.text);
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") return `grant_type ${form.get("grant_type")}`;
    const parts = (form.get("assertion") ?? "").split(".");
    if (parts.length !== 3) return "assertion is not a JWS";
    let header: any, claims: any;
    try { header = b64json(parts[0]); claims = b64json(parts[1]); } catch { return "assertion is not base64url JSON"; }
    if (header.alg !== "RS256" || header.typ !== "JWT" || header.kid !== this.key.private_key_id) return `header ${JSON.stringify(header)}`;
    const ok = verify("RSA-SHA256", Buffer.from(`${parts[0]}.${parts[1]}`), this.publicKey, Buffer.from(parts[2], "base64url"));
    if (!ok) return "RS256 signature does not verify";
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== this.key.client_email) return `iss ${claims.iss}`;
    if (claims.scope !== this.scope) return `scope ${claims.scope}`;
    if (claims.aud !== this.key.token_uri) return `aud ${claims.aud}`;
    if (!Number.isInteger(claims.iat) || !Number.isInteger(claims.exp) || claims.exp - claims.iat !== 3600) return `exp-iat ${claims.exp - claims.iat}`;
    if (Math.abs(claims.iat - now) > 30) return `iat ${claims.iat} is not now (${now})`;
    this.claims.push(claims);
    return null;
  }
}

/** Microsoft Entra's token endpoint (POST /<tenant>/oauth2/v2.0/token, client credentials). */
export class EntraTokenEndpoint extends TokenEndpoint {
  protected prefix = "eyJ0eXAiOiJKV1Qi.";
  private constructor(public tenant: string, public clientId: string, public clientSecret: string, public scope: string, public host: string) { super(); }

  static start(o: { tenant: string; clientId: string; clientSecret: string; scope?: string; host?: string }): Promise<EntraTokenEndpoint> {
    return new EntraTokenEndpoint(o.tenant, o.clientId, o.clientSecret, o.scope ?? "https://cognitiveservices.azure.com/.default", o.host ?? "login.microsoftonline.com").init();
  }

  protected check(r: Seen): string | null {
    if (r.method !== "POST" || r.path !== `/${this.tenant}/oauth2/v2.0/token`) return `unexpected ${r.method} ${r.url}`;
    if (r.headers.host !== this.host) return `host ${r.headers.host}`;
    if (!String(r.headers["content-type"]).startsWith("application/x-www-form-urlencoded")) return `content-type ${r.headers["content-type"]}`;
    const form = new URLSearchParams(r.text);
    if (form.get("grant_type") !== "client_credentials") return `grant_type ${form.get("grant_type")}`;
    if (form.get("client_id") !== this.clientId) return "client_id";
    if (form.get("client_secret") !== this.clientSecret) return "client_secret";
    if (form.get("scope") !== this.scope) return `scope ${form.get("scope")}`;
    return null;
  }
}

/** Bearer token from a recorded request ("" when none). */
export function bearerOf(r: Seen): string {
  const a = r.headers.authorization;
  return typeof a === "string" && a.startsWith("Bearer ") ? a.slice(7) : "";
}
