// The one-pass request header scan (assembly/filter/headers.ts): values read, names to drop,
// names compared ignoring ASCII case, first value of a repeated header, only present headers listed.

import { RequestHeaderScan, keyIs } from "../../assembly/filter/headers";
import { HeaderPair, Headers } from "@solo-io/proxy-runtime/assembly";

const CREDENTIALS: string[] = ["authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key"];

function pairs(kv: string[]): Headers {
  const out: Headers = [];
  for (let i = 0; i + 1 < kv.length; i += 2) out.push(new HeaderPair(String.UTF8.encode(kv[i]), String.UTF8.encode(kv[i + 1])));
  return out;
}

describe("keyIs", () => {
  it("compares ASCII names ignoring case", () => {
    expect(keyIs(String.UTF8.encode("Content-Type"), "content-type")).toBe(true);
    expect(keyIs(String.UTF8.encode("content-typ"), "content-type")).toBe(false);
    expect(keyIs(String.UTF8.encode("content-typf"), "content-type")).toBe(false);
  });
});

describe("RequestHeaderScan", () => {
  it("reads the values the filter needs and lists only the present headers to drop", () => {
    const s = new RequestHeaderScan(pairs([
      ":method", "POST", ":path", "/v1/chat/completions?x=1", "Content-Type", "application/json", "content-length", "12",
      "Authorization", "Bearer k1", "authorization", "Bearer k2", "x-api-key", "k3", "anthropic-version", "2023-06-01",
      "anthropic-beta", "a", "Anthropic-Beta", "b", "x-ai-gateway-cluster", "evil", "accept-encoding", "gzip", "user-agent", "t",
    ]), CREDENTIALS, "", "x-ai-gateway-cluster");
    expect(s.method).toBe("POST");
    expect(s.path).toBe("/v1/chat/completions?x=1");
    expect(s.contentType).toBe("application/json");
    expect(s.contentLength).toBe("12");
    expect(s.authorization).toBe("Bearer k1");
    expect(s.xApiKey).toBe("k3");
    expect(s.apiKey).toBe("");
    expect(s.anthropicBeta).toBe("a,b");
    expect(s.clusterHeaderPresent).toBe(true);
    expect(s.acceptEncodingPresent).toBe(true);
    expect(s.drop.join(" ")).toBe("Authorization authorization x-api-key anthropic-version anthropic-beta Anthropic-Beta");
  });

  it("a request without credentials drops nothing; the client header is read and dropped", () => {
    const s = new RequestHeaderScan(pairs([":method", "GET", ":path", "/v1/models", "x-client", "team-a"]), CREDENTIALS, "x-client", "x-ai-gateway-cluster");
    expect(s.client).toBe("team-a");
    expect(s.drop.join(" ")).toBe("x-client");
    expect(s.clusterHeaderPresent).toBe(false);
    expect(s.acceptEncodingPresent).toBe(false);
  });
});
