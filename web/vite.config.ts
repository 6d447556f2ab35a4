// The pages frontdesk serves: the demo site (/), the agent desktop (/agent) and the supervisor view
// (/supervisor). Built into the Python package (src/frontdesk/web/dist), so a wheel serves them offline.
import { resolve } from "node:path";
import { defineConfig } from "vite";

const here = import.meta.dirname;

export default defineConfig({
  root: here,
  base: "/",
  publicDir: false,
  build: {
    outDir: resolve(here, "../src/frontdesk/web/dist"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    rollupOptions: {
      input: {
        demo: resolve(here, "index.html"),
        agent: resolve(here, "agent/index.html"),
        supervisor: resolve(here, "supervisor/index.html"),
      },
    },
  },
});
