// Google backends: configuration of the schemas gemini / vertex-gemini / vertex-anthropic
// (default hosts and base paths, project/location validated and named in errors), and the pure
// mapping tables of the Gemini provider (finishReason for every value of the v1beta enum plus
// Vertex's MODEL_ARMOR, google.rpc codes → OpenAI error type/code/status, model path safety).

import { parseConfigString, Env } from "../../assembly/config/config";
import { googleErrorKind, modelSegmentOk, hash8 } from "../../assembly/providers/google";
import { geminiFinish } from "../../assembly/providers/gemini";
import { parseJson } from "../../assembly/json/json";
import { bytesOf } from "../../assembly/util/bytes";
import { RSA2048_PKCS8_PEM } from "./gcp-vectors";

class NoEnv extends Env { get(_name: string): string | null { return null; } }

function keyFile(project: string): string {
  const pem = RSA2048_PKCS8_PEM.replaceAll("\n", "\\n");
  return '{"type":"service_account","client_email":"gw@p.iam.gserviceaccount.com","private_key":"' + pem + '"' +
    (project.length ? ',"project_id":"' + project + '"' : "") + "}";
}
function gcpAuth(project: string = "key-project"): string {
  return '{"type":"gcp-service-account","token_cluster":"gcp_oauth","credentials":' + keyFile(project) + "}";
}
function config(backend: string): string {
  return '{"backends":[' + backend + '],"models":[{"match":"*","backend":"b"}]}';
}

describe("Google schemas: defaults", () => {
  it("gemini: host generativelanguage.googleapis.com, base path /v1beta, x-goog-api-key auth", () => {
    const r = parseConfigString(config('{"name":"b","schema":"gemini","cluster":"c","auth":{"type":"x-goog-api-key","key":"AIza-k"}}'), new NoEnv());
    expect(r.error).toBe("");
    const b = r.config!.backends[0];
    expect(b.host).toBe("generativelanguage.googleapis.com");
    expect(b.basePath).toBe("/v1beta");
    expect(b.auth.header).toBe("x-goog-api-key");
  });

  it("vertex-gemini: host <location>-aiplatform.googleapis.com, base path /v1, project from the service account key", () => {
    const r = parseConfigString(config('{"name":"b","schema":"vertex-gemini","cluster":"c","location":"europe-west4","auth":' + gcpAuth() + "}"), new NoEnv());
    expect(r.error).toBe("");
    const b = r.config!.backends[0];
    expect(b.host).toBe("europe-west4-aiplatform.googleapis.com");
    expect(b.basePath).toBe("/v1");
    expect(b.project).toBe("key-project");
    expect(b.location).toBe("europe-west4");
  });

  it("vertex-anthropic: location global → aiplatform.googleapis.com; an explicit project wins over the key's", () => {
    const r = parseConfigString(config('{"name":"b","schema":"vertex-anthropic","cluster":"c","project":"my-proj-123","location":"global","auth":' + gcpAuth() + "}"), new NoEnv());
    expect(r.error).toBe("");
    expect(r.config!.backends[0].host).toBe("aiplatform.googleapis.com");
    expect(r.config!.backends[0].project).toBe("my-proj-123");
  });

  it("multi-region locations us / eu → aiplatform.<us|eu>.rep.googleapis.com", () => {
    const us = parseConfigString(config('{"name":"b","schema":"vertex-gemini","cluster":"c","project":"p-1","location":"us","auth":' + gcpAuth() + "}"), new NoEnv());
    expect(us.config!.backends[0].host).toBe("aiplatform.us.rep.googleapis.com");
    const eu = parseConfigString(config('{"name":"b","schema":"vertex-gemini","cluster":"c","project":"p-1","location":"eu","auth":' + gcpAuth() + "}"), new NoEnv());
    expect(eu.config!.backends[0].host).toBe("aiplatform.eu.rep.googleapis.com");
  });

  it("host and base_path given explicitly are kept (e.g. a private endpoint or v1beta1)", () => {
    const r = parseConfigString(config('{"name":"b","schema":"vertex-gemini","cluster":"c","project":"p-1","location":"us-central1","host":"vertex.internal:8443","base_path":"/v1beta1","auth":' + gcpAuth() + "}"), new NoEnv());
    expect(r.error).toBe("");
    expect(r.config!.backends[0].host).toBe("vertex.internal:8443");
    expect(r.config!.backends[0].basePath).toBe("/v1beta1");
  });

  it("Vertex express mode (an API key instead of a service account) needs an explicit project", () => {
    const ok = parseConfigString(config('{"name":"b","schema":"vertex-gemini","cluster":"c","project":"p-1","location":"global","auth":{"type":"x-goog-api-key","key":"k"}}'), new NoEnv());
    expect(ok.error).toBe("");
  });
});

describe("Google schemas: invalid configurations name the field", () => {
  it("table of invalid configurations → exact error", () => {
    const cases: string[][] = [
      [config('{"name":"b","schema":"vertex-gemini","cluster":"c","project":"p-1","auth":' + gcpAuth() + "}"),
        'backends[0].location: required for schema vertex-gemini ("global", "us", "eu" or a region such as "us-central1")'],
      [config('{"name":"b","schema":"vertex-anthropic","cluster":"c","location":"us-east5","auth":{"type":"x-goog-api-key","key":"k"}}'),
        "backends[0].project: required for schema vertex-anthropic (or a service account key with project_id)"],
      [config('{"name":"b","schema":"vertex-anthropic","cluster":"c","location":"us-east5","auth":' + gcpAuth("") + "}"),
        "backends[0].project: required for schema vertex-anthropic (or a service account key with project_id)"],
      [config('{"name":"b","schema":"vertex-gemini","cluster":"c","project":"p-1","location":"US-Central1","auth":' + gcpAuth() + "}"),
        'backends[0].location: must be "global", "us", "eu" or a region such as "us-central1"'],
      [config('{"name":"b","schema":"vertex-gemini","cluster":"c","project":"p-1","location":"us-central1/../x","auth":' + gcpAuth() + "}"),
        'backends[0].location: must be "global", "us", "eu" or a region such as "us-central1"'],
      [config('{"name":"b","schema":"vertex-gemini","cluster":"c","project":"My Project","location":"global","auth":' + gcpAuth() + "}"),
        "backends[0].project: must be a GCP project id (lower case letters, digits, '-')"],
      [config('{"name":"b","schema":"vertex-gemini","cluster":"c","project":7,"location":"global","auth":' + gcpAuth() + "}"),
        "backends[0].project: must be a GCP project id (lower case letters, digits, '-')"],
      [config('{"name":"b","schema":"gemini","cluster":"c","project":"p-1","auth":{"type":"x-goog-api-key","key":"k"}}'),
        "backends[0].project: only for schemas vertex-gemini and vertex-anthropic"],
      [config('{"name":"b","schema":"anthropic","cluster":"c","host":"api.anthropic.com","location":"global"}'),
        "backends[0].location: only for schemas vertex-gemini and vertex-anthropic"],
      [config('{"name":"b","schema":"openai","cluster":"c"}'), "backends[0].host: required"],
    ];
    for (let i = 0; i < cases.length; i++) {
      const r = parseConfigString(cases[i][0], new NoEnv());
      expect(r.config === null).toBe(true, cases[i][1]);
      expect(r.error).toBe(cases[i][1]);
    }
  });
});

describe("Gemini finishReason → OpenAI finish_reason", () => {
  it("every FinishReason value (v1beta, plus Vertex MODEL_ARMOR), with and without function calls", () => {
    // [finishReason, without calls, with calls]
    const table: string[][] = [
      ["STOP", "stop", "tool_calls"],
      ["MAX_TOKENS", "length", "length"],
      ["SAFETY", "content_filter", "content_filter"],
      ["RECITATION", "content_filter", "content_filter"],
      ["LANGUAGE", "content_filter", "content_filter"],
      ["BLOCKLIST", "content_filter", "content_filter"],
      ["PROHIBITED_CONTENT", "content_filter", "content_filter"],
      ["SPII", "content_filter", "content_filter"],
      ["IMAGE_SAFETY", "content_filter", "content_filter"],
      ["IMAGE_PROHIBITED_CONTENT", "content_filter", "content_filter"],
      ["IMAGE_RECITATION", "content_filter", "content_filter"],
      ["MODEL_ARMOR", "content_filter", "content_filter"],
      ["OTHER", "stop", "tool_calls"],
      ["FINISH_REASON_UNSPECIFIED", "stop", "tool_calls"],
      ["MALFORMED_FUNCTION_CALL", "stop", "tool_calls"],
      ["UNEXPECTED_TOOL_CALL", "stop", "tool_calls"],
      ["TOO_MANY_TOOL_CALLS", "stop", "tool_calls"],
      ["NO_IMAGE", "stop", "tool_calls"],
      ["IMAGE_OTHER", "stop", "tool_calls"],
      ["SOMETHING_NEW", "stop", "tool_calls"],
    ];
    for (let i = 0; i < table.length; i++) {
      const doc = parseJson(bytesOf('"' + table[i][0] + '"'));
      expect(geminiFinish(doc, doc.root, false)).toBe(table[i][1], table[i][0]);
      expect(geminiFinish(doc, doc.root, true)).toBe(table[i][2], table[i][0] + " with calls");
    }
  });
});

describe("google.rpc status → OpenAI error", () => {
  it("status, type and code per google.rpc code (and per HTTP status when there is none)", () => {
    // [http status, rpc status, reason, client status, type, code]
    const table: string[][] = [
      ["400", "INVALID_ARGUMENT", "", "400", "invalid_request_error", "invalid_argument"],
      ["400", "INVALID_ARGUMENT", "API_KEY_INVALID", "401", "invalid_request_error", "invalid_api_key"],
      ["400", "FAILED_PRECONDITION", "", "400", "invalid_request_error", "failed_precondition"],
      ["401", "UNAUTHENTICATED", "", "401", "invalid_request_error", "invalid_api_key"],
      ["403", "PERMISSION_DENIED", "", "403", "permission_error", "permission_denied"],
      ["404", "NOT_FOUND", "", "404", "invalid_request_error", "not_found"],
      ["429", "RESOURCE_EXHAUSTED", "", "429", "rate_limit_error", "rate_limit_exceeded"],
      ["500", "INTERNAL", "", "500", "server_error", "internal"],
      ["503", "UNAVAILABLE", "", "503", "server_error", "unavailable"],
      ["504", "DEADLINE_EXCEEDED", "", "504", "server_error", "timeout"],
      ["409", "ABORTED", "", "409", "invalid_request_error", "aborted"],
      ["429", "", "", "429", "rate_limit_error", "rate_limit_exceeded"],
      ["502", "", "", "502", "server_error", ""],
      ["404", "", "", "404", "invalid_request_error", ""],
    ];
    for (let i = 0; i < table.length; i++) {
      const t = table[i];
      const k = googleErrorKind(I32.parseInt(t[0]), t[1], t[2]);
      expect(k.status).toBe(I32.parseInt(t[3]), t[1]);
      expect(k.type).toBe(t[4], t[1]);
      expect(k.code).toBe(t[5], t[1]);
    }
  });
});

describe("model ids in Google URLs", () => {
  it("model ids are one safe path segment ('@' allowed for Vertex partner versions)", () => {
    expect(modelSegmentOk("gemini-2.5-flash")).toBe(true);
    expect(modelSegmentOk("claude-sonnet-4-5@20250929")).toBe(true);
    expect(modelSegmentOk("")).toBe(false);
    expect(modelSegmentOk("models/gemini")).toBe(false);
    expect(modelSegmentOk("gemini:streamGenerateContent")).toBe(false);
    expect(modelSegmentOk("a?alt=json")).toBe(false);
    expect(modelSegmentOk("a%2F..")).toBe(false);
    expect(modelSegmentOk("a b")).toBe(false);
  });

  it("hash8 is FNV-1a 32 in 8 hex digits (known vectors)", () => {
    // FNV-1a 32: "" → 811c9dc5, "a" → e40c292c, "foobar" → bf9cf968.
    expect(hash8(bytesOf(""), 0, 0)).toBe("811c9dc5");
    expect(hash8(bytesOf("a"), 0, 1)).toBe("e40c292c");
    expect(hash8(bytesOf("foobar"), 0, 6)).toBe("bf9cf968");
  });
});
