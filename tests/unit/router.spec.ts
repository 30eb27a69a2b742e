// Model routing: an exact name always wins over a pattern, whatever the configuration order;
// patterns ('*' = any run of characters, possibly empty, several allowed) are tried in
// configuration order; nothing matching → null (the filter answers 404 model_not_found).

import { Router, globMatch } from "../../assembly/routing/router";
import { Backend, Config, ModelRule, parseConfigString, Env } from "../../assembly/config/config";

/** A rule as the config parser builds it (parts = pattern split at '*'); the backend name tags it. */
function rule(pattern: string, backendName: string): ModelRule {
  const b = new Backend();
  b.name = backendName;
  const r = new ModelRule(b);
  r.pattern = pattern;
  r.parts = pattern.split("*");
  return r;
}

/** Config from "pattern=backend" pairs, in order. */
function config(spec: string[]): Config {
  const cfg = new Config();
  for (let i = 0; i < spec.length; i++) {
    const eq = spec[i].indexOf("=");
    cfg.models.push(rule(spec[i].substring(0, eq), spec[i].substring(eq + 1)));
  }
  return cfg;
}

/** Backend name the model routes to, or "-" when nothing matches. */
function route(r: Router, model: string): string {
  const m = r.find(model);
  return m === null ? "-" : m.backend.name;
}

class NoEnv extends Env { get(_name: string): string | null { return null; } }

describe("globMatch", () => {
  it("matches '*' globs", () => {
    // [pattern, subject, "1" match / "0" no match]
    const cases: string[][] = [
      ["gpt-4o", "gpt-4o", "1"], ["gpt-4o", "gpt-4o-mini", "0"], ["gpt-4o", "gpt-4", "0"], ["gpt-4o", "", "0"],
      ["*", "", "1"], ["*", "anything at all", "1"], ["**", "", "1"], ["**", "x", "1"],
      ["gpt-*", "gpt-", "1"], ["gpt-*", "gpt-4o", "1"], ["gpt-*", "gpt", "0"], ["gpt-*", "xgpt-4", "0"],
      ["*-mini", "gpt-4o-mini", "1"], ["*-mini", "-mini", "1"], ["*-mini", "gpt-4o-mini-2024", "0"],
      ["a*b*c", "abc", "1"], ["a*b*c", "aXbYc", "1"], ["a*b*c", "aXXbYYc", "1"], ["a*b*c", "acb", "0"], ["a*b*c", "ab", "0"],
      ["a*b*c", "abcbc", "1"], ["a*b*c", "aXc", "0"],
      // prefix and suffix overlap: "a*a" needs two a's, not one shared
      ["a*a", "a", "0"], ["a*a", "aa", "1"], ["a*a", "aba", "1"], ["a*a", "ab", "0"],
      ["ab*ba", "aba", "0"], ["ab*ba", "abba", "1"],
      // a middle part must fit between prefix and suffix without overlapping them
      ["ab*b*ba", "abba", "0"], ["ab*b*ba", "abbba", "1"], ["x*yy*x", "xyyx", "1"], ["x*yy*x", "xyx", "0"],
      ["*o*", "gpt-4o", "1"], ["*z*", "gpt-4o", "0"], ["claude-*-4-*", "claude-sonnet-4-5", "1"],
      ["claude-*-4-*", "claude-sonnet-3-5", "0"],
    ];
    for (let i = 0; i < cases.length; i++) {
      const got = globMatch(cases[i][0].split("*"), cases[i][1]);
      expect(got).toBe(cases[i][2] == "1", cases[i][0] + " vs \"" + cases[i][1] + "\"");
    }
  });
});

describe("Router", () => {
  it("exact names win over patterns regardless of order", () => {
    const patternFirst = new Router(config(["gpt-*=pattern", "gpt-4o=exact"]));
    const exactFirst = new Router(config(["gpt-4o=exact", "gpt-*=pattern"]));
    expect(route(patternFirst, "gpt-4o")).toBe("exact");
    expect(route(exactFirst, "gpt-4o")).toBe("exact");
    expect(route(patternFirst, "gpt-4o-mini")).toBe("pattern");
    expect(route(exactFirst, "gpt-4o-mini")).toBe("pattern");
    // '*' alone is a catch-all, but still loses to an exact name listed after it.
    const catchAll = new Router(config(["*=any", "gpt-4o=exact"]));
    expect(route(catchAll, "gpt-4o")).toBe("exact");
    expect(route(catchAll, "whatever")).toBe("any");
    expect(route(catchAll, "")).toBe("any");
  });

  it("tries patterns in configuration order", () => {
    const r1 = new Router(config(["gpt-4*=first", "gpt-*=second"]));
    const r2 = new Router(config(["gpt-*=first", "gpt-4*=second"]));
    expect(route(r1, "gpt-4o")).toBe("first");
    expect(route(r2, "gpt-4o")).toBe("first");
    expect(route(r1, "gpt-3.5")).toBe("second");
  });

  it("keeps the first of duplicate exact names", () => {
    const r = new Router(config(["m=first", "m=second"]));
    expect(route(r, "m")).toBe("first");
  });

  it("prefix/suffix overlap: a*a does not match a, the exact a does", () => {
    const onlyPattern = new Router(config(["a*a=pattern"]));
    expect(route(onlyPattern, "a")).toBe("-");
    expect(route(onlyPattern, "aa")).toBe("pattern");
    const both = new Router(config(["a*a=pattern", "a=exact"]));
    expect(route(both, "a")).toBe("exact");
    expect(route(both, "aa")).toBe("pattern");
    expect(route(both, "aXa")).toBe("pattern");
  });

  it("multiple '*' in one pattern", () => {
    const r = new Router(config(["claude-*-4-*=c", "*-embedding-*=e"]));
    expect(route(r, "claude-opus-4-1")).toBe("c");
    expect(route(r, "text-embedding-3-small")).toBe("e");
    expect(route(r, "claude-opus-3")).toBe("-");
  });

  it("returns null when nothing matches", () => {
    const r = new Router(config(["gpt-4o=a", "gpt-4o-*=b"]));
    expect(r.find("gpt-4") === null).toBe(true);
    expect(r.find("GPT-4O") === null).toBe(true, "matching is case-sensitive");
    expect(r.find("") === null).toBe(true);
    expect(new Router(new Config()).find("x") === null).toBe(true, "no rules at all");
  });

  it("listable() gives the exact names only, once each, in configuration order", () => {
    const r = new Router(config(["gpt-*=p", "gpt-4o=a", "*=any", "o3=b", "gpt-4o=dup", "text-embedding-3-small=c"]));
    expect(r.listable().join(",")).toBe("gpt-4o,o3,text-embedding-3-small");
    expect(new Router(config(["*=any"])).listable().length).toBe(0);
  });

  it("works on a configuration built by parseConfig", () => {
    const res = parseConfigString('{"backends":[{"name":"oa","schema":"openai","cluster":"c","host":"h"},' +
      '{"name":"other","schema":"openai","cluster":"c2","host":"h2"}],' +
      '"models":[{"match":"gpt-*","backend":"other"},{"match":"gpt-4o","backend":"oa","upstream_model":"gpt-4o-2024-08-06"}]}', new NoEnv());
    expect(res.error).toBe("");
    const r = new Router(res.config!);
    const m = r.find("gpt-4o")!;
    expect(m.backend.name).toBe("oa");
    expect(m.upstreamModel).toBe("gpt-4o-2024-08-06");
    expect(route(r, "gpt-5")).toBe("other");
  });
});
