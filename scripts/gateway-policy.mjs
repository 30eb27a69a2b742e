// Prints the EnvoyExtensionPolicy of envoy/gateway/ with the filter's location and checksum
// filled in (the shipped files hold placeholders):
//
//   node scripts/gateway-policy.mjs http <url> [wasm-file]     sha256 of the file (default build/ai-gateway.wasm)
//   node scripts/gateway-policy.mjs oci <image-ref> <digest>   the pushed image's manifest digest (sha256:…)
//
// scripts/wasm-image.sh calls it after pushing the image. Comments and layout are kept.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDocument } from "yaml";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The policy text for the HTTP code source: url + sha256 of the module bytes. */
export function renderHttpPolicy(url, wasmBytes) {
  if (!/^https?:\/\/\S+$/.test(url)) throw new Error(`not an http(s) URL: ${url}`);
  const sha = createHash("sha256").update(wasmBytes).digest("hex");
  return render("wasm-http.yaml", "http", url, sha, `${url} (sha256 of the module: ${sha})`);
}

/** The policy text for the OCI image code source: image reference + manifest digest. */
export function renderOciPolicy(image, digest) {
  const hex = digest.replace(/^sha256:/, "");
  if (!/^[a-f0-9]{64}$/.test(hex)) throw new Error(`not a sha256 digest: ${digest}`);
  if (/\s/.test(image) || !image.includes("/")) throw new Error(`not an image reference: ${image}`);
  return render("wasm-oci.yaml", "image", image, hex, `${image}@sha256:${hex}`);
}

function render(file, source, url, sha, what) {
  const doc = parseDocument(readFileSync(join(ROOT, "envoy", "gateway", file), "utf8"));
  const code = ["spec", "wasm", 0, "code", source];
  if (!doc.hasIn([...code, "url"]) || !doc.hasIn([...code, "sha256"])) throw new Error(`${file}: no ${code.join(".")}.url/sha256`);
  doc.setIn([...code, "url"], url);
  doc.setIn([...code, "sha256"], sha);
  doc.commentBefore = ` Rendered from envoy/gateway/${file} by scripts/gateway-policy.mjs for ${what}.`;
  return doc.toString();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [kind, a, b] = process.argv.slice(2);
  try {
    if (kind === "http" && a) process.stdout.write(renderHttpPolicy(a, readFileSync(b ?? join(ROOT, "build", "ai-gateway.wasm"))));
    else if (kind === "oci" && a && b) process.stdout.write(renderOciPolicy(a, b));
    else { console.error("usage: gateway-policy.mjs http <url> [wasm-file] | oci <image-ref> <sha256:digest>"); process.exit(2); }
  } catch (e) {
    console.error(`gateway-policy: ${e.message}`);
    process.exit(1);
  }
}
