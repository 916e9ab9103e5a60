// Small helpers every bench shares: reading a process's CPU ticks from /proc (Linux only), the
// tick rate, flag parsing and sleeping.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Clock ticks per second, for /proc CPU times. */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** A process's name, parent and user+system CPU ticks, or null when it is gone. */
export function readStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = s.lastIndexOf(")");
    const f = s.slice(close + 2).split(" "); // f[0] is field 3 (state)
    return { pid, comm: s.slice(s.indexOf("(") + 1, close), ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return null;
  }
}

export function int(v, name) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Stops a process group started detached (wrangler dev and its workerd): SIGTERM, up to 5 s for
 * `exited()` to turn non-null, then SIGKILL; then any process seen under it (`seen`: pid → name)
 * that left the group and is still the same program.
 */
export async function stopTree(child, exited, seen) {
  if (child && exited() === null) {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    for (let i = 0; i < 50 && exited() === null; i++) await sleep(100);
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  }
  for (const [pid, comm] of seen) {
    if (readStat(pid)?.comm === comm) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
}
