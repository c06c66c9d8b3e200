// stageflow web app: CSRF header for htmx, toasts, and moving cards on boards.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function toast(message, kind) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var item = document.createElement("div");
    item.className = "toast" + (kind === "error" ? " error" : "");
    item.textContent = message;
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, kind === "error" ? 8000 : 4000);
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) event.detail.headers["X-CSRF-Token"] = token;
  });

  document.body.addEventListener("toast", function (event) {
    toast(event.detail.value);
  });

  // A request the server answered with an error status (the session expired mid-page, the
  // CSRF token is stale): say why and swap nothing, so htmx does not treat it as a crash.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status < 400) return;
    if (xhr.status === 422 && event.detail.target.matches("form[data-inline-errors]")) {
      event.detail.shouldSwap = true;  // the settings forms come back with each error at its field
      event.detail.isError = false;
      return;
    }
    event.detail.shouldSwap = false;
    event.detail.isError = false;
    var type = xhr.getResponseHeader("Content-Type") || "";
    toast(type.indexOf("text/plain") === 0 ? xhr.responseText : "That did not work (" + xhr.status + "). Reload the page and try again.", "error");
  });

  // A move the server refused (stale version, no permission): the card goes back.
  var pending = new Map();
  document.body.addEventListener("moveRefused", function (event) {
    toast(event.detail.value, "error");
    var card = event.target.closest && event.target.closest(".card");
    var undo = card && pending.get(card);
    if (undo) { pending.delete(card); undo(); }
  });

  // Dialogs: a button names the dialog it opens; "Cancel" closes the one it is in.
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.dataset.openDialog);
      if (dialog) dialog.showModal();
      return;
    }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) closer.closest("dialog").close();
  });

  // A form back with errors: focus the first field in error (it names its problem).
  document.addEventListener("htmx:afterSwap", function (event) {
    var form = event.detail.elt;
    if (!form || !form.matches || !form.matches("form[data-inline-errors]")) return;
    var invalid = form.querySelector('[aria-invalid="true"]');
    if (invalid) invalid.focus();
  });

  // A record page's body comes back after each change: the keyboard focus goes back to the
  // control the change started from (named by the server), not to the top of the page.
  document.addEventListener("htmx:afterSwap", function (event) {
    var body = document.getElementById("record-body");
    if (!body || !body.dataset.focusId || !body.contains(event.detail.elt)) return;
    var target = document.getElementById(body.dataset.focusId);
    delete body.dataset.focusId;
    if (target) target.focus();
  });

  // The clock bar's "what fired" panel closes; the bar stays.
  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-dismiss-fired]");
    if (close) close.closest(".clock-fired").remove();
  });

  document.body.addEventListener("recordCreated", function () {
    var dialog = document.getElementById("new-record-dialog");
    if (dialog && dialog.open) dialog.close();
  });

  // Boards ---------------------------------------------------------------------------------

  function filterValues() {
    var form = document.getElementById("filters");
    var values = {};
    if (!form) return values;
    new FormData(form).forEach(function (value, key) { if (key !== "view") values[key] = value; });
    return values;
  }

  function askLostReason(stageName) {
    var dialog = document.getElementById("lost-dialog");
    return new Promise(function (resolve) {
      if (!dialog) { resolve(""); return; }
      var form = dialog.querySelector("form");
      form.reset();
      dialog.querySelector("[data-stage-name]").textContent = stageName;
      dialog.returnValue = "";
      dialog.addEventListener("close", function onClose() {
        dialog.removeEventListener("close", onClose);
        if (dialog.returnValue !== "confirm") { resolve(null); return; }
        var reason = form.querySelector('[name="reason"]');
        resolve(reason ? reason.value : "");
      });
      dialog.showModal();
    });
  }

  // The record page's stage select: a lost stage asks for its reason as the board does.
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.detail.elt;
    if (!form.matches || !form.matches("form.record-move")) return;
    var select = form.querySelector('[name="stage_id"]');
    var option = select && select.selectedOptions[0];
    if (!option || !option.dataset.lost) return;
    event.preventDefault();
    askLostReason(option.dataset.stageName).then(function (reason) {
      if (reason === null) { select.focus(); return; }
      form.querySelector('[name="reason"]').value = reason;
      event.detail.issueRequest(true);
    });
  });

  function moveCard(card, stageId, undo) {
    var body = document.getElementById("board-body");
    var column = document.querySelector('.column[data-stage-id="' + stageId + '"]');
    if (!body || !column) return;
    var ask = column.dataset.lost ? askLostReason(column.dataset.stageName) : Promise.resolve("");
    ask.then(function (reason) {
      if (reason === null) { undo(); return; }
      var values = filterValues();
      values.record_id = card.dataset.recordId;
      values.version = card.dataset.version;
      values.stage_id = stageId;
      values.reason = reason;
      pending.set(card, undo);
      var id = card.id;
      var hadFocus = card.contains(document.activeElement);
      htmx.ajax("POST", "/boards/" + body.dataset.slug + "/move", {
        source: card, target: card, swap: "delete", values: values
      }).then(function () {
        pending.delete(card);
        var moved = document.getElementById(id);
        if (hadFocus && moved) moved.focus();
      });
    });
  }

  function putBack(card, from, index) {
    return function () { from.insertBefore(card, from.children[index] || null); };
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest(".move-form");
    if (!form) return;
    event.preventDefault();
    var card = form.closest(".card");
    moveCard(card, form.querySelector('[name="stage_id"]').value, function () { card.focus(); });
  });

  var reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function initBoard(root) {
    if (typeof Sortable === "undefined") return;
    var lists = root.querySelectorAll ? root.querySelectorAll(".cards") : [];
    lists.forEach(function (list) {
      if (list.dataset.sortable) return;
      list.dataset.sortable = "1";
      Sortable.create(list, {
        group: "board",
        draggable: ".card",
        filter: "select, button, summary, input, a",
        preventOnFilter: false,
        animation: reducedMotion ? 0 : 120,
        onEnd: function (evt) {
          if (evt.from === evt.to) return;
          moveCard(evt.item, evt.to.dataset.stageId, putBack(evt.item, evt.from, evt.oldIndex));
        }
      });
    });
  }

  htmx.onLoad(initBoard);
})();
