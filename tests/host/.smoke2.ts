import http from "node:http";
import { Gateway } from "./gateway.ts";
import { probe } from "./probes/assemble.ts";
const up = http.createServer((req, res) => {
  let body = ""; req.on("data", (c) => (body += c)); req.on("end", () => {
    res.writeHead(200, { "content-type": "text/plain", "x-up": "1" }); res.end(`echo ${req.method} ${req.url} ${body} host=${req.headers.host} to=${req.headers["x-envoy-expected-rq-timeout-ms"]}`);
  });
});
await new Promise<void>((r) => up.listen(0, "127.0.0.1", r));
const port = (up.address() as any).port;
const gw = await Gateway.start({ wasm: probe("recorder"), plugin: { configuration: "010000E" }, workers: 2,
  routes: [{ match: { prefix: "/dead" }, cluster: "dead" }, { match: { prefix: "/" }, cluster: "backend" }],
  clusters: { backend: { host: "127.0.0.1", port }, dead: { host: "127.0.0.1", port: 1 } } });
const r1 = await fetch(gw.url + "/hello?x=1", { method: "POST", body: "abcdef" });
console.log(r1.status, [...r1.headers].join(" | "), await r1.text());
const r2 = await fetch(gw.url + "/dead");
console.log(r2.status, [...r2.headers].join(" | "), await r2.text());
console.log(gw.logs.filter((l) => l.vm >= 0).map((l) => `${l.vm} ${l.message}`).join("\n"));
console.log("live", gw.liveContexts());
await gw.stop(); up.close();
