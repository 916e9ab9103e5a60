// `wrangler dev` for benchmarks, on a bundled snapshot of the Worker: others may edit the tree
// while a bench runs, and wrangler would rebuild and restart mid-run. Applies the local D1
// migrations to a fresh persist dir, bundles with `wrangler deploy --dry-run`, points a copy of
// wrangler.toml at the bundle, and starts `wrangler dev --no-bundle` on it. Every output line
// (ANSI stripped) goes to `onLine`.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");

/**
 * @param {{ root: string, wrangler: string, tmp: string, persist: string, port: number, inspectorPort: number | string,
 *   vars: Record<string, string>, log: (msg: string) => void, onLine: (line: string) => void,
 *   editToml?: (toml: string) => string, inspector?: boolean, v8Flags?: string[] }} o
 *   `inspector: false` runs without the DevTools inspector and `v8Flags` passes V8 flags to workerd
 *   (both through ./wrangler-preload.cjs, which says why).
 * @returns {{ child: import("node:child_process").ChildProcess, exited: () => string | number | null }}
 */
export function startWranglerSnapshot(o) {
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", FORCE_COLOR: "0" };
  const devEnv = { ...env, WINNOW_NO_INSPECTOR: o.inspector === false ? "1" : "", WINNOW_V8_FLAGS: (o.v8Flags ?? []).join(" ") };
  o.log("applying D1 migrations (local)");
  const mig = spawnSync(process.execPath, [o.wrangler, "d1", "migrations", "apply", "DB", "--local", "--persist-to", o.persist], { cwd: o.root, env, encoding: "utf8" });
  if (mig.status !== 0) throw new Error(`d1 migrations apply failed (${mig.status}):\n${mig.stdout}\n${mig.stderr}`);
  o.log("bundling a snapshot of the Worker (wrangler deploy --dry-run)");
  const dist = join(o.tmp, "dist");
  const build = spawnSync(process.execPath, [o.wrangler, "deploy", "--dry-run", "--outdir", dist], { cwd: o.root, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (build.status !== 0) throw new Error(`bundling failed (${build.status}):\n${build.stdout}\n${build.stderr}`);
  let toml = readFileSync(join(o.root, "wrangler.toml"), "utf8");
  for (const [re, line] of [
    [/^main\s*=.*$/m, `main = ${JSON.stringify(join(dist, "index.js"))}`],
    [/^migrations_dir\s*=.*$/m, `migrations_dir = ${JSON.stringify(join(o.root, "d1/migrations"))}`],
  ]) {
    if (!re.test(toml)) throw new Error(`wrangler.toml: no line matching ${re}`);
    toml = toml.replace(re, line);
  }
  if (o.editToml) toml = o.editToml(toml);
  const config = join(o.tmp, "wrangler.toml");
  writeFileSync(config, toml);
  const args = [
    "--no-warnings",
    "--experimental-vm-modules",
    "--require", join(import.meta.dirname, "wrangler-preload.cjs"),
    o.wrangler,
    "dev",
    "--config", config,
    "--no-bundle",
    "--port", String(o.port),
    "--ip", "127.0.0.1",
    ...(o.inspector === false ? [] : ["--inspector-port", String(o.inspectorPort)]),
    "--persist-to", o.persist,
    "--show-interactive-dev-session=false",
    ...Object.entries(o.vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  o.log(`starting wrangler dev on 127.0.0.1:${o.port}`);
  const child = spawn(process.execPath, args, { cwd: o.tmp, env: devEnv, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let exit = null;
  child.on("exit", (code, sig) => (exit = code ?? sig ?? "exit"));
  for (const stream of [child.stdout, child.stderr]) {
    let buf = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        o.onLine(stripAnsi(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
    });
  }
  return { child, exited: () => exit };
}

/**
 * Waits up to 120 s for `probe()` (a health request) to answer true. Fails at once, with the
 * last 30 output lines (`tail()`), if wrangler exits first (`exited()` non-null).
 * @param {{ probe: () => Promise<boolean>, exited: () => unknown, tail: () => string }} o
 */
export async function waitHealthy(o) {
  const deadline = performance.now() + 120_000;
  while (performance.now() < deadline) {
    if (o.exited() !== null) throw new Error(`wrangler dev exited (${o.exited()}):\n${o.tail()}`);
    try {
      if (await o.probe()) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`wrangler dev not healthy after 120 s:\n${o.tail()}`);
}

/** Waits until wrangler's output (`lines`) stops growing: every invocation so far has printed its meter line. */
export async function settle(lines) {
  let n = -1;
  while (n !== lines.length) {
    n = lines.length;
    await new Promise((r) => setTimeout(r, 1500));
  }
}
