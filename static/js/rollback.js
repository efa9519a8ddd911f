// The rollback confirmation: the sentence saying where the app will go, and what can be done
// about the database, follow the chosen release.
(function () {
  "use strict";

  const target = document.getElementById("rollback-to");
  const form = document.getElementById("rollback-form");
  if (!target || !form) return;
  // Only the chosen release's database choice shows; a hidden one is unticked, so it cannot
  // be sent by mistake (the server refuses a restore ticked for another release anyway).
  function showRestoreOffer(version) {
    form.querySelectorAll(".restore-offer").forEach(function (offer) {
      const shown = offer.dataset.version === version;
      offer.hidden = !shown;
      if (!shown) {
        offer.querySelectorAll(".restore-toggle").forEach(function (box) { box.checked = false; });
      }
    });
  }
  form.addEventListener("change", function (event) {
    if (event.target.name === "release" && event.target.dataset.to) {
      target.textContent = event.target.dataset.to;
      showRestoreOffer(event.target.value);
    }
  });
})();
