// Plugin configuration: parse + validate. A bad configuration must be refused at load with an
// error that names the field to fix (expected strings below are the documented "path: message"
// form); unknown fields are errors so a typo never silently drops a setting; and a secret read
// from the environment must never be echoed into an error (errors end up in Envoy's log).

import { parseConfigString, Env } from "../../assembly/config/config";
import { schemaNames } from "../../assembly/providers/table";

/** Env backed by a Map: what WasiEnv is in production, without a host. */
class MapEnv extends Env {
  vars: Map<string, string> = new Map();
  set(name: string, value: string): MapEnv { this.vars.set(name, value); return this; }
  get(name: string): string | null { return this.vars.has(name) ? this.vars.get(name) : null; }
}

const SECRET = "sk-THIS-IS-SECRET-7f3a";
const BAD_SECRET = "sk-BAD-SECRET\r\nx-injected: 1";

function env(): MapEnv {
  return new MapEnv().set("OPENAI_KEY", SECRET).set("EMPTY_KEY", "").set("CRLF_KEY", BAD_SECRET);
}

/** A minimal valid backend with extra members spliced in before the closing brace. */
function backend(name: string, extra: string = ""): string {
  return '{"name":"' + name + '","schema":"openai","cluster":"openai_cluster","host":"api.openai.com"' + extra + "}";
}
const MODELS = '"models":[{"match":"gpt-*","backend":"oa"}]';
function withBackends(backends: string, rest: string = MODELS): string { return '{"backends":[' + backends + "]," + rest + "}"; }
function withAuth(auth: string): string { return withBackends(backend("oa", ',"auth":' + auth)); }
function withModels(models: string): string { return withBackends(backend("oa"), '"models":' + models); }

// Unknown-field errors end with the allowed list, which grows as features land; the table
// matches them up to "(allowed: " (marked by a trailing "…") and a separate test checks that the
// documented fields are listed.
const ALLOWED = "(allowed: …";

describe("parseConfig rejects invalid configurations with the field path", () => {
  it("table of invalid configurations → exact error", () => {
    // [config JSON, expected error]
    const cases: string[][] = [
      // document level
      ["{", "configuration: invalid JSON: expected object key at byte 1"],
      ["[1,]", "configuration: invalid JSON: unexpected character at byte 3"],
      ["[]", "configuration: must be a JSON object"],
      ['{"backends":[' + backend("oa") + "]," + MODELS + ',"bakends":[]}', "bakends: unknown field " + ALLOWED],
      ["{}", "backends: required: a non-empty array of backends"],
      ['{"backends":[],' + MODELS + "}", "backends: required: a non-empty array of backends"],
      ['{"backends":{},' + MODELS + "}", "backends: required: a non-empty array of backends"],
      [withBackends(backend("oa"), '"models":[]'), "models: required: a non-empty array of model routes"],
      ['{"backends":[' + backend("oa") + "]}", "models: required: a non-empty array of model routes"],
      // limits and cluster header
      [withBackends(backend("oa"), MODELS + ',"max_request_bytes":0'), "max_request_bytes: must be an integer between 1 and 16777216"],
      [withBackends(backend("oa"), MODELS + ',"max_request_bytes":1.5'), "max_request_bytes: must be an integer between 1 and 16777216"],
      [withBackends(backend("oa"), MODELS + ',"max_request_bytes":"10"'), "max_request_bytes: must be an integer between 1 and 16777216"],
      [withBackends(backend("oa"), MODELS + ',"max_response_bytes":16777217'), "max_response_bytes: must be an integer between 1 and 16777216"],
      // Once allowed (a 200 MiB answer then trapped the VM: Envoy's V8 gives it 1 GiB).
      [withBackends(backend("oa"), MODELS + ',"max_response_bytes":1073741824'), "max_response_bytes: must be an integer between 1 and 16777216"],
      [withBackends(backend("oa"), MODELS + ',"cluster_header":"bad header"'), "cluster_header: must be a valid header name"],
      [withBackends(backend("oa"), MODELS + ',"cluster_header":""'), "cluster_header: must be a valid header name"],
      [withBackends(backend("oa"), MODELS + ',"cluster_header":7'), "cluster_header: must be a string"],
      // backends
      [withBackends('"oa"'), "backends[0]: must be an object"],
      [withBackends(backend("oa", ',"hots":"x"')), "backends[0].hots: unknown field " + ALLOWED],
      [withBackends('{"schema":"openai","cluster":"c","host":"h"}'), "backends[0].name: required"],
      [withBackends('{"name":"","schema":"openai","cluster":"c","host":"h"}'), "backends[0].name: must not be empty"],
      [withBackends('{"name":1,"schema":"openai","cluster":"c","host":"h"}'), "backends[0].name: must be a string"],
      [withBackends('{"name":"oa","cluster":"c","host":"h"}'), "backends[0].schema: required"],
      [withBackends('{"name":"oa","schema":"cohere","cluster":"c","host":"h"}'), 'backends[0].schema: unsupported schema "cohere" (supported: ' + schemaNames().join(", ") + ")"],
      [withBackends('{"name":"oa","schema":"openai","host":"h"}'), "backends[0].cluster: required"],
      [withBackends('{"name":"oa","schema":"openai","cluster":"a b","host":"h"}'), "backends[0].cluster: must be a valid Envoy cluster name"],
      [withBackends('{"name":"oa","schema":"openai","cluster":"a/b","host":"h"}'), "backends[0].cluster: must be a valid Envoy cluster name"],
      [withBackends('{"name":"oa","schema":"openai","cluster":"c"}'), "backends[0].host: required"],
      [withBackends('{"name":"oa","schema":"openai","cluster":"c","host":"h\\r\\nx-evil: 1"}'), "backends[0].host: must not contain control characters"],
      [withBackends('{"name":"oa","schema":"openai","cluster":"c","host":"h\\n"}'), "backends[0].host: must not contain control characters"],
      [withBackends('{"name":"oa","schema":"openai","cluster":"c","host":"h\\u0000"}'), "backends[0].host: must not contain control characters"],
      [withBackends('{"name":"oa","schema":"openai","cluster":"c","host":"api.openai.com/v1"}'), "backends[0].host: must be a host[:port] authority"],
      [withBackends('{"name":"oa","schema":"openai","cluster":"c","host":"a b"}'), "backends[0].host: must be a host[:port] authority"],
      [withBackends(backend("oa", ',"base_path":"v1"')), "backends[0].base_path: must start with '/' and not end with '/' (or be empty)"],
      [withBackends(backend("oa", ',"base_path":"/v1/"')), "backends[0].base_path: must start with '/' and not end with '/' (or be empty)"],
      [withBackends(backend("oa", ',"base_path":"/v1?x=1"')), "backends[0].base_path: must start with '/' and not end with '/' (or be empty)"],
      [withBackends(backend("oa") + "," + backend("oa")), 'backends[1].name: duplicate backend name "oa"'],
      [withBackends(backend("oa") + "," + backend("b2", ',"x":1')), "backends[1].x: unknown field " + ALLOWED],
      // auth
      [withAuth('"sk"'), "backends[0].auth: must be an object"],
      [withAuth('{"type":"bearer","key":"k","secret":"s"}'), "backends[0].auth.secret: unknown field (allowed: type, key, env, header, param, bad_key_seconds)"],
      [withAuth('{"key":"k"}'), "backends[0].auth.type: required"],
      [withAuth('{"type":"basic","key":"k"}'), 'backends[0].auth.type: unsupported auth type "basic" (supported: none, bearer, header, query, aws-sigv4, gcp-service-account, azure-entra, x-api-key, api-key, x-goog-api-key)'],
      [withAuth('{"type":"bearer","key":"k","env":"OPENAI_KEY"}'), 'backends[0].auth: exactly one of "key" or "env" is required'],
      [withAuth('{"type":"bearer"}'), 'backends[0].auth: exactly one of "key" or "env" is required'],
      [withAuth('{"type":"bearer","key":""}'), "backends[0].auth.key: must not be empty"],
      [withAuth('{"type":"bearer","key":"sk\\r\\nx-evil: 1"}'), "backends[0].auth.key: must not contain control characters"],
      [withAuth('{"type":"bearer","key":42}'), "backends[0].auth.key: must be a string"],
      [withAuth('{"type":"header","key":"k"}'), "backends[0].auth.header: required"],
      [withAuth('{"type":"header","header":"api key","key":"k"}'), "backends[0].auth.header: must be a valid header name"],
      [withAuth('{"type":"header","header":"x:y","key":"k"}'), "backends[0].auth.header: must be a valid header name"],
      [withAuth('{"type":"bearer","env":"MISSING_KEY"}'),
        "backends[0].auth.env: environment variable MISSING_KEY is not set in the Wasm VM (vm_config.environment_variables)"],
      [withAuth('{"type":"bearer","env":"EMPTY_KEY"}'),
        "backends[0].auth.env: environment variable EMPTY_KEY is not set in the Wasm VM (vm_config.environment_variables)"],
      [withAuth('{"type":"bearer","env":"CRLF_KEY"}'), "backends[0].auth.env: environment variable CRLF_KEY contains control characters"],
      [withAuth('{"type":"header","header":"api-key","env":"CRLF_KEY"}'), "backends[0].auth.env: environment variable CRLF_KEY contains control characters"],
      // models
      [withModels('["gpt-4o"]'), "models[0]: must be an object"],
      [withModels('[{"match":"gpt-4o","backend":"oa","upstream":"x"}]'), "models[0].upstream: unknown field (allowed: match, backend, upstream_model)"],
      [withModels('[{"backend":"oa"}]'), "models[0].match: required"],
      [withModels('[{"match":"","backend":"oa"}]'), "models[0].match: must not be empty"],
      [withModels('[{"match":"gpt-4o"}]'), "models[0].backend: required"],
      [withModels('[{"match":"a","backend":"oa"},{"match":"b","backend":"nope"}]'), 'models[1].backend: no backend named "nope"'],
      [withModels('[{"match":"a","backend":"oa","upstream_model":"x-*"}]'), "models[0].upstream_model: must not contain '*'"],
      [withModels('[{"match":"a","backend":"oa","upstream_model":"m\\n"}]'), "models[0].upstream_model: must not contain control characters"],
    ];
    for (let i = 0; i < cases.length; i++) {
      const res = parseConfigString(cases[i][0], env());
      expect(res.config === null).toBe(true, "refused: " + cases[i][0]);
      const want = cases[i][1];
      if (want.endsWith("…")) {
        const prefix = want.substring(0, want.length - 1);
        expect(res.error.substring(0, prefix.length)).toBe(prefix, cases[i][0]);
      } else expect(res.error).toBe(want, cases[i][0]);
      // The secret values in the environment must never leak into an error.
      expect(res.error.includes("SECRET")).toBe(false, "secret leaked: " + cases[i][0]);
      expect(res.error.includes(SECRET)).toBe(false);
      expect(res.error.includes(BAD_SECRET)).toBe(false);
    }
  });

  it("unknown-field errors list the documented fields of that level", () => {
    // [config, fields that must be listed after "allowed:"]
    const cases: string[][] = [
      ['{"nope":1}', "backends, models, max_request_bytes, max_response_bytes, cluster_header"],
      [withBackends(backend("oa", ',"nope":1')), "name, schema, cluster, host, base_path, auth"],
      // The allowed fields depend on the auth type, so the type comes first.
      [withAuth('{"type":"bearer","nope":1}'), "type, key, env, header"],
      [withModels('[{"nope":1}]'), "match, backend, upstream_model"],
    ];
    for (let i = 0; i < cases.length; i++) {
      const err = parseConfigString(cases[i][0], env()).error;
      expect(err.includes("nope: unknown field (allowed: ")).toBe(true, err);
      const listed = err.substring(err.indexOf("(allowed: ") + 10, err.length - 1).split(", ");
      const fields = cases[i][1].split(", ");
      for (let j = 0; j < fields.length; j++) expect(listed.includes(fields[j])).toBe(true, fields[j] + " in " + err);
      expect(listed.includes("nope")).toBe(false);
    }
  });

  it("an unknown field whose name is not a plain identifier is quoted in the path (no control characters reach the log)", () => {
    // Found by the fuzzer (docs/robustness.md). [config, expected path before ": unknown field"]
    const cases: string[][] = [
      ['{"a\\u0000b":1}', '"a\\u0000b"'],
      ['{"a\\nx-injected: 1":1}', '"a\\nx-injected: 1"'],
      ['{"":1}', '""'],
      [withModels('[{"match":"m","backend":"oa","é":1}]'), 'models[0]."é"'],
      [withAuth('{"type":"bearer","key":"k","sp ace":1}'), 'backends[0].auth."sp ace"'],
      [withModels('[{"match":"m","backend":"oa","x_plain-1":1}]'), "models[0].x_plain-1"],
    ];
    for (let i = 0; i < cases.length; i++) {
      const err = parseConfigString(cases[i][0], env()).error;
      expect(err.startsWith(cases[i][1] + ": unknown field")).toBe(true, err);
      for (let k = 0; k < err.length; k++) expect(err.charCodeAt(k) >= 0x20).toBe(true, "control character in: " + err);
    }
  });

  it("reports the first error only, in document order of validation", () => {
    const res = parseConfigString(withBackends('{"name":"a","schema":"x","cluster":"bad cluster","host":"h"}', '"models":[{"match":"m","backend":"zz"}]'), env());
    expect(res.error).toBe('backends[0].schema: unsupported schema "x" (supported: ' + schemaNames().join(", ") + ")");
  });
});

describe("parseConfig builds typed configuration", () => {
  it("applies defaults", () => {
    const res = parseConfigString(withBackends(backend("oa")), env());
    expect(res.error).toBe("");
    const cfg = res.config!;
    expect(cfg.maxRequestBytes).toBe(1048576);
    expect(cfg.maxResponseBytes).toBe(8388608);
    expect(cfg.clusterHeader).toBe("x-ai-gateway-cluster");
    expect(cfg.backends.length).toBe(1);
    const b = cfg.backends[0];
    expect(b.name).toBe("oa");
    expect(b.schema).toBe("openai");
    expect(b.cluster).toBe("openai_cluster");
    expect(b.host).toBe("api.openai.com");
    expect(b.basePath).toBe("/v1");
    expect(b.index).toBe(0);
    expect(b.auth.type).toBe("none", "no auth block → no credentials");
    expect(b.auth.secret).toBe("");
    expect(cfg.models.length).toBe(1);
    expect(cfg.models[0].pattern).toBe("gpt-*");
    expect(cfg.models[0].upstreamModel).toBe("");
    expect(cfg.models[0].backend === b).toBe(true, "rule points at the backend object");
  });

  it("reads every field", () => {
    const text = '{"max_request_bytes":2048,"max_response_bytes":16777216,"cluster_header":"X-Route-To",' +
      '"backends":[' + backend("oa", ',"base_path":""') + ',{"name":"local","schema":"openai","cluster":"vllm_local",' +
      '"host":"127.0.0.1:8000","base_path":"/openai/v1","auth":{"type":"none"}}],' +
      '"models":[{"match":"gpt-4o","backend":"oa","upstream_model":"gpt-4o-2024-08-06"},{"match":"llama-*-chat","backend":"local"}]}';
    const res = parseConfigString(text, env());
    expect(res.error).toBe("");
    const cfg = res.config!;
    expect(cfg.maxRequestBytes).toBe(2048);
    expect(cfg.maxResponseBytes).toBe(16777216);
    expect(cfg.clusterHeader).toBe("x-route-to", "header names are lower-cased");
    expect(cfg.backends[0].basePath).toBe("", "empty base path is allowed");
    const local = cfg.backends[1];
    expect(local.index).toBe(1);
    expect(local.cluster).toBe("vllm_local");
    expect(local.host).toBe("127.0.0.1:8000");
    expect(local.basePath).toBe("/openai/v1");
    expect(cfg.models[0].upstreamModel).toBe("gpt-4o-2024-08-06");
    expect(cfg.models[1].backend.name).toBe("local");
    expect(cfg.models[1].parts.join(",")).toBe("llama-,-chat", "glob split at '*'");
    expect(cfg.models[0].parts.length).toBe(1, "exact name: one part");
  });

  it("bearer auth: Authorization header with the Bearer prefix, from key or env", () => {
    const fromKey = parseConfigString(withAuth('{"type":"bearer","key":"sk-inline"}'), env()).config!;
    expect(fromKey.backends[0].auth.type).toBe("bearer");
    expect(fromKey.backends[0].auth.header).toBe("authorization");
    expect(fromKey.backends[0].auth.secret).toBe("Bearer sk-inline");
    const fromEnv = parseConfigString(withAuth('{"type":"bearer","env":"OPENAI_KEY"}'), env()).config!;
    expect(fromEnv.backends[0].auth.secret).toBe("Bearer " + SECRET);
  });

  it("header auth: lower-cased header name, secret without prefix", () => {
    const cfg = parseConfigString(withAuth('{"type":"header","header":"Api-Key","env":"OPENAI_KEY"}'), env()).config!;
    expect(cfg.backends[0].auth.type).toBe("header");
    expect(cfg.backends[0].auth.header).toBe("api-key");
    expect(cfg.backends[0].auth.secret).toBe(SECRET);
    const inline = parseConfigString(withAuth('{"type":"header","header":"X-API-KEY","key":"k1"}'), env()).config!;
    expect(inline.backends[0].auth.header).toBe("x-api-key");
    expect(inline.backends[0].auth.secret).toBe("k1");
  });

  it("cluster names may use RFC 9110 token characters", () => {
    const ok: string[] = ["openai", "outbound|443||api.openai.com", "a.b-c_d~e!#$%&'*+^`"];
    for (let i = 0; i < ok.length; i++) {
      const text = withBackends('{"name":"oa","schema":"openai","cluster":' + '"' + ok[i] + '"' + ',"host":"h"}');
      const res = parseConfigString(text, env());
      expect(res.error).toBe("", ok[i]);
    }
  });
});

describe("auth shorthand types", () => {
  it("{\"type\": \"x-api-key\"} is a header credential named x-api-key (the shorthand spelling)", () => {
    const cfg = '{"backends":[{"name":"c","schema":"anthropic","cluster":"anthropic","host":"api.anthropic.com","auth":{"type":"x-api-key","key":"sk-ant"}}],"models":[{"match":"claude-*","backend":"c"}]}';
    const res = parseConfigString(cfg, env());
    expect(res.error).toBe("");
    const a = res.config!.backends[0].auth;
    expect(a.type).toBe("header");
    expect(a.header).toBe("x-api-key");
    expect(a.secret).toBe("sk-ant");
  });
  it("a shorthand type takes no header field", () => {
    const cfg = '{"backends":[{"name":"c","schema":"openai","cluster":"c","host":"h","auth":{"type":"api-key","header":"x","key":"k"}}],"models":[{"match":"m","backend":"c"}]}';
    expect(parseConfigString(cfg, env()).error).toBe('backends[0].auth.header: not used with type "api-key"');
  });
});
