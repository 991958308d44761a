// The hierarchy's four workflows, each resumable from its checkpoint row (BranchKeyStore.run) and
// idempotent step by step (check before act: a branch key already under the new KEK version, a DEK
// already under the target branch-key version, a version already created are found and skipped, so
// a crash at any point resumes without loss and without doing finished work again):
//
// - rotateKek: new KEK version → re-wrap the BRANCH KEYS only (one remote unwrap each, local wrap),
//   each new wrap proven to unwrap under the new version before it is written (validateUnderKek).
//   DEK rows are not touched, so its cost does not depend on the number of DEKs.
// - rotateBranchKeys: new version of each asked branch key → local re-wrap of its DEKs, tenant
//   partition by partition (one remote unwrap of the old version), all in ONE run: the old versions
//   are destroyed once ONE count over the KEK's DEKs proves none is referenced (the count is a scan
//   of the whole DEK table, so it is paid once per rotation, never once per branch key).
// - emergency: a compromised KEK version → new branch-key versions under the new KEK version (never
//   under the compromised one), every DEK re-wrapped locally, old branch-key records destroyed after
//   the count, the compromised KEK version revoked only once a count proves nothing references it,
//   and an event telling consumers to drop cached keys.
// - migrateFlat: format-1 DEKs (wrapped directly under the KEK) moved under branch keys.
//
// Each step reports (onStep) so the durable flow that runs it under the key's lock can write the
// ledger and its progress; only ids and counts ever leave this module.
import { randomBytes } from "node:crypto";
import type { TableClient, TransactionAction } from "@azure/data-tables";
import { kekRevokeDecision } from "../domain/branchKeys";
import { DependencyUnavailableError, InvalidRequestError, InvariantViolationError, RotationConflictError } from "../domain/errors";
import { BranchKeyCache, type BranchKeyEvent } from "../envelope/branchKeyCache";
import type { KekPort } from "../envelope/kek";
import { DEK_BYTES, dekIdFor } from "../envelope/dekRecord";
import { FlatDekAuth, isSignedDek } from "../envelope/flatDekAuth";
import type { DekStore } from "../stores/dekStore";
import { escapeKey, statusOf, translateTableError } from "../stores/tables";
import type { BranchKeys } from "./branchKeys";
import type { StoredBranchKey } from "./branchKeyStore";
import type { HierarchyDekStore, Rewrite } from "./dekStore";
import { unwrapDek, wrapDek } from "./dekWrap";
import { forEachLimited, Limiter, Pacer } from "./pace";
import { proofSampleSize, spreadSample, validateUnderKek } from "./validate";
import { DEK_FORMAT_2, type HierarchyDekRecord } from "./records";

export interface HierarchyDeps {
  keys: BranchKeys;
  deks: HierarchyDekStore;
  kek: KekPort;
  /** Format-1 DEKs: migration's source and part of the zero-reference proof. */
  flat?: DekStore;
  /** The format-1 table, to delete rows once migrated. */
  flatTable?: TableClient;
  /** How format-1 rows are authenticated before migration unwraps them (lib/envelope/flatDekAuth.ts).
   * Absent: signed rows verified with the branch-key signer, unsigned (legacy) rows accepted. */
  flatAuth?: FlatDekAuth;
  /** Disables a KEK version in the vault (emergency, after the zero-reference proof). */
  revokeKekVersion?(kekKeyId: string, version: string): Promise<void>;
  publish?(e: BranchKeyEvent): Promise<void>;
  /** After every step (ledger, progress); idempotent by (runId, step). `next` is the step the
   * checkpoint now stands at ("done" after the last). */
  onStep?(runId: string, step: string, counts: Record<string, number>, next: string): Promise<void>;
  /** After every checkpoint within a step. May throw to end the call there (the durable flow's
   * bounded slices, lib/hierarchy/durableActivities.ts): the checkpoint is saved, the run resumes. */
  onSave?(runId: string): Promise<void>;
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
  /** Branch keys proven by a remote unwrap under the new KEK version before any record is replaced
   * (1..10, default 4; lib/hierarchy/validate.ts). */
  proofSample?: number;
  /** Emergency: also give every tenant a new primary DEK version (the approval's flag; the request's
   * `newDekVersions` says the same). */
  newDekVersions?: boolean;
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
  /** KEK rotation: the new KEK version this run proved on a sample before writing any record. */
  proof?: { kekVersion: string; sampled: number };
  /** Emergency: every tenant also gets a new primary DEK version (fixed when the run is planned). */
  newDekVersions?: boolean;
  /** Branch-key rotation: the plan's first `replaced` entries are done (new version created, DEKs
   * re-wrapped); a resumed run or the next slice goes on from there. */
  replaced?: number;
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
    await this.d.onSave?.(this.state.runId);
  }

  async step(next: string): Promise<void> {
    const finished = this.state.step;
    this.state.step = next;
    this.state.done = next === "done";
    this.etag = await this.d.keys.store.saveRun(this.state.runId, this.state, this.etag);
    await this.d.onStep?.(this.state.runId, finished, this.state.counts, next);
  }
}

// ---- KEK rotation ---------------------------------------------------------------------------------

export async function rotateKek(d: HierarchyDeps, req: { runId: string; kekKeyId: string; newKekVersion: string }, o: RunOptions = {}): Promise<RunState> {
  const cp = await Checkpoint.open(d, req.runId, "kek-rotation", "rewrapBranchKeys");
  const pacer = new Pacer(o.ratePerSec ?? 0);
  const sample = proofSampleSize(o.proofSample);
  /** This process proved the sample (a resumed run re-proves one at the gate: the version may have
   * broken since the earlier attempt proved it). */
  let provenHere = false;
  if (cp.state.step === "rewrapBranchKeys") {
    for (let pass = 0; ; pass++) {
      let todo = await d.keys.store.notUnder(req.kekKeyId, req.newKekVersion);
      if (todo.length === 0) break;
      if (pass >= MAX_PASSES) throw new DependencyUnavailableError("tables", `[keyrotor] [hierarchy] ${todo.length} branch keys of ${req.kekKeyId} kept changing during the KEK rotation; resume the run`);
      if (!provenHere) {
        // The sample first: its new wraps are proven in the vault before ANY record is written, so a
        // version that does not work never replaces a working wrap.
        const first = spreadSample(todo, sample);
        const wraps = await wrapUnderNew(d, pacer, first, req.newKekVersion, o.concurrency ?? 16);
        try {
          cp.add("branchKeysValidated", await validateUnderKek(d, pacer, wraps.map((w) => w.proved), req.kekKeyId, req.newKekVersion, o.concurrency ?? 16));
          provenHere = true;
          cp.state.proof = { kekVersion: req.newKekVersion, sampled: wraps.length };
          await cp.save();
          await forEachLimited(wraps, o.concurrency ?? 16, async (w) => {
            if (await writeRewrap(d, w.record, req.newKekVersion, w.proved.wrapped, req.runId)) cp.add("branchKeysRewrapped");
          });
        } finally {
          for (const w of wraps) w.key.fill(0);
        }
        const done = new Set(first.map((r) => `${r.branchId}#${r.version}`));
        todo = todo.filter((r) => !done.has(`${r.branchId}#${r.version}`));
      }
      await forEachLimited(todo, o.concurrency ?? 16, async (r) => {
        if (await rewrapBranchKey(d, pacer, r, req.newKekVersion, req.runId)) cp.add("branchKeysRewrapped");
      });
    }
    await cp.step("validate");
  }
  if (cp.state.step === "validate") {
    // Every record of the KEK must open under the new version before the rotation reports done and
    // the old version can be disabled. Records this run wrapped after its proof are covered by the
    // sample (re-proven on a sample when the proof was made by an earlier process); any other record
    // under the new version (a concurrent writer, another run) is proven one by one.
    const all = await d.keys.store.all(req.kekKeyId);
    const proofHolds = cp.state.proof?.kekVersion === req.newKekVersion;
    const ours = all.filter((r) => proofHolds && r.kekVersion === req.newKekVersion && r.rewrapRun === req.runId);
    const others = all.filter((r) => !ours.includes(r));
    const reproof = provenHere ? [] : spreadSample(ours, sample);
    cp.add("branchKeysValidated", await validateUnderKek(d, pacer, [...reproof, ...others], req.kekKeyId, req.newKekVersion, o.concurrency ?? 16));
    cp.state.counts.remoteUnwraps = (cp.state.counts.remoteUnwraps ?? 0) + pacer.calls;
    cp.state.counts.throttled = (cp.state.counts.throttled ?? 0) + pacer.throttled;
    await cp.step("done");
    await d.publish?.({ type: "BranchKeysRotated", kekKeyId: req.kekKeyId });
  }
  return cp.state;
}

interface NewWrap {
  record: StoredBranchKey;
  /** The record as it will be written (for the proof). */
  proved: StoredBranchKey;
  key: Buffer;
}

/** Opens each record (signature, remote unwrap, commitment) and wraps its key locally under the new
 * KEK version; the keys are returned for the caller to zero. */
async function wrapUnderNew(d: HierarchyDeps, pacer: Pacer, records: readonly StoredBranchKey[], kekVersion: string, concurrency: number): Promise<NewWrap[]> {
  const out: NewWrap[] = [];
  try {
    await forEachLimited(records, concurrency, async (r) => {
      const key = await pacer.run(() => d.keys.open(r));
      try {
        const wrapped = (await d.kek.wrap(r.kekKeyId, kekVersion, key, "RSA-OAEP-256")).toString("base64url");
        out.push({ record: r, key, proved: { ...r, kekVersion, wrapped } });
      } catch (err) {
        key.fill(0);
        throw err;
      }
    });
  } catch (err) {
    for (const w of out) w.key.fill(0);
    throw err;
  }
  return out;
}

/** One branch key under the new KEK version once the run's sample is proven: verify + unwrap (remote,
 * the key checked against its signed commitment) + wrap (local, the proven version's public key) +
 * If-Match write marked with the run. false = found already done (a concurrent or earlier writer). */
async function rewrapBranchKey(d: HierarchyDeps, pacer: Pacer, r: StoredBranchKey, kekVersion: string, runId: string): Promise<boolean> {
  const key = await pacer.run(() => d.keys.open(r));
  try {
    const wrapped = (await d.kek.wrap(r.kekKeyId, kekVersion, key, "RSA-OAEP-256")).toString("base64url");
    return await writeRewrap(d, r, kekVersion, wrapped, runId);
  } finally {
    key.fill(0);
  }
}

async function writeRewrap(d: HierarchyDeps, r: StoredBranchKey, kekVersion: string, wrapped: string, runId: string): Promise<boolean> {
  try {
    await d.keys.store.rewrap(r, kekVersion, wrapped, runId);
    return true;
  } catch (err) {
    if (!(err instanceof RotationConflictError)) throw err;
    const now = await d.keys.store.get(r.kekKeyId, r.branchId, r.version);
    if (!now || now.kekVersion === kekVersion) return false;
    throw err;
  }
}

// ---- branch-key rotation ----------------------------------------------------------------------------

/** One branch key (rotateBranchKeys with a plan of one). */
export async function rotateBranchKey(d: HierarchyDeps, req: { runId: string; kekKeyId: string; kekVersion: string; branchId: string }, o: RunOptions = {}): Promise<RunState> {
  return rotateBranchKeys(d, { runId: req.runId, kekKeyId: req.kekKeyId, kekVersion: req.kekVersion, branchIds: [req.branchId] }, o);
}

/** The asked branch keys in one run: plan (every asked branch key's versions and its target, saved
 * before anything is created) → replace (each branch key's new version created and its DEKs
 * re-wrapped before its slot is free for the next) → destroy (one count over the KEK's DEKs, then
 * every old version) → done. `branchIds` is read only when the run is planned. */
export async function rotateBranchKeys(d: HierarchyDeps, req: { runId: string; kekKeyId: string; kekVersion: string; branchIds: readonly string[] }, o: RunOptions = {}): Promise<RunState> {
  const cp = await Checkpoint.open(d, req.runId, "branch-rotation", "plan");
  if (cp.state.step === "plan") {
    const ids = [...new Set(req.branchIds)].sort();
    const plan = new Map<string, BranchPlan>();
    await forEachLimited(ids, o.concurrency ?? 16, async (branchId) => {
      const versions = await d.keys.store.versions(req.kekKeyId, branchId);
      const newest = Math.max(0, ...versions.map((v) => v.version));
      plan.set(branchId, { branchId, from: versions.map((v) => v.version), to: newest + 1 });
    });
    cp.state.plan = ids.flatMap((b) => plan.get(b) ?? []);
    cp.state.counts.branches = cp.state.plan.length;
    await cp.step("replace");
  }
  // A retry pass (DEKs the count found left) goes tenant partition by tenant partition: only the
  // planned branch keys' tenants are read, not every DEK of the KEK.
  return finishReplacement(d, cp, req.kekKeyId, req.kekVersion, { scan: "partitions", ...o });
}

// ---- emergency -------------------------------------------------------------------------------------

export async function emergency(d: HierarchyDeps, req: { runId: string; kekKeyId: string; compromisedVersion: string; newKekVersion: string; newDekVersions?: boolean }, o: RunOptions = {}): Promise<RunState> {
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
    // The approval's flag is fixed with the plan: a resumed run does what the approval asked.
    if (req.newDekVersions ?? o.newDekVersions) cp.state.newDekVersions = true;
    await cp.step("create");
  }
  const state = await finishReplacement(d, cp, req.kekKeyId, req.newKekVersion, o, req.compromisedVersion);
  return state;
}

/** Branch-key plaintexts a replacement run holds: the new versions it created or proved, and the
 * versions it opened (one remote unwrap each, shared by concurrent users); all zeroed at the end. */
class KeyRing {
  private readonly keys = new Map<string, Promise<Buffer>>();
  private readonly created = new Set<string>();

  constructor(private readonly d: HierarchyDeps, private readonly cp: Checkpoint, private readonly kekKeyId: string, private readonly pacer: Pacer) {}

  /** A key this run holds already (created now, or proven and kept by the gate). */
  hold(branchId: string, version: number, key: Buffer, created: boolean): void {
    const k = `${branchId}#${version}`;
    this.keys.set(k, Promise.resolve(key));
    if (created) this.created.add(k);
  }

  /** Created by this process (its plaintext never left it): the gate's sample covers it. */
  isCreated(branchId: string, version: number): boolean {
    return this.created.has(`${branchId}#${version}`);
  }

  open(branchId: string, version: number): Promise<Buffer> {
    const k = `${branchId}#${version}`;
    let p = this.keys.get(k);
    if (!p) {
      p = (async () => {
        const r = await this.d.keys.store.get(this.kekKeyId, branchId, version);
        if (!r) throw new RotationConflictError("BranchKeyMissing", `[keyrotor] [hierarchy] branch key ${k} is gone while DEKs reference it`);
        this.cp.add("remoteUnwraps");
        return this.pacer.run(() => this.d.keys.open(r));
      })();
      // A failed open is not remembered: the next user tries again (the run fails first, usually).
      p.catch(() => this.keys.delete(k));
      this.keys.set(k, p);
    }
    return p;
  }

  zero(): void {
    for (const p of this.keys.values()) p.then((key) => key.fill(0), () => undefined);
    this.keys.clear();
  }
}

/** Emergency: create → validate → rewrap → destroy → (newDeks) → revoke → done. Branch-key rotation:
 * replace → destroy → done (a destroy whose count finds DEKs left goes back to rewrap in both). */
async function finishReplacement(d: HierarchyDeps, cp: Checkpoint, kekKeyId: string, kekVersion: string, o: RunOptions, compromised?: string): Promise<RunState> {
  const plan = cp.state.plan ?? [];
  const pacer = new Pacer(o.ratePerSec ?? 0);
  const ring = new KeyRing(d, cp, kekKeyId, pacer);
  const afterDestroy = cp.state.newDekVersions ? "newDeks" : compromised ? "revoke" : "done";
  try {
    if (cp.state.step === "create") {
      await forEachLimited(plan, o.concurrency ?? 16, (p) => createVersion(d, cp, ring, pacer, kekKeyId, kekVersion, p));
      await cp.step(compromised ? "validate" : "rewrap");
    }
    if (cp.state.step === "replace") {
      await replaceEach(d, cp, ring, pacer, kekKeyId, kekVersion, plan, o);
      await cp.step("destroy");
    }
    if (cp.state.step === "validate") {
      // Emergency: the new branch-key versions are the records under the new KEK version; they must
      // open there (remote) to their signed key before any DEK moves onto them, so a new KEK version
      // that does not work stops the run with the old branch keys, DEKs and KEK version untouched.
      // Versions this process created (random key, committed, wrapped locally with the version's one
      // public key) are covered by a sample; any other (created by an earlier attempt) is opened,
      // which proves it, and kept for the re-wrap that needs it anyway.
      const records: StoredBranchKey[] = [];
      for (const p of plan) {
        const r = await d.keys.store.get(kekKeyId, p.branchId, p.to);
        if (!r) throw new RotationConflictError("BranchKeyMissing", `[keyrotor] [hierarchy] new branch key ${p.branchId}#${p.to} is gone before validation`);
        records.push(r);
      }
      const created = records.filter((r) => ring.isCreated(r.branchId, r.version));
      const others = records.filter((r) => !ring.isCreated(r.branchId, r.version));
      const sample = spreadSample(created, proofSampleSize(o.proofSample));
      cp.add("branchKeysValidated", await validateUnderKek(d, pacer, [...sample, ...others], kekKeyId, kekVersion, o.concurrency ?? 16, (r, key) => {
        if (ring.isCreated(r.branchId, r.version)) return false;
        ring.hold(r.branchId, r.version, key, false);
        return true;
      }));
      await cp.step("rewrap");
    }
    for (let pass = 0; cp.state.step === "rewrap" || cp.state.step === "destroy"; pass++) {
      if (cp.state.step === "rewrap") {
        await rewrapDeks(d, cp, kekKeyId, plan, ring, o);
        await cp.step("destroy");
      }
      // The proof: DEKs of the KEK still under a planned old version, in one query that returns only
      // those rows (none, once the re-wrap is complete).
      const counts = await d.deks.countBelow(kekKeyId, new Map(plan.map((p) => [p.branchId, p.to])));
      const left = plan.flatMap((p) => p.from.filter((v) => (counts.get(`${p.branchId}#${v}`) ?? 0) > 0));
      if (left.length > 0) {
        if (pass + 1 >= MAX_PASSES) throw new DependencyUnavailableError("tables", `[keyrotor] [hierarchy] ${left.length} old branch-key versions still referenced after ${MAX_PASSES} passes; resume the run`);
        await cp.step("rewrap");
        continue;
      }
      for (const p of plan) for (const v of p.from) await d.keys.store.destroy(kekKeyId, p.branchId, v);
      cp.state.counts.branchKeysDestroyed = plan.reduce((s, p) => s + p.from.length, 0);
      await cp.step(afterDestroy);
      await d.publish?.({ type: "BranchKeysDestroyed", kekKeyId, branchIds: plan.map((p) => p.branchId) });
    }
    if (cp.state.step === "newDeks") {
      await newDekVersions(d, cp, kekKeyId, plan, ring, o);
      await cp.step(compromised ? "revoke" : "done");
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
    ring.zero();
    cp.state.counts.remoteCalls = (cp.state.counts.remoteCalls ?? 0) + pacer.calls;
  }
  return cp.state;
}

/** A planned branch key's new version (one remote sign; its key held by the ring), and its older
 * versions made secondary: new DEKs go under the new version from then on. Found already created
 * (an earlier attempt): its key is opened when a DEK needs it. */
async function createVersion(d: HierarchyDeps, cp: Checkpoint, ring: KeyRing, pacer: Pacer, kekKeyId: string, kekVersion: string, p: BranchPlan): Promise<void> {
  const { record, key } = await pacer.run(() => d.keys.create({ kekKeyId, kekVersion, branchId: p.branchId, version: p.to, state: "primary" }));
  if (key) {
    ring.hold(p.branchId, p.to, key, true);
    cp.add("branchKeysCreated");
  }
  for (const v of await d.keys.store.versions(kekKeyId, p.branchId)) if (v.version !== record.version) await d.keys.store.setState(v, "secondary");
}

/** Branch-key rotation's replace step: each planned branch key (`concurrency` at once, in plan
 * order) gets its new version and then its tenants' partitions re-wrapped (`partitions` at once
 * across all of them); the tenants come from one pass over the KEK's assignments. The checkpoint is
 * saved after each branch key with the count of plan entries done in order; a save may end the
 * slice (onSave), and then no new branch key starts while the ones in flight finish, so a slice
 * never ends between a branch key's creation and its DEKs' re-wrap: the next slice needs none of
 * the keys this one held (no remote unwrap is spent twice). Only a crash leaves branch keys behind
 * the saved count; their re-do finds the version created (one remote unwrap of it when its DEKs
 * are not all re-wrapped yet) and skips the DEKs already under it. */
async function replaceEach(d: HierarchyDeps, cp: Checkpoint, ring: KeyRing, pacer: Pacer, kekKeyId: string, kekVersion: string, plan: BranchPlan[], o: RunOptions): Promise<void> {
  const start = cp.state.replaced ?? 0;
  const todo = plan.slice(start);
  if (todo.length === 0) return;
  const tenantsOf = new Map(todo.map((p) => [p.branchId, [] as string[]]));
  const only = plan.length === 1 ? plan[0]?.branchId : undefined;
  for await (const page of d.keys.store.tenants(kekKeyId, only)) for (const a of page) tenantsOf.get(a.branchId)?.push(a.tenant);
  const partitions = new Limiter(o.partitions ?? 8);
  const open = (branchId: string, version: number) => ring.open(branchId, version);
  const finished = todo.map(() => false);
  let mark = 0;
  // Saves one after the other (each is If-Match on the one before); each writes the state as it is then.
  let saving = Promise.resolve();
  await forEachLimited(todo.map((p, i) => ({ p, i })), o.concurrency ?? 16, async ({ p, i }) => {
    await createVersion(d, cp, ring, pacer, kekKeyId, kekVersion, p);
    const results = await Promise.allSettled((tenantsOf.get(p.branchId) ?? []).map((tenant) => partitions.run(() => rewrapPartitionRetrying(d, cp, tenant, p, open))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    finished[i] = true;
    while (mark < finished.length && finished[mark]) mark++;
    cp.state.replaced = start + mark;
    const save = saving.then(() => cp.save());
    saving = save.catch(() => undefined);
    await save;
  });
}

async function rewrapPartitionRetrying(d: HierarchyDeps, cp: Checkpoint, tenant: string, p: BranchPlan, open: (b: string, v: number) => Promise<Buffer>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rewrapPartition(d, cp, tenant, p, open);
      return;
    } catch (err) {
      if (!(err instanceof RotationConflictError) || attempt >= 4) throw err;
      cp.add("conflicts");
    }
  }
}

/** Every DEK under an old version of a planned branch key, re-wrapped locally under its new
 * version (If-Match; a partition that changed is read again). */
async function rewrapDeks(d: HierarchyDeps, cp: Checkpoint, kekKeyId: string, plan: BranchPlan[], ring: KeyRing, o: RunOptions): Promise<void> {
  const open = (branchId: string, version: number) => ring.open(branchId, version);
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
  await forEachLimited(work, o.partitions ?? 8, ({ tenant, p }) => rewrapPartitionRetrying(d, cp, tenant, p, open));
}

/** Pages of re-wrap writes in flight at once: page N+1 is re-wrapped (local CPU) while page N's
 * transactions are in the table service, so neither side waits for the other. */
const PAGE_WINDOW = 3;
/** The scan's position is checkpointed at most this often (and at the end): re-reading a few pages
 * after a crash costs less than a checkpoint write per page. */
const SCAN_SAVE_MS = 2000;

/** The emergency's re-wrap as one pass over the KEK's DEKs: each page's rows are grouped by tenant
 * and written (≤100 per transaction, If-Match, `partitions` transactions in flight across the
 * pages of the window) while the next pages are read and re-wrapped. The continuation is
 * checkpointed only once every page before it is written, so a resumed run starts there (rows it
 * re-reads are already under their target and skipped). A tenant whose transaction meets a changed
 * row is re-done partition-wise, which re-reads it. */
async function rewrapByTableScan(d: HierarchyDeps, cp: Checkpoint, kekKeyId: string, plan: BranchPlan[], open: (b: string, v: number) => Promise<Buffer>, o: RunOptions): Promise<void> {
  const byBranch = new Map(plan.map((p) => [p.branchId, p]));
  const writers = new Limiter(o.partitions ?? 8);
  const window: { continuation: string | undefined; written: Promise<PromiseSettledResult<void>[]> }[] = [];
  let savedAt = Date.now();
  const read = (c: string | undefined) => {
    const p = d.deks.scanKek(kekKeyId, c);
    p.catch(() => undefined); // awaited below; a run failing meanwhile must not leave it unhandled
    return p;
  };
  /** A page's writes failed: no later page's continuation may become the resume point. */
  let broken = false;
  /** Waits for the oldest page's writes; its continuation becomes the safe resume point. */
  const settleOldest = async (): Promise<void> => {
    const w = window.shift();
    if (!w) return;
    const failed = (await w.written).find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      broken = true;
      throw failed.reason;
    }
    cp.state.scanContinuation = w.continuation;
  };
  let next = read(cp.state.scanContinuation);
  try {
    for (;;) {
      const page = await next;
      if (page.continuation) next = read(page.continuation);
      // The branch keys this page needs, opened at once (paced) rather than one by one as its rows
      // meet them: the first page needs nearly all of them.
      const needed = new Map<string, [string, number]>();
      for (const dek of page.items) {
        const p = byBranch.get(dek.branchId);
        if (!p || dek.branchVersion === p.to) continue;
        needed.set(`${dek.branchId}#${dek.branchVersion}`, [dek.branchId, dek.branchVersion]);
        needed.set(`${p.branchId}#${p.to}`, [p.branchId, p.to]);
      }
      await forEachLimited([...needed.values()], o.concurrency ?? 16, async ([b, v]) => {
        await open(b, v);
      });
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
      window.push({
        continuation: page.continuation,
        written: Promise.allSettled([...groups].map(([tenant, g]) => writers.run(async () => {
          try {
            cp.add("dekRowsWritten", await d.deks.rewrite(tenant, g.rewrites));
          } catch (err) {
            if (!(err instanceof RotationConflictError)) throw err;
            cp.add("conflicts");
            await rewrapPartition(d, cp, tenant, g.p, open);
          }
        }))),
      });
      while (window.length >= PAGE_WINDOW || (!page.continuation && window.length > 0)) await settleOldest();
      if (!page.continuation) break;
      if (Date.now() - savedAt >= SCAN_SAVE_MS) {
        await cp.save();
        savedAt = Date.now();
      }
    }
  } catch (err) {
    // Nothing left running behind a failed step (a resumed run must not race it), and the pages
    // written in order before the failure are saved as done, so the resumed run starts after them.
    while (!broken && window.length > 0) await settleOldest().catch(() => undefined);
    await Promise.allSettled(window.map((w) => w.written));
    // Best effort: the run fails with `err` either way, and a checkpoint that cannot be written now
    // (another runner took it over) only means the resumed run re-reads a few pages.
    await cp.save().catch(() => undefined);
    throw err;
  }
}

async function rewrapPartition(d: HierarchyDeps, cp: Checkpoint, tenant: string, p: BranchPlan, open: (b: string, v: number) => Promise<Buffer>): Promise<void> {
  let continuation: string | undefined;
  do {
    const page = await d.deks.notUnder(tenant, p.branchId, p.to, continuation);
    const rewrites: Rewrite[] = [];
    // Opened only when a DEK needs it: a partition found done (a retry pass) costs no remote unwrap.
    const target = page.items.length > 0 ? await open(p.branchId, p.to) : undefined;
    for (const dek of page.items) {
      if (!target) break;
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

/** The approval's "new DEK versions for every tenant": each tenant of a planned branch key gets one
 * new primary DEK version, wrapped under the branch key's new version, so consumers re-encrypt their
 * data under it; older versions stay (secondary) and decrypt. Check before act: a tenant whose
 * primary was made by this run (`rotationRun`) is done, so a resumed run makes none twice. */
async function newDekVersions(d: HierarchyDeps, cp: Checkpoint, kekKeyId: string, plan: BranchPlan[], ring: KeyRing, o: RunOptions): Promise<void> {
  const byBranch = new Map(plan.map((p) => [p.branchId, p]));
  const work: { tenant: string; p: BranchPlan }[] = [];
  for await (const page of d.keys.store.tenants(kekKeyId)) {
    for (const a of page) {
      const p = byBranch.get(a.branchId);
      if (p) work.push({ tenant: a.tenant, p });
    }
  }
  await forEachLimited(work, o.partitions ?? 8, async ({ tenant, p }) => {
    if (await newPrimaryDek(d, ring, kekKeyId, tenant, p, cp.state.runId)) cp.add("dekVersionsCreated");
  });
}

async function newPrimaryDek(d: HierarchyDeps, ring: KeyRing, kekKeyId: string, tenant: string, p: BranchPlan, runId: string): Promise<boolean> {
  let tried = 0;
  for (let attempt = 0; ; attempt++) {
    const current = await d.deks.getPrimary(tenant);
    if (!current) return false; // no DEK: no data to re-encrypt
    if (current.rotationRun === runId) return false;
    const dekVersion = Math.max(current.dekVersion, tried) + 1;
    tried = dekVersion;
    const target = await ring.open(p.branchId, p.to);
    const dek = randomBytes(DEK_BYTES);
    try {
      await d.deks.put({
        format: DEK_FORMAT_2, tenant, dekId: dekIdFor(dekVersion), dekVersion, kekKeyId, branchId: p.branchId, branchVersion: p.to, alg: "A256GCM",
        wrapped: wrapDek(target, dek, { tenant, dekVersion, kekKeyId, branchId: p.branchId, branchVersion: p.to }), createdAt: new Date().toISOString(), state: "primary",
        rotationRun: runId,
      });
      return true;
    } catch (err) {
      // A consumer made a version meanwhile (stale) or the row exists: read again and go on above it.
      const raced = err instanceof RotationConflictError || (err instanceof InvalidRequestError && err.code === "DekVersionStale");
      if (!raced || attempt >= 4) throw err;
    } finally {
      dek.fill(0);
    }
  }
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
  // A row that does not authenticate is refused (never migrated, so never laundered into a signed
  // format-2 DEK) and left where it is, counted (flatRowsRefused) for a person to look at; unsigned
  // rows the settings still accept are migrated and counted (flatRowsUnsignedAdopted).
  const auth = d.flatAuth ?? new FlatDekAuth({ signer: d.keys.signer });
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
      const refused = new Set<string>();
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
        let plain: Buffer;
        try {
          plain = await auth.open(dek, () => pacer.run(() => d.kek.unwrap(dek.kekKeyId, dek.kekVersion, Buffer.from(dek.wrapped, "base64url"), dek.alg)));
        } catch (err) {
          if (!(err instanceof InvariantViolationError && err.code.startsWith("FlatDek"))) throw err;
          refused.add(dek.dekId);
          cp.add("flatRowsRefused", 1);
          continue;
        }
        if (!isSignedDek(dek)) cp.add("flatRowsUnsignedAdopted", 1);
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
      // The pointer moves up only: a tenant DEK rotation (locked on the tenant, not the KEK) may have
      // made a newer primary meanwhile, which the migrated one must not undo; it stays secondary.
      if (primary && !(await d.deks.movePrimaryPointerUp(tenant, primary.dekId, primary.dekVersion))) await d.deks.putMany(tenant, [{ ...primary, state: "secondary" }]);
      cp.add("dekRowsWritten", out.length);
      const moved = mine.filter((x) => !refused.has(x.dekId));
      await deleteFlatRows(table, tenant, moved.map((x) => ({ dekId: x.dekId })));
      cp.add("flatRowsDeleted", moved.length);
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
