// Upstream credentials of a backend (backends[].auth): what the gateway adds to each upstream
// request, and where the secret comes from. Secrets come from the configuration itself or,
// recommended for production, from the Wasm VM's environment variables
// (vm_config.environment_variables, read through WASI). No error message ever contains a secret.

import { JNode, JsonDoc, Kind } from "../json/json";
import { ServiceAccount, parseServiceAccount, CLOUD_PLATFORM_SCOPE } from "../auth/jwt";
import { isToken, isUnreserved } from "../util/chars";

export const AUTH_TYPES: string[] = ["none", "bearer", "header", "query", "aws-sigv4", "gcp-service-account", "azure-entra",
  "x-api-key", "api-key", "x-goog-api-key"];

/** How the gateway authorizes a backend's requests (auth.type, shorthands resolved), fixed at configure time. */
export const enum AuthKind {
  None = 0, Bearer = 1, Header = 2, Query = 3, AwsSigV4 = 4, GcpServiceAccount = 5, AzureEntra = 6,
}

export class AuthConfig {
  /** auth.type with shorthands resolved (x-api-key → header), for messages. */
  type: string = "none";
  kind: AuthKind = AuthKind.None;
  /** bearer: "authorization"; header: the configured name (lower case). */
  header: string = "";
  /** query: the query parameter name (e.g. "key"). */
  param: string = "";
  /** Values to send, one per key (bearer: "Bearer <key>"); several keys rotate. */
  secrets: string[] = [];
  /** How long a key answered with 401/403 is skipped. */
  badKeySeconds: i64 = 60;
  // aws-sigv4
  accessKey: string = "";
  secretKey: string = "";
  sessionToken: string = "";
  region: string = "";
  service: string = "bedrock";
  // gcp-service-account / azure-entra: OAuth tokens fetched with http_call
  tokenCluster: string = "";
  tokenHost: string = "";
  tokenPath: string = "";
  scope: string = "";
  tokenTimeoutMs: u32 = 5000;
  serviceAccount: ServiceAccount | null = null;
  tenantId: string = "";
  clientId: string = "";
  clientSecret: string = "";

  /** The first secret ("" when none): the common single-key case. */
  get secret(): string { return this.secrets.length ? this.secrets[0] : ""; }
  /** OAuth access tokens fetched by the gateway (GCP service account, Azure Entra). */
  get usesTokens(): bool { return this.kind == AuthKind.GcpServiceAccount || this.kind == AuthKind.AzureEntra; }
  get rotates(): bool { return this.secrets.length > 0; }
}

/** Environment lookup (WASI environ in the filter, a map in unit tests). */
export abstract class Env {
  abstract get(name: string): string | null;
}

/** The small part of the config validator the auth parser needs. */
export abstract class FieldChecker {
  abstract fail(path: string, msg: string): bool;
  abstract str(obj: JNode, key: string, path: string, required: bool, def: string): string | null;
  abstract int(obj: JNode, key: string, path: string, def: i64, min: i64, max: i64): i64;
  abstract onlyKeys(obj: JNode, path: string, allowed: string[]): bool;
  abstract get doc(): JsonDoc;
}

/** No control characters (CR/LF/NUL would allow header injection when the value becomes a header). */
export function headerSafe(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

function fromEnv(v: FieldChecker, env: Env, name: string, path: string): string | null {
  const val = env.get(name);
  if (val === null || val.length == 0) {
    v.fail(path, "environment variable " + name + " is not set in the Wasm VM (vm_config.environment_variables)");
    return null;
  }
  return val;
}

/**
 * A secret given either literally (`<field>`) or by environment variable name (`<field>_env`, or
 * `env` for the key itself). Returns null (with the error recorded) when missing or unsafe.
 */
function secretField(v: FieldChecker, env: Env, obj: JNode, ap: string, field: string, envField: string, required: bool): string | null {
  const lit = v.doc.get(obj, field), ev = v.doc.get(obj, envField);
  if (lit !== null && ev !== null) { v.fail(ap, "give either \"" + field + "\" or \"" + envField + "\", not both"); return null; }
  if (lit === null && ev === null) {
    if (required) { v.fail(ap, "\"" + field + "\" or \"" + envField + "\" is required"); return null; }
    return "";
  }
  let val: string | null;
  if (lit !== null) {
    if (lit.kind != Kind.Str || lit.end - lit.start <= 2) { v.fail(ap + "." + field, "must be a non-empty string"); return null; }
    val = v.doc.str(lit);
    if (!headerSafe(val)) { v.fail(ap + "." + field, "must not contain control characters"); return null; }
    return val;
  }
  if (ev!.kind != Kind.Str) { v.fail(ap + "." + envField, "must be the name of an environment variable"); return null; }
  const name = v.doc.str(ev);
  val = fromEnv(v, env, name, ap + "." + envField);
  if (val === null) return null;
  if (!headerSafe(val)) { v.fail(ap + "." + envField, "environment variable " + name + " contains control characters"); return null; }
  return val;
}

/** API keys: "key" (string or array) or "env" (variable name or array of names). */
function keyList(v: FieldChecker, env: Env, auth: JNode, ap: string): string[] | null {
  const keyNode = v.doc.get(auth, "key"), envNode = v.doc.get(auth, "env");
  if ((keyNode === null) == (envNode === null)) { v.fail(ap, "exactly one of \"key\" or \"env\" is required"); return null; }
  const out = new Array<string>();
  const node = keyNode !== null ? keyNode : envNode!;
  const field = keyNode !== null ? "key" : "env";
  const items = new Array<JNode>();
  if (node.kind == Kind.Arr && node.length > 0) { for (let i = 0; i < node.length; i++) items.push(node.items![i]); }
  else items.push(node);
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    const fp = ap + "." + field + (node.kind == Kind.Arr ? "[" + i.toString() + "]" : "");
    if (it.kind != Kind.Str) { v.fail(fp, "must be a string"); return null; }
    if (it.end - it.start <= 2) { v.fail(fp, "must not be empty"); return null; }
    let val = v.doc.str(it);
    if (keyNode === null) {
      const name = val;
      const e = fromEnv(v, env, name, fp);
      if (e === null) return null;
      if (!headerSafe(e)) { v.fail(fp, "environment variable " + name + " contains control characters"); return null; }
      val = e;
    } else if (!headerSafe(val)) { v.fail(fp, "must not contain control characters"); return null; }
    out.push(val);
  }
  return out;
}


/** Shorthand types: a header named like the type ({"type": "x-api-key"} = header x-api-key). */
const HEADER_SHORTHANDS: string[] = ["x-api-key", "api-key", "x-goog-api-key"];

export function parseAuth(v: FieldChecker, env: Env, auth: JNode, ap: string): AuthConfig | null {
  if (auth.kind != Kind.Obj) { v.fail(ap, "must be an object"); return null; }
  let type = v.str(auth, "type", ap, true, "");
  if (type === null) return null;
  const a = new AuthConfig();
  let shorthandHeader = "";
  if (HEADER_SHORTHANDS.includes(type)) { shorthandHeader = type; type = "header"; }
  a.type = type;
  if (type == "none") {
    a.kind = AuthKind.None;
    if (!v.onlyKeys(auth, ap, ["type"])) return null;
    return a;
  }
  if (type == "bearer" || type == "header" || type == "query") {
    if (!v.onlyKeys(auth, ap, ["type", "key", "env", "header", "param", "bad_key_seconds"])) return null;
    a.kind = type == "bearer" ? AuthKind.Bearer : type == "header" ? AuthKind.Header : AuthKind.Query;
    if (type == "bearer") a.header = "authorization";
    else if (type == "header" && shorthandHeader.length) {
      if (v.doc.get(auth, "header") !== null) { v.fail(ap + ".header", "not used with type \"" + shorthandHeader + "\""); return null; }
      a.header = shorthandHeader;
    } else if (type == "header") {
      const h = v.str(auth, "header", ap, true, "");
      if (h === null) return null;
      if (!isToken(h)) { v.fail(ap + ".header", "must be a valid header name"); return null; }
      a.header = h.toLowerCase();
    } else {
      const p = v.str(auth, "param", ap, true, "");
      if (p === null) return null;
      if (p.length == 0 || !isUnreserved(p)) { v.fail(ap + ".param", "must be a plain query parameter name"); return null; }
      a.param = p;
    }
    const keys = keyList(v, env, auth, ap);
    if (keys === null) return null;
    for (let i = 0; i < keys.length; i++) a.secrets.push(type == "bearer" ? "Bearer " + keys[i] : keys[i]);
    a.badKeySeconds = v.int(auth, "bad_key_seconds", ap, 60, 0, 86400);
    return a;
  }
  if (type == "aws-sigv4") {
    if (!v.onlyKeys(auth, ap, ["type", "region", "service", "access_key", "access_key_env", "secret_key", "secret_key_env", "session_token", "session_token_env"])) return null;
    const region = v.str(auth, "region", ap, true, "");
    const service = v.str(auth, "service", ap, false, "bedrock");
    if (region === null || service === null) return null;
    if (region.length == 0 || !isUnreserved(region)) { v.fail(ap + ".region", "must be an AWS region name"); return null; }
    if (service.length == 0 || !isUnreserved(service)) { v.fail(ap + ".service", "must be an AWS signing name"); return null; }
    const ak = secretField(v, env, auth, ap, "access_key", "access_key_env", true);
    if (ak === null) return null;
    const sk = secretField(v, env, auth, ap, "secret_key", "secret_key_env", true);
    if (sk === null) return null;
    const st = secretField(v, env, auth, ap, "session_token", "session_token_env", false);
    if (st === null) return null;
    a.kind = AuthKind.AwsSigV4;
    a.region = region; a.service = service; a.accessKey = ak; a.secretKey = sk; a.sessionToken = st;
    return a;
  }
  if (type == "gcp-service-account") {
    if (!v.onlyKeys(auth, ap, ["type", "credentials", "credentials_env", "token_cluster", "scope", "timeout_ms"])) return null;
    const cluster = v.str(auth, "token_cluster", ap, true, "");
    const scope = v.str(auth, "scope", ap, false, CLOUD_PLATFORM_SCOPE);
    if (cluster === null || scope === null) return null;
    const creds = secretFieldRaw(v, env, auth, ap, "credentials", "credentials_env");
    if (creds === null) return null;
    const sa = parseServiceAccount(creds);
    if (!sa.ok) { v.fail(ap + ".credentials", "invalid service account key: " + sa.error); return null; }
    const acct = sa.account!;
    const uri = acct.tokenUri;
    // token_uri becomes the token request's :authority and :path: no control characters or spaces.
    if (!uri.startsWith("https://") || !headerSafe(uri) || uri.includes(" ")) { v.fail(ap + ".credentials", "token_uri must be a plain https URL"); return null; }
    const rest = uri.substring(8);
    const slash = rest.indexOf("/");
    a.tokenHost = slash < 0 ? rest : rest.substring(0, slash);
    a.tokenPath = slash < 0 ? "/" : rest.substring(slash);
    a.kind = AuthKind.GcpServiceAccount;
    a.serviceAccount = acct;
    a.tokenCluster = cluster; a.scope = scope;
    a.tokenTimeoutMs = <u32>v.int(auth, "timeout_ms", ap, 5000, 100, 60000);
    return a;
  }
  if (type == "azure-entra") {
    if (!v.onlyKeys(auth, ap, ["type", "tenant_id", "client_id", "client_secret", "client_secret_env", "token_cluster", "token_host", "scope", "timeout_ms"])) return null;
    const tenant = v.str(auth, "tenant_id", ap, true, "");
    const client = v.str(auth, "client_id", ap, true, "");
    const cluster = v.str(auth, "token_cluster", ap, true, "");
    const host = v.str(auth, "token_host", ap, false, "login.microsoftonline.com");
    const scope = v.str(auth, "scope", ap, false, "https://cognitiveservices.azure.com/.default");
    if (tenant === null || client === null || cluster === null || host === null || scope === null) return null;
    if (tenant.length == 0 || !isUnreserved(tenant)) { v.fail(ap + ".tenant_id", "must be a tenant id or domain"); return null; }
    const secret = secretField(v, env, auth, ap, "client_secret", "client_secret_env", true);
    if (secret === null) return null;
    a.kind = AuthKind.AzureEntra;
    a.tenantId = tenant; a.clientId = client; a.clientSecret = secret; a.tokenCluster = cluster;
    a.tokenHost = host; a.tokenPath = "/" + tenant + "/oauth2/v2.0/token"; a.scope = scope;
    a.tokenTimeoutMs = <u32>v.int(auth, "timeout_ms", ap, 5000, 100, 60000);
    return a;
  }
  v.fail(ap + ".type", "unsupported auth type \"" + type + "\" (supported: " + AUTH_TYPES.join(", ") + ")");
  return null;
}

/** Like secretField but the value may be multi-line JSON (a service-account key file). */
function secretFieldRaw(v: FieldChecker, env: Env, obj: JNode, ap: string, field: string, envField: string): string | null {
  const lit = v.doc.get(obj, field), ev = v.doc.get(obj, envField);
  if ((lit === null) == (ev === null)) { v.fail(ap, "exactly one of \"" + field + "\" or \"" + envField + "\" is required"); return null; }
  if (lit !== null) {
    // Either the key file as a JSON string, or the key file object itself.
    if (lit.kind == Kind.Str) return v.doc.str(lit);
    if (lit.kind == Kind.Obj) return String.UTF8.decodeUnsafe(v.doc.src.dataStart + <usize>lit.start, <usize>(lit.end - lit.start));
    v.fail(ap + "." + field, "must be the service account key file (object or JSON string)");
    return null;
  }
  if (ev!.kind != Kind.Str) { v.fail(ap + "." + envField, "must be the name of an environment variable"); return null; }
  return fromEnv(v, env, v.doc.str(ev), ap + "." + envField);
}
