// Renders an evidence pack: JSON (complete), CSV (rotations, compliance: for spreadsheets) and a
// Markdown summary for people. writeEvidencePack adds a manifest of SHA-256 digests, signed by the
// seal key, so a copy handed to an assessor can be checked file by file offline (evidenceSeal.ts).
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { EvidencePack } from "./evidenceTypes";
import { manifestFor, signManifest, type ManifestSignature } from "./evidenceSeal";
import type { SealSigner } from "./seals";

type Cell = string | number | boolean | undefined;

/** RFC 4180 quoting; text that a spreadsheet would run as a formula is prefixed with ' (OWASP). */
function csvCell(v: Cell): string {
  if (v === undefined) return "";
  let s = String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(header: string[], rows: Cell[][]): string {
  return [header, ...rows].map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

export function evidenceCsv(pack: EvidencePack): { rotations: string; compliance: string } {
  const rotations = csv(
    ["keyId", "rotationId", "trigger", "requestedAt", "requestedBy", "approvedBy", "approvedAt", "reason", "outcome", "endedAt", "versionBefore", "versionAfter", "revokedVersions", "errorCode", "errorMessage", "firstSeq", "lastSeq", "kind", "rollbackOf", "rolledBackBy"],
    pack.rotations.map((r) => [
      r.keyId, r.rotationId, r.trigger, r.requestedAt, r.requestedBy, r.approvals.map((a) => a.by).join(" "), r.approvals.map((a) => a.at).join(" "), r.reason,
      r.outcome, r.endedAt, r.versionBefore, r.versionAfter, r.revokedVersions.join(" "), r.error?.code, r.error?.message, r.seqs.first, r.seqs.last,
      r.kind, r.rollbackOf, r.rolledBackBy,
    ]),
  );
  const compliance = csv(
    ["keyId", "policyId", "complianceTags", "status", "interval", "lastRotatedAt", "lastRotationId", "dueAt", "daysOverdue", "rotationsInPeriod", "lateInPeriod"],
    pack.compliance.map((c) => [
      c.keyId, c.policyId, c.complianceTags.join(" "), c.status, c.interval, c.lastRotatedAt, c.lastRotationId, c.dueAt, c.daysOverdue, c.rotationsInPeriod,
      c.lateInPeriod.map((l) => `${l.rotationId}:${l.daysLate}d`).join(" "),
    ]),
  );
  return { rotations, compliance };
}

/** Markdown table cell: no pipes or line breaks. */
const md = (v: Cell) => (v === undefined || v === "" ? "—" : String(v).replace(/\|/g, "\\|").replace(/\r?\n/g, " "));
const table = (header: string[], rows: Cell[][]) =>
  [`| ${header.join(" | ")} |`, `|${header.map(() => " --- ").join("|")}|`, ...rows.map((r) => `| ${r.map(md).join(" | ")} |`)].join("\n");

/** A rollback re-promotes an older version and restarts no cryptoperiod: say so beside each row. */
function kindText(r: EvidencePack["rotations"][number]): string {
  if (r.kind === "rollback") return `ROLLBACK${r.rollbackOf ? ` of ${r.rollbackOf}` : ""}`;
  if (r.rolledBackBy) return `rotation (rolled back by ${r.rolledBackBy})`;
  return r.kind;
}

export function evidenceMarkdown(pack: EvidencePack): string {
  const { summary: s, verification: v } = pack;
  const out: string[] = [];
  out.push(`# Key rotation evidence — ${pack.period.label ?? `${pack.period.from} to ${pack.period.to}`}`);
  out.push("");
  out.push(`Period ${pack.period.from} (inclusive) to ${pack.period.to} (exclusive). Compliance judged as of ${pack.asOf}. Generated ${pack.generatedAt}.` +
    (pack.retention ? ` Ledger retention: ${pack.retention} (nothing is deleted before it).` : ""));
  out.push("");
  out.push("## Ledger integrity");
  out.push("");
  out.push(v.ok
    ? `**Verified intact**: ${v.entries} entries in ${v.chains} hash chains and ${v.seals} signed seals checked at ${v.verifiedAt}.`
    : `**VERIFICATION FAILED**: first break at ${v.firstBreak?.keyId} #${v.firstBreak?.seq}: ${v.firstBreak?.problem} (${v.firstBreak?.detail ?? ""}). ${v.breaks?.length ?? 0} break(s) in total; this pack must not be relied on until they are explained.`);
  if (v.latestSeal) out.push("", `Latest seal: #${v.latestSeal.sealSeq} at ${v.latestSeal.at}, root \`${v.latestSeal.root}\`, signed by \`${v.latestSeal.kid}\`.`);
  out.push("", `${pack.seals.length} seal(s) are embedded in evidence.json.`);
  out.push("");
  out.push("## Summary");
  out.push("");
  out.push(table(["keys", "with policy", "compliant", "overdue", "late or missed rotations", "rotations", "rollbacks", "emergencies", "failures", "unresolved failures"],
    [[s.keys, s.keysWithPolicy, s.compliant, s.overdue, s.cryptoperiodExceptions, s.rotations, s.rollbacks, s.emergencies, s.failures, s.unresolvedFailures]]));
  out.push("", `Rotations by trigger: ${Object.entries(s.byTrigger).map(([k, n]) => `${k} ${n}`).join(", ") || "none"}. ` +
    `By outcome: ${Object.entries(s.byOutcome).map(([k, n]) => `${k} ${n}`).join(", ") || "none"}.`);
  out.push("");
  out.push("## Controls");
  out.push("");
  out.push(pack.controls.length
    ? table(["framework", "control", "requirement", "evidence in this pack", "keys", "status", "exceptions"],
      pack.controls.map((c) => [c.framework, c.control, c.requirement, c.evidence, c.keys, c.status === "met" ? "met" : "EXCEPTIONS", c.exceptions.join("; ")]))
    : "No policy in scope carries a complianceTag that maps to a control (PCI, SOC2, HIPAA, NIST).");
  if (pack.unknownTags.length) {
    out.push("", "complianceTags that map to no known control (not evidenced by this pack):", "",
      pack.unknownTags.map((t) => `- \`${t.tag}\` (policies: ${t.policyIds.join(", ")})`).join("\n"));
  }
  out.push("");
  out.push("## Cryptoperiod exceptions");
  out.push("");
  out.push(pack.exceptions.length
    ? table(["key", "policy", "exception", "due", "rotation", "completed", "days"],
      pack.exceptions.map((x) => [x.keyId, x.policyId, x.kind === "late" ? "LATE rotation" : "MISSED rotation (not rotated)", x.dueAt, x.rotationId, x.completedAt, x.days]))
    : "None: every rotation due in the period happened on time.");
  out.push("");
  out.push("## Cryptoperiod compliance");
  out.push("");
  out.push(table(["key", "policy", "tags", "status", "interval", "last rotated", "due", "days overdue"],
    pack.compliance.map((c) => [c.keyId, c.policyId, c.complianceTags.join(", "), c.status === "overdue" ? "**OVERDUE**" : c.status, c.interval, c.lastRotatedAt, c.dueAt, c.daysOverdue])));
  out.push("");
  out.push("## Rotations in the period");
  out.push("");
  out.push(pack.rotations.length
    ? table(["requested", "key", "kind", "trigger", "requested by", "approved by", "reason", "outcome", "ended", "versions"],
      pack.rotations.map((r) => [r.requestedAt, r.keyId, kindText(r), r.trigger, r.requestedBy, r.approvals.map((a) => a.by).join(", "), r.reason, r.outcome, r.endedAt,
        r.versionBefore || r.versionAfter ? `${r.versionBefore ?? "?"} → ${r.versionAfter ?? "?"}` : undefined]))
    : "None.");
  out.push("");
  out.push("## Validation");
  out.push("");
  out.push(validationText(pack.rotations));
  out.push("");
  out.push("## Emergency rotations");
  out.push("");
  out.push(pack.emergencies.length
    ? table(["requested", "key", "requested by", "reason", "approved by", "minutes to approval", "revoked", "outcome", "exceptions"],
      pack.emergencies.map((e) => [e.requestedAt, e.keyId, e.requestedBy, e.reason, e.approvals.map((a) => a.by).join(", "), e.minutesToApproval, e.revokedVersions.join(", "), e.outcome, e.exceptions.join(", ")]))
    : "None.");
  if (pack.emergencies.some((e) => e.identity === "displayName")) {
    out.push("", "Some approvals were written before the ledger recorded principal ids: for those, self-approval was judged by display name only.");
  }
  out.push("");
  out.push("## Failures and how they ended");
  out.push("");
  out.push(pack.failures.length
    ? table(["failed", "key", "rotation", "error", "resolution", "resolved by"],
      pack.failures.map((f) => [f.failedAt, f.keyId, f.rotationId, `${f.error.code}: ${f.error.message}`, f.resolution, f.resolvedBy ? `${f.resolvedBy.rotationId} at ${f.resolvedBy.at}` : undefined]))
    : "None.");
  out.push("");
  out.push("## Keys without a policy");
  out.push("");
  out.push(pack.keysWithoutPolicy.length ? pack.keysWithoutPolicy.map((k) => `- ${k}`).join("\n") : "None.");
  if (pack.keysNotInInventory.length) {
    out.push("", "Keys with a ledger chain but not in the inventory:", "", pack.keysNotInInventory.map((k) => `- ${k}`).join("\n"));
  }
  out.push("");
  return out.join("\n");
}

export const EVIDENCE_FILES = ["evidence.json", "rotations.csv", "compliance.csv", "summary.md"] as const;

/** The pack's files as text, rendered from the pack without its manifest signature (which signs them). */
export function evidenceContents(pack: EvidencePack): Record<(typeof EVIDENCE_FILES)[number], string> {
  const { manifestSignature: _signature, ...content } = pack;
  const { rotations, compliance } = evidenceCsv(content);
  return {
    "evidence.json": `${JSON.stringify(content, null, 2)}\n`,
    "rotations.csv": rotations,
    "compliance.csv": compliance,
    "summary.md": evidenceMarkdown(content),
  };
}

/** The manifest of a pack, signed by `signer` (the ledger's seal signer) when one is given. */
export async function signedEvidenceManifest(pack: EvidencePack, signer: Pick<SealSigner, "kid" | "alg" | "sign">): Promise<ManifestSignature> {
  return signManifest(manifestFor(pack, evidenceContents(pack)), signer);
}

/**
 * Writes the pack into `dir` (created if needed) and a manifest.json with each file's SHA-256. The
 * manifest carries the pack's manifestSignature (made where the seal key is: the API) or one made
 * here with `opts.signer`; `keyrotor evidence verify` checks both offline with the public key.
 */
export async function writeEvidencePack(dir: string, pack: EvidencePack, opts: { signer?: Pick<SealSigner, "kid" | "alg" | "sign"> } = {}): Promise<{ files: string[]; manifest: Record<string, string> }> {
  await mkdir(dir, { recursive: true });
  const contents = evidenceContents(pack);
  const manifest = manifestFor(pack, contents);
  const signature = opts.signer ? await signManifest(manifest, opts.signer) : pack.manifestSignature;
  for (const name of EVIDENCE_FILES) await writeFile(path.join(dir, name), contents[name], "utf8");
  await writeFile(path.join(dir, "manifest.json"), `${JSON.stringify({ ...manifest, ...(signature ? { signature } : {}) }, null, 2)}\n`, "utf8");
  return { files: [...EVIDENCE_FILES, "manifest.json"].map((f) => path.join(dir, f)), manifest: manifest.sha256 };
}

/** Per rotation, the validation gates its new version went through: what was checked, against
 * which version, and the outcome. Rotations from before the gates existed have none. */
function validationText(rotations: EvidencePack["rotations"]): string {
  const validated = rotations.filter((r) => (r.validations?.length ?? 0) > 0);
  if (validated.length === 0) return "No rotation in the period recorded a validation.";
  const unvalidated = rotations.filter((r) => (r.validations?.length ?? 0) === 0 && r.kind === "rotation").length;
  return validated.map((r) => [
    `### ${r.keyId} — ${r.rotationId} (${r.outcome})`,
    "",
    table(["at", "gate", "stage", "version", "checked", "outcome", "probes", "first failure"],
      (r.validations ?? []).map((v) => [v.at, v.gate, v.stage, v.version, v.check, v.outcome === "failed" ? "**FAILED**" : "passed",
        v.checked !== undefined ? `${v.checked - (v.failed ?? 0)} of ${v.checked} passed` : undefined, v.reason])),
  ].join("\n")).join("\n\n") + (unvalidated > 0 ? `\n\n${unvalidated} rotation(s) in the period recorded no validation (before the gates existed, or stopped before one ran).` : "");
}
