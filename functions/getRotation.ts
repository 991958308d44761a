// GET /api/rotations/{*rotationId}: phase, progress, timestamps and error of one rotation.
import { app } from "@azure/functions";
import { z } from "zod";
import { httpOptions, rotationClient } from "../lib/api/http";
import { getRotation as view, ROTATION_ID } from "../lib/api/rotations";
import { routeParams, ROUTES } from "../lib/api/routes";
import { composition } from "./_app";
import { api, json, validate } from "../lib/http/api";

export const getRotation = api({ role: ROUTES.getRotation.role }, async ({ req, ctx }) => {
  const { rotationId } = validate(z.object({ rotationId: ROTATION_ID }), routeParams(req.params));
  return json(200, await view((await composition(ctx)).api, rotationClient(ctx), rotationId));
});

app.http(ROUTES.getRotation.name, httpOptions(ROUTES.getRotation, getRotation));
