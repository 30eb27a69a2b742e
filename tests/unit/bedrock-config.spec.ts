// Configuration of the Bedrock schemas (bedrock-converse, bedrock-anthropic): `region` (default
// auth.region), the default host bedrock-runtime.<region>.amazonaws.com and base_path "", the
// auth types Bedrock accepts, and field-named errors for everything else.

import { parseConfigString, Env } from "../../assembly/config/config";

class MapEnv extends Env {
  get(name: string): string | null { return name == "AWS_SECRET" ? "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" : null; }
}

const SIGV4 = '{"type":"aws-sigv4","region":"us-east-1","access_key":"AKIDEXAMPLE","secret_key_env":"AWS_SECRET"}';
function cfg(backend: string): string {
  return '{"backends":[' + backend + '],"models":[{"match":"*","backend":"b"}]}';
}

describe("bedrock backends: defaults", () => {
  it("region from auth.region gives the host; base_path defaults to empty", () => {
    const res = parseConfigString(cfg('{"name":"b","schema":"bedrock-converse","cluster":"bedrock","auth":' + SIGV4 + "}"), new MapEnv());
    expect(res.error).toBe("");
    const b = res.config!.backends[0];
    expect(b.region).toBe("us-east-1");
    expect(b.host).toBe("bedrock-runtime.us-east-1.amazonaws.com");
    expect(b.basePath).toBe("");
    expect(b.auth.service).toBe("bedrock");
  });

  it("an explicit region equal to auth.region, an explicit host and base_path are kept", () => {
    const res = parseConfigString(cfg('{"name":"b","schema":"bedrock-anthropic","cluster":"bedrock","region":"us-east-1","host":"vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com","base_path":"/proxy","auth":' + SIGV4 + "}"), new MapEnv());
    expect(res.error).toBe("");
    const b = res.config!.backends[0];
    expect(b.host).toBe("vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com");
    expect(b.basePath).toBe("/proxy");
  });

  it("a Bedrock API key (bearer) needs region on the backend", () => {
    const res = parseConfigString(cfg('{"name":"b","schema":"bedrock-converse","cluster":"bedrock","region":"eu-west-3","auth":{"type":"bearer","key":"ABSK-test"}}'), new MapEnv());
    expect(res.error).toBe("");
    expect(res.config!.backends[0].host).toBe("bedrock-runtime.eu-west-3.amazonaws.com");
    expect(res.config!.backends[0].auth.secret).toBe("Bearer ABSK-test");
  });
});

describe("bedrock backends: refused with the field named", () => {
  it("table of invalid configurations → exact error", () => {
    const cases: string[][] = [
      ['{"name":"b","schema":"bedrock-converse","cluster":"bedrock","auth":{"type":"bearer","key":"k"}}',
        "backends[0].region: required: the AWS region of the Bedrock endpoint (or auth.region with aws-sigv4)"],
      ['{"name":"b","schema":"bedrock-converse","cluster":"bedrock"}',
        "backends[0].region: required: the AWS region of the Bedrock endpoint (or auth.region with aws-sigv4)"],
      ['{"name":"b","schema":"bedrock-converse","cluster":"bedrock","region":"us-west-2","auth":' + SIGV4 + "}",
        'backends[0].region: is "us-west-2" but auth.region is "us-east-1"; requests are signed for auth.region'],
      ['{"name":"b","schema":"bedrock-converse","cluster":"bedrock","region":"US East","auth":{"type":"bearer","key":"k"}}',
        "backends[0].region: must be an AWS region name like us-east-1"],
      ['{"name":"b","schema":"bedrock-converse","cluster":"bedrock","region":7}', "backends[0].region: must be a string"],
      ['{"name":"b","schema":"bedrock-anthropic","cluster":"bedrock","region":"us-east-1","auth":{"type":"header","header":"x-api-key","key":"k"}}',
        'backends[0].auth.type: Bedrock backends use "aws-sigv4" or "bearer" (a Bedrock API key), not "header"'],
      ['{"name":"b","schema":"openai","cluster":"c","host":"api.openai.com","region":"us-east-1"}',
        "backends[0].region: only used with the bedrock-converse and bedrock-anthropic schemas"],
      ['{"name":"b","schema":"bedrock-converse","cluster":"bedrock","region":"us-east-1","host":"a/b"}',
        "backends[0].host: must be a host[:port] authority"],
    ];
    for (let i = 0; i < cases.length; i++) {
      const res = parseConfigString(cfg(cases[i][0]), new MapEnv());
      expect(res.config === null).toBe(true, "refused: " + cases[i][0]);
      expect(res.error).toBe(cases[i][1], cases[i][0]);
      expect(res.error.includes("EXAMPLEKEY")).toBe(false, "secret leaked: " + cases[i][0]);
    }
  });
});
