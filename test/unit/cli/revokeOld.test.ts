// `keyrotor rotate --revoke-old` without --emergency is refused before anything is sent: revoking
// needs a second person's approval (the API refuses it too, with 400 RevokeOldNeedsEmergency).
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../../lib/cli/main";

let server: Server;
let url = "";
let requests = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on("end", () => {
      res.writeHead(202, { "content-type": "application/json" });
      res.end(JSON.stringify({ rotationId: "r1", status: "running" }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address();
  url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  try {
    return { code: await main(["--url", url, "--as", "olivia:Operator", ...args]), stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}

describe("rotate --revoke-old", () => {
  it("without --emergency exits 2 with one clear stderr line and sends nothing", async () => {
    requests = 0;
    const r = await run("rotate", "signing:demo-vault/tokens", "--reason", "routine rotation", "--revoke-old");
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/--revoke-old needs --emergency/);
    expect(requests).toBe(0);
  });

  it("with --emergency is sent (the request then waits for a second person)", async () => {
    requests = 0;
    const r = await run("rotate", "signing:demo-vault/tokens", "--reason", "private key leaked", "--emergency", "--revoke-old");
    expect(r.code).toBe(0);
    expect(requests).toBe(1);
  });
});
