// GET /api/evidence?from=&to=[&label=][&continuation=]: compliance evidence for a period, built from
// the ledger. Past the HTTP budget (Azure cuts a response at 230 s) it answers 202 with a
// continuation to ask again with; the call that finishes answers 200 with the pack
// (lib/api/evidenceExport.ts).
import { app } from "@azure/functions";
import { httpOptions, queryOf } from "../lib/api/http";
import { EvidenceQuery } from "../lib/api/queries";
import { evidenceWithin } from "../lib/api/evidenceExport";
import { signedEvidenceManifest } from "../lib/ledger/evidence";
import { ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, validate } from "../lib/http/api";

export const getEvidence = api({ role: ROUTES.getEvidence.role }, async ({ req, ctx }) => {
  const q = validate(EvidenceQuery, queryOf(req));
  const s = (await composition(ctx)).api;
  const answer = await evidenceWithin(s, q);
  if ("page" in answer) return json(202, answer.page);
  const { pack } = answer;
  // The seal key signs the manifest here, where it is held: `keyrotor evidence verify` then checks
  // the pack offline with the public key alone.
  const signer = s.ledger.manifestSigner?.();
  if (signer) pack.manifestSignature = await signedEvidenceManifest(pack, signer);
  return json(200, pack);
});

app.http(ROUTES.getEvidence.name, httpOptions(ROUTES.getEvidence, getEvidence));
