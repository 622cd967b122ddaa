// Display equations wider than the page (on a phone) are scaled down to fit, to at most 60%;
// one still too wide scrolls sideways and says so with a shadow at the edge where more lies.
(function () {
  var SMALLEST = 0.6;

  function fit() {
    // the theme lets each display formula's MathJax container scroll sideways: that is the box to fit
    document.querySelectorAll("mjx-container[display='true']").forEach(function (box) {
      box.style.fontSize = "";
      box.classList.remove("math-scrolls");
      var scale = box.clientWidth / box.scrollWidth;
      if (scale >= 1) return;
      box.style.fontSize = Math.max(scale * 0.98, SMALLEST) * 100 + "%";
      if (box.scrollWidth > box.clientWidth + 1) box.classList.add("math-scrolls");
    });
  }

  function whenTypeset() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(fit);
    } else {
      fit();
    }
  }

  window.addEventListener("load", whenTypeset);
  var pending;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(fit, 150);
  });
})();
