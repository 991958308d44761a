// The ledger's public surface. See docs/ledger.md for the layout, the hash encoding and retention.
export { HashChainLedger, memoryLedger, tableLedger, type LedgerOptions, type TableLedgerOptions } from "./ledger";
export { GENESIS_HASH, canonicalJson } from "./canonical";
export { entryHash } from "./entry";
export { ephemeralSealSigner, nodeSealSigner, sealDigest, sealRoot, type NodeSealSignerOptions, type SealAlgorithm, type SealSigner } from "./seals";
export { buildEvidencePack, writeEvidencePack, evidenceCsv, evidenceMarkdown, type EvidenceInput, type EvidencePack, type EvidencePolicy, type EvidenceKey, type EvidencePeriod } from "./evidence";
export { keyVaultSealSigner, type KeyVaultSealSignerOptions } from "./keyVaultSealSigner";
export { LedgerTamperedError } from "./tampered";
export type { SealAnchor } from "./verify";
