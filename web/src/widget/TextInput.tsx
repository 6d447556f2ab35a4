// A text-like <input> of one of three types (Preact's JSX types want the type as a literal).
export type TextKind = "text" | "email" | "tel";

interface Props {
  kind: TextKind;
  id: string;
  name: string;
  required?: boolean;
  disabled?: boolean;
  maxLength: number;
  autocomplete?: string;
  autofocus?: boolean;
}

export function TextInput({ kind, id, name, required, disabled, maxLength, autocomplete, autofocus }: Props) {
  const common = { id, name, required, disabled, maxLength, autocomplete: autocomplete ?? "off",
    "data-autofocus": autofocus ? "" : undefined };
  if (kind === "email") return <input type="email" {...common} />;
  if (kind === "tel") return <input type="tel" {...common} />;
  return <input type="text" {...common} />;
}
