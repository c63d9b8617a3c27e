// The language selector sends its form on change (no inline handlers: the pages' CSP forbids them).
"use strict";
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.submit());
}
