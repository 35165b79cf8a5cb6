// Runs in <head> before the page paints: the theme the person chose last time (dark by default).
(function () {
  try {
    var theme = window.localStorage.getItem("bridge.theme");
    if (theme === "light" || theme === "dark") {
      document.documentElement.setAttribute("data-theme", theme);
    }
  } catch (e) { /* storage refused: stay dark */ }
})();
