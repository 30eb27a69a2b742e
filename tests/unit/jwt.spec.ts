// Google service-account JWT assertions: whole tokens must equal the ones gen.mjs builds with
// JSON.stringify + base64url + node:crypto and then verifies with the public key (RS256 is
// deterministic, so any difference in header, claims, member order, encoding or signature shows).
// Broken key files must fail with errors that name the field and never echo the key.

import {
  parseServiceAccount, parseServiceAccountJson, buildJwtAssertion, GOOGLE_TOKEN_URI,
  CLOUD_PLATFORM_SCOPE,
} from "../../assembly/auth/jwt";
import { BigNat, add } from "../../assembly/util/bigint";
import { bytesOf } from "../../assembly/util/bytes";
import { JWTS, JWTS_FIELDS, SA_BAD, SA_BAD_FIELDS } from "./gcp-vectors";

describe("service-account key file", () => {
  it("reads the fields of a key file downloaded from IAM", () => {
    const r = parseServiceAccount(JWTS[1]); // 2048-full
    expect(r.error).toBe("");
    const sa = r.account!;
    expect(sa.clientEmail).toBe("ai-gateway@gateway-test-project.iam.gserviceaccount.com");
    expect(sa.privateKeyId.length).toBe(40);
    expect(sa.tokenUri).toBe("https://oauth2.googleapis.com/token");
    expect(sa.projectId).toBe("gateway-test-project");
    expect(sa.key.bits).toBe(2048);
  });

  it("defaults token_uri and leaves private_key_id empty when absent", () => {
    const r = parseServiceAccount(JWTS[JWTS_FIELDS + 1]); // 3072-no-kid-default-token-uri
    expect(r.error).toBe("");
    expect(r.account!.tokenUri).toBe(GOOGLE_TOKEN_URI);
    expect(r.account!.privateKeyId).toBe("");
    expect(r.account!.key.bits).toBe(3072);
  });

  it("rejects broken key files, naming the field and never quoting the key", () => {
    for (let r = 0; r + SA_BAD_FIELDS <= SA_BAD.length; r += SA_BAD_FIELDS) {
      const name = SA_BAD[r];
      const res = parseServiceAccountJson(bytesOf(SA_BAD[r + 1]));
      expect(res.ok).toBe(false, name);
      expect(res.account === null).toBe(true, name);
      expect(res.error.includes(SA_BAD[r + 2])).toBe(true, name + ": got \"" + res.error + "\"");
      expect(res.error.includes("MII")).toBe(false, name);
      expect(res.error.includes("-----")).toBe(false, name);
      expect(res.error.includes("gserviceaccount")).toBe(false, name);
    }
  });
});

describe("JWT bearer assertion", () => {
  it("equals the token node:crypto builds, byte for byte", () => {
    for (let r = 0; r + JWTS_FIELDS <= JWTS.length; r += JWTS_FIELDS) {
      const name = JWTS[r];
      const sa = parseServiceAccount(JWTS[r + 1]);
      expect(sa.error).toBe("", name);
      const now = I64.parseInt(JWTS[r + 3]);
      const jwt = buildJwtAssertion(sa.account!, JWTS[r + 2], now);
      expect(jwt.error).toBe("", name);
      expect(jwt.token).toBe(JWTS[r + 4], name);
    }
  });

  it("starts with the header and claims Google expects", () => {
    const sa = parseServiceAccount(JWTS[1]).account!;
    const t = buildJwtAssertion(sa, CLOUD_PLATFORM_SCOPE, 1700000000).token;
    const parts = t.split(".");
    expect(parts.length).toBe(3);
    // {"alg":"RS256","typ":"JWT","kid":" and {"iss":"ai-gateway@gateway-test-project.iam.gserviceaccount.com","scope":
    expect(parts[0].startsWith("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6I")).toBe(true, parts[0]);
    expect(parts[1].startsWith("eyJpc3MiOiJhaS1nYXRld2F5QGdhdGV3YXktdGVzdC1wcm9qZWN0LmlhbS5nc2VydmljZWFjY291bnQuY29tIiwic2NvcGUiOi")).toBe(true, parts[1]);
    expect(parts[2].length).toBe(342); // 256 bytes, unpadded base64url
    expect(t.includes("=")).toBe(false);
  });

  it("refuses an empty scope and a negative time", () => {
    const sa = parseServiceAccount(JWTS[1]).account!;
    const a = buildJwtAssertion(sa, "", 1700000000);
    expect(a.ok).toBe(false);
    expect(a.token).toBe("");
    expect(buildJwtAssertion(sa, CLOUD_PLATFORM_SCOPE, -1).ok).toBe(false);
  });

  it("returns the signer's error instead of a token when the signature fails verification", () => {
    const sa = parseServiceAccount(JWTS[1]).account!;
    sa.key.dq = add(sa.key.dq, BigNat.fromU32(1));
    const t = buildJwtAssertion(sa, CLOUD_PLATFORM_SCOPE, 1700000000);
    expect(t.ok).toBe(false);
    expect(t.token).toBe("");
    expect(t.error.includes("verification")).toBe(true, t.error);
  });
});
