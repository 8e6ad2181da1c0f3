// The usage app's only script: draws the charts whose data the page embeds, strips empty
// filters from the address, and points the KPI editor at the line with the error.
(function () {
  "use strict";

  function drawCharts() {
    document.querySelectorAll("[data-figure]").forEach(function (node) {
      var source = document.getElementById(node.getAttribute("data-figure"));
      if (!source) return;
      var figure = JSON.parse(source.textContent);
      Plotly.newPlot(node, figure.data, figure.layout, {
        displaylogo: false,
        responsive: true,
        modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d", "toggleSpikelines"],
      });
      node.setAttribute("data-drawn", "1");
    });
  }

  function quietFilters() {
    document.querySelectorAll("form[data-filters]").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelectorAll("input, select").forEach(function (field) {
          if (field.name && field.value === "") field.disabled = true;
        });
      });
    });
    document.querySelectorAll("select[data-nav]").forEach(function (select) {
      select.addEventListener("change", function () { window.location.href = select.value; });
    });
  }

  function pointAtError() {
    var area = document.querySelector("textarea[data-error-line]");
    if (!area) return;
    var line = parseInt(area.getAttribute("data-error-line"), 10);
    var lines = area.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    var end = start + (lines[line - 1] || "").length;
    area.focus({ preventScroll: true });
    area.setSelectionRange(start, end);
    var lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 18;
    area.scrollTop = Math.max(0, (line - 6) * lineHeight);
  }

  function done() {
    document.body.setAttribute("data-ready", "1");
  }

  // plotly.js (~4.8 MB) is loaded after the page has painted, so the figures and tables
  // show at once and the charts follow.
  function loadCharts(done) {
    var src = document.body.getAttribute("data-charts");
    if (!src) return done();
    var script = document.createElement("script");
    script.src = src;
    script.onload = function () {
      drawCharts();
      done();
    };
    script.onerror = done;
    document.head.appendChild(script);
  }

  function ready() {
    quietFilters();
    pointAtError();
    loadCharts(done);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
