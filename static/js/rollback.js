// The rollback confirmation: the sentence saying where the app will go follows the chosen release.
(function () {
  "use strict";

  const target = document.getElementById("rollback-to");
  const form = document.getElementById("rollback-form");
  if (!target || !form) return;
  form.addEventListener("change", function (event) {
    if (event.target.name === "release" && event.target.dataset.to) {
      target.textContent = event.target.dataset.to;
    }
  });
})();
