// GET /api/evidence?from=&to=[&label=]: compliance evidence for a period, built from the ledger.
import { app } from "@azure/functions";
import { httpOptions, queryOf } from "../lib/api/http";
import { evidence, EvidenceQuery } from "../lib/api/queries";
import { signedEvidenceManifest } from "../lib/ledger/evidence";
import { ROUTES } from "../lib/api/routes";
import { services } from "../lib/api/services";
import { api, json, validate } from "../lib/http/api";

export const getEvidence = api({ role: ROUTES.getEvidence.role }, async ({ req }) => {
  const q = validate(EvidenceQuery, queryOf(req));
  const s = await services();
  const pack = await evidence(s, q);
  // The seal key signs the manifest here, where it is held: `keyrotor evidence verify` then checks
  // the pack offline with the public key alone.
  const signer = s.ledger.manifestSigner?.();
  if (signer) pack.manifestSignature = await signedEvidenceManifest(pack, signer);
  return json(200, pack);
});

app.http(ROUTES.getEvidence.name, httpOptions(ROUTES.getEvidence, getEvidence));
