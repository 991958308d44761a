// A standalone branch-key rotation survives a crash of the host at each of its steps (after the new
// version is created, in the middle of the DEK re-wrap, after the re-wrap before the old version is
// destroyed): the resumed rotation ends with one new version per branch key, each DEK row written
// once, the old version destroyed, no ledger entry twice, every ciphertext decrypting. It holds the
// KEK's lock for its whole run: a KEK rotation asked meanwhile is refused (and the other way round).
// A scope the KEK does not have, sent straight to the starter (the schedule's path), fails the
// rotation before anything changes.
//
// The crash points are made exact by a gate over the hierarchy's DEK table (the app's own store,
// wrapped): a call of the gated method hangs, the host crashes while it hangs (the abandoned call
// never resumes, as in a dead process), and the gate is opened for the resumed host.
import "../../../dev/host";
import { afterEach, describe, expect, it } from "vitest";
import type { HierarchyDekStore } from "../../../lib/hierarchy/dekStore";
import { encodePrincipal, ROLES } from "../../../lib/http/principal";
import { startRotation } from "../../../lib/orchestration/start";
import { instanceIdFor, type RotationOutput } from "../../../lib/orchestration/workflows";
import { tableClient } from "../../../lib/stores/tables";
import { ledgerEntries, stackSuite, VAULT } from "../rotation/stack";
import { dekRows, startHierarchyStack, undecryptable, type HierarchyStack } from "./hierarchyFlowSupport";

const suite = stackSuite();
afterEach(() => suite.peers.vault.admin.clearFaults());

type Gated = "notUnder" | "rewrite" | "countBelow";

/** The app's HierarchyDekStore, wrapped: counts rows written and can hang calls of one method. */
class DekGate {
  inner: HierarchyDekStore | undefined;
  rowsWritten = 0;
  private hangAt: { method: Gated; after: number } | undefined;
  private readonly passed: Record<Gated, number> = { notUnder: 0, rewrite: 0, countBelow: 0 };
  private readonly hanging: (() => void)[] = [];

  /** Calls of `method` after the first `after` hang until release() (or forever, after a crash). */
  arm(method: Gated, after = 0): void {
    this.hangAt = { method, after };
  }

  get hung(): number {
    return this.hanging.length;
  }

  /** New calls pass; calls hanging now stay hung (their process is dead). */
  open(): void {
    this.hangAt = undefined;
  }

  /** New calls pass, and the hanging ones go on. */
  release(): void {
    this.hangAt = undefined;
    for (const go of this.hanging.splice(0)) go();
  }

  store(): HierarchyDekStore {
    const gated = new Set<string>(["notUnder", "rewrite", "countBelow"]);
    return new Proxy({} as HierarchyDekStore, {
      get: (_t, prop: string) => {
        const inner = this.inner;
        if (!inner) throw new Error("[test] the DEK gate has no store yet");
        const member = (inner as unknown as Record<string, unknown>)[prop];
        if (typeof member !== "function") return member;
        const fn = (member as (...a: unknown[]) => Promise<unknown>).bind(inner);
        if (!gated.has(prop)) return fn;
        return async (...args: unknown[]) => {
          const m = prop as Gated;
          if (this.hangAt?.method === m && this.passed[m]++ >= this.hangAt.after) await new Promise<void>((go) => this.hanging.push(go));
          const out = await fn(...args);
          if (m === "rewrite") this.rowsWritten += out as number;
          return out;
        };
      },
    });
  }
}

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`[test] timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function seals(h: HierarchyStack): Promise<number> {
  let n = 0;
  for await (const e of tableClient(h.s.cfg, "seals").listEntities<{ signature?: string }>()) if (e.signature) n++;
  return n;
}

/** Signs made by the branch signer since `before` (the ledger seals' own signs taken out). */
async function branchSigns(h: HierarchyStack, before: { signs: number; seals: number }): Promise<number> {
  return (suite.peers.vault.admin.stats().calls.sign ?? 0) - before.signs - ((await seals(h)) - before.seals);
}

async function expectCleanLedger(h: HierarchyStack): Promise<void> {
  const ids = (await ledgerEntries(h.s, h.kek.keyId)).map((e) => e.entryId);
  expect(new Set(ids).size).toBe(ids.length);
  expect((await h.s.deps.ledger.verify()).ok).toBe(true);
}

async function gatedStack(gate: DekGate, tenants = ["t-a", "t-b", "t-c", "t-d", "t-e"]): Promise<HierarchyStack> {
  // One shared branch key for every tenant: its re-wrap spans five tenant partitions.
  const h = await startHierarchyStack(suite, { tenants, sharedBranches: 1, compose: { hierarchy: { deks: gate.store() } } });
  gate.inner = h.rt.deks;
  return h;
}

describe("standalone branch-key rotation: crashes and the KEK's lock", () => {
  for (const [crashAt, method, after] of [["after the new version is created", "notUnder", 0], ["in the middle of the DEK re-wrap", "rewrite", 1], ["after the re-wrap, before the old version is destroyed", "countBelow", 0]] as const) {
    it(`a crash ${crashAt} resumes to the end: one new version, each DEK row written once, the old version destroyed, every DEK decrypts`, async () => {
      const gate = new DekGate();
      const h = await gatedStack(gate);
      const rows = (await dekRows(h)).size;
      const before = await h.rt.store.all(h.kek.keyId);
      expect(before.map((r) => `${r.branchId}#${r.version}`)).toEqual(["s1-00000#1"]);
      const signs = { signs: suite.peers.vault.admin.stats().calls.sign ?? 0, seals: await seals(h) };
      const kekVersions = (await h.s.deps.vault.listKeyVersions(VAULT, h.kek.name)).length;
      gate.arm(method, after);
      const rotationId = `${h.kek.keyId}@manual:branch-crash-${method}`;
      await startRotation(h.s.host.client, { rotationId, keyId: h.kek.keyId, trigger: "manual", actor: "alice", branchKeys: true });
      // Mid re-wrap: a partition written, the others' writes hanging.
      await waitUntil(`a ${method} call hanging`, () => gate.hung > 0 && (method !== "rewrite" || gate.rowsWritten > 0));
      expect(gate.rowsWritten).toBeLessThan(method === "countBelow" ? rows + 1 : rows);
      await h.s.host.crash();
      gate.open();
      await h.s.host.resume({ visibilityTimeoutMs: 0 });
      const out = (await h.s.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 120_000 })).output as RotationOutput;
      expect(out.outcome, JSON.stringify(out)).toBe("completed");

      expect((await h.rt.store.all(h.kek.keyId)).map((r) => `${r.branchId}#${r.version}:${r.kekVersion}`)).toEqual([`s1-00000#2:${h.kek.v1}`]);
      expect(gate.rowsWritten).toBe(rows);
      for (const row of (await dekRows(h)).values()) expect(row).toMatch(/^s1-00000#2:/);
      expect(await branchSigns(h, signs)).toBe(1);
      expect((await h.s.deps.vault.listKeyVersions(VAULT, h.kek.name)).length).toBe(kekVersions);
      expect(await undecryptable(h)).toEqual([]);
      await expectCleanLedger(h);
    });
  }

  it("holds the KEK's lock: a KEK rotation asked while a branch-key rotation runs is refused (409 naming it), and a branch-key rotation asked while a KEK rotation runs is refused", async () => {
    const gate = new DekGate();
    const h = await gatedStack(gate, ["t-a", "t-b"]);
    const as = { "content-type": "application/json", "x-ms-client-principal": encodePrincipal("olivia", [ROLES.operator]) };
    const post = (body: Record<string, unknown>) => h.s.host.invokeHttp("POST", "/api/rotations", { headers: as, body: { keyId: h.kek.keyId, reason: "lock contention check", mode: "normal", ...body } });

    gate.arm("notUnder");
    const branch = await post({ branchKeys: true });
    expect(branch.status, branch.body).toBe(202);
    const branchId = (branch.json() as { rotationId: string }).rotationId;
    await waitUntil("the branch-key rotation re-wrapping", () => gate.hung > 0);
    const kek = await post({});
    expect(kek.status, kek.body).toBe(409);
    expect(kek.body).toContain(branchId);
    gate.release();
    const out = (await h.s.host.client.waitForCompletion(instanceIdFor(branchId), { timeoutMs: 120_000 })).output as RotationOutput;
    expect(out.outcome, JSON.stringify(out)).toBe("completed");
    expect((await h.s.deps.vault.listKeyVersions(VAULT, h.kek.name)).length).toBe(1);

    // The other way round: the KEK rotation's version creation is slow; a branch-key rotation asked meanwhile is refused.
    suite.peers.vault.admin.setLatency("createKey", 1500);
    const kek2 = await post({});
    expect(kek2.status, kek2.body).toBe(202);
    const kekId = (kek2.json() as { rotationId: string }).rotationId;
    const branch2 = await post({ branchKeys: true });
    expect(branch2.status, branch2.body).toBe(409);
    expect(branch2.body).toContain(kekId);
    const kekOut = (await h.s.host.client.waitForCompletion(instanceIdFor(kekId), { timeoutMs: 120_000 })).output as RotationOutput;
    expect(kekOut.outcome, JSON.stringify(kekOut)).toBe("completed");
    expect(await undecryptable(h)).toEqual([]);
    await expectCleanLedger(h);
  });

  it("a scope the KEK does not have, sent to the starter directly (the schedule's path), fails the rotation with a 4xx code before anything changes", async () => {
    const gate = new DekGate();
    const h = await gatedStack(gate, ["t-a"]);
    const before = JSON.stringify(await h.rt.store.all(h.kek.keyId));
    const rows = await dekRows(h);
    const rotationId = `${h.kek.keyId}@manual:branch-unknown`;
    await startRotation(h.s.host.client, { rotationId, keyId: h.kek.keyId, trigger: "manual", actor: "alice", branchKeys: { branchIds: ["s1-00000", "d-nobody"] } });
    const out = (await h.s.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 })).output as RotationOutput;
    expect(out).toMatchObject({ outcome: "failed", error: { code: "BranchKeyUnknown" } });
    expect(out.error?.message).toContain("d-nobody");
    expect(JSON.stringify(await h.rt.store.all(h.kek.keyId))).toBe(before);
    expect(await dekRows(h)).toEqual(rows);
    expect(gate.rowsWritten).toBe(0);
  });
});
