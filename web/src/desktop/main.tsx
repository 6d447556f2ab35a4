import { render } from "preact";

const root = document.getElementById("app");
if (root) render(<h1>Agent desktop</h1>, root);
