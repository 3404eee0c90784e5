// Entry point: register the pages and start the router.
import { clusterConfig } from "./api.js";
import { route, start } from "./router.js";
import { overviewPage, jobsPage } from "./pages/overview.js";
import { jobPage } from "./pages/job.js";
import { vertexPage } from "./pages/vertex.js";
import { taskManagersPage, taskManagerPage } from "./pages/taskmanagers.js";
import { jobManagerPage } from "./pages/jobmanager.js";
import { submitPage } from "./pages/submit.js";
import { datasetsPage } from "./pages/datasets.js";

route("/overview", overviewPage);
route("/jobs", jobsPage);
route("/jobs/:jobid", jobPage);
route("/jobs/:jobid/vertices/:vertexid", vertexPage);
route("/taskmanagers", taskManagersPage);
route("/taskmanagers/:tmid", taskManagerPage);
route("/jobmanager", jobManagerPage);
route("/submit", submitPage);
route("/datasets", datasetsPage);

clusterConfig().then((cfg) => {
  const features = cfg.features || {};
  document.getElementById("nav-submit").hidden = features["web-submit"] === false;
  document.getElementById("version").textContent = `v${cfg["flink-version"] || ""}`;
}).catch(() => {});
start();
