// Types of scripts/gateway-policy.mjs for the TypeScript that imports it (tests/deploy).
export function renderHttpPolicy(url: string, wasmBytes: Uint8Array): string;
export function renderOciPolicy(image: string, digest: string): string;
