// What the CLI tests share: the CLI run in-process with its output captured, a stand-in API that
// records every request and answers 202 started, and the API's real getPlan served over HTTP.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, vi } from "vitest";
import { getPlan } from "../../../lib/api/queries";
import { main } from "../../../lib/cli/main";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `keyrotor <args>` in-process: its exit code and what it wrote. */
export async function runCli(args: string[]): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}

async function listen(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export interface SeenRequest {
  method: string;
  path: string;
  body: unknown;
}

/** An API that records each request (path decoded, JSON body parsed) and answers 202 `started: r1`. */
export async function recordingApi(): Promise<{ url: string; seen: SeenRequest[]; close(): Promise<void> }> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", path: decodeURIComponent(req.url ?? ""), body: raw ? JSON.parse(raw) as unknown : undefined });
      res.writeHead(202, { "content-type": "application/json" });
      res.end(JSON.stringify({ rotationId: "r1", status: "running" }));
    });
  });
  return { ...(await listen(server)), seen };
}

/** The API's real getPlan over `services`, served over HTTP. */
export async function servePlan(services: Parameters<typeof getPlan>[0]): Promise<{ url: string; close(): Promise<void> }> {
  return listen(createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    void getPlan(services, u.searchParams.get("horizon") ?? "P90D").then((plan) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(plan));
    });
  }));
}

/** What `keyrotor plan --horizon <horizon>` prints (as an Auditor), after it exits 0. */
export async function planOutput(url: string, horizon: string): Promise<string> {
  const r = await runCli(["--url", url, "--as", "audrey:Auditor", "plan", "--horizon", horizon]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}
