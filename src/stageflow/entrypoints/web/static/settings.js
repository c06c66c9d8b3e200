// stageflow settings, inbox and dashboard pages: dialogs filled by htmx, reordering lists by
// dragging (SortableJS) with the order posted back, and focus kept across swaps.
(function () {
  "use strict";

  // A dialog that htmx filled opens itself; "closeDialog" from the server closes it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.matches && target.matches("dialog.settings-dialog") && !target.open) {
      target.showModal();
      var first = target.querySelector("[autofocus], input:not([type=hidden]), select, button");
      if (first) first.focus();
    }
  });
  document.body.addEventListener("closeDialog", function () {
    document.querySelectorAll("dialog.settings-dialog[open]").forEach(function (d) {
      d.close();
      d.querySelectorAll("form").forEach(function (f) { f.reset(); });
    });
  });
  document.addEventListener("close", function (event) {
    if (event.target.matches && event.target.matches("dialog[data-filled-by-htmx]")) {
      event.target.innerHTML = "";
    }
  }, true);

  // A row menu closes once one of its items is chosen.
  document.addEventListener("click", function (event) {
    var item = event.target.closest(".row-menu-items button");
    if (item) item.closest("details").open = false;
  });

  // Keep the keyboard where it was when a list is redrawn (move up/down).
  var focusedId = null;
  document.addEventListener("htmx:beforeRequest", function () {
    var active = document.activeElement;
    focusedId = active && active.id ? active.id : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!focusedId) return;
    var again = document.getElementById(focusedId);
    if (again && document.activeElement !== again) {
      if (again.disabled) {
        var row = again.closest("[data-stage-id]");
        var other = row && row.querySelector(".icon-button:not([disabled])");
        if (other) other.focus();
      } else {
        again.focus();
      }
    }
    focusedId = null;
  });

  // Drag to reorder: each list keeps its own items; the whole order is posted.
  function initSortable(root) {
    if (typeof Sortable === "undefined" || !root.querySelectorAll) return;
    root.querySelectorAll("[data-order-url] .stage-list").forEach(function (list) {
      if (list.dataset.sortable) return;
      list.dataset.sortable = "1";
      var body = list.closest("[data-order-url]");
      Sortable.create(list, {
        handle: ".drag-handle",
        draggable: ".stage-row",
        animation: 120,
        onEnd: function (evt) {
          if (evt.oldIndex === evt.newIndex) return;
          var ids = [];
          body.querySelectorAll(".stage-list .stage-row").forEach(function (row) {
            ids.push(row.dataset.stageId);
          });
          htmx.ajax("POST", body.dataset.orderUrl, {
            target: "#" + body.id, swap: "outerHTML", values: { order: ids.join(",") }
          });
        }
      });
    });
  }
  htmx.onLoad(initSortable);
})();
