// Destructive actions ask first: a form with data-confirm-question opens a native <dialog> with
// what will happen; confirming posts the form with confirmed=yes. Without this script the server
// asks on a page of its own (deploys/confirmations.py), with the same words.
(function () {
  "use strict";

  let dialog = null;
  let pending = null;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function build() {
    dialog = element("dialog", "confirm-dialog");
    dialog.setAttribute("aria-labelledby", "confirm-dialog-question");
    dialog.setAttribute("aria-describedby", "confirm-dialog-consequences");
    const question = element("h2");
    question.id = "confirm-dialog-question";
    const consequences = element("p");
    consequences.id = "confirm-dialog-consequences";
    const yes = element("button", "danger");
    const no = element("button");
    yes.type = no.type = "button";
    const actions = element("div", "confirm-dialog-actions");
    actions.append(yes, no);
    dialog.append(question, consequences, actions);
    document.body.append(dialog);
    yes.addEventListener("click", function () {
      const form = pending;
      dialog.close();
      if (form) submitConfirmed(form);
    });
    no.addEventListener("click", function () {
      dialog.close();
    });
    dialog.addEventListener("close", function () {
      pending = null;
    });
    return { question: question, consequences: consequences, yes: yes, no: no };
  }

  let parts = null;

  function open(form) {
    parts = parts || build();
    parts.question.textContent = form.dataset.confirmQuestion;
    parts.consequences.textContent = form.dataset.confirmConsequences;
    parts.yes.textContent = form.dataset.confirmButton;
    parts.no.textContent = form.dataset.confirmKeep;
    pending = form;
    dialog.showModal();
    parts.no.focus(); // the safe choice is the default
  }

  function submitConfirmed(form) {
    const confirmed = element("input");
    confirmed.type = "hidden";
    confirmed.name = "confirmed";
    confirmed.value = "yes";
    form.append(confirmed);
    form.submit(); // fires no submit event, so it does not ask again
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirmQuestion) return;
    if (typeof HTMLDialogElement !== "function") return; // the server asks instead
    event.preventDefault();
    open(form);
  });
})();
