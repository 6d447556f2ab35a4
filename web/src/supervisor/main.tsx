import { render } from "preact";

const root = document.getElementById("app");
if (root) render(<h1>Supervisor view</h1>, root);
