// Security properties of upstream authorization (issue 4 item 6), over one gateway holding every
// backend type (bearer, Anthropic x-api-key, SigV4, Azure api-key, GCP service account, Azure
// Entra, query key, x-goog-api-key), each with its own secret and its own upstream server.
// A mixed workload (successes, provider errors, gateway errors, a failing token endpoint,
// header-injection attempts through the model name) runs while everything is captured: every
// upstream request, every log line, every client-visible status/header/body. Then:
//  - a backend's secret never reaches another backend (nor its token endpoint);
//  - no secret (backend keys, client keys, AWS secret and session token, client secret, GCP
//    private key, issued tokens) appears in any log line or client-visible answer;
//  - a model containing CR/LF or other control characters cannot add or split a header or the
//    request line on any backend, and the log line shows it sanitized;
//  - configuration values with CR/LF are refused at load with a message naming the field and
//    without the value.

import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { Gateway, LoadError } from "../support/gateway.ts";
import { assertErrorResponse } from "../support/openai-schema.ts";
import { verifySigV4 } from "./aws.ts";
import { GoogleTokenEndpoint, EntraTokenEndpoint, bearerOf } from "./tokens.ts";
import {
  Upstream, startGateway, send, chat, chatBody, okFor, unauthorized, assertHealthy, requestLines, headerValues, secret, sha256hex, wireText, GATEWAY_WASM,
  type Seen, type Reply, type Answer,
} from "./support.ts";

// ---------------------------------------------------------------------------------------------
// The gateway under test

const S = {
  a: secret("sk-A-openai"),
  b: secret("sk-ant-B"),
  awsAccess: "AKIASECURITYTEST0001",
  awsSecret: secret("aws-secret-C/+"),
  awsSession: secret("aws-session-C"),
  d: secret("azkey-D"),
  fClientSecret: secret("entra-secret-F~"),
  g: secret("AIza-G") + "+/=",
  h: secret("AIza-H"),
  client1: secret("gw-client-1"),
  client2: secret("gw-client-2"),
};
const PREFIXES = ["a", "b", "c", "d", "e", "f", "g", "h"] as const;
type P = (typeof PREFIXES)[number];

let gw: Gateway;
const ups = {} as Record<P, Upstream>;
let google: GoogleTokenEndpoint;
let googleBroken: GoogleTokenEndpoint;
let entra: EntraTokenEndpoint;
/** Everything the clients saw. */
const answers: { what: string; a: Answer }[] = [];

/** Whether backend p's provider accepts the credential of a request (as the real one would). */
function accepted(p: P, r: Seen): boolean {
  switch (p) {
    case "a": return headerValues(r, "authorization").join() === `Bearer ${S.a}`;
    case "b": return headerValues(r, "x-api-key").join() === S.b && headerValues(r, "authorization").length === 0;
    case "c": return verifySigV4(r, { accessKey: S.awsAccess, secretKey: S.awsSecret, sessionToken: S.awsSession }, "us-east-1", "bedrock").ok;
    case "d": return headerValues(r, "api-key").join() === S.d;
    case "e": return google.valid(bearerOf(r));
    case "f": return entra.valid(bearerOf(r));
    case "g": return r.query.get("key") === S.g;
    case "h": return headerValues(r, "x-goog-api-key").join() === S.h;
  }
}

function providerAnswer(p: P, r: Seen): Reply {
  if (!accepted(p, r)) return unauthorized();
  const model = String(r.json?.model ?? r.path);
  if (model.includes("boom") || r.path.includes("boom")) {
    return p === "b"
      ? { status: 500, body: { type: "error", error: { type: "api_error", message: "Internal server error" } } }
      : { status: 500, body: { error: { message: "The server had an error while processing your request.", type: "server_error", param: null, code: null } } };
  }
  if (model.includes("deny") || r.path.includes("deny")) return unauthorized("Your key was revoked.");
  return okFor(r);
}

before(async () => {
  google = await GoogleTokenEndpoint.start();
  googleBroken = await GoogleTokenEndpoint.start();
  googleBroken.mode = "500";
  entra = await EntraTokenEndpoint.start({ tenant: "contoso.onmicrosoft.com", clientId: "client-id-F", clientSecret: S.fClientSecret });
  for (const p of PREFIXES) ups[p] = await Upstream.start((r) => providerAnswer(p, r));
  const clusters: Record<string, number> = { gcp_oauth: google.port, gcp_oauth_broken: googleBroken.port, entra: entra.port };
  for (const p of PREFIXES) clusters[p] = ups[p].port;
  gw = await startGateway({
    workers: 2, clusters,
    env: { B_KEY: S.b, AWS_SECRET: S.awsSecret },
    config: {
      clients: [{ name: "team-1", key_sha256: sha256hex(S.client1) }, { name: "team-2", key: S.client2 }],
      backends: [
        { name: "A", schema: "openai", cluster: "a", host: "api.openai.com", auth: { type: "bearer", key: S.a } },
        { name: "B", schema: "anthropic", cluster: "b", host: "api.anthropic.com", auth: { type: "header", header: "x-api-key", env: "B_KEY" } },
        { name: "C", schema: "openai", cluster: "c", host: "bedrock-runtime.us-east-1.amazonaws.com", base_path: "/openai/v1",
          auth: { type: "aws-sigv4", region: "us-east-1", access_key: S.awsAccess, secret_key_env: "AWS_SECRET", session_token: S.awsSession } },
        { name: "D", schema: "azure-openai", cluster: "d", host: "res-d.openai.azure.com", auth: { type: "header", header: "api-key", key: S.d } },
        { name: "E", schema: "openai", cluster: "e", host: "us-central1-aiplatform.googleapis.com", base_path: "/v1beta1/projects/p/locations/us-central1/endpoints/openapi",
          auth: { type: "gcp-service-account", token_cluster: "gcp_oauth", credentials: google.key } },
        { name: "E2", schema: "openai", cluster: "e", host: "us-central1-aiplatform.googleapis.com", base_path: "/v1beta1/projects/p/locations/us-central1/endpoints/openapi",
          auth: { type: "gcp-service-account", token_cluster: "gcp_oauth_broken", credentials: JSON.stringify(google.key), timeout_ms: 500 } },
        { name: "F", schema: "azure-openai", cluster: "f", host: "res-f.openai.azure.com",
          auth: { type: "azure-entra", tenant_id: "contoso.onmicrosoft.com", client_id: "client-id-F", client_secret: S.fClientSecret, token_cluster: "entra" } },
        { name: "G", schema: "openai", cluster: "g", host: "generativelanguage.googleapis.com", base_path: "/v1beta/openai", auth: { type: "query", param: "key", key: S.g } },
        { name: "H", schema: "openai", cluster: "h", host: "generativelanguage.googleapis.com", base_path: "/v1beta/openai", auth: { type: "header", header: "x-goog-api-key", key: S.h } },
      ],
      models: [
        ...PREFIXES.map((p) => ({ match: `${p}-*`, backend: p.toUpperCase() })),
        { match: "e2-*", backend: "E2" },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  for (const p of PREFIXES) await ups[p]?.stop();
  await google?.stop(); await googleBroken?.stop(); await entra?.stop();
});

/** All secret values, with the forms they could take on the wire (URL-encoded, base64). */
function secretForms(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const add = (name: string, v: string) => { out[name] = [...new Set([v, encodeURIComponent(v), Buffer.from(v).toString("base64")])]; };
  for (const [k, v] of Object.entries(S)) if (k !== "awsAccess") add(k, v);
  // The private key: every base64 line of its PEM body.
  out.gcpPrivateKey = google.key.private_key.split("\n").filter((l) => l.length > 40 && !l.startsWith("-----"));
  for (const [i, t] of google.tokens.entries()) add(`gcpToken${i}`, t);
  for (const [i, t] of entra.tokens.entries()) add(`entraToken${i}`, t);
  return out;
}

/** Secrets a given upstream may legitimately see. */
const LEGIT: Record<P, (name: string) => boolean> = {
  a: (n) => n === "a",
  b: (n) => n === "b",
  c: (n) => n === "awsSession",
  d: (n) => n === "d",
  e: (n) => n.startsWith("gcpToken"),
  f: (n) => n.startsWith("entraToken"),
  g: (n) => n === "g",
  h: (n) => n === "h",
};

const INJECTIONS = [
  "gpt-4o\r\nx-evil: 1",
  "gpt\nx-evil: 2",
  "gpt\rx-evil: 3",
  "nul\u0000byte",
  "esc\u001b[31mred",
  "tab\there",
  "del\u007fx",
  "enc%0D%0Ax-evil:%201",
  "sp ace/../..",
];
const sanitized = (s: string) => s.replace(/[\u0000-\u0020\u007f]/g, "_");

// ---------------------------------------------------------------------------------------------

test("mixed workload: successes, provider errors, gateway errors, token failure, injection attempts", async () => {
  const key1 = { authorization: `Bearer ${S.client1}` };
  const key2 = { "x-api-key": S.client2 };
  const run = async (what: string, p: Promise<Answer>) => { const a = await p; answers.push({ what, a }); return a; };
  const logFrom = gw.logs.length;

  for (const p of PREFIXES) {
    const ok = await run(`${p} ok`, chat(gw, `${p}-model`, key1));
    assert.equal(ok.status, 200, `${p}: ${ok.text}`);
    const boom = await run(`${p} 500`, chat(gw, `${p}-boom`, key2));
    assert.ok(boom.status >= 500, `${p} boom: ${boom.status} ${boom.text}`);
    const deny = await run(`${p} 401`, chat(gw, `${p}-deny`, key1));
    assert.equal(deny.status, 401, `${p} deny: ${deny.text}`);
  }
  // Gateway-side errors.
  const gwErrors: [string, Promise<Answer>, number][] = [
    ["no client key", chat(gw, "a-model"), 401],
    ["unknown client key", chat(gw, "a-model", { authorization: `Bearer ${S.a}` }), 401],
    ["backend key as client key", chat(gw, "b-model", { "x-api-key": S.b }), 401],
    ["bad json", send(gw, { headers: key1, body: `{"model":"a-model",` }), 400],
    ["missing model", send(gw, { headers: key1, body: `{"messages":[]}` }), 400],
    ["unknown model", chat(gw, "zzz", key1), 404],
    ["wrong content-type", send(gw, { headers: { ...key1, "content-type": "text/plain" }, body: chatBody("a-model") }), 415],
    ["unknown url", send(gw, { headers: key1, path: "/v1/files", body: "{}" }), 404],
    ["token endpoint failing", chat(gw, "e2-model", key1), 503],
  ];
  for (const [what, p, status] of gwErrors) {
    const a = await run(what, p);
    assert.equal(a.status, status, `${what}: ${a.text}`);
    assertErrorResponse(a.json, what);
  }
  const list = await run("models", send(gw, { method: "GET", path: "/v1/models", headers: key2 }));
  assert.equal(list.status, 200);

  // Injection attempts through the model name, against every backend.
  const before = Object.fromEntries(PREFIXES.map((p) => [p, ups[p].requests.length])) as Record<P, number>;
  for (const p of PREFIXES) {
    for (const inj of INJECTIONS) {
      const model = `${p}-${inj}`;
      const a = await run(`${p} injection ${JSON.stringify(inj)}`, chat(gw, model, key1));
      // Azure (D, F) puts the model in the URL path: refused. The others carry it in the body only.
      if (p === "d" || p === "f") {
        assert.equal(a.status, 400, `${model}: ${a.text}`);
        assertErrorResponse(a.json);
      } else assert.equal(a.status, 200, `${JSON.stringify(model)}: ${a.text}`);
      for (const name of Object.keys(a.headers)) assert.ok(!name.startsWith("x-evil"), `client got header ${name}`);
    }
  }
  for (const p of PREFIXES) {
    const got = ups[p].requests.slice(before[p]);
    assert.equal(got.length, p === "d" || p === "f" ? 0 : INJECTIONS.length, `${p}: upstream requests for the injections`);
    for (const r of got) {
      assert.equal(typeof r.json?.model, "string", `${p}: body is valid JSON with the model`);
      assert.ok(INJECTIONS.map((i) => `${p}-${i}`).includes(r.json.model), `${p}: the model arrives intact inside the JSON body: ${JSON.stringify(r.json.model)}`);
    }
  }
  // On the wire, no upstream request (any backend, token endpoints too) has an injected header,
  // a control character in a header, or a broken request line.
  for (const s of [...PREFIXES.map((p) => ups[p]), google.up, googleBroken.up, entra.up]) {
    for (const r of s.requests) {
      for (let i = 0; i < r.rawHeaders.length; i += 2) {
        assert.ok(!/^x-evil/i.test(r.rawHeaders[i]), `injected header upstream: ${r.rawHeaders[i]}`);
        assert.ok(!/[\u0000-\u001f\u007f]/.test(r.rawHeaders[i] + r.rawHeaders[i + 1]), `control character in upstream header ${r.rawHeaders[i]}: ${JSON.stringify(r.rawHeaders[i + 1])}`);
      }
      assert.ok(!/[\u0000-\u0020\u007f]/.test(r.url), `control character or space in upstream URL ${JSON.stringify(r.url)}`);
    }
  }

  // Log lines: one line per chat request, control characters replaced in the model.
  await new Promise((r) => setTimeout(r, 100));
  await assertHealthy(gw);
  const lines = requestLines(gw, logFrom);
  const injLines = lines.filter((l) => INJECTIONS.some((inj) => PREFIXES.some((p) => l.kv.model === sanitized(`${p}-${inj}`))));
  assert.equal(injLines.length, 6 * INJECTIONS.length, `a sanitized model in the log line of every forwarded injection:\n${lines.map((l) => l.line).join("\n")}`);
  for (const l of gw.logs) {
    assert.ok(!/[\u0000-\u001f\u007f]/.test(l.message), `control character in a log line: ${JSON.stringify(l.message)}`);
    assert.ok(!/x-evil: /.test(l.message), `unsanitized model in a log line: ${JSON.stringify(l.message)}`);
  }
});

test("backend isolation: no backend (or token endpoint) ever received another backend's secret or a client key", () => {
  const forms = secretForms();
  assert.ok(google.tokens.length >= 1 && entra.tokens.length >= 1, "tokens were issued during the workload");
  const problems: string[] = [];
  for (const p of PREFIXES) {
    assert.ok(ups[p].requests.length > 0, `${p} got requests`);
    for (const r of ups[p].requests) {
      const wire = wireText(r);
      for (const [name, vals] of Object.entries(forms)) {
        if (LEGIT[p](name)) continue;
        if (vals.some((v) => wire.includes(v))) problems.push(`backend ${p} received ${name}`);
      }
    }
  }
  const tokenEndpoints: [string, Upstream, (n: string) => boolean][] = [
    ["google", google.up, () => false], ["google-broken", googleBroken.up, () => false], ["entra", entra.up, (n) => n === "fClientSecret"],
  ];
  for (const [label, up, legit] of tokenEndpoints) {
    for (const r of up.requests) for (const [name, vals] of Object.entries(forms)) if (!legit(name) && vals.some((v) => wireText(r).includes(v))) problems.push(`${label} received ${name}`);
  }
  assert.deepEqual([...new Set(problems)], []);
});

test("no secret appears in any log line or in anything a client received", () => {
  const forms = secretForms();
  const problems: string[] = [];
  for (const l of gw.logs) for (const [name, vals] of Object.entries(forms)) if (vals.some((v) => l.message.includes(v))) problems.push(`log line has ${name}: ${l.message.slice(0, 200)}`);
  for (const { what, a } of answers) {
    const visible = JSON.stringify(a.headers) + "\n" + a.text;
    for (const [name, vals] of Object.entries(forms)) if (vals.some((v) => visible.includes(v))) problems.push(`client answer "${what}" has ${name}`);
  }
  assert.deepEqual(problems, []);
  assert.ok(answers.length > 50 && gw.logs.length > 50, "the workload ran");
});

// ---------------------------------------------------------------------------------------------
// Configuration values with control characters

const CRLF = "\r\nx-evil: 1";
const base = () => ({ name: "x", schema: "openai", cluster: "x", host: "api.openai.com", auth: { type: "bearer", key: "sk-config-secret-value" } as Record<string, unknown> });

function cfgWith(mut: (c: any) => void): object {
  const c: any = { backends: [base()], models: [{ match: "m", backend: "x" }] };
  mut(c);
  return c;
}

const badConfigs: { field: string; config: object; env?: Record<string, string>; secretValue?: string }[] = [
  { field: "backends[0].host", config: cfgWith((c) => { c.backends[0].host = "api.openai.com" + CRLF; }) },
  { field: "backends[0].cluster", config: cfgWith((c) => { c.backends[0].cluster = "x" + CRLF; }) },
  { field: "backends[0].base_path", config: cfgWith((c) => { c.backends[0].base_path = "/v1" + CRLF; }) },
  { field: "backends[0].api_version", config: cfgWith((c) => { c.backends[0].schema = "azure-openai"; c.backends[0].api_version = "2024-10-21" + CRLF; }) },
  { field: "backends[0].deployment", config: cfgWith((c) => { c.backends[0].schema = "azure-openai"; c.backends[0].deployment = "dep" + CRLF; }) },
  { field: "backends[0].auth.key", config: cfgWith((c) => { c.backends[0].auth.key = "sk-secret-crlf-1" + CRLF; }), secretValue: "sk-secret-crlf-1" },
  { field: "backends[0].auth.key[1]", config: cfgWith((c) => { c.backends[0].auth.key = ["sk-fine-key", "sk-secret-crlf-2\n"]; }), secretValue: "sk-secret-crlf-2" },
  { field: "backends[0].auth.env", config: cfgWith((c) => { c.backends[0].auth = { type: "bearer", env: "KEY_WITH_CRLF" }; }), env: { KEY_WITH_CRLF: "sk-secret-crlf-3\r\n" }, secretValue: "sk-secret-crlf-3" },
  { field: "backends[0].auth.header", config: cfgWith((c) => { c.backends[0].auth = { type: "header", header: "x-api-key" + CRLF, key: "k" }; }) },
  { field: "backends[0].auth.param", config: cfgWith((c) => { c.backends[0].auth = { type: "query", param: "key" + CRLF, key: "k" }; }) },
  { field: "backends[0].auth.secret_key", config: cfgWith((c) => { c.backends[0].auth = { type: "aws-sigv4", region: "us-east-1", access_key: "AKIA1", secret_key: "aws-secret-crlf\r\n" }; }), secretValue: "aws-secret-crlf" },
  { field: "backends[0].auth.session_token_env", config: cfgWith((c) => { c.backends[0].auth = { type: "aws-sigv4", region: "us-east-1", access_key: "AKIA1", secret_key: "s", session_token_env: "STS" }; }), env: { STS: "sts-secret-crlf\n" }, secretValue: "sts-secret-crlf" },
  { field: "backends[0].auth.region", config: cfgWith((c) => { c.backends[0].auth = { type: "aws-sigv4", region: "us-east-1" + CRLF, access_key: "AKIA1", secret_key: "s" }; }) },
  { field: "backends[0].auth.client_secret", config: cfgWith((c) => { c.backends[0].auth = { type: "azure-entra", tenant_id: "t", client_id: "c", client_secret: "entra-secret-crlf" + CRLF, token_cluster: "entra" }; }), secretValue: "entra-secret-crlf" },
  { field: "backends[0].auth.client_id", config: cfgWith((c) => { c.backends[0].auth = { type: "azure-entra", tenant_id: "t", client_id: "c" + CRLF, client_secret: "s", token_cluster: "entra" }; }) },
  { field: "backends[0].auth.token_host", config: cfgWith((c) => { c.backends[0].auth = { type: "azure-entra", tenant_id: "t", client_id: "c", client_secret: "s", token_cluster: "entra", token_host: "login.microsoftonline.com" + CRLF }; }) },
  { field: "backends[0].auth.scope", config: cfgWith((c) => { c.backends[0].auth = { type: "azure-entra", tenant_id: "t", client_id: "c", client_secret: "s", token_cluster: "entra", scope: "api://x/.default" + CRLF }; }) },
  { field: "models[0].upstream_model", config: cfgWith((c) => { c.models[0].upstream_model = "gpt-4o" + CRLF; }) },
  { field: "models[0].match", config: cfgWith((c) => { c.models[0].match = "m" + CRLF; }) },
  { field: "clients[0].name", config: cfgWith((c) => { c.clients = [{ name: "team" + CRLF, key: "client-secret-crlf" }]; }) },
  { field: "client_header", config: cfgWith((c) => { c.client_header = "x-client" + CRLF; }) },
  { field: "cluster_header", config: cfgWith((c) => { c.cluster_header = "x-cluster" + CRLF; }) },
];

for (const bc of badConfigs) {
  test(`config with CR/LF in ${bc.field} is refused at load, naming the field`, async () => {
    const err = await startGateway({ config: bc.config, env: bc.env, clusters: { x: 1 } }).then(async (g) => { await g.stop(); return null; }, (e) => e);
    assert.ok(err instanceof LoadError, `expected LoadError, got ${err === null ? "a running gateway" : err}`);
    const msgs = err.logs.map((l: { message: string }) => l.message);
    const line = msgs.find((m: string) => m.includes("invalid plugin configuration"));
    assert.ok(line, `a configuration error is logged: ${JSON.stringify(msgs)}`);
    assert.ok(line.includes(`configuration: ${bc.field}: `), `the message names ${bc.field}: ${JSON.stringify(line)}`);
    for (const m of msgs) {
      assert.ok(!/[\r\n]/.test(m), `no CR/LF in the logged message: ${JSON.stringify(m)}`);
      if (bc.secretValue) assert.ok(!m.includes(bc.secretValue), `the secret is not in the message: ${JSON.stringify(m)}`);
    }
  });
}

test("config with CR/LF in a GCP key file's token_uri is refused at load (it becomes the token request's :path/:authority)", async () => {
  const g = await GoogleTokenEndpoint.start();
  try {
    const key = { ...g.key, token_uri: "https://oauth2.googleapis.com/token" + CRLF };
    for (const credentials of [key, JSON.stringify(key)]) {
      const err = await startGateway({
        clusters: { x: 1, gcp_oauth: g.port },
        config: cfgWith((c) => { c.backends[0].auth = { type: "gcp-service-account", token_cluster: "gcp_oauth", credentials }; }),
      }).then(async (gwy) => { await gwy.stop(); return null; }, (e) => e);
      assert.ok(err instanceof LoadError, `expected LoadError, got ${err === null ? "a running gateway" : err}`);
      const line = err.logs.map((l: { message: string }) => l.message).find((m: string) => m.includes("invalid plugin configuration")) ?? "";
      assert.ok(line.includes("backends[0].auth.credentials"), line);
      assert.ok(!line.includes("PRIVATE KEY") && !line.includes(g.key.private_key.split("\n")[1]), "no key material in the message");
    }
  } finally { await g.stop(); }
});

test("sanity: a valid configuration with the same shapes loads (the refusals above are about the control characters)", async () => {
  const g = await startGateway({ config: cfgWith(() => {}), clusters: { x: 1 } });
  await g.stop();
  assert.ok(GATEWAY_WASM.endsWith(".wasm"));
});
