// The Deploy form: picking an environment suggests its branch and shows the recent commits of
// that branch; picking a commit fills the field, typing in the field takes the pick back.
(function () {
  "use strict";
  var form = document.getElementById("deploy-form");
  var data = document.getElementById("deploy-suggestions");
  if (!form || !data) return;
  var suggestions = JSON.parse(data.textContent);
  var environment = form.querySelector("select[name=environment]");
  var ref = form.querySelector("input[name=ref]");
  var typed = form.querySelector("input[name=commit][value='']");

  function isSuggestion(value) {
    if (value === "") return true;
    for (var key in suggestions) {
      if (suggestions[key] === value) return true;
    }
    return !!form.querySelector("input[name=commit][value='" + CSS.escape(value) + "']");
  }

  function showCommitsOf(id) {
    form.querySelectorAll(".commit-list").forEach(function (list) {
      var shown = list.dataset.environments.split(" ").indexOf(id) !== -1;
      list.hidden = !shown;
      if (!shown && list.querySelector("input:checked") && typed) typed.checked = true;
    });
  }

  environment.addEventListener("change", function () {
    var id = environment.value;
    if (suggestions[id] !== undefined && isSuggestion(ref.value.trim())) {
      ref.value = suggestions[id];
      if (typed) typed.checked = true;
    }
    showCommitsOf(id);
    document.querySelectorAll(".env-links a").forEach(function (link) {
      if (link.getAttribute("href") === "?environment=" + id) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    });
  });

  form.addEventListener("change", function (event) {
    var target = event.target;
    if (target.name === "commit" && target.value) ref.value = target.value;
  });

  ref.addEventListener("input", function () {
    if (typed) typed.checked = true;
  });

  showCommitsOf(environment.value);
})();
