// The key hierarchy's request flags on the CLI: `rotate --migrate-flat` (a KEK's format-1 DEKs move
// under branch keys) and `approve --new-dek-versions` (an emergency also gives every tenant a new DEK
// version) send the API's fields; --migrate-flat with --emergency is refused before anything is sent;
// `rotate --branch-keys | --branch-tenants | --branch-ids` asks for a branch-key rotation (branchKeys).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { recordingApi, runCli, type CliRun, type SeenRequest } from "./cliHarness";

let api: Awaited<ReturnType<typeof recordingApi>>;
let seen: SeenRequest[] = [];

beforeAll(async () => {
  api = await recordingApi();
});
afterAll(() => api.close());
beforeEach(() => {
  api.seen.length = 0;
  seen = api.seen;
});

const run = (...args: string[]): Promise<CliRun> => runCli(["--url", api.url, ...args]);

describe("the key hierarchy's CLI flags", () => {
  it("rotate --migrate-flat sends migrateFlat: true in a normal rotation; without it the body has no such field", async () => {
    expect(await run("--as", "olivia:Operator", "rotate", "kek:v/k", "--reason", "move under branch keys", "--migrate-flat")).toMatchObject({ code: 0, stdout: "started: r1\n" });
    expect(seen[0]).toMatchObject({ method: "POST", path: "/api/rotations", body: { keyId: "kek:v/k", reason: "move under branch keys", mode: "normal", migrateFlat: true } });
    expect((await run("--as", "olivia:Operator", "rotate", "kek:v/k", "--reason", "routine rotation")).code).toBe(0);
    expect(seen[1]?.body).toEqual({ keyId: "kek:v/k", reason: "routine rotation", mode: "normal" });
  });

  it("rotate --migrate-flat with --emergency is bad usage (exit 2) and sends nothing", async () => {
    const r = await run("--as", "olivia:Operator", "rotate", "kek:v/k", "--reason", "private key leaked", "--emergency", "--migrate-flat");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--migrate-flat is for a normal rotation/);
    expect(seen).toEqual([]);
  });

  it("rotate --branch-keys / --branch-tenants / --branch-ids send branchKeys true / {tenants} / {branchIds} (a branch-key rotation, no new KEK version)", async () => {
    expect(await run("--as", "olivia:Operator", "rotate", "kek:v/k", "--reason", "branch keys are due", "--branch-keys")).toMatchObject({ code: 0, stdout: "started: r1\n" });
    expect(seen[0]?.body).toEqual({ keyId: "kek:v/k", reason: "branch keys are due", mode: "normal", branchKeys: true });
    expect((await run("--as", "olivia:Operator", "rotate", "kek:v/k", "--reason", "branch keys are due", "--branch-tenants", "t-a, t-b")).code).toBe(0);
    expect(seen[1]?.body).toMatchObject({ branchKeys: { tenants: ["t-a", "t-b"] } });
    expect((await run("--as", "olivia:Operator", "rotate", "kek:v/k", "--reason", "branch keys are due", "--branch-ids", "s256-00017,d-acme")).code).toBe(0);
    expect(seen[2]?.body).toMatchObject({ branchKeys: { branchIds: ["s256-00017", "d-acme"] } });
  });

  it("a branch-key flag with --emergency or --migrate-flat, or two of them at once, is bad usage (exit 2) and sends nothing", async () => {
    for (const extra of [["--emergency"], ["--migrate-flat"], ["--branch-ids", "d-acme"]]) {
      const r = await run("--as", "olivia:Operator", "rotate", "kek:v/k", "--reason", "branch keys are due", "--branch-keys", ...extra);
      expect(r.code, extra.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/--branch-keys/);
    }
    expect(seen).toEqual([]);
  });

  it("approve --new-dek-versions sends newDekVersions: true, beside --accept-data-loss when both are given", async () => {
    expect(await run("--as", "adam:Approver", "approve", "x@emergency:1", "--new-dek-versions")).toMatchObject({ code: 0, stdout: "approved: r1 (running)\n" });
    expect(seen[0]).toMatchObject({ method: "POST", path: "/api/rotations/approve/x@emergency:1", body: { newDekVersions: true } });
    expect((await run("--as", "adam:Approver", "approve", "x@emergency:1", "--new-dek-versions", "--accept-data-loss")).code).toBe(0);
    expect(seen[1]?.body).toEqual({ acceptDataLoss: true, newDekVersions: true });
  });
});
