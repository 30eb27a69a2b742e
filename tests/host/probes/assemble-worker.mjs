// Plain-Node helper for assemble.ts: reads a JSON array of WAT module texts on stdin and writes a
// JSON array of base64 wasm binaries (or {error}) to stdout. Runs outside tsx on purpose: loading
// binaryen's 15 MB index.js through the tsx loader costs several seconds per process.
import binaryen from "binaryen";

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((wat) => {
    try {
      const m = binaryen.parseText(wat);
      try {
        if (!m.validate()) return { error: "probe module does not validate" };
        return { wasm: Buffer.from(m.emitBinary()).toString("base64") };
      } finally {
        m.dispose();
      }
    } catch (e) {
      return { error: String(e && e.message ? e.message : e) };
    }
  });
  process.stdout.write(JSON.stringify(out));
});
