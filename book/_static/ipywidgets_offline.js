/* ddpm-tutorial: make the ipywidgets HTML manager work from _static, offline.
 *
 * Loaded only on pages that store widget state, after require.js and before the HTML manager
 * (nb_ipywidgets_js in _config.yml; the files come from `python tools/offline_assets.py`).
 *
 * 1. The manager finds its Font Awesome fonts next to the URL that require.js gives its modules;
 *    by default that is a path below the page, where nothing is. Point the modules at
 *    _static/vendor/html-manager/, where the fonts are.
 * 2. Widgets typeset their labels with MathJax 2's `MathJax.Hub.Queue`; the book uses MathJax 3.
 *    Give MathJax 3 a small `Hub` that forwards to `typesetPromise`.
 */
(function () {
  "use strict";
  var src = document.currentScript ? document.currentScript.src : "";
  var staticUrl = src.slice(0, src.lastIndexOf("/") + 1);
  var vendor = staticUrl + "vendor/html-manager";
  var paths = { "@jupyter-widgets/html-manager/dist": vendor };
  ["base", "base7", "controls", "controls7", "html-manager", "output"].forEach(function (name) {
    paths["@jupyter-widgets/" + name] = vendor + "/" + name;
  });
  if (window.require && window.require.config) {
    window.require.config({ paths: paths });
  }

  function typeset(element) {
    var mj = window.MathJax;
    if (mj && mj.typesetPromise) {
      var ready = mj.startup && mj.startup.promise ? mj.startup.promise : Promise.resolve();
      ready
        .then(function () { return mj.typesetPromise(element ? [element] : undefined); })
        .catch(function (err) { console.warn("MathJax could not typeset a widget label", err); });
    }
  }

  function addHub() {
    var mj = window.MathJax;
    if (mj && !mj.Hub) {
      mj.Hub = {
        Queue: function () {
          for (var i = 0; i < arguments.length; i++) {
            var cmd = arguments[i];
            if (Array.isArray(cmd) && cmd[0] === "Typeset") { typeset(cmd[2]); }
          }
        },
      };
    }
  }

  // Deferred scripts (MathJax) have run by DOMContentLoaded; widgets render after it.
  document.addEventListener("DOMContentLoaded", addHub);
})();
