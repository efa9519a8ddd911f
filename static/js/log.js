// The deploy log viewer: live tail (server-sent events, else long polls by cursor), windowed rendering for huge logs,
// ANSI colours, permalinks, folding, search, timestamps, wrap and follow. No build step.
(function () {
  "use strict";

  const BLOCK = 200; // lines per block: the unit that enters and leaves the DOM
  const LINE_H = 20; // px; must match --log-line-h in log.css
  const MARGIN = "1200px 0px"; // blocks this close to the view are drawn
  const PINNED = 10; // last lines of a failed step shown on top
  const TERMINAL = ["succeeded", "failed", "canceled", "skipped"];

  const root = document.getElementById("log");
  const stateEl = document.getElementById("log-state");
  if (!root || !stateEl) return;
  const logUrl = root.dataset.logUrl;
  const searchUrl = root.dataset.searchUrl;

  const model = JSON.parse(stateEl.textContent);
  const lines = new Map(); // number -> [number, step, stream, time_ms, text]
  const sections = new Map(); // key -> {el, body, head, start, end, blocks: Map(start -> el)}
  const pending = new Map(); // block start -> Promise of its window
  const folded = new Map(); // section key -> bool chosen by the user
  const drawn = new Set(); // block elements currently in the DOM with their lines
  const search = { query: "", matches: [], set: new Set(), index: -1, total: 0 };
  let follow = false;
  let highlight = null;
  let programmaticScroll = false;
  let lastScrollTop = 0;

  // ANSI --------------------------------------------------------------------------------

  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
  const SGR = /\x1b\[([0-9;]*)m/g;
  const OTHER_ESCAPES = /\x1b\[[0-?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

  // The last carriage-return rewrite is what a terminal shows at the end.
  function finalState(text) {
    if (text.indexOf("\r") < 0) return text;
    const parts = text.split("\r").filter((p) => p.replace(OTHER_ESCAPES, "") !== "");
    return parts.length ? parts[parts.length - 1] : "";
  }

  // 256-colour and true-colour codes fall back to the nearest of the 16 palette colours,
  // since the CSP forbids inline styles.
  function nearest16(r, g, b) {
    const bright = Math.max(r, g, b) > 170;
    const bit = (v) => (v > (bright ? 127 : 63) ? 1 : 0);
    const code = bit(r) + 2 * bit(g) + 4 * bit(b);
    return (bright ? 8 : 0) + code;
  }
  function color256(n) {
    if (n < 16) return n;
    if (n >= 232) return n < 244 ? (n < 238 ? 0 : 8) : n < 250 ? 7 : 15;
    const c = n - 16;
    const scale = (v) => (v ? 55 + v * 40 : 0);
    return nearest16(scale(Math.floor(c / 36)), scale(Math.floor(c / 6) % 6), scale(c % 6));
  }

  function applySgr(style, params) {
    const codes = params === "" ? [0] : params.split(";").map(Number);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) Object.assign(style, { fg: null, bg: null, bold: false, dim: false, it: false, ul: false });
      else if (c === 1) style.bold = true;
      else if (c === 2) style.dim = true;
      else if (c === 3) style.it = true;
      else if (c === 4) style.ul = true;
      else if (c === 22) style.bold = style.dim = false;
      else if (c === 23) style.it = false;
      else if (c === 24) style.ul = false;
      else if (c >= 30 && c <= 37) style.fg = c - 30;
      else if (c >= 90 && c <= 97) style.fg = c - 90 + 8;
      else if (c === 39) style.fg = null;
      else if (c >= 40 && c <= 47) style.bg = c - 40;
      else if (c >= 100 && c <= 107) style.bg = c - 100 + 8;
      else if (c === 49) style.bg = null;
      else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
        style[c === 38 ? "fg" : "bg"] = color256(codes[i + 2] || 0);
        i += 2;
      } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
        style[c === 38 ? "fg" : "bg"] = nearest16(codes[i + 2] || 0, codes[i + 3] || 0, codes[i + 4] || 0);
        i += 4;
      }
    }
  }

  function classesOf(style) {
    const cls = [];
    if (style.fg !== null) cls.push("a-f" + style.fg);
    if (style.bg !== null) cls.push("a-bg" + style.bg);
    if (style.bold) cls.push("a-bold");
    if (style.dim) cls.push("a-dim");
    if (style.it) cls.push("a-it");
    if (style.ul) cls.push("a-ul");
    return cls.join(" ");
  }

  // Escape HTML first: escape sequences hold none of & < > " ', so parsing after is safe.
  function ansiToHtml(text) {
    const safe = escapeHtml(finalState(text));
    const style = { fg: null, bg: null, bold: false, dim: false, it: false, ul: false };
    let out = "";
    let last = 0;
    const emit = (piece) => {
      piece = piece.replace(OTHER_ESCAPES, "");
      if (!piece) return;
      const cls = classesOf(style);
      out += cls ? '<span class="' + cls + '">' + piece + "</span>" : piece;
    };
    safe.replace(SGR, (match, params, offset) => {
      emit(safe.slice(last, offset));
      applySgr(style, params);
      last = offset + match.length;
      return match;
    });
    emit(safe.slice(last));
    return out;
  }

  // Rows --------------------------------------------------------------------------------

  function timeOf(ms) {
    return new Date(ms).toISOString().slice(11, 23);
  }

  function rowHtml(line) {
    const n = line[0];
    let cls = "log-line";
    if (line[2] === "e") cls += " stderr";
    if (line[2] === "s") cls += " system";
    if (search.set.has(n)) cls += " match";
    if (search.matches[search.index] === n) cls += " current-match";
    if (highlight === n) cls += " hl";
    return (
      '<div class="' + cls + '" id="L' + n + '" data-n="' + n + '">' +
      '<a class="ln" href="#L' + n + '" aria-label="Line ' + n + '">' + n + "</a>" +
      '<time class="ts" datetime="' + new Date(line[3]).toISOString() + '">' + timeOf(line[3]) + "</time>" +
      '<span class="tx">' + ansiToHtml(line[4]) + "</span></div>"
    );
  }

  // Sections and blocks -----------------------------------------------------------------

  // A step owns the lines from its first line to the line before the next step's first line.
  function sectionBounds() {
    const count = model.line_count;
    const started = model.steps.filter((s) => s.first_line).sort((a, b) => a.first_line - b.first_line);
    const result = [];
    if (!started.length) {
      if (model.steps.length) model.steps.forEach((s) => result.push({ key: String(s.position), step: s, start: 1, end: 0 }));
      if (count) {
        if (result.length) Object.assign(result[0], { start: 1, end: count });
        else result.push({ key: "all", step: { title: "Log", state: model.state, label: model.label }, start: 1, end: count });
      }
      return result;
    }
    if (started[0].first_line > 1) {
      result.push({ key: "pre", step: { title: "Set up", state: "succeeded", label: "Succeeded" }, start: 1, end: started[0].first_line - 1 });
    }
    const bounds = new Map();
    started.forEach((s, i) => {
      const end = i + 1 < started.length ? started[i + 1].first_line - 1 : count;
      bounds.set(s.position, [s.first_line, Math.min(end, count)]);
    });
    model.steps.forEach((s) => {
      const b = bounds.get(s.position) || [1, 0];
      result.push({ key: String(s.position), step: s, start: b[0], end: b[1] });
    });
    return result;
  }

  function isOpen(bound) {
    if (folded.has(bound.key)) return !folded.get(bound.key);
    const state = bound.step.state;
    if (state === "running" || state === "failed") return true;
    return !model.steps.length || model.steps.length === 1;
  }

  function makeSection(bound) {
    const el = document.createElement("section");
    el.className = "log-step";
    el.id = "step-" + bound.key;
    const head = document.createElement("button");
    head.type = "button";
    head.className = "log-step-head";
    const body = document.createElement("div");
    body.className = "log-step-body";
    el.append(head, body);
    head.addEventListener("click", () => {
      folded.set(bound.key, head.getAttribute("aria-expanded") === "true");
      layout();
    });
    return { el, head, body, blocks: new Map() };
  }

  function drawHead(sec, bound, open) {
    const s = bound.step;
    const lineCount = Math.max(0, bound.end - bound.start + 1);
    const dur = s.duration == null ? "" : formatDuration(s.duration);
    sec.head.setAttribute("aria-expanded", open ? "true" : "false");
    sec.head.disabled = lineCount === 0;
    sec.head.innerHTML =
      '<span class="chev" aria-hidden="true">' + (open ? "▾" : "▸") + "</span>" +
      '<span class="badge state state-' + escapeHtml(s.state) + '">' + escapeHtml(s.label || s.state) + "</span>" +
      '<span class="title">' + escapeHtml(s.title) + "</span>" +
      '<span class="meta">' + (lineCount ? lineCount + " line" + (lineCount === 1 ? "" : "s") : "") +
      (dur ? " · " + dur : "") + "</span>";
  }

  function layout() {
    const bounds = sectionBounds();
    const empty = document.getElementById("log-empty");
    if (empty && bounds.some((b) => b.end >= b.start)) empty.remove();
    dropSections(new Set(bounds.map((b) => b.key)));
    let previous = null;
    bounds.forEach((bound) => {
      let sec = sections.get(bound.key);
      if (!sec) {
        sec = makeSection(bound);
        sections.set(bound.key, sec);
      }
      placeAfter(sec.el, previous);
      previous = sec.el;
      if (sec.start !== undefined && sec.start !== bound.start) resetBlocks(sec);
      Object.assign(sec, { start: bound.start, end: bound.end });
      const open = isOpen(bound) && bound.end >= bound.start;
      drawHead(sec, bound, open);
      sec.body.hidden = !open;
      if (open) layoutBlocks(sec);
    });
  }

  // Steps appear while the page watches: the lines first shown as one "Log" move into them.
  function dropSections(keep) {
    sections.forEach((sec, key) => {
      if (keep.has(key)) return;
      resetBlocks(sec);
      sec.el.remove();
      sections.delete(key);
    });
  }

  function placeAfter(el, previous) {
    const next = previous ? previous.nextElementSibling : root.querySelector(".log-step");
    if (el === next) return;
    if (next) root.insertBefore(el, next);
    else root.appendChild(el);
  }

  function resetBlocks(sec) {
    sec.blocks.forEach((block) => {
      observer.unobserve(block);
      drawn.delete(block);
      block.remove();
    });
    sec.blocks.clear();
  }

  function layoutBlocks(sec) {
    for (let start = sec.start; start <= sec.end; start += BLOCK) {
      const end = Math.min(start + BLOCK - 1, sec.end);
      let block = sec.blocks.get(start);
      if (!block) {
        block = document.createElement("div");
        block.className = "log-block";
        block.dataset.start = start;
        block.style.height = (end - start + 1) * LINE_H + "px";
        sec.body.appendChild(block);
        sec.blocks.set(start, block);
        observer.observe(block);
      }
      if (Number(block.dataset.end) !== end) {
        block.dataset.end = end;
        if (drawn.has(block)) drawBlock(block);
        else block.style.height = (end - start + 1) * LINE_H + "px";
      }
    }
  }

  function haveLines(start, end) {
    for (let n = start; n <= end; n++) if (!lines.has(n)) return false;
    return true;
  }

  function fetchWindow(start, end) {
    if (pending.has(start)) return pending.get(start);
    const url = logUrl + "?after=" + (start - 1) + "&limit=" + (end - start + 1);
    const promise = fetch(url, { credentials: "same-origin" })
      .then((r) => r.json())
      .then((data) => data.lines.forEach((l) => lines.set(l[0], l)))
      .finally(() => pending.delete(start));
    pending.set(start, promise);
    return promise;
  }

  // `force`: draw even if the block is not (yet) near the view, to navigate to it.
  function drawBlock(block, force) {
    const start = Number(block.dataset.start);
    const end = Number(block.dataset.end);
    if (!haveLines(start, end)) {
      return fetchWindow(start, end).then(() => {
        if ((force || drawn.has(block)) && haveLines(start, end)) return drawBlock(block, force);
      });
    }
    if (force) drawn.add(block);
    let html = "";
    for (let n = start; n <= end; n++) html += rowHtml(lines.get(n));
    block.innerHTML = html;
    block.style.height = "";
    return Promise.resolve();
  }

  function undrawBlock(block) {
    block.style.height = block.offsetHeight + "px";
    block.innerHTML = "";
  }

  const observer = new IntersectionObserver(
    (entries) => {
      entries.forEach((entry) => {
        if (entry.isIntersecting && !drawn.has(entry.target)) {
          drawn.add(entry.target);
          drawBlock(entry.target);
        } else if (!entry.isIntersecting && drawn.has(entry.target)) {
          drawn.delete(entry.target);
          undrawBlock(entry.target);
        }
      });
    },
    { root: root, rootMargin: MARGIN }
  );

  function redrawVisible() {
    drawn.forEach((block) => drawBlock(block));
  }

  // Navigation: permalinks, search matches --------------------------------------------------

  function sectionOf(n) {
    for (const [key, sec] of sections) if (n >= sec.start && n <= sec.end) return [key, sec];
    return [null, null];
  }

  function goToLine(n, mark) {
    const [key, sec] = sectionOf(n);
    if (!sec) return Promise.resolve(false);
    folded.set(key, false);
    layout();
    const blockStart = sec.start + Math.floor((n - sec.start) / BLOCK) * BLOCK;
    const block = sec.blocks.get(blockStart);
    if (mark) highlight = n;
    return drawBlock(block, true).then(() => {
      const row = document.getElementById("L" + n);
      if (!row) return false;
      setFollow(false);
      programmaticScroll = true;
      const top = row.getBoundingClientRect().top - root.getBoundingClientRect().top;
      root.scrollTop += top - root.clientHeight / 3;
      if (mark) {
        document.querySelectorAll(".log-line.hl").forEach((el) => el.id !== "L" + n && el.classList.remove("hl"));
        row.classList.add("hl");
        root.scrollIntoView({ block: "nearest" });
      }
      return true;
    });
  }

  function fromHash() {
    const m = /^#L(\d+)$/.exec(location.hash);
    if (m) goToLine(Number(m[1]), true);
  }

  root.addEventListener("click", (event) => {
    const link = event.target.closest("a.ln");
    if (!link) return;
    event.preventDefault();
    history.replaceState(null, "", link.getAttribute("href"));
    goToLine(Number(link.closest(".log-line").dataset.n), true);
  });
  window.addEventListener("hashchange", fromHash);

  const searchInput = document.getElementById("log-search-input");
  const searchCount = document.getElementById("log-search-count");
  let searchTimer = null;

  function runSearch() {
    const query = searchInput.value.trim();
    if (query === search.query) return;
    search.query = query;
    if (!query) return setMatches([], 0);
    fetch(searchUrl + "?q=" + encodeURIComponent(query), { credentials: "same-origin" })
      .then((r) => r.json())
      .then((data) => {
        if (data.query !== query.toLowerCase()) return;
        setMatches(data.matches, data.total);
        if (data.matches.length) step(1);
      });
  }

  function setMatches(matches, total) {
    Object.assign(search, { matches, set: new Set(matches), index: -1, total });
    showCount();
    redrawVisible();
  }

  function showCount() {
    if (!search.query) searchCount.textContent = "";
    else if (!search.total) searchCount.textContent = "No match";
    else searchCount.textContent = (search.index + 1) + " of " + search.total;
  }

  function step(direction) {
    if (!search.matches.length) return;
    const size = search.matches.length;
    search.index = (search.index + direction + size) % size;
    showCount();
    document.querySelectorAll(".log-line.current-match").forEach((el) => el.classList.remove("current-match"));
    const n = search.matches[search.index];
    goToLine(n, false).then(() => {
      const row = document.getElementById("L" + n);
      if (row) row.classList.add("current-match");
    });
  }

  searchInput.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 200);
  });
  document.getElementById("log-search").addEventListener("submit", (e) => e.preventDefault());
  searchInput.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    if (searchInput.value.trim() !== search.query) runSearch();
    else step(event.shiftKey ? -1 : 1);
  });
  document.getElementById("log-next").addEventListener("click", () => step(1));
  document.getElementById("log-prev").addEventListener("click", () => step(-1));

  // Toolbar toggles ---------------------------------------------------------------------------

  function toggle(id, initial, apply) {
    const button = document.getElementById(id);
    const set = (on) => {
      button.setAttribute("aria-pressed", on ? "true" : "false");
      apply(on);
    };
    button.addEventListener("click", () => set(button.getAttribute("aria-pressed") !== "true"));
    set(initial);
    return set;
  }

  function stored(name) {
    try {
      return localStorage.getItem("herokucd.log." + name) === "1";
    } catch (e) {
      return false;
    }
  }
  function store(name, on) {
    try {
      localStorage.setItem("herokucd.log." + name, on ? "1" : "0");
    } catch (e) {
      /* private mode: the toggle still works for this page */
    }
  }

  toggle("log-times", stored("times"), (on) => {
    root.classList.toggle("show-times", on);
    store("times", on);
  });
  toggle("log-wrap", stored("wrap"), (on) => {
    root.classList.toggle("wrap", on);
    store("wrap", on);
  });
  const setFollow = toggle("log-follow", false, (on) => {
    follow = on;
    if (on) scrollToEnd();
  });

  function scrollToEnd() {
    programmaticScroll = true;
    root.scrollTop = root.scrollHeight;
  }

  // Scrolling up means the user wants to read: stop following.
  root.addEventListener("scroll", () => {
    const top = root.scrollTop;
    if (!programmaticScroll && follow && top < lastScrollTop - 4) setFollow(false);
    programmaticScroll = false;
    lastScrollTop = top;
  });

  // Pinned failure --------------------------------------------------------------------------

  function pinFailure() {
    const failed = model.state === "failed" && model.steps.find((s) => s.state === "failed");
    const pinned = document.getElementById("log-pinned");
    if (!failed) return;
    const bound = sectionBounds().find((b) => b.key === String(failed.position));
    if (!bound || bound.end < bound.start) return;
    const start = Math.max(bound.start, bound.end - PINNED + 1);
    fetchWindow(start, bound.end).then(() => {
      let html = '<p class="log-pinned-title">' + escapeHtml(failed.title) + " failed. Its last lines:</p>";
      for (let n = start; n <= bound.end; n++) if (lines.has(n)) html += rowHtml(lines.get(n));
      pinned.innerHTML = html;
      pinned.hidden = false;
    });
  }
  document.getElementById("log-pinned").addEventListener("click", (event) => {
    const link = event.target.closest("a.ln");
    if (!link) return;
    event.preventDefault();
    history.replaceState(null, "", link.getAttribute("href"));
    goToLine(Number(link.closest(".log-line").dataset.n), true);
  });

  // Header: state, duration, steps ------------------------------------------------------------

  // The `duration` filter's rule (deploy_tags.py): 8s, 1m 12s, 2h 5m.
  // tests/browser/test_durations_browser.py runs both on the same values.
  function formatDuration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + s + "s";
    return s + "s";
  }

  function setBadge(el, state, label) {
    if (!el) return;
    el.className = "badge state state-" + state;
    el.textContent = label;
  }

  function badgeHtml(state, label) {
    return '<span class="badge state state-' + escapeHtml(state) + '">' + escapeHtml(label || state) + "</span>";
  }

  // "just now" under a minute, else the largest whole unit, as the server's `reltime` says it.
  const UNITS = [[86400, "day"], [3600, "hour"], [60, "minute"]];
  function ago(iso) {
    const seconds = (Date.now() - Date.parse(iso)) / 1000;
    for (const [size, name] of UNITS) {
      const count = Math.floor(seconds / size);
      if (count >= 1) return count + "\u00a0" + name + (count === 1 ? "" : "s") + " ago";
    }
    return "just now";
  }

  function updateHeader() {
    setBadge(document.getElementById("deploy-state"), model.state, model.label);
    const release = document.getElementById("deploy-release");
    if (release && model.release_version) release.textContent = "v" + model.release_version;
    updateReason();
    updateQueue();
    updateCommit();
    updateStarted();
    updateProgress();
    updateDuration();
  }

  function updateReason() {
    const el = document.getElementById("deploy-reason");
    if (!el) return;
    el.textContent = model.reason || "";
    el.hidden = !model.reason;
    el.className = "reason card state-border-" + model.state;
  }

  // Why a queued deploy waits and behind what: the server words it (it knows whose deploy
  // the viewer may see named); gone once the deploy starts.
  function updateQueue() {
    const el = document.getElementById("queue-note");
    if (!el) return;
    const html = model.queue_html || "";
    if (el.dataset.html !== html) {
      el.dataset.html = html;
      el.innerHTML = html;
    }
    el.hidden = !html;
  }

  function updateCommit() {
    const el = document.getElementById("deploy-commit");
    if (!el || !model.sha || el.dataset.sha === model.sha) return;
    el.dataset.sha = model.sha;
    const sha = escapeHtml(model.sha);
    el.innerHTML = '<abbr title="' + sha + '">' + sha.slice(0, 7) + "</abbr>" +
      '<span class="visually-hidden"> (' + sha + ")</span>";
  }

  function updateStarted() {
    const el = document.getElementById("deploy-started");
    if (!el || !model.started_at || el.querySelector("time")) return;
    const time = document.createElement("time");
    time.dateTime = model.started_at;
    time.title = new Date(model.started_at).toLocaleString();
    time.textContent = ago(model.started_at);
    el.replaceChildren(time);
  }

  function updateProgress() {
    const steps = model.steps;
    const done = steps.filter((s) => TERMINAL.includes(s.state)).length;
    const progress = document.getElementById("steps-progress");
    if (progress) {
      progress.max = steps.length || 1;
      progress.value = done;
      progress.className = "progress-" + model.state;
      progress.textContent = done + " of " + steps.length + " steps finished";
    }
    const current = steps.find((s) => s.state === "running") || steps.find((s) => s.state === "failed");
    const title = document.getElementById("progress-title");
    if (title && model.state === "queued" && !steps.some((s) => s.started_at)) {
      title.textContent = "Not started yet" + (steps.length ? " \u00b7 " + steps.length + " steps" : "");
    } else if (title && steps.length) {
      title.innerHTML = 'Step <span id="steps-done">' + (current ? current.position : done) + "</span> of " + steps.length;
    } else if (title && !model.finished) {
      title.textContent = "Waiting for the first step";
    }
    const list = document.getElementById("step-list");
    if (list) list.innerHTML = steps.map(stepItemHtml).join("");
  }

  function stepItemHtml(s) {
    const ticking = s.state === "running" && s.started_at ? ' data-started="' + escapeHtml(s.started_at) + '"' : "";
    return (
      '<li data-position="' + s.position + '"><a href="#step-' + s.position + '">' + escapeHtml(s.title) + "</a> " +
      badgeHtml(s.state, s.label) +
      ' <span class="muted mono step-duration"' + ticking + ">" +
      (s.duration == null ? "" : formatDuration(s.duration)) + "</span></li>"
    );
  }

  function updateDuration() {
    const el = document.getElementById("deploy-duration");
    if (!el) return;
    if (model.finished) {
      delete el.dataset.started;
      if (model.duration != null) el.textContent = formatDuration(model.duration);
    } else if (model.started_at) {
      el.dataset.started = model.started_at;
    }
  }

  // Once the deploy finishes, Cancel gives way to Retry / Roll back, as the server renders them.
  function updateActions(html) {
    const el = document.getElementById("deploy-actions");
    if (el && typeof html === "string") el.innerHTML = html;
  }

  // Where a failed or canceled deploy left the app, as the server renders it once it ends.
  function updateEndState(html) {
    const reason = document.getElementById("deploy-reason");
    if (!reason || typeof html !== "string" || !html.trim()) return;
    const old = document.getElementById("end-state");
    if (old) old.remove();
    reason.insertAdjacentHTML("afterend", html);
  }

  // The deploy's and the running step's durations tick; the server's numbers replace them.
  // So does "started 2 minutes ago" of the deploy a queued one waits behind.
  setInterval(() => {
    document.querySelectorAll("#deploy-duration[data-started], #step-list [data-started]").forEach((el) => {
      el.textContent = formatDuration((Date.now() - Date.parse(el.dataset.started)) / 1000);
    });
    document.querySelectorAll("#queue-note time.since").forEach((el) => {
      el.textContent = ago(el.dateTime);
    });
  }, 1000);

  // Live tail -----------------------------------------------------------------------------

  function absorb(data) {
    data.lines.forEach((l) => lines.set(l[0], l));
    const last = data.lines.length ? data.lines[data.lines.length - 1][0] : 0;
    Object.assign(model, data, { line_count: Math.max(data.line_count, last, model.line_count) });
    delete model.lines;
    delete model.actions;
  }

  // How long to wait before asking again: what a 429's Retry-After says (the server holds only
  // so many waiting requests per person, deploys/waitslots.py), else 2 s, as after any failure;
  // never less than 1 s (a proxy's "Retry-After: 0" must not make a tight loop) nor over 60 s.
  const RETRY_MS = 2000;
  function retryDelay(header) {
    if (header === null || !/^\s*\d+\s*$/.test(header)) return RETRY_MS;
    return Math.min(Math.max(Number(header) * 1000, 1000), 60000);
  }

  // The cursor API once, and on again with `poll` (long polls): what the page shows when the
  // deploy ends (buttons, where it left the app), a queued deploy's note, the fallback.
  // `version` is the header the page shows: the server answers as soon as it changes.
  function ask(poll, timeout) {
    const query = "?wait=1&after=" + model.line_count + "&version=" + encodeURIComponent(model.version || "") +
      (timeout === undefined ? "" : "&timeout=" + timeout);
    fetch(logUrl + query, { credentials: "same-origin" })
      .then((r) => {
        if (r.status === 429) {
          setTimeout(() => ask(poll, timeout), retryDelay(r.headers.get("Retry-After")));
          return null;
        }
        if (!r.ok) throw new Error(r.status);
        return r.json();
      })
      .then((data) => {
        if (!data) return; // asked to wait: the timer asks again
        absorb(data);
        layout();
        updateHeader();
        if (follow) scrollToEnd();
        if (data.finished) updateActions(data.actions);
        if (data.finished) updateEndState(data.end_state);
        if (data.finished && !data.lines.length) return pinFailure();
        if (poll || (data.finished && data.lines.length)) ask(poll, timeout);
      })
      .catch(() => setTimeout(() => ask(poll, timeout), RETRY_MS));
  }
  const tail = () => ask(true);

  // The live log as server-sent events (deploys/stream.py): lines as they are stored, the
  // header when it changes. The browser resumes a closed stream after the last line it got
  // (Last-Event-ID); a stream refused (too many open, or no ASGI server) gives way to tail().
  function stream() {
    const source = new EventSource(root.dataset.streamUrl + "?after=" + model.line_count);
    source.addEventListener("lines", (event) => {
      const batch = JSON.parse(event.data);
      if (!batch.length) return;
      batch.forEach((l) => lines.set(l[0], l));
      model.line_count = Math.max(model.line_count, batch[batch.length - 1][0]);
      layout();
      if (follow) scrollToEnd();
    });
    source.addEventListener("state", (event) => {
      absorb(Object.assign(JSON.parse(event.data), { lines: [] }));
      layout();
      updateHeader();
      if (follow) scrollToEnd();
      if (model.state === "queued") ask(false, 0); // the queue note names whom this viewer may see
    });
    source.addEventListener("end", () => {
      source.close();
      ask(false, 0);
    });
    source.addEventListener("denied", () => source.close());
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) tail();
    });
  }

  layout();
  updateHeader();
  pinFailure();
  if (location.hash) fromHash();
  if (!model.finished) {
    if (!location.hash) setFollow(true);
    if (window.EventSource && root.dataset.streamUrl) stream();
    else tail();
  }
  root.dataset.ready = "1";
})();
