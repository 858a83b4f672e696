// Status page: while a stage runs, poll the small status JSON and update the stages in place.
// Text is set with textContent only, so nothing from an offer or a stage becomes markup.
(function () {
  "use strict";
  var section = document.getElementById("status");
  if (!section) { return; }
  var offer = section.getAttribute("data-offer");
  var url = "/offers/" + encodeURIComponent(offer) + "/status.json";
  var delay = 1500;

  function setBadge(element, value, label) {
    element.className = element.className.replace(/badge-\S+/g, "").trim() + " badge-" + value;
    element.textContent = label;
  }

  function apply(doc) {
    setBadge(document.getElementById("offer-status"), doc.offerStatus, doc.offerStatusLabel);
    if (doc.request !== section.getAttribute("data-request")) {
      window.location.reload();  // another request started: its stages are new
      return;
    }
    doc.steps.forEach(function (step) {
      var item = section.querySelector('li[data-step="' + step.id + '"]');
      if (!item) { window.location.reload(); return; }
      item.className = "stage stage-" + step.status;
      setBadge(item.querySelector(".step-status"), step.status, step.statusLabel);
      item.querySelector(".started").textContent = step.startedAt;
      item.querySelector(".finished").textContent = step.finishedAt;
      var progress = item.querySelector(".progress");
      progress.value = step.progress;
      progress.textContent = step.progress + "%";
      var list = item.querySelector(".messages");
      while (list.firstChild) { list.removeChild(list.firstChild); }
      step.messages.forEach(function (message) {
        var li = document.createElement("li");
        li.className = "message message-" + message.level;
        li.textContent = message.text;
        list.appendChild(li);
      });
      // The stage's files (a failed certification's report appears without a reload).
      var files = item.querySelector(".artifacts");
      while (files.firstChild) { files.removeChild(files.firstChild); }
      step.files.forEach(function (file) {
        var li = document.createElement("li");
        var link = document.createElement("a");
        link.href = file.href;
        link.textContent = file.label;
        li.appendChild(link);
        files.appendChild(li);
      });
      files.hidden = step.files.length === 0;
    });
    var error = document.getElementById("request-error");
    error.textContent = doc.error;
    error.hidden = !doc.error;
    section.querySelectorAll("form[data-action]").forEach(function (form) {
      form.hidden = doc.actions.indexOf(form.getAttribute("data-action")) < 0;
    });
  }

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (doc) {
        apply(doc);
        window.setTimeout(poll, doc.polling ? delay : delay * 4);
      })
      .catch(function () { window.setTimeout(poll, delay * 4); });
  }

  window.setTimeout(poll, delay);
})();
