// Loads the dashboard's WebAssembly (an external file, so the page's CSP needs no inline script).
import init from "/dashboard/pkg/omniroute_ui.js";

init().catch((error) => {
  document.body.textContent = "The dashboard could not start: " + error;
});
