// The example worker: one job a second, each logged with the release that ran it.
// SIGTERM (its stop_signal) lets the job in progress finish before it exits.
import { readFileSync } from "node:fs";

const version = readFileSync(new URL("VERSION", import.meta.url), "utf8").trim();
let stopping = false;
let job = 0;

process.on("SIGTERM", () => {
  stopping = true;
});
console.log(`worker ${version} started`);
while (!stopping) {
  job += 1;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  console.log(`worker ${version} finished job ${job}`);
}
console.log(`worker ${version} stopped after ${job} jobs`);
