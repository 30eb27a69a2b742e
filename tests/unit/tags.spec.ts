// Tag values for stat names (assembly/util/tags.ts): model names keep their dots, slashes and
// colons; the separators of the encoding (`;`, `=`) and anything outside the allowed set become
// `_`; empty tokens and unbounded lengths cannot happen.

import { tagValue } from "../../assembly/util/tags";

describe("tagValue", () => {
  it("keeps real model and client names unchanged", () => {
    expect(tagValue("gpt-4.1")).toBe("gpt-4.1");
    expect(tagValue("anthropic.claude-3-5-sonnet-20240620-v1:0")).toBe("anthropic.claude-3-5-sonnet-20240620-v1:0");
    expect(tagValue("accounts/fireworks/models/llama-v3p1-8b-instruct")).toBe("accounts/fireworks/models/llama-v3p1-8b-instruct");
    expect(tagValue("team_a@example.com+ops")).toBe("team_a@example.com+ops");
  });
  it("replaces the encoding's separators and other characters with _", () => {
    expect(tagValue("gpt-4;x=y")).toBe("gpt-4_x_y");
    expect(tagValue("a b\"c\\d\ne")).toBe("a_b_c_d_e");
    expect(tagValue("modèle")).toBe("mod_le");
  });
  it("never produces an empty stat-name token (two dots in a row)", () => {
    expect(tagValue("a..b")).toBe("a._b");
    expect(tagValue("a...b")).toBe("a._.b");
  });
  it("is never empty and at most 96 characters", () => {
    expect(tagValue("")).toBe("none");
    expect(tagValue("x".repeat(200)).length).toBe(96);
  });
});
