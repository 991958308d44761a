// An approval is effective only together with the start it authorises: a start refused because
// another rotation holds the key's lock leaves the request pending and the ledger untouched, and
// the same approver submitting twice at once gets the same answer twice.
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { approveRotation } from "../../../lib/api/rotations";
import { decideApproval } from "../../../lib/domain/approval";
import { apiPath, ROUTES } from "../../../lib/api/routes";
import { lockEntityKey } from "../../../lib/domain/rotation";
import { ROLES } from "../../../lib/http/principal";
import { DURABLE, LOCK_OPS } from "../../../lib/orchestration/names";
import { instanceIdFor } from "../../../lib/orchestration/workflows";
import { APPROVER, chain, OPERATOR, seedKey, snapshot, startApiHost, type ApiHost } from "./support";

let h: ApiHost | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const SECOND_APPROVER = ["anna", ROLES.approver] as [string, ...string[]];
const LEASE_MS = 15 * 60_000;

async function emergency(api: ApiHost, keyId: string): Promise<string> {
  const r = await api.call("POST", "/api/rotations", { as: OPERATOR, body: { keyId, reason: "private key exposure suspected", mode: "emergency", revokeOld: true } });
  expect(r.status, r.body).toBe(202);
  return r.json().rotationId;
}

/** Another rotation takes the key's lock for one lease. */
async function holdLock(api: ApiHost, keyId: string): Promise<string> {
  const owner = `${keyId}@manual:other`;
  const now = api.clock.now();
  await api.host.client.signalEntity({ name: DURABLE.entities.keyLock, key: lockEntityKey(keyId) }, LOCK_OPS.tryAcquire, {
    owner, now: now.toISOString(), leaseUntil: new Date(now.getTime() + LEASE_MS).toISOString(),
  });
  await api.host.idle();
  return owner;
}

const approve = (api: ApiHost, rotationId: string, as: [string, ...string[]], body: unknown = {}) =>
  api.call("POST", apiPath(ROUTES.approveRotation, { rotationId }), { as, body });

/** What the request, the ledger and the event stream say about an emergency. */
async function state(api: ApiHost, keyId: string, rotationId: string) {
  const stored = (await api.mem.approvals.get(rotationId))?.request;
  const list = (await api.call("GET", `/api/rotations?keyId=${encodeURIComponent(keyId)}`, { as: OPERATOR })).json().rotations.find((r) => r.rotationId === rotationId);
  const view = (await api.call("GET", apiPath(ROUTES.getRotation, { rotationId }), { as: OPERATOR })).json();
  return {
    request: { status: stored?.status, approvedBy: stored?.approvedBy },
    ledger: (await chain(api.mem, keyId)).map((e) => e.type),
    events: api.mem.events.messages.map((m) => m.subject),
    list: { status: list?.status, approvedBy: list?.approvedBy },
    view: { runtimeStatus: view.runtimeStatus, phase: view.phase },
  };
}

describe("an approval refused for a held lock changes nothing", () => {
  it("answers 409 LockHeld naming the holder; request, ledger, events, list and status stay pending; another approver can still approve later", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const rotationId = await emergency(h, keyId);
    const holder = await holdLock(h, keyId);
    const pending = await state(h, keyId, rotationId);
    const before = await snapshot(h.mem);

    const refused = await approve(h, rotationId, APPROVER);
    expect(refused.status, refused.body).toBe(409);
    expect(refused.json().error).toMatchObject({ code: "LockHeld", rotationId: holder });
    await h.host.idle();
    expect(await snapshot(h.mem)).toBe(before);
    expect(await state(h, keyId, rotationId)).toEqual(pending);
    expect(pending).toMatchObject({ request: { status: "pendingApproval" }, list: { status: "pendingApproval" }, view: { runtimeStatus: "pendingApproval" } });

    // Not "AlreadyApproved": nobody approved. Once the other rotation's lease is over, it starts.
    h.clock.advance(LEASE_MS + 60_000);
    const ok = await approve(h, rotationId, SECOND_APPROVER);
    expect(ok.status, ok.body).toBe(202);
    expect(ok.json()).toMatchObject({ rotationId, status: "running", approvedBy: "anna" });
    expect((await h.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "completed" });
    expect((await chain(h.mem, keyId)).filter((e) => e.type === "Approved")).toEqual([expect.objectContaining({ actor: "anna" })]);
  });

  it("a lock taken between the lock check and the start: the claim is released, nothing is recorded, and the request stays approvable", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const rotationId = await emergency(h, keyId);
    const holder = await holdLock(h, keyId);
    const pending = await state(h, keyId, rotationId);
    const chainBefore = (await chain(h.mem, keyId)).map((e) => e.hash);
    // A client that cannot read the lock: the refusal comes from the start itself, after the claim.
    const client = h.host.client;
    const blind = { startNew: client.startNew.bind(client), getStatus: client.getStatus.bind(client) };
    await expect(approveRotation(h.mem.services, blind, { id: "oid-adam", name: "adam" }, rotationId)).rejects.toMatchObject({ code: "LockHeld", runningRotationId: holder });
    await h.host.idle();
    expect((await chain(h.mem, keyId)).map((e) => e.hash)).toEqual(chainBefore);
    expect(await state(h, keyId, rotationId)).toEqual(pending);
    const stored = (await h.mem.approvals.get(rotationId))!.request;
    expect(stored.approvedBy).toBeUndefined();
    expect(stored.approvedById).toBeUndefined();

    h.clock.advance(LEASE_MS + 60_000);
    const ok = await approve(h, rotationId, SECOND_APPROVER);
    expect(ok.status, ok.body).toBe(202);
    expect((await h.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "completed" });
  });
});

describe("the same approver twice at once", () => {
  it("both submissions get the same 202 answer; one Approved entry, one EmergencyApproved event, one rotation", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const rotationId = await emergency(h, keyId);
    const [a, b] = await Promise.all([approve(h, rotationId, APPROVER), approve(h, rotationId, APPROVER)]);
    expect([a.status, b.status], `${a.body} ${b.body}`).toEqual([202, 202]);
    expect(a.json()).toEqual(b.json());
    expect(a.json()).toMatchObject({ rotationId, status: "running", approvedBy: "adam" });
    expect((await h.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "completed" });
    const entries = await chain(h.mem, keyId);
    expect(entries.filter((e) => e.type === "Approved")).toHaveLength(1);
    expect(entries.filter((e) => e.type === "Completed")).toHaveLength(1);
    expect(h.mem.events.messages.filter((m) => m.subject === "EmergencyApproved")).toHaveLength(1);
    expect((await h.mem.approvals.get(rotationId))?.request).toMatchObject({ status: "approved", approvedBy: "adam" });
  });

  it("many concurrent submissions by one approver and another: never a storage error code, exactly one approver wins", async () => {
    h = await startApiHost();
    const { keyId } = await seedKey(h.mem, "kek", "tenant-kek");
    const rotationId = await emergency(h, keyId);
    const answers = await Promise.all([
      approve(h, rotationId, APPROVER), approve(h, rotationId, SECOND_APPROVER), approve(h, rotationId, APPROVER),
      approve(h, rotationId, SECOND_APPROVER), approve(h, rotationId, APPROVER),
    ]);
    for (const r of answers) {
      expect([202, 409], r.body).toContain(r.status);
      if (r.status === 409) expect(r.json().error.code).toBe("AlreadyApproved");
    }
    const winners = new Set(answers.filter((r) => r.status === 202).map((r) => r.json().approvedBy));
    expect(winners.size).toBe(1);
    expect((await h.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 })).output).toMatchObject({ outcome: "completed" });
    expect((await chain(h.mem, keyId)).filter((e) => e.type === "Approved").map((e) => e.actor)).toEqual([...winners]);
  });
});

describe("an approval interrupted by a crash", () => {
  /** The approver's claim was written and its start went through, then the process died before the
   * Approved entry; the started instance then failed (here: an input its orchestrator refuses). */
  async function crashedAfterStart(api: ApiHost): Promise<{ keyId: string; rotationId: string }> {
    const { keyId } = await seedKey(api.mem, "kek", "tenant-kek");
    const rotationId = await emergency(api, keyId);
    const stored = (await api.mem.approvals.get(rotationId))!;
    const d = decideApproval(stored.request, { id: "adam", name: "adam" }, api.clock.now());
    if (d.kind !== "claim") throw new Error("expected a claim");
    await api.mem.approvals.update(d.next, stored.etag);
    await api.host.client.startNew(DURABLE.orchestrators.rotation, { instanceId: instanceIdFor(rotationId), input: { rotationId, keyId } });
    await api.host.idle();
    return { keyId, rotationId };
  }

  it("the same approver after the window records the approval that started it, and starts nothing again (a failed emergency is not restarted)", async () => {
    h = await startApiHost();
    const { keyId, rotationId } = await crashedAfterStart(h);
    expect((await h.host.client.getStatus(instanceIdFor(rotationId)))?.runtimeStatus).toBe("Failed");
    expect((await chain(h.mem, keyId)).filter((e) => e.type === "Approved")).toHaveLength(0);
    h.clock.advance(2 * 3_600_000);
    const r = await approve(h, rotationId, APPROVER);
    expect(r.status, r.body).toBe(202);
    expect(r.json()).toMatchObject({ rotationId, approvedBy: "adam" });
    await h.host.idle();
    expect((await h.host.client.getStatus(instanceIdFor(rotationId)))?.runtimeStatus).toBe("Failed");
    expect((await chain(h.mem, keyId)).filter((e) => e.type === "Approved").map((e) => e.actor)).toEqual(["adam"]);
    expect((await h.mem.approvals.get(rotationId))?.request.status).toBe("approved");
    // Another approver is still kept out.
    expect((await approve(h, rotationId, SECOND_APPROVER)).json().error.code).toBe("AlreadyApproved");
  });
});

describe("generated approval submissions (fast-check)", () => {
  const who = fc.constantFrom<[string, ...string[]]>(APPROVER, SECOND_APPROVER, ["olivia", ROLES.operator, ROLES.approver]);
  const body = fc.constantFrom<unknown>({}, { acceptDataLoss: true }, { acceptDataLoss: false }, undefined);
  const plan = fc.record({
    locked: fc.boolean(),
    // Waves of concurrent submissions; between waves the clock may pass the lease or the window.
    waves: fc.array(fc.record({ subs: fc.array(fc.tuple(who, body), { minLength: 1, maxLength: 4 }), advanceMin: fc.constantFrom(0, 0, 20, 70) }), { minLength: 1, maxLength: 3 }),
  });

  it("never a 5xx or a storage code; every 202 names one approver; the ledger holds at most that one approval; a refusal leaves the request approvable", async () => {
    await fc.assert(
      fc.asyncProperty(plan, async ({ locked, waves }) => {
        const api = await startApiHost();
        try {
          const { keyId } = await seedKey(api.mem, "kek", "tenant-kek");
          const rotationId = await emergency(api, keyId);
          if (locked) await holdLock(api, keyId);
          const winners = new Set<string>();
          for (const wave of waves) {
            const answers = await Promise.all(wave.subs.map(([as, b]) => approve(api, rotationId, as, b)));
            for (const r of answers) {
              expect(r.status, r.body).toBeLessThan(500);
              expect(r.body).not.toMatch(/UpdateConditionNotSatisfied|EntityAlreadyExists|ConditionNotMet/);
              if (r.status === 202) winners.add(String(r.json().approvedBy));
              else if (r.status === 400) expect(r.json().error.field).toBe("acceptDataLoss");
              else expect(["AlreadyApproved", "LockHeld", "SelfApproval", "ApprovalExpired", "DataLossAfterApproval"]).toContain(r.json().error.code);
            }
            await api.host.idle();
            api.clock.advance(wave.advanceMin * 60_000);
          }
          expect(winners.size).toBeLessThanOrEqual(1);
          const approvals = (await chain(api.mem, keyId)).filter((e) => e.type === "Approved").map((e) => e.actor);
          expect(approvals).toEqual([...winners]);
          const stored = (await api.mem.approvals.get(rotationId))!.request;
          if (winners.size === 0) expect(stored.status).toBe("pendingApproval");
          else expect(stored).toMatchObject({ status: "approved", approvedBy: [...winners][0] });
        } finally {
          await api.host.idle();
          await api.stop();
        }
      }),
      { numRuns: 8 },
    );
  }, 240_000);
});
