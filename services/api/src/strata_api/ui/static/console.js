// The console's live parts: a cluster page follows the cluster's event stream (the API's SSE endpoint,
// authenticated by the sign-in cookie), appends each event to the table and refreshes the milestones;
// the fleet page fetches its rows again every few seconds while it is shown.

const LEVELS = ["info", "warning", "error", "message"];

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

function followCluster(box) {
  const rows = document.getElementById("event-rows");
  const scroller = document.getElementById("event-scroll");
  const follow = document.getElementById("follow");
  let refreshing = null;

  const refresh = () => {
    if (refreshing) return;
    refreshing = setTimeout(async () => {
      try {
        const answer = await fetch(box.dataset.fragment, { headers: { Accept: "text/html" } });
        if (answer.ok && !answer.redirected) box.innerHTML = await answer.text();
      } finally {
        refreshing = null;
      }
    }, 250);
  };

  const stream = new EventSource(`/v1/clusters/${box.dataset.cluster}/events/stream?after=${box.dataset.after}`);
  const onEvent = (message) => {
    const event = JSON.parse(message.data);
    const row = document.createElement("tr");
    row.className = `level-${event.level}`;
    for (const text of [event.id, event.time.slice(11, 19), event.level, event.source, event.reason, event.message]) {
      cell(row, String(text));
    }
    rows.appendChild(row);
    if (follow && follow.checked) scroller.scrollTop = scroller.scrollHeight;
    refresh();
  };
  for (const level of LEVELS) stream.addEventListener(level, onEvent);
  if (scroller) scroller.scrollTop = scroller.scrollHeight;
}

const FLEET_SECONDS = 5;

function refreshFleet(rows) {
  setInterval(async () => {
    if (document.visibilityState !== "visible") return;
    const answer = await fetch(rows.dataset.fragment, { headers: { Accept: "text/html" } });
    if (answer.ok && !answer.redirected) rows.innerHTML = await answer.text();
  }, FLEET_SECONDS * 1000);
}

const milestones = document.getElementById("milestones");
if (milestones) followCluster(milestones);
const fleetRows = document.getElementById("fleet-rows");
if (fleetRows) refreshFleet(fleetRows);
