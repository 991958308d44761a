// `keyrotor rotate --revoke-old` without --emergency is refused before anything is sent: revoking
// needs a second person's approval (the API refuses it too, with 400 RevokeOldNeedsEmergency).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordingApi, runCli, type CliRun } from "./cliHarness";

let api: Awaited<ReturnType<typeof recordingApi>>;

beforeAll(async () => {
  api = await recordingApi();
});
afterAll(() => api.close());

const run = (...args: string[]): Promise<CliRun> => runCli(["--url", api.url, "--as", "olivia:Operator", ...args]);

describe("rotate --revoke-old", () => {
  it("without --emergency exits 2 with one clear stderr line and sends nothing", async () => {
    api.seen.length = 0;
    const r = await run("rotate", "signing:demo-vault/tokens", "--reason", "routine rotation", "--revoke-old");
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/--revoke-old needs --emergency/);
    expect(api.seen).toHaveLength(0);
  });

  it("with --emergency is sent (the request then waits for a second person)", async () => {
    api.seen.length = 0;
    const r = await run("rotate", "signing:demo-vault/tokens", "--reason", "private key leaked", "--emergency", "--revoke-old");
    expect(r.code).toBe(0);
    expect(api.seen).toHaveLength(1);
  });
});
