// POST /api/rotations/approve/{*rotationId}: the second person approves an emergency rotation and it
// starts (403 self-approval, 410 after the approval window, 409 approved by someone else). Body
// {acceptDataLoss: true} lets an emergency revoke proceed with references left (the approver's call).
import { app } from "@azure/functions";
import { z } from "zod";
import { httpOptions, rotationClient } from "../lib/api/http";
import { approveRotation as approve, ApproveBody, ROTATION_ID } from "../lib/api/rotations";
import { routeParams, ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, readBody, validate } from "../lib/http/api";

export const approveRotation = api({ role: ROUTES.approveRotation.role }, async ({ req, ctx, principal }) => {
  const { rotationId } = validate(z.object({ rotationId: ROTATION_ID }), routeParams(req.params));
  const body = await readBody(req, ApproveBody);
  const accepted = await approve((await composition(ctx)).api, rotationClient(ctx), principal!, rotationId, {}, body);
  return json(202, accepted, { location: accepted.statusUrl });
});

app.http(ROUTES.approveRotation.name, httpOptions(ROUTES.approveRotation, approveRotation));
