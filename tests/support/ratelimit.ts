// The REAL Envoy rate limit service (envoyproxy/ratelimit, Go) with a private Redis, for tests.
// Both are built/installed by `bash scripts/install-ratelimit.sh` (CI runs it before `npm test`);
// when either is missing, startRateLimit throws (a test failure, never a skip).
//
//   const rls = await startRateLimit({ config: { domain: "llm", descriptors: [...] } });
//   ... gRPC on 127.0.0.1:rls.grpcPort, HTTP (/healthcheck, /json) on rls.httpPort ...
//   await rls.flush();   // FLUSHALL: every counter back to 0
//   await rls.stop();    // kills both process groups, removes the runtime directory
//
// Everything listens on 127.0.0.1 only, on free ephemeral ports picked here (redis-server cannot
// take port 0), without statsd, persistence or file watching.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, accessSync, constants } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import http from "node:http";
import { stringify } from "yaml";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const INSTALL_COMMAND = "bash scripts/install-ratelimit.sh";
/** The binary scripts/install-ratelimit.sh builds (override with RATELIMIT_BIN). */
export const RATELIMIT_BIN = process.env.RATELIMIT_BIN || join(ROOT, ".cache", "bin", "service_cmd");

export interface RateLimitOptions {
  /** The service's YAML config for one domain: YAML text or an object serialized as YAML. */
  config: string | Record<string, unknown>;
  /** Extra environment for the service (e.g. LIMIT_RESPONSE_HEADERS_ENABLED: "true"). */
  env?: Record<string, string>;
  /** How long to wait for Redis and the service to be ready (ms). */
  startTimeoutMs?: number;
}

export interface RateLimitService {
  grpcPort: number;
  httpPort: number;
  debugPort: number;
  redisPort: number;
  /** The domain of the loaded config. */
  domain: string;
  /** Output of both processes so far (for failure messages). */
  logs(): string;
  /** Deletes every counter (Redis FLUSHALL). */
  flush(): Promise<void>;
  /** Stops the service and Redis (process groups) and removes the runtime directory. Idempotent. */
  stop(): Promise<void>;
}

function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try { accessSync(p, constants.X_OK); return p; } catch { /* next */ }
  }
  for (const dir of ["/usr/bin", "/usr/local/bin", "/usr/sbin"]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

/** The paths of redis-server and the ratelimit binary; throws with the install command if missing. */
export function ratelimitBinaries(): { redis: string; ratelimit: string } {
  const missing: string[] = [];
  const redis = process.env.REDIS_SERVER_BIN || findOnPath("redis-server");
  if (!redis || !existsSync(redis)) missing.push("redis-server (not on PATH)");
  if (!existsSync(RATELIMIT_BIN)) missing.push(`envoyproxy/ratelimit (${RATELIMIT_BIN})`);
  if (missing.length) {
    throw new Error(`rate limit service tests need ${missing.join(" and ")}: run \`${INSTALL_COMMAND}\` ` +
      `from ${ROOT} (apt-get install redis-server; go install of envoyproxy/ratelimit at the pinned commit)`);
  }
  return { redis: redis!, ratelimit: RATELIMIT_BIN };
}

/** n distinct free TCP ports on 127.0.0.1 (all held open until every one is chosen). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise<void>((ok, fail) => { s.once("error", fail); s.listen(0, "127.0.0.1", () => ok()); });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((ok) => s.close(() => ok()))));
  }
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** One Redis command in RESP over a fresh connection; resolves with the raw reply line. */
export function redisCommand(port: number, args: string[], timeoutMs = 2000): Promise<string> {
  return new Promise((ok, fail) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = "";
    const timer = setTimeout(() => { sock.destroy(); fail(new Error(`redis ${args[0]}: no reply in ${timeoutMs} ms`)); }, timeoutMs);
    sock.on("error", (e) => { clearTimeout(timer); fail(e); });
    sock.on("connect", () => {
      sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(""));
    });
    sock.on("data", (d) => {
      buf += d.toString("utf8");
      const i = buf.indexOf("\r\n");
      if (i < 0) return;
      clearTimeout(timer);
      sock.end();
      const line = buf.slice(0, i);
      if (line.startsWith("-")) fail(new Error(`redis ${args[0]}: ${line.slice(1)}`)); else ok(line);
    });
  });
}

function httpGet(port: number, path: string, timeoutMs = 1000): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = http.get({ host: "127.0.0.1", port, path, timeout: timeoutMs, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => ok({ status: res.statusCode ?? 0, body }));
      res.on("error", fail);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", fail);
  });
}

interface Proc { name: string; child: ChildProcess; out: string[]; exited: boolean; exitInfo: string }

const live = new Set<Proc>();
let exitHookInstalled = false;

/** Own process group (detached), so that stop() kills everything it started. */
function startProc(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Proc {
  const child = spawn(cmd, args, { env, cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const p: Proc = { name, child, out: [], exited: false, exitInfo: "" };
  const keep = (d: Buffer) => { p.out.push(d.toString("utf8")); if (p.out.length > 400) p.out.splice(0, p.out.length - 400); };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  child.on("error", (e) => { p.exited = true; p.exitInfo = `failed to start: ${e.message}`; live.delete(p); });
  child.on("exit", (code, signal) => { p.exited = true; p.exitInfo = `exited with ${signal ?? `code ${code}`}`; live.delete(p); });
  live.add(p);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test that forgot stop() (or crashed) still leaves nothing behind.
    process.on("exit", () => { for (const q of live) killGroup(q, "SIGKILL"); });
  }
  return p;
}

function killGroup(p: Proc, signal: NodeJS.Signals): void {
  if (p.child.pid === undefined) return;
  try { process.kill(-p.child.pid, signal); } catch { /* already gone */ }
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.pid === undefined) return;
  if (!p.exited) {
    const gone = new Promise<void>((ok) => p.child.once("exit", () => ok()));
    killGroup(p, "SIGTERM");
    const t = await Promise.race([gone.then(() => true), sleep(3000).then(() => false)]);
    if (!t) { killGroup(p, "SIGKILL"); await Promise.race([gone, sleep(2000)]); }
  }
  killGroup(p, "SIGKILL"); // any child left in the group
  live.delete(p);
}

const tail = (p: Proc) => `--- ${p.name} output (tail) ---\n${p.out.join("").split("\n").slice(-40).join("\n")}`;

/** Starts a private Redis and the rate limit service with `config`; resolves once the config is loaded. */
export async function startRateLimit(opts: RateLimitOptions): Promise<RateLimitService> {
  const bins = ratelimitBinaries();
  const yamlText = typeof opts.config === "string" ? opts.config : stringify(opts.config);
  const domainMatch = /^domain:\s*["']?([^"'\s#]+)/m.exec(yamlText);
  if (!domainMatch) throw new Error("rate limit config has no top-level `domain:`");
  const domain = domainMatch[1];
  const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);

  const dir = mkdtempSync(join(tmpdir(), "ratelimit-test-"));
  const configDir = join(dir, "ratelimit", "config");
  mkdirSync(configDir, { recursive: true });
  writeFileSync(join(configDir, "config.yaml"), yamlText);

  const [redisPort, grpcPort, httpPort, debugPort] = await freePorts(4);
  const procs: Proc[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const p of procs.reverse()) await stopProc(p);
    rmSync(dir, { recursive: true, force: true });
  };
  const failWith = async (why: string): Promise<never> => {
    const logs = procs.map(tail).join("\n");
    await stop();
    throw new Error(`rate limit service did not start: ${why}\n${logs}`);
  };

  // Redis: loopback only, no persistence, no config file.
  const redis = startProc("redis-server", bins.redis, ["--port", String(redisPort), "--bind", "127.0.0.1",
    "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "yes", "--daemonize", "no"], process.env, dir);
  procs.push(redis);
  for (;;) {
    if (redis.exited) return failWith(`redis-server ${redis.exitInfo}`);
    try { if ((await redisCommand(redisPort, ["PING"], 500)) === "+PONG") break; } catch { /* not yet */ }
    if (Date.now() > deadline) return failWith(`redis-server did not answer PING on 127.0.0.1:${redisPort}`);
    await sleep(50);
  }

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    USE_STATSD: "false",
    REDIS_SOCKET_TYPE: "tcp",
    REDIS_URL: `127.0.0.1:${redisPort}`,
    GRPC_HOST: "127.0.0.1", GRPC_PORT: String(grpcPort),
    HOST: "127.0.0.1", PORT: String(httpPort),
    DEBUG_HOST: "127.0.0.1", DEBUG_PORT: String(debugPort),
    RUNTIME_ROOT: dir,
    RUNTIME_SUBDIRECTORY: "ratelimit",
    RUNTIME_APPDIRECTORY: "config",
    RUNTIME_WATCH_ROOT: "false",
    LOG_LEVEL: "warn",
    ...opts.env,
  };
  const rls = startProc("ratelimit", bins.ratelimit, [], env, dir);
  procs.push(rls);
  // Ready = /healthcheck answers 200 and /rlconfig lists the domain (the health check answers OK
  // even when the config failed to load, so both are needed).
  let healthy = false;
  for (;;) {
    if (rls.exited) return failWith(`ratelimit ${rls.exitInfo}`);
    const loadError = /level=error msg="(Error loading new configuration[^"]*)"/.exec(rls.out.join(""));
    if (loadError) return failWith(loadError[1]);
    try {
      if (!healthy) healthy = (await httpGet(httpPort, "/healthcheck")).status === 200;
      if (healthy) {
        const cfg = await httpGet(debugPort, "/rlconfig");
        if (cfg.status === 200 && cfg.body.split("\n").some((l) => l.startsWith(domain + "."))) break;
      }
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) return failWith(healthy ? `config for domain "${domain}" not loaded` : "/healthcheck did not answer 200");
    await sleep(50);
  }

  return {
    grpcPort, httpPort, debugPort, redisPort, domain,
    logs: () => procs.map(tail).join("\n"),
    flush: async () => {
      const r = await redisCommand(redisPort, ["FLUSHALL"]);
      if (r !== "+OK") throw new Error(`redis FLUSHALL answered ${r}`);
    },
    stop,
  };
}
