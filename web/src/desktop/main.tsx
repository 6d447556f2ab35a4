// The agent desktop at /agent: the sign-in page until there is a session, then the desktop.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { type AgentInfo, currentAgent } from "../shared/api";
import { Login } from "../shared/Login";
import { Desktop } from "./Desktop";
import { language, loginStrings, t } from "./i18n";
import "./desktop.css";

function App() {
  const [agent, setAgent] = useState<AgentInfo | null | undefined>(undefined);
  useEffect(() => {
    currentAgent().then(setAgent, () => setAgent(null));
  }, []);
  if (agent === undefined) return <p class="fd-loading" role="status">{t("connecting")}</p>;
  if (agent === null) return <Login title={t("title")} onSignedIn={setAgent} strings={loginStrings} />;
  return <Desktop key={agent.agent_id} me={agent} onSignedOut={() => setAgent(null)} />;
}

document.documentElement.lang = language;
const root = document.getElementById("app");
if (root) render(<App />, root);
