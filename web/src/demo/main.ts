// Placeholder until the demo site lands: a heading and the links to the staff pages.
const page = document.getElementById("page");
if (page) {
  page.innerHTML = `<h1>Harbour Lane Cycles</h1>
<p><a href="/agent">Agent desktop</a> · <a href="/supervisor">Supervisor view</a></p>`;
}
