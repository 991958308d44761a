// GET /api/policies[/{policyId}][?tenant=]: policies as data, each with its ETag.
import { app } from "@azure/functions";
import { z } from "zod";
import { httpOptions, queryOf } from "../lib/api/http";
import { getPolicy, listPolicies, PoliciesQuery, POLICY_ID } from "../lib/api/queries";
import { ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, validate } from "../lib/http/api";

export const getPolicies = api({ role: ROUTES.getPolicies.role }, async ({ req, ctx }) => {
  const { tenant } = validate(PoliciesQuery, queryOf(req));
  const { policyId } = validate(z.object({ policyId: POLICY_ID.optional() }), req.params);
  const s = (await composition(ctx)).api;
  if (policyId === undefined) return json(200, { policies: await listPolicies(s, tenant) });
  const one = await getPolicy(s, policyId, tenant);
  return json(200, one, { etag: one.etag });
});

app.http(ROUTES.getPolicies.name, httpOptions(ROUTES.getPolicies, getPolicies));
