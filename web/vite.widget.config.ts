// The customer widget: one self-contained script (/widget.js) that any site embeds with a <script> tag.
// Its styles are inlined into the script and applied inside a shadow root, so the host page's CSS and
// the widget's never meet.
import { resolve } from "node:path";
import { defineConfig } from "vite";

const here = import.meta.dirname;

export default defineConfig({
  root: here,
  publicDir: false,
  build: {
    outDir: resolve(here, "../src/frontdesk/web/dist"),
    emptyOutDir: false,
    target: "es2020",
    sourcemap: false,
    lib: {
      entry: resolve(here, "src/widget/main.ts"),
      formats: ["iife"],
      name: "FrontdeskWidget",
      fileName: () => "widget.js",
    },
  },
});
