/* Signed-out pages (sign in, code) follow the device's light/dark setting; signed-in pages use
   the theme saved in the user's profile. Loaded in <head> so the page never flashes light. */
if (window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches) {
  document.documentElement.setAttribute("data-bs-theme", "dark");
}
