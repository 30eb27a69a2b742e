// Backends with `gcp-service-account` auth in the provider fixtures: the fixtures test
// translation, so the OAuth token is placed in the filter's shared-data token cache (the entry a
// token fetch would write, assembly/filter/credentials.ts) instead of being fetched. The fetch
// itself is covered by tests/auth/gcp.test.ts and, for Vertex, tests/e2e/gemini.test.ts.

import type { SharedData } from "../host/shared.ts";
import type { Gateway } from "../support/gateway.ts";

/** The bearer token Vertex fixtures expect upstream (`authorization: Bearer ya29.fixture-token`). */
export const FIXTURE_GCP_TOKEN = "ya29.fixture-token";

export function seedGcpTokens(shared: SharedData, config: any): void {
  for (const b of config?.backends ?? []) {
    if (b?.auth?.type !== "gcp-service-account") continue;
    // A day ahead: never within the filter's refresh window during a test run.
    shared.set(`ai_gateway.cred.${b.name}.token`, `${Math.floor(Date.now() / 1000) + 86400}\n${FIXTURE_GCP_TOKEN}`);
  }
}

/** The same through the gateway seam (real Envoy: the shared-data probe with the filter's vm_id). */
export async function seedGatewayGcpTokens(gw: Gateway, config: any): Promise<void> {
  for (const b of config?.backends ?? []) {
    if (b?.auth?.type !== "gcp-service-account") continue;
    await gw.setSharedData(`ai_gateway.cred.${b.name}.token`, `${Math.floor(Date.now() / 1000) + 86400}\n${FIXTURE_GCP_TOKEN}`);
  }
}
