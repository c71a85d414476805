// genlab studio: what the pages need beyond HTML and htmx.
// - Live jobs: follow each job's Server-Sent Events (progress bar, step previews),
//   then swap in the finished card with its images.
// - The Generate and Sweep forms: a model's tuned settings; descriptor chips, random seed.
// - A sweep's grid, filled in cell by cell.
// - One-line messages for failed requests, confirmations, local times.
"use strict";

(function () {
  const FINISHED = ["done", "failed", "cancelled"];
  const streams = new Map(); // job id -> EventSource

  // -- live jobs ------------------------------------------------------------------------

  function follow(card) {
    const id = card.dataset.job;
    if (streams.has(id)) return;
    const source = new EventSource(`/api/jobs/${id}/events`);
    streams.set(id, source);
    const current = () => document.getElementById(`job-${id}`) || card;
    const data = (event) => JSON.parse(event.data);

    source.addEventListener("state", (event) => {
      const job = data(event);
      setProgress(current(), job.progress);
      if (job.state === "running") setStatus(current(), "running", "Running");
    });
    source.addEventListener("started", () => {
      setStatus(current(), "running", "Starting (a model's first job loads it first)");
      refreshWaiting(); // the jobs behind this one have each moved up a place
    });
    source.addEventListener("queued", () => setStatus(current(), "queued", "Back in the queue"));
    source.addEventListener("progress", (event) => {
      const step = data(event);
      setProgress(current(), step.progress);
      setStatus(current(), "running", `Running: step ${step.step} of ${step.total}`);
    });
    source.addEventListener("preview", (event) => {
      const preview = current().querySelector("[data-role=preview]");
      if (!preview) return;
      preview.src = data(event).image;
      preview.hidden = false;
    });
    // A sweep's cells land in its grid, if the page shows one, as each is made.
    source.addEventListener("cell", (event) => {
      const cell = data(event);
      const slot = document.querySelector(`[data-sweep="${id}"] [data-cell="${cell.index}"]`);
      if (!slot || slot.querySelector("img")) return;
      const link = document.createElement("a");
      link.href = cell.url;
      const image = new Image();
      image.src = cell.url;
      image.alt = `Cell ${cell.index + 1}`;
      link.append(image);
      slot.replaceChildren(link);
      slot.classList.add("made");
    });
    for (const name of FINISHED) {
      source.addEventListener(name, () => {
        stop(id);
        setProgress(current(), name === "done" ? 1 : null);
        htmx.ajax("GET", `/jobs/${id}/card`, { target: current(), swap: "outerHTML" });
        refreshWaiting();
        // The finished grid links each cell to its gallery image.
        const grid = document.querySelector(`[data-sweep="${id}"]`);
        if (grid) htmx.ajax("GET", `/jobs/${id}/sweep`, { target: grid, swap: "outerHTML" });
      });
    }
    source.onerror = () => {
      // The browser reconnects by itself unless the server refused the stream.
      if (source.readyState === EventSource.CLOSED) {
        stop(id);
        setStatus(current(), null, "Lost contact with the server; reload the page to follow this job.");
      }
    };
  }

  // A waiting job's place and time left change when a job ahead of it starts or ends,
  // here or in another tab: redraw the waiting cards then, and every few seconds.
  function refreshWaiting() {
    for (const card of document.querySelectorAll(".job[data-state=queued]")) {
      htmx.ajax("GET", `/jobs/${card.dataset.job}/card`, { target: card, swap: "outerHTML" });
    }
  }
  setInterval(refreshWaiting, 5000);

  function stop(id) {
    const source = streams.get(id);
    if (source) source.close();
    streams.delete(id);
  }

  function setProgress(card, fraction) {
    const bar = card.querySelector(".bar");
    if (!bar || fraction === null || fraction === undefined) return;
    const percent = Math.round(fraction * 100);
    bar.setAttribute("aria-valuenow", String(percent));
    bar.firstElementChild.style.width = `${percent}%`;
  }

  function setStatus(card, state, text) {
    const badge = card.querySelector("[data-role=state]");
    if (state && badge) {
      badge.textContent = state;
      badge.className = `badge state-${state}`;
      card.dataset.state = state;
    }
    const status = card.querySelector("[data-role=status]");
    if (status) status.textContent = text;
  }

  // -- the Generate and Sweep forms ------------------------------------------------------

  // The Generate and Sweep forms: a new model brings its tuned settings and greys out
  // the ones it ignores.
  function setupModelFields(form) {
    const models = JSON.parse(document.getElementById("model-data").textContent);
    const field = (name) => form.elements.namedItem(name);
    const model = field("model");

    function fill(select, values, wanted) {
      select.replaceChildren(...values.map((value) => new Option(value, value)));
      select.value = values.includes(wanted) ? wanted : values[0];
    }

    // A new model brings its tuned settings; on page load the values shown are kept
    // (they may come from "use these settings").
    function applyModel(withDefaults) {
      const choice = models[model.value];
      if (!choice) return;
      const defaults = choice.defaults;
      fill(field("sampler"), choice.samplers, withDefaults ? defaults.sampler : field("sampler").value);
      fill(field("schedule"), choice.schedules, withDefaults ? defaults.schedule : field("schedule").value);
      if (withDefaults) {
        field("steps").value = defaults.steps;
        field("guidance_scale").value = defaults.guidance_scale;
      }
      for (const name of ["width", "height"]) field(name).placeholder = choice.native || "auto";
      document.getElementById("model-hint").textContent = choice.description;
      for (const wrapper of form.querySelectorAll("[data-field]")) {
        const ignored = choice.ignores.includes(wrapper.dataset.field);
        wrapper.classList.toggle("ignored", ignored);
        for (const input of wrapper.querySelectorAll("input, select, textarea")) input.disabled = ignored;
      }
      const note = document.getElementById("ignored-note");
      note.hidden = choice.ignores.length === 0;
      note.querySelector("[data-role=model-name]").textContent = model.value;
    }
    model.addEventListener("change", () => applyModel(true));
    applyModel(false);
  }

  function setupGenerate(form) {
    setupModelFields(form);
    const field = (name) => form.elements.namedItem(name);

    // Descriptor chips: a click adds the phrase to the prompt, a second click removes it.
    const prompt = field("prompt");
    const chips = form.querySelectorAll("[data-descriptor]");
    const phrases = () => prompt.value.split(",").map((p) => p.trim()).filter(Boolean);
    const position = (list, word) => list.findIndex((p) => p.toLowerCase() === word.toLowerCase());
    function syncChips() {
      const list = phrases();
      for (const chip of chips) {
        chip.setAttribute("aria-pressed", String(position(list, chip.dataset.descriptor) >= 0));
      }
    }
    for (const chip of chips) {
      chip.addEventListener("click", () => {
        const list = phrases();
        const at = position(list, chip.dataset.descriptor);
        if (at >= 0) list.splice(at, 1);
        else list.push(chip.dataset.descriptor);
        prompt.value = list.join(", ");
        syncChips();
      });
    }
    prompt.addEventListener("input", syncChips);
    syncChips();

    form.querySelector("[data-random-seed]").addEventListener("click", () => {
      field("seed").value = -1;
    });
    const strength = field("strength");
    strength.addEventListener("input", () => {
      document.getElementById("strength-value").textContent = strength.value;
    });
  }

  // -- messages and small helpers ---------------------------------------------------------

  function flash(text) {
    const box = document.getElementById("flash");
    box.textContent = text;
    box.hidden = false;
  }

  function detail(xhr) {
    try {
      return JSON.parse(xhr.responseText).detail || `request failed (${xhr.status})`;
    } catch (_) {
      return `request failed (${xhr.status})`;
    }
  }

  // An HTML error aimed at a slot (HX-Retarget) is shown there; any other failed
  // request becomes one line at the top of the page.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const xhr = event.detail.xhr;
    if (xhr.status < 400) return;
    if (xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
      event.detail.target.scrollIntoView({ block: "nearest", behavior: "smooth" });
    } else {
      event.detail.shouldSwap = false;
      flash(detail(xhr));
    }
  });
  document.addEventListener("htmx:sendError", () => {
    flash("The server cannot be reached; is genlab serve still running?");
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.successful) document.getElementById("flash").hidden = true;
  });

  document.addEventListener("submit", (event) => {
    const question = event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const text = document.querySelector(button.dataset.copy).textContent;
    navigator.clipboard.writeText(text).then(() => { button.textContent = "Copied"; });
  });

  // Small images (the built-in models draw 64 px) are shown with crisp pixels.
  function crisp(image) {
    if (image.naturalWidth && image.naturalWidth * 3 <= image.clientWidth) {
      image.classList.add("pixelated");
    }
  }
  document.addEventListener("load", (event) => {
    if (event.target.tagName === "IMG") crisp(event.target);
  }, true);

  // Runs on the page, then on every piece htmx swaps in (which may itself be a card).
  function setup(root) {
    const within = (selector) => [...(root.matches(selector) ? [root] : []), ...root.querySelectorAll(selector)];
    for (const card of within("[data-live]")) follow(card);
    for (const image of within("img")) if (image.complete) crisp(image);
    for (const time of root.querySelectorAll("time[data-local]")) {
      const moment = new Date(time.getAttribute("datetime"));
      const style = time.dataset.local === "short"
        ? { month: "short", day: "numeric" }
        : { dateStyle: "medium", timeStyle: "short" };
      time.textContent = moment.toLocaleString([], style);
      time.title = moment.toLocaleString();
    }
    for (const input of root.querySelectorAll("input[data-timezone]")) {
      if (!input.value) input.value = Intl.DateTimeFormat().resolvedOptions().timeZone;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("generate-form");
    if (form) setupGenerate(form);
    const sweep = document.getElementById("sweep-form");
    if (sweep) setupModelFields(sweep);
    document.getElementById("flash").addEventListener("click", (event) => {
      event.currentTarget.hidden = true;
    });
    setup(document.body);
    htmx.onLoad(setup);
  });
})();
