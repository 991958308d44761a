// GET /api/plan?horizon=P90D: upcoming rotations and expiry warnings (a dry run of the timer).
import { app } from "@azure/functions";
import { httpOptions, queryOf } from "../lib/api/http";
import { getPlan as plan, PlanQuery } from "../lib/api/queries";
import { ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, validate } from "../lib/http/api";

export const getPlan = api({ role: ROUTES.getPlan.role }, async ({ req, ctx }) => {
  const q = validate(PlanQuery, queryOf(req));
  return json(200, await plan((await composition(ctx)).api, q.horizon));
});

app.http(ROUTES.getPlan.name, httpOptions(ROUTES.getPlan, getPlan));
