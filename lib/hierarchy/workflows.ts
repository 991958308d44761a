// The hierarchy's four workflows, each resumable from its checkpoint row (BranchKeyStore.run) and
// idempotent step by step (check before act: a branch key already under the new KEK version, a DEK
// already under the target branch-key version, a version already created are found and skipped, so
// a crash at any point resumes without loss and without doing finished work again):
//
// - rotateKek: new KEK version → re-wrap the BRANCH KEYS only (one remote unwrap each, local wrap),
//   each new wrap proven to unwrap under the new version before it is written (validateUnderKek).
//   DEK rows are not touched, so its cost does not depend on the number of DEKs.
// - rotateBranchKey: new version of one branch key → local re-wrap of its DEKs, tenant partition by
//   partition (one remote unwrap of the old version), old version destroyed once a count proves no
//   DEK references it.
// - emergency: a compromised KEK version → new branch-key versions under the new KEK version (never
//   under the compromised one), every DEK re-wrapped locally, old branch-key records destroyed after
//   the count, the compromised KEK version revoked only once a count proves nothing references it,
//   and an event telling consumers to drop cached keys.
// - migrateFlat: format-1 DEKs (wrapped directly under the KEK) moved under branch keys.
//
// Each step reports (onStep) so the durable flow that runs it under the key's lock can write the
// ledger and its progress; only ids and counts ever leave this module.
import type { TableClient, TransactionAction } from "@azure/data-tables";
import { kekRevokeDecision } from "../domain/branchKeys";
import { DependencyUnavailableError, RotationConflictError } from "../domain/errors";
import { BranchKeyCache, type BranchKeyEvent } from "../envelope/branchKeyCache";
import type { KekPort } from "../envelope/kek";
import type { DekStore } from "../stores/dekStore";
import { escapeKey, statusOf, translateTableError } from "../stores/tables";
import type { BranchKeys } from "./branchKeys";
import type { StoredBranchKey } from "./branchKeyStore";
import type { HierarchyDekStore, Rewrite } from "./dekStore";
import { unwrapDek, wrapDek } from "./dekWrap";
import { forEachLimited, Pacer } from "./pace";
import { validateUnderKek } from "./validate";
import { DEK_FORMAT_2, type HierarchyDekRecord } from "./records";

export interface HierarchyDeps {
  keys: BranchKeys;
  deks: HierarchyDekStore;
  kek: KekPort;
  /** Format-1 DEKs: migration's source and part of the zero-reference proof. */
  flat?: DekStore;
  /** The format-1 table, to delete rows once migrated. */
  flatTable?: TableClient;
  /** Disables a KEK version in the vault (emergency, after the zero-reference proof). */
  revokeKekVersion?(kekKeyId: string, version: string): Promise<void>;
  publish?(e: BranchKeyEvent): Promise<void>;
  /** After every step (ledger, progress); idempotent by (runId, step). */
  onStep?(runId: string, step: string, counts: Record<string, number>): Promise<void>;
}

export interface RunOptions {
  /** Remote calls per second this run may spend on the vault (0 = unpaced). */
  ratePerSec?: number;
  /** Remote calls in flight at once. */
  concurrency?: number;
  /** Tenant partitions re-wrapped at once. */
  partitions?: number;
  /** How DEKs are found: one query per tenant partition ("partitions", the default for one branch
   * key), or one pass over the KEK's DEKs across partitions ("table", the default when many branch
   * keys are replaced at once: an emergency touches every DEK anyway). */
  scan?: "partitions" | "table";
}

interface BranchPlan {
  branchId: string;
  /** Versions whose DEKs move to `to` (and which are destroyed after). */
  from: number[];
  to: number;
}

export interface RunState {
  runId: string;
  kind: "kek-rotation" | "branch-rotation" | "emergency" | "migration";
  step: string;
  done: boolean;
  counts: Record<string, number>;
  plan?: BranchPlan[];
  outcome?: string;
  /** Table-scan re-wrap: where the pass stands (pages before it are written). */
  scanContinuation?: string;
}

const MAX_PASSES = 3;

/** A run's checkpoint: loaded (or created) first, saved after every step, If-Match on each save. */
class Checkpoint {
  private etag: string | undefined;
  constructor(private readonly d: HierarchyDeps, public state: RunState) {}

  static async open(d: HierarchyDeps, runId: string, kind: RunState["kind"], first: string): Promise<Checkpoint> {
    const found = await d.keys.store.run<RunState>(runId);
    if (found && found.state.kind !== kind) throw new RotationConflictError("RunKindMismatch", `[keyrotor] [hierarchy] run ${runId} is a ${found.state.kind}, not a ${kind}`);
    const c = new Checkpoint(d, found?.state ?? { runId, kind, step: first, done: false, counts: {} });
    c.etag = found?.etag;
    return c;
  }

  add(name: string, n = 1): void {
    this.state.counts[name] = (this.state.counts[name] ?? 0) + n;
  }

  /** Saves progress within a step. */
  async save(): Promise<void> {
    this.etag = await this.d.keys.store.saveRun(this.state.runId, this.state, this.etag);
  }

  async step(next: string): Promise<void> {
    const finished = this.state.step;
    this.state.step = next;
    this.state.done = next === "done";
    this.etag = await this.d.keys.store.saveRun(this.state.runId, this.state, this.etag);
    await this.d.onStep?.(this.state.runId, finished, this.state.counts);
  }
}

// ---- KEK rotation ---------------------------------------------------------------------------------

export async function rotateKek(d: HierarchyDeps, req: { runId: string; kekKeyId: string; newKekVersion: string }, o: RunOptions = {}): Promise<RunState> {
  const cp = await Checkpoint.open(d, req.runId, "kek-rotation", "rewrapBranchKeys");
  const pacer = new Pacer(o.ratePerSec ?? 0);
  /** Branch keys whose new wrap this run proved before writing it. */
  const proven = new Set<string>();
  if (cp.state.step === "rewrapBranchKeys") {
    for (let pass = 0; ; pass++) {
      const todo = await d.keys.store.notUnder(req.kekKeyId, req.newKekVersion);
      if (todo.length === 0) break;
      if (pass >= MAX_PASSES) throw new DependencyUnavailableError("tables", `[keyrotor] [hierarchy] ${todo.length} branch keys of ${req.kekKeyId} kept changing during the KEK rotation; resume the run`);
      await forEachLimited(todo, o.concurrency ?? 16, async (r) => {
        if (await rewrapBranchKey(d, pacer, r, req.newKekVersion, proven)) cp.add("branchKeysRewrapped");
      });
    }
    await cp.step("validate");
  }
  if (cp.state.step === "validate") {
    // Records found already under the new version (an earlier crashed attempt, a concurrent writer)
    // were not proven by this run: prove them now, so every record of the KEK has been unwrapped
    // under the new version before the rotation reports done and the old version can be disabled.
    const rest = (await d.keys.store.all(req.kekKeyId)).filter((r) => !proven.has(`${r.branchId}#${r.version}`));
    cp.add("branchKeysValidated", proven.size + (await validateUnderKek(d, pacer, rest, req.kekKeyId, req.newKekVersion, o.concurrency ?? 16)));
    cp.state.counts.remoteUnwraps = (cp.state.counts.remoteUnwraps ?? 0) + pacer.calls;
    cp.state.counts.throttled = (cp.state.counts.throttled ?? 0) + pacer.throttled;
    await cp.step("done");
    await d.publish?.({ type: "BranchKeysRotated", kekKeyId: req.kekKeyId });
  }
  return cp.state;
}

/** One branch key under the new KEK version: verify + unwrap (remote) + wrap (local) + proof that the
 * new wrap unwraps under the new version to the signed key (remote) + If-Match write. The proof comes
 * before the write so a version that does not work never replaces a record's working wrap.
 * false = found already done (a concurrent or earlier writer). */
async function rewrapBranchKey(d: HierarchyDeps, pacer: Pacer, r: StoredBranchKey, kekVersion: string, proven: Set<string>): Promise<boolean> {
  const key = await pacer.run(() => d.keys.open(r));
  try {
    const wrapped = (await d.kek.wrap(r.kekKeyId, kekVersion, key, "RSA-OAEP-256")).toString("base64url");
    await validateUnderKek(d, pacer, [{ ...r, kekVersion, wrapped }], r.kekKeyId, kekVersion, 1);
    await d.keys.store.rewrap(r, kekVersion, wrapped);
    proven.add(`${r.branchId}#${r.version}`);
    return true;
  } catch (err) {
    if (!(err instanceof RotationConflictError)) throw err;
    const now = await d.keys.store.get(r.kekKeyId, r.branchId, r.version);
    if (!now || now.kekVersion === kekVersion) return false;
    throw err;
  } finally {
    key.fill(0);
  }
}

// ---- branch-key rotation ----------------------------------------------------------------------------

export async function rotateBranchKey(d: HierarchyDeps, req: { runId: string; kekKeyId: string; kekVersion: string; branchId: string }, o: RunOptions = {}): Promise<RunState> {
  const cp = await Checkpoint.open(d, req.runId, "branch-rotation", "plan");
  if (cp.state.step === "plan") {
    const versions = await d.keys.store.versions(req.kekKeyId, req.branchId);
    const newest = Math.max(0, ...versions.map((v) => v.version));
    cp.state.plan = [{ branchId: req.branchId, from: versions.map((v) => v.version), to: newest + 1 }];
    await cp.step("create");
  }
  return finishReplacement(d, cp, req.kekKeyId, req.kekVersion, o);
}

// ---- emergency -------------------------------------------------------------------------------------

export async function emergency(d: HierarchyDeps, req: { runId: string; kekKeyId: string; compromisedVersion: string; newKekVersion: string }, o: RunOptions = {}): Promise<RunState> {
  if (req.compromisedVersion === req.newKekVersion) throw new RotationConflictError("NewVersionCompromised", `[keyrotor] [hierarchy] the new KEK version is the compromised one`);
  const cp = await Checkpoint.open(d, req.runId, "emergency", "plan");
  if (cp.state.step === "plan") {
    // Every branch key with a version under the compromised KEK version gets a new version; the plan
    // (with its target version numbers) is saved before anything is created, so a resumed run
    // creates exactly the versions the first attempt may have created, never more.
    const all = await d.keys.store.all(req.kekKeyId);
    const hit = new Set(all.filter((r) => r.kekVersion === req.compromisedVersion).map((r) => r.branchId));
    cp.state.plan = [...hit].sort().map((branchId) => {
      const vs = all.filter((r) => r.branchId === branchId).map((r) => r.version);
      return { branchId, from: vs, to: Math.max(...vs) + 1 };
    });
    cp.state.counts.branches = cp.state.plan.length;
    await cp.step("create");
  }
  const state = await finishReplacement(d, cp, req.kekKeyId, req.newKekVersion, o, req.compromisedVersion);
  return state;
}

/** create → rewrap → destroy (→ revoke) → done, shared by branch-key rotation and emergency. */
async function finishReplacement(d: HierarchyDeps, cp: Checkpoint, kekKeyId: string, kekVersion: string, o: RunOptions, compromised?: string): Promise<RunState> {
  const plan = cp.state.plan ?? [];
  const pacer = new Pacer(o.ratePerSec ?? 0);
  const fresh = new Map<string, Buffer>();
  try {
    if (cp.state.step === "create") {
      await forEachLimited(plan, o.concurrency ?? 16, async (p) => {
        const { record, key } = await pacer.run(() => d.keys.create({ kekKeyId, kekVersion, branchId: p.branchId, version: p.to, state: "primary" }));
        if (key) {
          fresh.set(p.branchId, key);
          cp.add("branchKeysCreated");
        }
        // New DEKs go under the new version from now on.
        for (const v of await d.keys.store.versions(kekKeyId, p.branchId)) if (v.version !== record.version) await d.keys.store.setState(v, "secondary");
      });
      await cp.step(compromised ? "validate" : "rewrap");
    }
    if (cp.state.step === "validate") {
      // Emergency: the new branch-key versions are the records under the new KEK version. Each must
      // unwrap there (remote) to its signed key before any DEK moves onto it, so a new KEK version
      // that does not work stops the run with the old branch keys, DEKs and KEK version untouched.
      const records: StoredBranchKey[] = [];
      for (const p of plan) {
        const r = await d.keys.store.get(kekKeyId, p.branchId, p.to);
        if (!r) throw new RotationConflictError("BranchKeyMissing", `[keyrotor] [hierarchy] new branch key ${p.branchId}#${p.to} is gone before validation`);
        records.push(r);
      }
      cp.add("branchKeysValidated", await validateUnderKek(d, pacer, records, kekKeyId, kekVersion, o.concurrency ?? 16));
      await cp.step("rewrap");
    }
    for (let pass = 0; cp.state.step === "rewrap" || cp.state.step === "destroy"; pass++) {
      if (cp.state.step === "rewrap") {
        await rewrapDeks(d, cp, kekKeyId, plan, pacer, fresh, o);
        await cp.step("destroy");
      }
      // The proof: one pass over the KEK's DEKs, counting per branch-key version.
      const counts = await d.deks.countsByBranchVersion(kekKeyId);
      const left = plan.flatMap((p) => p.from.filter((v) => (counts.get(`${p.branchId}#${v}`) ?? 0) > 0));
      if (left.length > 0) {
        if (pass + 1 >= MAX_PASSES) throw new DependencyUnavailableError("tables", `[keyrotor] [hierarchy] ${left.length} old branch-key versions still referenced after ${MAX_PASSES} passes; resume the run`);
        await cp.step("rewrap");
        continue;
      }
      for (const p of plan) for (const v of p.from) await d.keys.store.destroy(kekKeyId, p.branchId, v);
      cp.state.counts.branchKeysDestroyed = plan.reduce((s, p) => s + p.from.length, 0);
      await cp.step(compromised ? "revoke" : "done");
      await d.publish?.({ type: "BranchKeysDestroyed", kekKeyId, branchIds: plan.map((p) => p.branchId) });
    }
    if (cp.state.step === "revoke" && compromised) {
      const refs = {
        branchKeys: await d.keys.store.countUnder(kekKeyId, compromised),
        flatDeks: d.flat ? await d.flat.countByKekVersion(kekKeyId, compromised) : 0,
      };
      const decision = kekRevokeDecision(refs);
      if (decision.revoke) {
        await pacer.run(() => d.revokeKekVersion?.(kekKeyId, compromised) ?? Promise.resolve());
        cp.state.outcome = "revoked";
      } else {
        cp.state.outcome = `revokeWithheld: ${decision.reason}`;
      }
      await cp.step("done");
      await d.publish?.({ type: "BranchKeysDestroyed", kekKeyId });
    }
  } finally {
    for (const k of fresh.values()) k.fill(0);
    cp.state.counts.remoteCalls = (cp.state.counts.remoteCalls ?? 0) + pacer.calls;
  }
  return cp.state;
}

/** Every DEK under an old version of a planned branch key, re-wrapped locally under its new
 * version, partition by partition (If-Match; a partition that changed is read again). */
async function rewrapDeks(d: HierarchyDeps, cp: Checkpoint, kekKeyId: string, plan: BranchPlan[], pacer: Pacer, fresh: Map<string, Buffer>, o: RunOptions): Promise<void> {
  const opened = new Map<string, Promise<Buffer>>();
  const open = (branchId: string, version: number): Promise<Buffer> => {
    const k = `${branchId}#${version}`;
    let p = opened.get(k);
    if (!p) {
      p = (async () => {
        const f = fresh.get(branchId);
        const target = plan.find((x) => x.branchId === branchId)?.to;
        if (f && target === version) return f;
        const r = await d.keys.store.get(kekKeyId, branchId, version);
        if (!r) throw new RotationConflictError("BranchKeyMissing", `[keyrotor] [hierarchy] branch key ${branchId}#${version} is gone while DEKs reference it`);
        cp.add("remoteUnwraps");
        return pacer.run(() => d.keys.open(r));
      })();
      opened.set(k, p);
    }
    return p;
  };
  try {
    if ((o.scan ?? (plan.length > 1 ? "table" : "partitions")) === "table") {
      await rewrapByTableScan(d, cp, kekKeyId, plan, open, o);
      return;
    }
    const work: { tenant: string; p: BranchPlan }[] = [];
    // One pass over the KEK's assignments (not one query per branch key: an emergency plans them all).
    const byBranch = new Map(plan.map((p) => [p.branchId, p]));
    const only = plan.length === 1 ? plan[0]?.branchId : undefined;
    for await (const page of d.keys.store.tenants(kekKeyId, only)) {
      for (const a of page) {
        const p = byBranch.get(a.branchId);
        if (p) work.push({ tenant: a.tenant, p });
      }
    }
    await forEachLimited(work, o.partitions ?? 8, async ({ tenant, p }) => {
      for (let attempt = 0; ; attempt++) {
        try {
          await rewrapPartition(d, cp, tenant, p, open);
          return;
        } catch (err) {
          if (!(err instanceof RotationConflictError) || attempt >= 4) throw err;
          cp.add("conflicts");
        }
      }
    });
  } finally {
    for (const [k, p] of opened) {
      const [branchId] = k.split("#");
      p.then((key) => { if (fresh.get(branchId ?? "") !== key) key.fill(0); }, () => undefined);
    }
  }
}

/** The emergency's re-wrap as one pass over the KEK's DEKs: each page's rows are grouped by tenant
 * and written (≤100 per transaction, If-Match) while the next page is read; the continuation is
 * checkpointed once a page is written, so a resumed run starts there (rows it re-reads are already
 * under their target and skipped). A tenant whose transaction meets a changed row is re-done
 * partition-wise, which re-reads it. */
async function rewrapByTableScan(d: HierarchyDeps, cp: Checkpoint, kekKeyId: string, plan: BranchPlan[], open: (b: string, v: number) => Promise<Buffer>, o: RunOptions): Promise<void> {
  const byBranch = new Map(plan.map((p) => [p.branchId, p]));
  let next = d.deks.scanKek(kekKeyId, cp.state.scanContinuation);
  for (;;) {
    const page = await next;
    if (page.continuation) next = d.deks.scanKek(kekKeyId, page.continuation);
    const groups = new Map<string, { p: BranchPlan; rewrites: Rewrite[] }>();
    for (const dek of page.items) {
      const p = byBranch.get(dek.branchId);
      if (!p || dek.branchVersion === p.to) continue;
      const [old, target] = await Promise.all([open(dek.branchId, dek.branchVersion), open(p.branchId, p.to)]);
      const plain = unwrapDek(old, dek.wrapped, dek);
      try {
        const g = groups.get(dek.tenant) ?? { p, rewrites: [] };
        g.rewrites.push({ dek, branchVersion: p.to, wrapped: wrapDek(target, plain, { ...dek, branchVersion: p.to }) });
        groups.set(dek.tenant, g);
      } finally {
        plain.fill(0);
      }
    }
    await forEachLimited([...groups], o.partitions ?? 8, async ([tenant, g]) => {
      try {
        cp.add("dekRowsWritten", await d.deks.rewrite(tenant, g.rewrites));
      } catch (err) {
        if (!(err instanceof RotationConflictError)) throw err;
        cp.add("conflicts");
        await rewrapPartition(d, cp, tenant, g.p, open);
      }
    });
    cp.state.scanContinuation = page.continuation;
    if (!page.continuation) break;
    await cp.save();
  }
}

async function rewrapPartition(d: HierarchyDeps, cp: Checkpoint, tenant: string, p: BranchPlan, open: (b: string, v: number) => Promise<Buffer>): Promise<void> {
  const target = await open(p.branchId, p.to);
  let continuation: string | undefined;
  do {
    const page = await d.deks.notUnder(tenant, p.branchId, p.to, continuation);
    const rewrites: Rewrite[] = [];
    for (const dek of page.items) {
      const old = await open(dek.branchId, dek.branchVersion);
      const plain = unwrapDek(old, dek.wrapped, dek);
      try {
        rewrites.push({ dek, branchVersion: p.to, wrapped: wrapDek(target, plain, { ...dek, branchId: p.branchId, branchVersion: p.to }) });
      } finally {
        plain.fill(0);
      }
    }
    if (rewrites.some((w) => w.dek.branchId !== p.branchId)) throw new RotationConflictError("DekBranchMismatch", `[keyrotor] [hierarchy] tenant ${tenant} has DEKs under a branch key other than its assigned ${p.branchId}`);
    cp.add("dekRowsWritten", await d.deks.rewrite(tenant, rewrites));
    continuation = page.continuation;
  } while (continuation);
}

// ---- migration of format-1 DEKs -------------------------------------------------------------------

export async function migrateFlat(d: HierarchyDeps, req: { runId: string; kekKeyId: string; kekVersion: string; isolated?: (tenant: string) => boolean }, o: RunOptions = {}): Promise<RunState> {
  const flat = d.flat;
  const table = d.flatTable;
  if (!flat || !table) throw new RotationConflictError("FlatStoreMissing", "[keyrotor] [hierarchy] migration needs the format-1 DEK store and table");
  const cp = await Checkpoint.open(d, req.runId, "migration", "migrate");
  if (cp.state.step !== "migrate") return cp.state;
  const pacer = new Pacer(o.ratePerSec ?? 0);
  // One remote unwrap per branch-key version for the whole run, whatever the number of tenants.
  const branchKeys = new BranchKeyCache(async (ref) => {
    const r = await d.keys.store.get(ref.kekKeyId, ref.branchId, ref.version);
    if (!r) throw new RotationConflictError("BranchKeyMissing", `[keyrotor] [hierarchy] branch key ${ref.branchId}#${ref.version} vanished during migration`);
    return pacer.run(() => d.keys.open(r));
  }, { maxEntries: 100_000, ttlMs: 24 * 3600_000 });
  const tenants: string[] = [];
  for await (const t of flat.tenants()) tenants.push(t);
  await forEachLimited(tenants, o.partitions ?? 8, async (tenant) => {
    const migrated = new Set<string>();
    for (let c: string | undefined, first = true; first || c; first = false) {
      const page = await d.deks.scan(tenant, c);
      for (const r of page.items) migrated.add(r.dekId);
      c = page.continuation;
    }
    let branch: StoredBranchKey | undefined;
    let continuation: string | undefined;
    do {
      const page = await flat.scanRange(tenant, continuation ? { continuation } : {});
      continuation = page.continuation;
      const mine = page.items.filter((x) => x.kekKeyId === req.kekKeyId);
      const out: HierarchyDekRecord[] = [];
      let primary: HierarchyDekRecord | undefined;
      for (const dek of mine) {
        if (migrated.has(dek.dekId)) continue;
        if (!branch) {
          const made = await d.keys.forTenant(req.kekKeyId, req.kekVersion, tenant, { isolated: req.isolated?.(tenant) ?? false });
          branch = made.record;
          if (made.key) branchKeys.seed({ kekKeyId: req.kekKeyId, branchId: branch.branchId, version: branch.version }, made.key);
        }
        const b = branch;
        const branchKey = await branchKeys.get({ kekKeyId: req.kekKeyId, branchId: b.branchId, version: b.version });
        const plain = await pacer.run(() => d.kek.unwrap(dek.kekKeyId, dek.kekVersion, Buffer.from(dek.wrapped, "base64url"), dek.alg));
        try {
          const rec: HierarchyDekRecord = {
            format: DEK_FORMAT_2, tenant, dekId: dek.dekId, dekVersion: dek.dekVersion, kekKeyId: req.kekKeyId, branchId: b.branchId, branchVersion: b.version,
            alg: "A256GCM", wrapped: wrapDek(branchKey, plain, { tenant, dekVersion: dek.dekVersion, kekKeyId: req.kekKeyId, branchId: b.branchId, branchVersion: b.version }),
            createdAt: dek.createdAt, state: dek.state,
          };
          out.push(rec);
          if (rec.state === "primary") primary = rec;
        } finally {
          plain.fill(0);
        }
      }
      // Written here first, deleted there after: consumers read format 2 first, so a crash between
      // the two leaves both copies of the same DEK, never none.
      await d.deks.putMany(tenant, out);
      if (primary) await d.deks.setPrimaryPointer(tenant, primary.dekId, primary.dekVersion);
      cp.add("dekRowsWritten", out.length);
      await deleteFlatRows(table, tenant, mine.map((x) => ({ dekId: x.dekId })));
      cp.add("flatRowsDeleted", mine.length);
    } while (continuation);
    await deleteFlatRows(table, tenant, [{ dekId: "~primary" }]);
  });
  branchKeys.clear();
  cp.state.counts.remoteCalls = (cp.state.counts.remoteCalls ?? 0) + pacer.calls;
  await cp.step("done");
  return cp.state;
}

/** Unconditional deletes (a batch delete carries no ETag): the format-2 copy of the same DEK is
 * already written, so whatever the format-1 row became meanwhile (re-wrapped by a flat KEK rotation)
 * it holds the same key. */
async function deleteFlatRows(table: TableClient, tenant: string, rows: { dekId: string }[]): Promise<void> {
  const pk = escapeKey(tenant);
  for (let i = 0; i < rows.length; i += 100) {
    const chunk = rows.slice(i, i + 100);
    try {
      await table.submitTransaction(chunk.map((r): TransactionAction => ["delete", { partitionKey: pk, rowKey: r.dekId }]));
    } catch (err) {
      // A row deleted meanwhile (an earlier attempt): delete the rest one by one.
      if (statusOf(err) !== 404) translateTableError(err, `delete migrated DEKs of ${tenant}`);
      for (const r of chunk) {
        try {
          await table.deleteEntity(pk, r.dekId);
        } catch (e) {
          if (statusOf(e) !== 404) translateTableError(e, `delete migrated DEK ${tenant}/${r.dekId}`);
        }
      }
    }
  }
}
