// The API's real getPlan over the given services, served over HTTP to the CLI, and `keyrotor plan`'s
// output against it: what the CLI plan tests share.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, vi } from "vitest";
import { getPlan } from "../../../lib/api/queries";
import { main } from "../../../lib/cli/main";

export async function servePlan(services: Parameters<typeof getPlan>[0]): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    void getPlan(services, u.searchParams.get("horizon") ?? "P90D").then((plan) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(plan));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** What `keyrotor plan --horizon <horizon>` prints (as an Auditor), after it exits 0. */
export async function planOutput(url: string, horizon: string): Promise<string> {
  let stdout = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  try {
    expect(await main(["--url", url, "--as", "audrey:Auditor", "plan", "--horizon", horizon])).toBe(0);
  } finally {
    vi.restoreAllMocks();
  }
  return stdout;
}
