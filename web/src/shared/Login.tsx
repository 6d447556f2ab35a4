// The sign-in form of the staff pages (agent desktop, supervisor view).
import { useState } from "preact/hooks";
import { ApiError, logIn, type AgentInfo } from "./api";

/** The form's words; a page passes its own language's (English when left out). */
export interface LoginStrings {
  username: string;
  password: string;
  tenant: string;
  optional: string;
  tenantPlaceholder: string;
  signIn: string;
  signingIn: string;
  tooManyAttempts: string;
  wrongPassword: string;
  unreachable: string;
}

export const ENGLISH_LOGIN: LoginStrings = {
  username: "Username",
  password: "Password",
  tenant: "Tenant",
  optional: "(optional)",
  tenantPlaceholder: "the default tenant",
  signIn: "Sign in",
  signingIn: "Signing in…",
  tooManyAttempts: "Too many attempts. Wait a few minutes and try again.",
  wrongPassword: "Wrong username or password.",
  unreachable: "The server cannot be reached. Try again.",
};

interface Props {
  title: string;
  onSignedIn: (agent: AgentInfo) => void;
  strings?: LoginStrings;
}

export function Login({ title, onSignedIn, strings = ENGLISH_LOGIN }: Props) {
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
      if (failure instanceof ApiError && failure.status === 429) setError(strings.tooManyAttempts);
      else if (failure instanceof ApiError && failure.status === 401) setError(strings.wrongPassword);
      else setError(strings.unreachable);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="fd-login">
      <form class="fd-login__form" onSubmit={submit} aria-labelledby="fd-login-title">
        <h1 id="fd-login-title">{title}</h1>
        <label>
          {strings.username}
          <input name="username" autocomplete="username" required value={username}
                 onInput={(e) => setUsername(e.currentTarget.value)} />
        </label>
        <label>
          {strings.password}
          <input name="password" type="password" autocomplete="current-password" required value={password}
                 onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <label>
          {strings.tenant} <span class="fd-login__hint">{strings.optional}</span>
          <input name="tenant" autocomplete="organization" value={tenant} placeholder={strings.tenantPlaceholder}
                 onInput={(e) => setTenant(e.currentTarget.value)} />
        </label>
        {error && <p class="fd-login__error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? strings.signingIn : strings.signIn}</button>
      </form>
    </main>
  );
}
