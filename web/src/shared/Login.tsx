// The sign-in form of the staff pages (agent desktop, supervisor view).
import { useState } from "preact/hooks";
import { ApiError, logIn, type AgentInfo } from "./api";

interface Props {
  title: string;
  onSignedIn: (agent: AgentInfo) => void;
}

export function Login({ title, onSignedIn }: Props) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [tenant, setTenant] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      onSignedIn(await logIn(username.trim(), password, tenant.trim()));
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 429) setError("Too many attempts. Wait a few minutes and try again.");
      else if (failure instanceof ApiError && failure.status === 401) setError("Wrong username or password.");
      else setError("The server cannot be reached. Try again.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="fd-login">
      <form class="fd-login__form" onSubmit={submit} aria-labelledby="fd-login-title">
        <h1 id="fd-login-title">{title}</h1>
        <label>
          Username
          <input name="username" autocomplete="username" required value={username}
                 onInput={(e) => setUsername(e.currentTarget.value)} />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required value={password}
                 onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <label>
          Tenant <span class="fd-login__hint">(optional)</span>
          <input name="tenant" autocomplete="organization" value={tenant} placeholder="the default tenant"
                 onInput={(e) => setTenant(e.currentTarget.value)} />
        </label>
        {error && <p class="fd-login__error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
      </form>
    </main>
  );
}
