// Data sets: whatever /datasets lists.
import { api } from "../api.js";
import { live } from "../live.js";
import { renderTable } from "../widgets/table.js";

/** #/datasets */
export async function datasetsPage(main) {
  main.innerHTML = `<h1>Data sets</h1><div class="list"></div>`;
  live(() => api.get("/datasets"), (data) => {
    renderTable(main.querySelector(".list"), [
      { title: "ID", value: (d) => d.id },
      { title: "Complete", value: (d) => (d.isComplete ? "yes" : "no") },
      { title: "Total partitions", value: (d) => d.numTotalPartitions ?? "-", num: true },
      { title: "Completed partitions", value: (d) => d.numCompletedPartitions ?? "-", num: true },
    ], data.dataSets || [], null, "No cluster data sets.");
  }, 5000);
}
