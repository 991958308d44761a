// GET /api/evidence?from=&to=[&label=]: compliance evidence for a period, built from the ledger.
import { app } from "@azure/functions";
import { httpOptions, queryOf } from "../lib/api/http";
import { evidence, EvidenceQuery } from "../lib/api/queries";
import { ROUTES } from "../lib/api/routes";
import { services } from "../lib/api/services";
import { api, json, validate } from "../lib/http/api";

export const getEvidence = api({ role: ROUTES.getEvidence.role }, async ({ req }) => {
  const q = validate(EvidenceQuery, queryOf(req));
  return json(200, await evidence(await services(), q));
});

app.http(ROUTES.getEvidence.name, httpOptions(ROUTES.getEvidence, getEvidence));
