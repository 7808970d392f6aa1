// The example web app for runtime: process on Node: Hono on $HOST:$PORT.
// Its control file is part of the release (each test release is one commit):
// UNHEALTHY makes /health answer 500, so a deploy of that release must fail.
import { existsSync, readFileSync } from "node:fs";
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const here = new URL(".", import.meta.url);
const version = readFileSync(new URL("VERSION", here), "utf8").trim();
const healthy = !existsSync(new URL("UNHEALTHY", here));

const app = new Hono();
app.get("/health", (c) => (healthy ? c.text("ok") : c.text("unhealthy", 500)));
app.get("/version", (c) => c.text(version));
app.get("/", (c) => c.text(`bluegreen example Hono app, version ${version}\n`));

const hostname = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 8080);
const server = serve({ fetch: app.fetch, hostname, port }, () =>
  console.log(`listening on ${hostname}:${port}, version ${version}`),
);
// systemd stops a color with SIGTERM: finish what is in flight, then exit
process.on("SIGTERM", () => server.close(() => process.exit(0)));
