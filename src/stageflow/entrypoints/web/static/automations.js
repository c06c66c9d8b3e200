// stageflow automation screens: the field picker of template inputs inserts a placeholder
// ("{{ contact.name }}") where the cursor is.
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var picker = event.target.closest && event.target.closest("select.field-picker");
    if (!picker || !picker.value) return;
    var input = document.getElementById(picker.dataset.insertInto);
    if (input) {
      var start = input.selectionStart == null ? input.value.length : input.selectionStart;
      var end = input.selectionEnd == null ? start : input.selectionEnd;
      input.value = input.value.slice(0, start) + picker.value + input.value.slice(end);
      input.focus();
      var at = start + picker.value.length;
      if (input.setSelectionRange) input.setSelectionRange(at, at);
      input.dispatchEvent(new Event("input", { bubbles: true }));
    }
    picker.value = "";
  });
})();
