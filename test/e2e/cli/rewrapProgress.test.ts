// `keyrotor status --watch` must see a rewrap move: GET /api/rotations/{id} reports the DEKs
// re-wrapped so far while the rewrap runs (not 0 until it is over, then 100%), with a rate and an
// ETA. The app runs on the in-process host; the vault's unwraps stop after the first DEKs until
// the test has looked, so "while it runs" is a state the test holds, not a race it hopes to win.
import { afterEach, describe, expect, it } from "vitest";
import { instanceIdFor, type RotationOutput, type RotationRequest } from "../../../lib/orchestration/workflows";
import { DURABLE } from "../../../lib/orchestration/names";
import { AUDITOR, seedKey, startApiHost, T0, VAULT, type ApiHost } from "../api/support";
import { dekRecord } from "../../../lib/envelope/dekRecord";

let h: ApiHost | undefined;
let release: (() => void) | undefined;
afterEach(async () => {
  release?.();
  await h?.stop();
  h = undefined;
});

const TENANTS = 4;
const PER_TENANT = 100;
const LET_THROUGH = 100;

interface Progress { rewrapped: number; total: number; perSec: number; eta?: string }

describe("rewrap progress while it runs", () => {
  it("a 400-DEK rewrap shows the DEKs done so far, a rate and an ETA before it ends, then 400/400", async () => {
    h = await startApiHost();
    const { keyId, v1 } = await seedKey(h.mem, "kek", "tenant-kek");
    const vault = h.mem.rotation.vault;
    for (let t = 0; t < TENANTS; t++) {
      for (let i = 0; i < PER_TENANT; i++) {
        const wrapped = await vault.wrapKey(VAULT, "tenant-kek", v1, Buffer.alloc(32, (t * PER_TENANT + i) % 251));
        h.mem.rotation.deks.insert(dekRecord({ tenant: `tenant${t}`, dekVersion: i + 1, dekId: `d${String(i).padStart(3, "0")}`, state: i === 0 ? "primary" : "secondary", kekKeyId: keyId, kekVersion: v1, wrapped: wrapped, createdAt: T0 }));
      }
    }
    // The first FIRST unwraps go through, then wait for the clock to move (the host's time is the
    // test's ManualClock, so a rate needs time to pass); up to LET_THROUGH go through, and the rest
    // wait until the test has seen the progress.
    const FIRST = 20;
    const unwrap = vault.unwrapKey.bind(vault);
    let clockMoved!: () => void;
    const moved = new Promise<void>((r) => (clockMoved = r));
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    vault.unwrapKey = async (...args) => {
      const n = ++calls;
      if (n > FIRST) await moved;
      if (n > LET_THROUGH) await gate;
      return unwrap(...args);
    };
    const rotationId = `${keyId}@manual:progress`;
    const input: RotationRequest = { rotationId, keyId, trigger: "manual", actor: "olivia", reason: "progress shown while it runs", batchSize: 20 };
    await h.host.client.startNew(DURABLE.orchestrators.rotation, { instanceId: instanceIdFor(rotationId), input });
    for (let i = 0; i < 600 && calls <= FIRST; i++) await new Promise((r) => setTimeout(r, 50));
    h.clock.advance(4000);
    clockMoved();

    const path = `/api/rotations/${encodeURIComponent(rotationId)}`;
    let seen: { phase: string; progress?: Progress } | undefined;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const v = (await h.call("GET", path, { as: AUDITOR })).json() as unknown as { phase: string; progress?: Progress };
      if (v.phase === "rewrapping" && (v.progress?.rewrapped ?? 0) > 0) {
        seen = v;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen, "progress never moved above 0 while the rewrap ran").toBeDefined();
    const p = seen?.progress as Progress;
    expect(p.rewrapped).toBeGreaterThan(0);
    expect(p.rewrapped).toBeLessThanOrEqual(LET_THROUGH);
    expect(p.total).toBe(TENANTS * PER_TENANT);
    expect(p.perSec).toBeGreaterThan(0);
    expect(Date.parse(p.eta ?? "")).toBeGreaterThan(h.clock.now().getTime());

    release?.();
    const done = await h.host.client.waitForCompletion(instanceIdFor(rotationId), { timeoutMs: 60_000 });
    expect((done.output as RotationOutput).outcome).toBe("completed");
    const end = (await h.call("GET", path, { as: AUDITOR })).json() as unknown as { phase: string; progress?: Progress };
    expect(end).toMatchObject({ phase: "completed", progress: { rewrapped: TENANTS * PER_TENANT, total: TENANTS * PER_TENANT } });
    expect(end.progress?.eta).toBeUndefined();
  });
});
