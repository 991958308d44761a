// `npm run bench -- branch-rotation --deks N --tenants T --branches B --vault-rate R [--key rsa2048|rsa3072|rsa4096]
//   [--scope all|tenants:K] [--timeout-min M]`
// A standalone branch-key rotation through the app's own API and durable flow: the kek-rotation
// bench's bed (Azurite and the Key Vault peer each in its own process, the peer throttled at R
// requests/s, every request counting as the per-vault limit does; B signed shared branch keys and N
// format-2 DEKs over T tenants), then the app composed from settings (lib/compose.ts, as a deployed
// worker builds it; the ledger sealed with an ephemeral local key so no seal reaches the vault, the
// Service Bus peer in this process for its events) on the local host (dev/host, schedules off), and
// `POST /api/rotations {"keyId": <kek>, "mode": "normal", "branchKeys": true}` (or
// `{"tenants": [the first K tenants]}`), waited to completion.
// What the request must do (docs/key-hierarchy.md): no new KEK version; each asked branch key a new
// version wrapped locally under the KEK's current version (one remote unwrap of the old branch key,
// one remote sign of the new record), its DEKs re-wrapped locally, the old version destroyed.
// Figures: remote calls as the peer counts them from the POST to the rotation's end, served ones
// (remoteUnwraps, remoteSigns, remoteWraps, remoteCalls: requests minus those answered 429, which
// the app's pacing retries) and the requests beside them (remoteRequests); kekVersionsCreated (the vault's versions of the KEK before and after);
// branchKeysRotated (branch keys whose version went up, read from the table) beside the flow's own
// counts; dekRowsWritten (the flow's count) and dekRowsMoved (rows under the new versions, counted
// in the table); seconds (POST → the orchestration's end); peakRssMb (this process: host, app and
// SDK clients, sampled during the rotation; seeding excluded); every DEK checked to decrypt after.
import "../dev/host"; // first: installs @azure/functions-core before anything loads @azure/functions
import { loadavg } from "node:os";
import path from "node:path";
import { startHost, type DevHost } from "../dev/host";
import { appHookDataFor } from "../dev/app/composition";
import { functionModules } from "../dev/app/functions";
import { startServiceBusPeer, type ServiceBusPeer } from "../dev/peers/servicebus";
import { compose, type Composition } from "../lib/compose";
import { loadConfig } from "../lib/config";
import { encodePrincipal, ROLES } from "../lib/http/principal";
import { ephemeralSealSigner, tableLedger } from "../lib/ledger";
import { instanceIdFor, type RotationOutput, type RotationStatus } from "../lib/orchestration/workflows";
import { Inventory } from "../lib/stores/inventory";
import { PolicyStore } from "../lib/stores/policyStore";
import { ensureTable, tableClient } from "../lib/stores/tables";
import { setDefaultLogSink } from "../lib/telemetry/log";
import { checkAllDecrypt, keyBits, log, missedTargets, numberOption, option, round, seedHierarchy, startBed, withRssSampling, type Bed } from "./_hierarchy";
import { parseScope, scopeRequest } from "./_branchScope";
import { cpuMsOf, peakRssMb } from "./_proc";

const say = log("branch-rotation");

/** The intended request validates nothing remotely: the new branch-key versions are wrapped under
 * the KEK version already in use (proven when it was rolled out), so no proof sample is spent
 * (kek-rotation's +10 is its gate's sample under a NEW KEK version; here there is none). */
const VALIDATION_UNWRAPS = 0;

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const deks = numberOption(args, "deks", 20_000);
  const tenants = Math.max(1, numberOption(args, "tenants", 200));
  const branches = Math.max(1, numberOption(args, "branches", 256));
  const vaultRate = numberOption(args, "vault-rate", 25);
  const timeoutMs = numberOption(args, "timeout-min", 60) * 60_000;
  const scope = parseScope(option(args, "scope", "all"), tenants);
  const { key, bits } = keyBits(args);
  const asked = scopeRequest(scope, branches);

  // The app's structured log lines would go to stdout, which carries only the final JSON line here:
  // warnings and errors go to stderr with the progress, the rest (one line per activity) is dropped.
  setDefaultLogSink((level, line) => {
    if (level === "warn" || level === "error") process.stderr.write(`${line}\n`);
  });
  const bed = await startBed(bits, branches);
  let bus: ServiceBusPeer | undefined;
  let app: Composition | undefined;
  let host: DevHost | undefined;
  try {
    await seedHierarchy(bed, deks, tenants, branches, say);
    ({ bus, app, host } = await startApp(bed, branches));
    const kekVersionsBefore = await kekVersionCount(bed);
    const branchBefore = await branchVersions(bed);
    const dekCountsBefore = await bed.deks.countsByBranchVersion(bed.kekKeyId);
    const deksInScope = [...dekCountsBefore].filter(([k]) => asked.branchIds.has(k.split("#")[0]!)).reduce((s, [, n]) => s + n, 0);
    const branchKeysInScope = [...asked.branchIds].filter((b) => branchBefore.has(b)).length;
    say(`${branchKeysInScope} branch keys and ${deksInScope} DEKs in scope (${scope.kind === "all" ? "all" : `the first ${scope.count} tenants`})`);

    await bed.peer.admin("PUT", "/admin/throttle", vaultRate > 0 ? { ratePerSecond: vaultRate } : false);
    await bed.peer.admin("POST", "/admin/stats/reset");
    const loadBefore = loadavg().map((x) => round(x, 2));
    const azCpu0 = cpuMsOf(bed.az.pid) ?? 0;
    const ownCpu0 = process.cpuUsage();
    const started = performance.now();
    const h = host;
    const { result: { out, instanceId }, peakRssMb: rss } = await withRssSampling(() => rotateBranchKeys(h, bed.kekKeyId, asked.branchKeys, timeoutMs, started));
    const seconds = (performance.now() - started) / 1000;
    const ownCpu = process.cpuUsage(ownCpu0);
    const azuriteCpuSeconds = ((cpuMsOf(bed.az.pid) ?? 0) - azCpu0) / 1000;
    const loadAfter = loadavg().map((x) => round(x, 2));
    const stats = await bed.stats();
    await bed.peer.admin("PUT", "/admin/throttle", false);

    const kekVersionsAfter = await kekVersionCount(bed);
    const branchAfter = await branchVersions(bed);
    const dekCountsAfter = await bed.deks.countsByBranchVersion(bed.kekKeyId);
    const rotated = [...branchBefore].filter(([b, v]) => (branchAfter.get(b)?.newest ?? 0) > v.newest).map(([b]) => b);
    const outOfScopeChanged = [...branchBefore].filter(([b, v]) => !asked.branchIds.has(b) && JSON.stringify(branchAfter.get(b)) !== JSON.stringify(v)).length;
    const dekRowsMoved = [...dekCountsAfter].filter(([k]) => {
      const [b, v] = k.split("#");
      return asked.branchIds.has(b!) && Number(v) > (branchBefore.get(b!)?.newest ?? Infinity);
    }).reduce((s, [, n]) => s + n, 0);
    const kekVersionsOfRecords = [...new Set([...branchAfter.values()].flatMap((v) => v.kekVersions))];
    const check = await checkAllDecrypt(bed);
    const counts = out.counts ?? {};
    const flowCount = (name: string): number => counts[name] ?? counts[`hierarchy.${name}`] ?? 0;
    const dekRowsWritten = flowCount("dekRowsWritten");
    const allDecrypt = check.failed === 0 && check.ok === deks;
    // Served calls (what the vault did): requests minus those its throttle answered 429, which the
    // app's pacing retries; the requests are reported beside them.
    const served = (op: string): number => (stats.calls[op] ?? 0) - (stats.throttledCalls[op] ?? 0);
    const remoteUnwraps = served("unwrapKey");
    const remoteSigns = served("sign");
    const remoteWraps = served("wrapKey");
    const kekVersionsCreated = kekVersionsAfter - kekVersionsBefore;

    const figures = {
      deks, tenants, branches, scope: scope.kind === "all" ? "all" : `tenants:${scope.count}`, key, vaultRate, outcome: out.outcome,
      ...(out.error ? { error: out.error } : {}),
      branchKeysInScope, deksInScope, branchKeysRotated: rotated.length, outOfScopeBranchKeysChanged: outOfScopeChanged,
      remoteUnwraps, remoteSigns, remoteWraps, remoteCalls: Object.values(stats.calls).reduce((s, n) => s + n, 0) - stats.throttled429,
      remoteRequests: { byOperation: stats.calls, throttled429: stats.throttled429, throttledByOperation: stats.throttledCalls },
      kekVersionsCreated, kekVersionOfBranchKeyRecords: kekVersionsOfRecords.length === 1 && kekVersionsOfRecords[0] === bed.kekVersion ? "unchanged" : kekVersionsOfRecords,
      dekRowsWritten, dekRowsMoved,
      seconds: round(seconds, 2), dekRowsPerSec: seconds > 0 ? Math.round(dekRowsWritten / seconds) : 0,
      // Where the time goes: the vault's share (served calls at the peer's limit) against the whole;
      // the flow runs one branch key per activity call, one after another.
      vaultFloorSeconds: vaultRate > 0 ? round((remoteUnwraps + remoteSigns) / vaultRate, 1) : 0,
      secondsPerBranchKey: rotated.length > 0 ? round(seconds / rotated.length, 2) : null,
      branchRotationActivityCalls: host.activityExecutions("hierarchyBranchRotation"), maxHistoryEvents: host.maxHistoryEventCount(instanceId),
      // CPU during the rotation: Azurite's (its queries scan whole tables) and this process's (host, app, SDK clients).
      azuriteCpuSeconds: round(azuriteCpuSeconds, 1), appCpuSeconds: round((ownCpu.user + ownCpu.system) / 1e6, 1),
      peakRssMb: rss, processPeakRssMb: peakRssMb("self") ?? null, azuritePeakRssMb: peakRssMb(bed.az.pid) ?? null,
      rssIncludes: "peakRssMb: this process sampled every 100 ms during the rotation (local host, the app's composition and SDK clients, the Service Bus peer); processPeakRssMb also covers seeding and the final check",
      allDecrypt, decryptCheck: { ok: check.ok, failed: check.failed, branchKeysOpened: check.remoteUnwraps },
      flowCounts: counts,
      loadAverage: { before: loadBefore, after: loadAfter },
    };
    const targets = {
      remoteUnwrapsMax: branchKeysInScope + VALIDATION_UNWRAPS, remoteSignsMax: branchKeysInScope, remoteWrapsMax: 0, kekVersionsCreatedMax: 0,
      branchKeysRotatedMin: branchKeysInScope, branchKeysRotatedMax: branchKeysInScope, dekRowsWrittenMin: deksInScope, dekRowsWrittenMax: deksInScope, decryptFailedMax: 0,
      validationUnwraps: VALIDATION_UNWRAPS,
      validationUnwrapsWhy: "the new branch-key versions are wrapped locally under the KEK version already in use, proven when it was rolled out: no proof sample (kek-rotation's +10 is its gate's sample under a new KEK version)",
    };
    const { validationUnwraps: _v, validationUnwrapsWhy: _w, ...limits } = targets;
    return {
      ...figures, targets,
      targetsMissed: [
        ...missedTargets({ remoteUnwraps, remoteSigns, remoteWraps, kekVersionsCreated, branchKeysRotated: rotated.length, dekRowsWritten, decryptFailed: check.failed + (deks - check.ok) }, limits),
        ...(out.outcome === "completed" ? [] : [`outcome ${out.outcome}`]),
        ...(outOfScopeChanged === 0 ? [] : [`${outOfScopeChanged} branch keys outside the scope changed`]),
      ],
    };
  } finally {
    await host?.stop(); // appTerminate closes the composition
    if (host === undefined) await app?.close();
    await bus?.stop();
    await bed.stop();
    setDefaultLogSink(undefined);
  }
}

/** The app as a deployed worker composes it from settings, over the bed's Azurite and Key Vault
 * peer, on the local host with every function but no schedule; the KEK in its inventory. */
async function startApp(bed: Bed, branches: number): Promise<{ bus: ServiceBusPeer; app: Composition; host: DevHost }> {
  const bus = await startServiceBusPeer({ autoCreate: true });
  let app: Composition | undefined;
  try {
    const cfg = loadConfig({
      KEYROTOR_TABLES_CONNECTION: bed.az.connectionString,
      KEYROTOR_VAULT_URLS: `${bed.vaultName}=${bed.peer.url}`, KEYROTOR_KEYVAULT_CA_FILE: bed.peer.caFile, KEYROTOR_KEYVAULT_CREDENTIAL: "local-peer",
      KEYROTOR_SERVICEBUS_CONNECTION: bus.connectionString,
      // The bed's tables and signing key (bench/_hierarchy.ts): the app's defaults, named here.
      KEYROTOR_TABLE_BRANCH_KEYS: "branchkeys", KEYROTOR_TABLE_BRANCH_DEKS: "branchdeks",
      KEYROTOR_BRANCH_SIGNING_KEY_ID: `signing:${bed.vaultName}/branch-signer`, KEYROTOR_BRANCH_KEYS_PER_KEK: String(branches),
    });
    // Seals with an ephemeral local key: KEYROTOR_SEAL_KEY_ID would put the ledger's signs on the
    // vault being counted.
    const ledger = tableLedger({ entries: await ensureTable(tableClient(cfg, "ledger")), seals: await ensureTable(tableClient(cfg, "seals")), signer: ephemeralSealSigner() });
    app = await compose(cfg, { ledger });
    // A rotation needs the key's policy (a quarterly KEK policy; nothing here runs on schedule).
    const policies = new PolicyStore(await ensureTable(tableClient(cfg, "policies")));
    await policies.put({ policyId: "bench-kek", tenant: "platform", kinds: ["kek"], schedule: { preset: "quarterly" }, expiresAfter: "P120D" }, undefined);
    const inventory = new Inventory(await ensureTable(tableClient(cfg, "inventory")), policies);
    await inventory.create({ keyId: bed.kekKeyId, kind: "kek", tenant: "platform", policyId: "bench-kek", primaryVersion: bed.kekVersion, versions: [{ version: bed.kekVersion, state: "primary", createdAt: new Date().toISOString() }] });
    const host = await startHost({ entry: functionModules(path.resolve(__dirname, "..", "functions")), appHookData: appHookDataFor(app), runSchedules: false, log: (l) => say(`host: ${l}`) });
    return { bus, app, host };
  } catch (err) {
    await app?.close();
    await bus.stop();
    throw err;
  }
}

/** POST /api/rotations with branchKeys, then the orchestration followed to its end. */
async function rotateBranchKeys(host: DevHost, kekKeyId: string, branchKeys: true | { tenants: string[] }, timeoutMs: number, started: number): Promise<{ out: RotationOutput; instanceId: string }> {
  const r = await host.invokeHttp("POST", "/api/rotations", {
    headers: { "content-type": "application/json", "x-ms-client-principal": encodePrincipal("bench", [ROLES.operator]) },
    body: { keyId: kekKeyId, reason: "branch-rotation bench", mode: "normal", branchKeys },
  });
  if (r.status !== 202) throw new Error(`[keyrotor] [bench] POST /api/rotations answered ${r.status}: ${r.body}`);
  const instanceId = instanceIdFor((r.json() as { rotationId: string }).rotationId);
  let lastLog = 0;
  for (;;) {
    const st = await host.client.getStatus(instanceId);
    const now = performance.now();
    if (st && ["Completed", "Failed", "Terminated"].includes(String(st.runtimeStatus))) {
      const out = st.output as RotationOutput | undefined;
      return { instanceId, out: out ?? { rotationId: instanceId, keyId: kekKeyId, outcome: "failed", phase: "failed", error: { code: String(st.runtimeStatus), message: JSON.stringify(st.output ?? null) } } };
    }
    if (now - started > timeoutMs) throw new Error(`[keyrotor] [bench] the rotation did not end within ${timeoutMs / 60_000} min (status ${JSON.stringify(st?.customStatus ?? null)})`);
    if (now - lastLog > 5000) {
      lastLog = now;
      const cs = st?.customStatus as RotationStatus | undefined;
      say(`${((now - started) / 1000).toFixed(1)} s phase=${cs?.phase ?? "?"} DEK rows re-wrapped=${cs?.progress?.rewrapped ?? 0} rss=${Math.round(process.memoryUsage().rss / 1048576)}MB`);
    }
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** How many versions of the KEK the vault holds. */
async function kekVersionCount(bed: Bed): Promise<number> {
  let n = 0;
  for await (const _ of bed.kc.listPropertiesOfKeyVersions("tenant-kek")) n++;
  return n;
}

/** branchId → its live versions (newest) and the KEK versions its records are wrapped under. */
async function branchVersions(bed: Bed): Promise<Map<string, { newest: number; versions: number[]; kekVersions: string[] }>> {
  const out = new Map<string, { newest: number; versions: number[]; kekVersions: string[] }>();
  for (const r of await bed.keys.store.all(bed.kekKeyId)) {
    const e = out.get(r.branchId) ?? { newest: 0, versions: [], kekVersions: [] };
    e.versions = [...e.versions, r.version].sort((a, b) => a - b);
    e.newest = Math.max(e.newest, r.version);
    if (!e.kekVersions.includes(r.kekVersion)) e.kekVersions = [...e.kekVersions, r.kekVersion].sort();
    out.set(r.branchId, e);
  }
  return out;
}
