// The real `keyrotor` process (bin/keyrotor) writing to a pipe whose reader is slow, as in
// `keyrotor ... --json | jq`: every byte of a large answer arrives before the process exits, and a
// refusal's stderr line too. A pipe holds 64 KiB; a process that exits while its writes wait is cut.
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const BIN = path.resolve(__dirname, "../../../bin/keyrotor");
let server: Server;
let url = "";
/** ~1 MB of plan items: the API's answer to `keyrotor plan --json`. */
const BIG = { items: Array.from({ length: 5000 }, (_, i) => ({ keyId: `kek:demo-vault/key-${i}`, kind: "kek", tenant: `tenant-${i % 40}`, reason: "schedule ".repeat(12), dueAt: "2026-04-01T00:00:00.000Z" })) };

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url?.startsWith("/api/plan")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(BIG));
      return;
    }
    res.writeHead(403, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "Forbidden", message: "x".repeat(200_000) } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address();
  url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** Runs the CLI in a real shell pipeline whose reader starts late, as in `keyrotor … | (sleep; jq)`:
 * each stream goes through its own pipe to a `sleep; cat` reader, so the CLI's writes find the pipe
 * full. (Pausing a Node child stream instead is not a slow reader: Node still buffers what arrives,
 * and the child's `close` can come before a late listener.) pipefail keeps the CLI's exit code. */
function runSlowReader(args: string[], readAfterMs: number): Promise<{ code: number | null; stdout: Buffer; stderr: Buffer }> {
  const quoted = [BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const delay = (readAfterMs / 1000).toFixed(1);
  const script = `set -o pipefail; { "${process.execPath}" ${quoted} 2> >(sleep ${delay}; cat >&2); } | (sleep ${delay}; cat)`;
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", script], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, KEYROTOR_AS: "", KEYROTOR_TOKEN: "", KEYROTOR_SCOPE: "" } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }));
  });
}

/** Runs the CLI with a reader that takes the first chunk of stdout and closes the pipe (`| head`). */
function runEarlyCloser(args: string[]): Promise<{ code: number | null; first: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, KEYROTOR_AS: "", KEYROTOR_TOKEN: "", KEYROTOR_SCOPE: "" } });
    let first = "";
    let stderr = "";
    child.stdout.once("data", (c: Buffer) => {
      first = c.toString();
      child.stdout.destroy();
    });
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, first, stderr }));
  });
}

describe("keyrotor writing into a pipe", () => {
  it("ends quietly with its exit code when the reader closes the pipe early (| head), without an EPIPE trace", async () => {
    const r = await runEarlyCloser(["--url", url, "--as", "olivia:Operator", "--json", "plan"]);
    expect(r.first.startsWith("{")).toBe(true);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("delivers a 1 MB --json answer whole, which parses, before exiting 0", async () => {
    const r = await runSlowReader(["--url", url, "--as", "olivia:Operator", "--json", "plan"], 1500);
    expect(r.stderr.toString()).toBe("");
    expect(r.stdout.length).toBeGreaterThan(1_000_000);
    expect(JSON.parse(r.stdout.toString())).toEqual(BIG);
    expect(r.code).toBe(0);
  });

  it("delivers a long refusal on stderr whole, as one line, and exits 1", async () => {
    const r = await runSlowReader(["--url", url, "--as", "olivia:Operator", "keys"], 1500);
    const text = r.stderr.toString();
    expect(text.endsWith("\n")).toBe(true);
    expect(text.split("\n").filter(Boolean)).toHaveLength(1);
    expect(text).toContain("x".repeat(200_000));
    expect(r.code).toBe(1);
  });
});
