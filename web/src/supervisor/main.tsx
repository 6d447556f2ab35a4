// The supervisor view at /supervisor.
import { render } from "preact";
import { App } from "./App";
import { language } from "./i18n";
import "./styles.css";

document.documentElement.lang = language;
const root = document.getElementById("app");
if (root) render(<App />, root);
