// Inputs marked data-select-on-focus (the calendar feed URL) select their whole text when
// clicked or focused, so it can be copied in one go. A static file, not an inline handler:
// the site's Content-Security-Policy allows no inline script.
"use strict";
document.querySelectorAll("[data-select-on-focus]").forEach(function (input) {
  input.addEventListener("focus", function () { input.select(); });
  input.addEventListener("click", function () { input.select(); });
});
