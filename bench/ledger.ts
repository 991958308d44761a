// `npm run bench -- ledger [--one-chain 2000] [--writers 8] [--chains 100] [--per-chain 20] [--verify-entries 60000]`
// Appends per second on one chain (one writer, then N racing writers), over 100 chains, the cost
// of a seal, and verify() throughput over a bulk-loaded ledger. Runs its own in-memory Azurite.
import { TableClient, type TransactionAction } from "@azure/data-tables";
import { startAzuriteTables } from "../dev/peers/azurite/launcher";
import { cpuMsOf } from "./_proc";
import { ephemeralSealSigner, memoryLedger, tableLedger, GENESIS_HASH, type HashChainLedger } from "../lib/ledger";
import { buildEntry, entryHash, entryToRow, rowToEntry, seqRowKey } from "../lib/ledger/entry";
import { escapeKey } from "../lib/stores/tables";
import type { LedgerAppend } from "../lib/ports";

function opt(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a number`);
  return v;
}

const log = (s: string) => process.stderr.write(`[bench ledger] ${s}\n`);
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
const step = (keyId: string, n: number): LedgerAppend => ({
  keyId, entryId: `${keyId}@bench#${n}`, type: "RewrapProgress", rotationId: `${keyId}@bench`, trigger: "schedule", actor: "system:orchestrator", counts: { rewrapped: n * 500, total: 1_000_000 },
});

/** Writes valid chains straight into the table (100-operation transactions, chains in parallel). */
async function bulkLoad(table: TableClient, seals: TableClient, fromChain: number, toChain: number, perChain: number): Promise<void> {
  await Promise.all(Array.from({ length: toChain - fromChain }, async (_, i) => {
    const c = fromChain + i;
    const keyId = `dek:bulk-${c}`;
    const pk = escapeKey(keyId);
    await seals.upsertEntity({ partitionKey: "chain", rowKey: pk, keyId }, "Replace");
    let prev = GENESIS_HASH;
    let batch: TransactionAction[] = [];
    for (let seq = 1; seq <= perChain; seq++) {
      const e = buildEntry(step(keyId, seq), seq, prev, new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString());
      prev = e.hash;
      batch.push(["create", { partitionKey: pk, rowKey: seqRowKey(seq), ...entryToRow(e) }], ["create", { partitionKey: pk, rowKey: `id:${escapeKey(e.entryId)}`, seq }]);
      if (batch.length >= 98 || seq === perChain) {
        if (seq === perChain) batch.push(["create", { partitionKey: pk, rowKey: "head", keyId, seq, hash: prev, at: e.at }]);
        await table.submitTransaction(batch);
        batch = [];
      }
    }
  }));
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const oneChain = opt(args, "one-chain", 2000);
  const writers = opt(args, "writers", 8);
  const chains = opt(args, "chains", 100);
  const perChain = opt(args, "per-chain", 20);
  const verifyEntries = opt(args, "verify-entries", 60_000);
  const azurite = await startAzuriteTables();
  try {
    const table = (name: string) => TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true });
    const signer = ephemeralSealSigner();
    const ledgerOn = (entries: string, seals: string): HashChainLedger => tableLedger({ entries: table(entries), seals: table(seals), signer });

    log(`one chain, one writer: ${oneChain} appends`);
    const solo = ledgerOn("benchone", "benchoneseals");
    await solo.append(step("kek:bench/warmup", 0));
    let t0 = performance.now();
    for (let i = 1; i <= oneChain; i++) await solo.append(step("kek:bench/solo", i));
    const appendsPerSecOneChain = rate(oneChain, performance.now() - t0);
    log(`  ${appendsPerSecOneChain}/s`);

    log(`one chain, ${writers} racing writers: ${oneChain} appends`);
    const racers = Array.from({ length: writers }, () => ledgerOn("benchone", "benchoneseals"));
    const each = Math.ceil(oneChain / writers);
    t0 = performance.now();
    await Promise.all(racers.map(async (w, wi) => {
      for (let i = 0; i < each; i++) await w.append(step("kek:bench/raced", wi * each + i));
    }));
    const appendsPerSecOneChainRacing = rate(each * writers, performance.now() - t0);
    log(`  ${appendsPerSecOneChainRacing}/s`);

    log(`${chains} chains × ${perChain} appends, one writer per chain`);
    const many = ledgerOn("benchmany", "benchmanyseals");
    t0 = performance.now();
    await Promise.all(Array.from({ length: chains }, async (_, c) => {
      for (let i = 1; i <= perChain; i++) await many.append(step(`dek:tenant-${c}`, i));
    }));
    const appendsPerSecHundredChains = rate(chains * perChain, performance.now() - t0);
    log(`  ${appendsPerSecHundredChains}/s`);

    t0 = performance.now();
    const seal = await many.seal({ reason: "bench" });
    const sealMsHundredChains = Math.round(performance.now() - t0);

    // Verify over a bulk-loaded ledger, at growing sizes: Azurite evaluates a query's filter against
    // every row of the table for every page it returns (LokiJS scan; see the bench's notes in
    // docs/ledger.md), so its cost per page grows with the table, which real Table Storage's does
    // not. The client's own CPU per entry (SDK paging + JSON + decode + hash) is measured apart.
    const bulkChains = 50;
    const bulkPer = Math.max(1, Math.ceil(verifyEntries / bulkChains));
    const stages = [4, 2, 1].map((d) => Math.ceil(bulkChains / d));
    const bySize: Record<string, number> = {};
    let loaded = 0;
    let bulkMs = 0;
    let result!: Awaited<ReturnType<HashChainLedger["verify"]>>;
    let verifyMs = 0;
    let clientCpuMs = 0;
    let azuriteCpuMs: number | undefined;
    await table("benchmany").createTable();
    for (const upTo of stages) {
      log(`bulk-loading chains ${loaded}..${upTo - 1} (${(upTo - loaded) * bulkPer} entries)`);
      t0 = performance.now();
      await bulkLoad(table("benchmany"), table("benchmanyseals"), loaded, upTo, bulkPer);
      bulkMs += performance.now() - t0;
      loaded = upTo;
      log(`verify ${upTo * bulkPer} entries, 4 parallel ranges`);
      const az0 = cpuMsOf(azurite.pid);
      const cpu0 = process.cpuUsage();
      t0 = performance.now();
      result = await many.verify({ concurrency: 4 });
      verifyMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      clientCpuMs = (cpu.user + cpu.system) / 1000;
      const az1 = cpuMsOf(azurite.pid);
      azuriteCpuMs = az0 !== undefined && az1 !== undefined ? az1 - az0 : undefined;
      if (!result.ok) throw new Error(`[keyrotor] [bench] the bench ledger does not verify: ${JSON.stringify(result.firstBreak)}`);
      bySize[String(result.entries)] = rate(result.entries, verifyMs);
      log(`  ${bySize[String(result.entries)]}/s (client CPU ${Math.round(clientCpuMs)} ms, Azurite CPU ${azuriteCpuMs ?? "?"} ms, wall ${Math.round(verifyMs)} ms)`);
    }
    const bulkLoadRowsPerSec = rate(loaded * bulkPer * 2, bulkMs);
    // What verify costs this process (paging + decode + hash), Azurite excluded: the ceiling
    // against a storage service that is not sharing the machine's two cores.
    const verifyEntriesPerClientCpuSec = rate(result.entries, clientCpuMs);

    log("verify, one range");
    t0 = performance.now();
    const serial = await many.verify({ concurrency: 1 });
    const verifyEntriesPerSecOneRange = rate(serial.entries, performance.now() - t0);
    if (!serial.ok) throw new Error(`[keyrotor] [bench] the bench ledger does not verify: ${JSON.stringify(serial.firstBreak)}`);
    log(`  ${verifyEntriesPerSecOneRange}/s`);

    log("verify over the memory adapter");
    const mem = memoryLedger({ signer });
    for (let c = 0; c < 50; c++) for (let i = 1; i <= Math.ceil(verifyEntries / 50); i++) await mem.append(step(`dek:mem-${c}`, i));
    t0 = performance.now();
    const memResult = await mem.verify();
    const verifyEntriesPerSecMemory = rate(memResult.entries, performance.now() - t0);

    // The CPU side alone (decode + hash), over entries held in memory.
    const rows = Array.from({ length: 20_000 }, (_, i) => entryToRow(buildEntry(step("dek:cpu", i + 1), i + 1, GENESIS_HASH, "2026-01-01T00:00:00.000Z")));
    t0 = performance.now();
    for (const r of rows) {
      const e = rowToEntry(r);
      if (typeof e === "string" || entryHash(e) !== e.hash) throw new Error("[keyrotor] [bench] hash self-check failed");
    }
    const hashEntriesPerSecCpuOnly = rate(rows.length, performance.now() - t0);

    return {
      appendsPerSecOneChain,
      appendsPerSecOneChainRacing,
      racingWriters: writers,
      appendsPerSecHundredChains,
      sealMsHundredChains,
      sealedChains: seal.chains,
      verifyEntriesPerSec: rate(result.entries, verifyMs),
      verifyEntriesPerSecBySize: bySize,
      verifyEntriesPerSecOneRange,
      verifyEntriesPerClientCpuSec,
      verifyClientCpuMs: Math.round(clientCpuMs),
      verifyAzuriteCpuMs: azuriteCpuMs ?? null,
      verifyWallMs: Math.round(verifyMs),
      verifyEntriesPerSecMemory,
      hashEntriesPerSecCpuOnly,
      verifiedEntries: result.entries,
      verifiedChains: result.chains,
      bulkLoadRowsPerSec,
      backend: "azurite 3.35 in-memory (loopback)",
      loadAverage1m: Number((await import("node:os")).loadavg()[0]!.toFixed(1)),
    };
  } finally {
    await azurite.stop();
  }
}
