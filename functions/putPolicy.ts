// PUT /api/policies/{policyId}: create (no If-Match; 409 if it exists) or replace (If-Match: the
// ETag read; 412 if it changed since). Validation errors name the field.
import { app } from "@azure/functions";
import { z } from "zod";
import { httpOptions } from "../lib/api/http";
import { POLICY_ID, putPolicy as put } from "../lib/api/queries";
import { ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, readBody, validate } from "../lib/http/api";

export const putPolicy = api({ role: ROUTES.putPolicy.role }, async ({ req, ctx, principal }) => {
  const { policyId } = validate(z.object({ policyId: POLICY_ID }), req.params);
  const body = await readBody(req, z.record(z.string(), z.unknown()));
  const r = await put((await composition(ctx)).api, principal!, policyId, body, req.headers.get("if-match") ?? undefined);
  return json(r.created ? 201 : 200, r.view, { etag: r.view.etag });
});

app.http(ROUTES.putPolicy.name, httpOptions(ROUTES.putPolicy, putPolicy));
