// POST /api/rotations/rollback/{*rotationId}: re-promote the version a rotation replaced, within the
// policy's rollbackWindow (410 after it, 404 unknown rotation, 409 key locked or superseded).
import { app } from "@azure/functions";
import { z } from "zod";
import { httpOptions, rotationClient } from "../lib/api/http";
import { requestRollback, RollbackBody } from "../lib/api/rollback";
import { ROTATION_ID } from "../lib/api/rotations";
import { routeParams, ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, readBody, validate } from "../lib/http/api";

export const rollbackRotation = api({ role: ROUTES.rollbackRotation.role }, async ({ req, ctx, principal }) => {
  const { rotationId } = validate(z.object({ rotationId: ROTATION_ID }), routeParams(req.params));
  const body = await readBody(req, RollbackBody);
  const accepted = await requestRollback((await composition(ctx)).api, rotationClient(ctx), principal!, rotationId, body);
  return json(202, accepted, { location: accepted.statusUrl });
});

app.http(ROUTES.rollbackRotation.name, httpOptions(ROUTES.rollbackRotation, rollbackRotation));
