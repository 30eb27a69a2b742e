// Upstream TLS clusters (an UpstreamTlsContext in Envoy; ClusterConfig.tls in the seam), run on
// the gateway platform (real Envoy by default): HTTP/1.1 and HTTP/2 over TLS with SNI and a
// trusted CA, and a certificate the cluster does not trust.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import http2 from "node:http2";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { Gateway } from "../support/gateway.ts";
import { GATEWAY_WASM } from "./harness.ts";

const SNI = "api.provider.test";
const BODY = JSON.stringify({
  id: "chatcmpl-1", object: "chat.completion", created: 1, model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
});

let dir: string, cert: string, key: string, otherCert: string;
let h1: https.Server, h2: http2.Http2SecureServer;
const seen: { proto: string; sni: string | false; authority: string | undefined; auth: string | undefined }[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "ai-gateway-tls-"));
  const mk = (name: string) => execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    "-subj", `/CN=${SNI}`, "-addext", `subjectAltName=DNS:${SNI}`, "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.pem`)], { stdio: "ignore" });
  mk("server"); mk("other");
  cert = readFileSync(join(dir, "server.pem"), "utf8");
  key = readFileSync(join(dir, "server.key"), "utf8");
  otherCert = readFileSync(join(dir, "other.pem"), "utf8");
  const answer = (proto: string, sni: string | false, authority: string | undefined, auth: string | undefined, send: () => void) => {
    seen.push({ proto, sni, authority, auth });
    send();
  };
  h1 = https.createServer({ cert, key }, (req, res) => {
    req.resume();
    req.on("end", () => answer("h1", (req.socket as import("node:tls").TLSSocket).servername, req.headers.host, req.headers.authorization,
      () => { res.writeHead(200, { "content-type": "application/json" }); res.end(BODY); }));
  });
  h2 = http2.createSecureServer({ cert, key }, (req, res) => {
    req.resume();
    req.on("end", () => answer("h2", (req.socket as import("node:tls").TLSSocket).servername, req.headers[":authority"] as string, req.headers.authorization as string,
      () => { res.writeHead(200, { "content-type": "application/json" }); res.end(BODY); }));
  });
  await new Promise<void>((r) => h1.listen(0, "127.0.0.1", () => r()));
  await new Promise<void>((r) => h2.listen(0, "127.0.0.1", () => r()));
});

after(() => {
  h1?.close(); h2?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("TLS upstreams: HTTP/1.1 and HTTP/2 with SNI and a trusted CA; an untrusted certificate fails the request with 503", async () => {
  const cfg = {
    backends: ["h1", "h2", "untrusted"].map((n) => ({ name: n, schema: "openai", cluster: n, host: SNI, auth: { type: "bearer", key: `sk-${n}` } })),
    models: [{ match: "m-h1", backend: "h1" }, { match: "m-h2", backend: "h2" }, { match: "m-untrusted", backend: "untrusted" }],
  };
  const gw = await Gateway.start({
    wasm: GATEWAY_WASM, plugin: { configuration: JSON.stringify(cfg) }, workers: 1,
    routes: [{ match: { prefix: "/" }, clusterHeader: "x-ai-gateway-cluster" }],
    clusters: {
      h1: { host: "127.0.0.1", port: (h1.address() as AddressInfo).port, tls: { sni: SNI, ca: cert } },
      h2: { host: "127.0.0.1", port: (h2.address() as AddressInfo).port, http2: true, tls: { sni: SNI, ca: cert } },
      untrusted: { host: "127.0.0.1", port: (h1.address() as AddressInfo).port, tls: { sni: SNI, ca: otherCert } },
    },
  });
  try {
    const ask = async (model: string) => {
      const r = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "x" }] }) });
      return { status: r.status, body: await r.text() };
    };
    const a = await ask("m-h1");
    assert.equal(a.status, 200, a.body);
    const b = await ask("m-h2");
    assert.equal(b.status, 200, b.body);
    const c = await ask("m-untrusted");
    assert.equal(c.status, 503, c.body);
    // Envoy's plain-text local reply passes through the filter's response path, which puts every
    // error in the OpenAI envelope (docs/robustness.md); its wording is Envoy's, not checked here.
    const err = JSON.parse(c.body).error;
    assert.ok(typeof err.message === "string" && err.message.length > 0, c.body);
    assert.deepEqual(seen, [
      { proto: "h1", sni: SNI, authority: SNI, auth: "Bearer sk-h1" },
      { proto: "h2", sni: SNI, authority: SNI, auth: "Bearer sk-h2" },
    ], "the untrusted server saw no request");
  } finally {
    await gw.stop();
  }
});
