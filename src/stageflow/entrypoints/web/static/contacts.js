// stageflow contacts screen: say why a change was refused (the server answered 200 with
// X-Refused and a "refused" event) and put the row's stage select back as it was.
(function () {
  "use strict";
  document.body.addEventListener("refused", function (event) {
    var box = document.getElementById("toasts");
    if (box) {
      var item = document.createElement("div");
      item.className = "toast error";
      item.textContent = event.detail.value;
      box.appendChild(item);
      setTimeout(function () { item.remove(); }, 8000);
    }
    var form = event.target.closest && event.target.closest(".lifecycle-form");
    if (form) form.reset();
  });
})();
