// The request stages without a host (assembly/pipeline): identify over an in-memory header map,
// route over body bytes, translate for a chosen route. The filter glue (filter/stream.ts) only
// applies what these return, so what a client sees is decided here.

import { Config, Env, parseConfigString } from "../../assembly/config/config";
import { Router } from "../../assembly/routing/router";
import { Endpoint, UpstreamRequest } from "../../assembly/providers/provider";
import { ListHeaders } from "../../assembly/pipeline/headers";
import { Identity, identify } from "../../assembly/pipeline/identify";
import { route } from "../../assembly/pipeline/route";
import { translateRequest } from "../../assembly/pipeline/translate";
import { bytesOf } from "../../assembly/util/bytes";

class NoEnv extends Env { get(_name: string): string | null { return null; } }

const CONFIG = '{"backends":[' +
  '{"name":"oa","schema":"openai","cluster":"c_oa","host":"api.openai.com"},' +
  '{"name":"claude","schema":"anthropic","cluster":"c_an","host":"api.anthropic.com"}],' +
  '"models":[{"match":"gpt-*","backend":"oa"},{"match":"claude-x","backend":"claude","upstream_model":"claude-up"}],' +
  '"clients":[{"name":"team-a","key":"gw-key"}]}';

function config(): Config {
  const r = parseConfigString(CONFIG, new NoEnv());
  assert(r.config !== null, r.error);
  return r.config!;
}

function headers(list: string[]): ListHeaders {
  const h = new ListHeaders();
  for (let i = 0; i < list.length; i++) h.list.push(list[i]);
  return h;
}

describe("identify", () => {
  it("names the client by its gateway key and strips every client credential and anthropic-* header", () => {
    const h = headers([":method", "POST", ":path", "/v1/messages?beta=true", "content-type", "application/json",
      "x-api-key", "gw-key", "authorization", "Bearer other", "anthropic-version", "2023-06-01", "anthropic-beta", "a,b",
      "x-amz-date", "20250101T000000Z", "x-ai-gateway-cluster", "evil", "accept-encoding", "gzip"]);
    const id = new Identity();
    const err = identify(h, config(), id, false);
    expect(err === null).toBe(true, err !== null ? err!.message : "");
    expect(id.client).toBe("team-a");
    expect(id.identified).toBe(true);
    expect(id.endpoint).toBe(Endpoint.Messages);
    expect(id.path).toBe("/v1/messages");
    expect(id.anthropicErrors).toBe(true);
    expect(id.anthropicBeta).toBe("a,b");
    const left = h.pairs();
    const names = new Array<string>();
    for (let i = 0; i < left.length; i += 2) names.push(left[i]);
    expect(names.join(",")).toBe(":method,:path,content-type");
  });

  it("refuses an unknown key with 401 and does not identify", () => {
    const id = new Identity();
    const err = identify(headers([":method", "POST", ":path", "/v1/chat/completions", "authorization", "Bearer nope"]), config(), id, false);
    expect(err !== null).toBe(true);
    expect(err!.status).toBe(401);
    expect(id.identified).toBe(false);
    expect(id.endpoint).toBe(Endpoint.ChatCompletions);
  });

  it("answers unknown URLs 404, wrong methods 405, non-JSON 415, an empty body 400", () => {
    const cases: string[][] = [
      ["/v1/nope", "POST", "application/json", "404"],
      ["/v1/chat/completions", "GET", "application/json", "405"],
      ["/v1/models", "POST", "", "405"],
      ["/v1/chat/completions", "POST", "text/plain", "415"],
    ];
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i];
      const err = identify(headers([":method", c[1], ":path", c[0], "content-type", c[2], "x-api-key", "gw-key"]), config(), new Identity(), false);
      expect(err !== null).toBe(true, c[0]);
      expect(err!.status.toString()).toBe(c[3], c[0]);
    }
    const empty = identify(headers([":method", "POST", ":path", "/v1/chat/completions", "content-type", "application/json", "x-api-key", "gw-key"]), config(), new Identity(), true);
    expect(empty!.status).toBe(400);
  });
});

describe("route and translate", () => {
  it("routes by model to the rule's backend and translates for the route it is given", () => {
    const cfg = config();
    const id = new Identity();
    id.endpoint = Endpoint.ChatCompletions;
    const routed = route(bytesOf('{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'), id, new Router(cfg), null, 7);
    expect(routed.error === null).toBe(true);
    const req = routed.req!;
    expect(req.backend.name).toBe("claude");
    expect(req.upstreamModel).toBe("claude-up");
    expect(req.nowSeconds).toBe(7);
    const up = new UpstreamRequest();
    expect(translateRequest(req, req.rule, up) === null).toBe(true);
    expect(up.path).toBe("/v1/messages");
    expect(up.body!.toString().includes('"model":"claude-up"')).toBe(true);
    // The same request translated for another route (what a fallback attempt does): that backend's format.
    const other = new Router(cfg).find("gpt-4o")!;
    const up2 = new UpstreamRequest();
    expect(translateRequest(req, other, up2) === null).toBe(true);
    expect(up2.path).toBe("/v1/chat/completions");
    expect(req.backend.name).toBe("oa");
  });

  it("refuses bodies that are not a JSON object with a model, and unknown models", () => {
    const cfg = config();
    const id = new Identity();
    id.endpoint = Endpoint.ChatCompletions;
    const bodies = ['{"model":', '[1]', '{"messages":[]}', '{"model":"nope"}'];
    const codes = ["invalid_json", "invalid_json", "missing_model", "model_not_found"];
    for (let i = 0; i < bodies.length; i++) {
      const r = route(bytesOf(bodies[i]), id, new Router(cfg), null, 0);
      expect(r.req === null).toBe(true, bodies[i]);
      expect(r.error!.code).toBe(codes[i], bodies[i]);
    }
  });
});
