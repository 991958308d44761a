// The control catalogue: which framework requirement a policy's complianceTags point to, and which
// part of the evidence pack answers it. Wording follows the seeds' control list; the requirement
// texts are paraphrases, not quotations of the standards.
import type { ControlEvidence, EvidencePack, EvidencePolicy, Framework, UnknownTag } from "./evidenceTypes";

export type { Framework, ControlEvidence, UnknownTag } from "./evidenceTypes";

interface Control {
  framework: Framework;
  control: string;
  /** The control's identifiers as parseTag compacts them (upper case, letters and digits only). */
  ids: string[];
  requirement: string;
  /** Which section of the pack is the evidence. */
  evidence: string;
  /** Is it judged by cryptoperiod compliance (overdue keys are exceptions)? */
  cryptoperiod: boolean;
}

const CATALOGUE: Control[] = [
  { framework: "PCI DSS", control: "3.6.4 (v4.0: 3.7.4)", ids: ["364", "374"], requirement: "Cryptographic keys are changed at the end of their defined cryptoperiod.", evidence: "compliance, rotations", cryptoperiod: true },
  { framework: "SOC 2", control: "CC6.1", ids: ["CC61"], requirement: "Logical access security over encryption keys: who rotated, who approved.", evidence: "rotations (requestedBy, approvals), emergencies", cryptoperiod: false },
  { framework: "SOC 2", control: "CC6.6", ids: ["CC66"], requirement: "Encryption protects data: keys rotate at the defined frequency.", evidence: "compliance", cryptoperiod: true },
  { framework: "SOC 2", control: "CC6.7", ids: ["CC67"], requirement: "Encryption key management follows documented procedures (policies as data).", evidence: "compliance (policyId, interval), keysWithoutPolicy", cryptoperiod: false },
  { framework: "SOC 2", control: "CC7.2", ids: ["CC72"], requirement: "Rotation is monitored; failures are detected and resolved; the log is intact.", evidence: "failures, verification, seals", cryptoperiod: false },
  { framework: "HIPAA", control: "164.312(a)(2)(iv)", ids: ["164312A2IV"], requirement: "Encryption and decryption: keys are managed and rotated regularly, with an audit trail.", evidence: "compliance, rotations, verification", cryptoperiod: true },
  { framework: "NIST SP 800-57", control: "Part 1 Rev. 5 §5.3 cryptoperiods", ids: ["53", "PART1REV553", "PART153"], requirement: "Each key has a cryptoperiod and is replaced before it ends.", evidence: "compliance (interval, dueAt, daysOverdue)", cryptoperiod: true },
];

/** Framework prefixes as compacted text, longest first so "NISTSP80057" wins over "NIST". */
const PREFIXES: [string, Framework][] = (Object.entries({
  PCIDSS: "PCI DSS", PCI: "PCI DSS", SOC2: "SOC 2", SOCII: "SOC 2", HIPAA: "HIPAA", NISTSP80057: "NIST SP 800-57", NIST80057: "NIST SP 800-57", SP80057: "NIST SP 800-57", NIST: "NIST SP 800-57",
}) as [string, Framework][]).sort((a, b) => b[0].length - a[0].length);

export interface ParsedTag {
  framework: Framework;
  /** The catalogue's name of the control the tag names; absent for a framework-only tag. */
  control?: string;
}

/**
 * Reads a complianceTag however a person writes it: case, spaces, dashes, underscores, colons, dots
 * and section signs do not matter ("PCI-DSS-3.6.4", "pci dss 3.6.4", "PCI_DSS_3_6_4", "pcidss:3.6.4",
 * "SOC2-CC6.1", "soc 2 cc6.1", "HIPAA-164.312(a)(2)(iv)"). A tag that names a framework with a
 * control the catalogue does not know is unknown (undefined), never silently widened or dropped:
 * the pack lists it.
 */
export function parseTag(tag: string): ParsedTag | undefined {
  const compact = tag.toUpperCase().replace(/[^A-Z0-9]/g, "");
  for (const [prefix, framework] of PREFIXES) {
    if (!compact.startsWith(prefix)) continue;
    // A standard's version may precede the control: "PCI DSS v4.0 3.7.4".
    const rest = compact.slice(prefix.length).replace(/^V(40|321|32)(?=\d)/, "");
    if (rest === "") return { framework };
    const control = CATALOGUE.find((c) => c.framework === framework && c.ids.includes(rest));
    return control ? { framework, control: control.control } : undefined;
  }
  return undefined;
}

export function frameworkOf(tag: string): Framework | undefined {
  return parseTag(tag)?.framework;
}

/** Tags of the policies in scope that map to no control, each with the policies that carry it. */
export function unknownTags(policies: EvidencePolicy[]): UnknownTag[] {
  const out = new Map<string, string[]>();
  for (const p of policies) {
    for (const tag of p.complianceTags ?? []) {
      if (parseTag(tag)) continue;
      const ids = out.get(tag) ?? [];
      if (!ids.includes(p.policyId)) ids.push(p.policyId);
      out.set(tag, ids);
    }
  }
  return [...out].map(([tag, policyIds]) => ({ tag, policyIds })).sort((a, b) => (a.tag < b.tag ? -1 : 1));
}


export function controlsFor(pack: Omit<EvidencePack, "controls">, policies: EvidencePolicy[]): ControlEvidence[] {
  const tagsOf = new Map(policies.map((p) => [p.policyId, p.complianceTags ?? []]));
  const byFramework = new Map<Framework, { tags: Set<string>; keys: string[] }>();
  for (const c of pack.compliance) {
    for (const tag of c.policyId !== undefined ? (tagsOf.get(c.policyId) ?? []) : []) {
      const fw = frameworkOf(tag);
      if (!fw) continue;
      const entry = byFramework.get(fw) ?? { tags: new Set<string>(), keys: [] };
      entry.tags.add(tag);
      if (!entry.keys.includes(c.keyId)) entry.keys.push(c.keyId);
      byFramework.set(fw, entry);
    }
  }
  const out: ControlEvidence[] = [];
  for (const control of CATALOGUE) {
    const scope = byFramework.get(control.framework);
    if (!scope) continue;
    const exceptions: string[] = [];
    if (!pack.verification.ok) exceptions.push(`ledger verification failed: ${pack.verification.firstBreak?.problem ?? "?"} at ${pack.verification.firstBreak?.keyId ?? "?"} #${pack.verification.firstBreak?.seq ?? "?"}`);
    const inScope = pack.compliance.filter((c) => scope.keys.includes(c.keyId));
    if (control.cryptoperiod) {
      for (const c of inScope) {
        if (c.status === "overdue") exceptions.push(`${c.keyId} is ${c.daysOverdue} day(s) overdue`);
        if (c.status === "noBaseline" || c.status === "noSchedule") exceptions.push(`${c.keyId}: ${c.status}`);
        for (const l of c.lateInPeriod) exceptions.push(`${c.keyId} rotated ${l.daysLate} day(s) late (${l.rotationId})`);
      }
    }
    if (control.control === "CC6.1") {
      for (const e of pack.emergencies) if (scope.keys.includes(e.keyId)) for (const x of e.exceptions) exceptions.push(`${e.rotationId}: ${x}`);
    }
    if (control.control === "CC7.2") {
      for (const f of pack.failures) if (scope.keys.includes(f.keyId) && f.resolution === "unresolved") exceptions.push(`${f.rotationId} failed (${f.error.code}) and is unresolved`);
    }
    out.push({
      framework: control.framework, control: control.control, requirement: control.requirement, evidence: control.evidence,
      tags: [...scope.tags].sort(), keys: scope.keys.length, status: exceptions.length ? "exceptions" : "met", exceptions,
    });
  }
  return out;
}
